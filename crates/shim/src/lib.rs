//! The per-container supervisor (what containerd-shim and conmon are) and its client.
//!
//! The daemon never forks containers: for each one it writes a bundle and starts
//! `wharf shim` ([`client::spawn`]), a small single-threaded process in its own session that
//! creates the container through the runtime, keeps its stdio, writes its json-file log,
//! reaps it, records its exit in `exit.json` and serves [`proto`] requests on
//! `<state-dir>/shim.sock` ([`client::ShimClient`]). It outlives the daemon, which finds it
//! again through its state directory.

pub mod cli;
pub mod client;
pub mod jsonlog;
pub mod proto;
pub mod server;

pub use client::{
    AttachStream, Error, ExecStream, ShimClient, SpawnOptions, Spawned, is_alive, read_exit,
    read_frame, spawn,
};
pub use proto::{ExitStatus, ShimState};
