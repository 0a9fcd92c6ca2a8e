//! The per-container supervisor (what containerd-shim and conmon are) and its client.

pub mod cli;
