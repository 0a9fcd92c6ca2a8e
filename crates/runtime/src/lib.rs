//! Wharf's OCI runtime: containers from OCI bundles.
//!
//! The process-making work (namespaces, rootfs and mounts, pivot_root, capabilities, seccomp,
//! rlimits, hooks, cgroups) is done by youki's `libcontainer`, as Docker builds on runc. This
//! crate adds what Wharf needs around it:
//! - [`bundle`]: `config.json` read with errors that name the field, checks made before
//!   anything is created, and the *effective* configuration (host-clamped rlimits, default
//!   cgroup path, absolute paths);
//! - [`container`]: the lifecycle (create, start, exec, kill, pause, resume, update, delete)
//!   under a state root laid out as runc's;
//! - [`spec`]: the default specs (runc's, and Docker's with its seccomp profile);
//! - [`error`]: errors classified by kind.

pub mod bundle;
pub mod container;
pub mod error;
pub mod hooks;
pub mod host;
pub mod id;
pub mod seccomp_profile;
pub mod spec;

pub use container::{Container, CreateOptions, ExecOptions, Runtime, State, Stdio, status_word};
pub use error::{Error, ErrorKind, Result};
pub use id::ContainerId;
pub use libcgroups::stats::{MemoryData, Stats};
pub use libcontainer::container::ContainerStatus;
pub use nix::sys::signal::Signal;
pub use oci_spec::runtime as oci;
