//! The engine: images, containers and volumes, and the Docker Engine API that serves them.

pub mod daemon;
