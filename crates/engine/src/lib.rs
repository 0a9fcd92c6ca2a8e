#![recursion_limit = "256"]
//! The engine: images, containers and volumes, and the Docker Engine API that serves them.
//!
//! - [`engine`]: the stores and the table of containers;
//! - [`lifecycle`] and [`run`]: create, start (through a per-container supervisor, the
//!   `shim` crate), stop, kill, remove, wait, restart policies, re-adoption after a restart;
//! - [`exec`]: exec instances and health checks;
//! - [`spec`]: the OCI spec of a container;
//! - [`network`]: bridges, user-defined networks, published ports, embedded DNS;
//! - [`volumes`], [`logs`], [`events`];
//! - [`api`]: the Engine API over HTTP/1.1;
//! - [`daemon`]: `wharf daemon`.

pub mod api;
pub mod build;
pub mod check;
pub mod container;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod lifecycle;
pub mod logs;
pub mod network;
pub mod run;
pub mod spec;
pub mod types;
pub mod volumes;

pub use engine::{Engine, Options};
pub use error::{Error, Kind, Result};
