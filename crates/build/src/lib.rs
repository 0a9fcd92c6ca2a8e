//! The image builder: Dockerfiles to layered images.
//!
//! - [`dockerfile`] parses a Dockerfile into stages of typed instructions and expands
//!   variables the way Docker does for each instruction; it is pure and fuzzed.
//! - [`ignore`] is `.dockerignore`'s pattern language.
//! - [`context`] receives a build context (a tar stream) into a directory and indexes it,
//!   hashing every file, so cache keys never depend on mtimes.
//! - [`copy`] plans and performs COPY/ADD: source globs, destination rules, ownership and
//!   modes, and the content key of exactly the files a step copies.
//! - [`plan`] is the stage graph: which stages the target needs and what each waits for.
//! - [`cache`] stores what each step produced, by the step's key.
//! - [`exec`] runs a build: stages as concurrent tasks, each step from the cache or executed
//!   (RUN through the engine's containers, behind [`exec::Backend`]).

pub mod cache;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod error;
pub mod exec;
pub mod ignore;
pub mod plan;

pub use error::{BuildError, ErrorKind};
