//! The Kubernetes API as data: no I/O, no tokio.
//!
//! - [`resource`]: the built-in resources Wharf serves (group, version, kind, plural, scope,
//!   short names, categories, verbs, subresources) — what discovery, routing and storage keys
//!   are derived from.
//! - [`error`]: `metav1.Status` errors with the reasons and messages kube-apiserver uses, and
//!   field errors as its validation reports them.
//! - [`schema`]: OpenAPI v3 schemas of the built-in kinds (generated from `k8s-openapi`, with
//!   the patch and list-type extensions), the OpenAPI documents, and validation of an object
//!   against a schema (unknown fields, types, required fields) — also for custom resources.
//! - [`patch`]: JSON merge patch, JSON patch, strategic merge patch and server-side apply
//!   (managed fields, conflicts).
//! - [`selector`]: label and field selectors.
//! - [`defaults`] and [`validate`]: per-kind defaulting and validation as kube-apiserver does.
//! - [`table`]: server-side `Table` output with kubectl's columns per kind.

pub mod defaults;
pub mod error;
pub mod patch;
pub mod protobuf;
pub mod resource;
pub mod schema;
pub mod selector;
pub mod table;
pub mod validate;
pub mod value;
