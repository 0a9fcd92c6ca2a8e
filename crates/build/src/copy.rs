//! COPY and ADD.
