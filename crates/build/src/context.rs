//! Build contexts.
