//! Images: digests, references, the content store, the image store and archive formats.
//!
//! Everything here is blocking `std` IO; the daemon calls it from `spawn_blocking`.
//!
//! # On disk
//!
//! The engine gives this crate two roots (conventionally `<data-root>/content` and
//! `<data-root>/image`):
//!
//! ```text
//! content/                       ContentStore
//!   blobs/sha256/<hex>           immutable blobs: layers, configs, manifests; name = sha256
//!   ingest/<random>              writes in progress; invisible as blobs; removed at start
//! image/                         ImageStore
//!   images.json                  every image record (tags, repo digests, manifest, layers),
//!                                replaced atomically (write temp, fsync, rename, fsync dir)
//!   images.json.tmp              only ever a half-written replacement; ignored and removed
//! ```
//!
//! An image's ID is the digest of its config blob; the config bytes are stored exactly as
//! received and never re-serialised. Each image also has a manifest blob (the original, or an
//! OCI manifest synthesised for images that arrived without one), and its layers are blobs in
//! the content store. Blobs nothing refers to are removed by [`content::ContentStore::gc`]
//! given [`store::ImageStore::referenced_blobs`].
//!
//! # Modules
//!
//! - [`digest`]: `sha256:<hex>` digests and hashing readers/writers.
//! - [`reference`]: Docker's name normalisation (`busybox` → `docker.io/library/busybox:latest`).
//! - [`content`]: the verified, crash-safe blob store.
//! - [`spec`]: OCI and Docker manifest, index and image-config types; platform selection.
//! - [`store`]: image records, tags and lookup by name, ID or ID prefix.
//! - [`archive`]: `docker save`/`docker load` archives, OCI layout archives, `import`.

pub mod archive;
pub mod content;
pub mod digest;
pub mod reference;
pub mod spec;
pub mod store;

pub use archive::{ArchiveError, LoadedImage};
pub use content::{CheckReport, ContentError, ContentStore, Lease};
pub use digest::{Digest, DigestError, Hasher, HashingReader, HashingWriter};
pub use reference::{Reference, ReferenceError};
pub use spec::{Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform};
pub use store::{ImageRecord, ImageStore, StoreError};

/// The class of an error, so each API surface can map it to a status code in one place
/// (404, 409, 400, 500, 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The request conflicts with the current state (e.g. an ambiguous ID prefix).
    Conflict,
    /// The caller's input is malformed.
    InvalidArgument,
    /// The file system failed.
    Io,
    /// Stored data no longer matches its digest, or metadata cannot be parsed.
    Corrupt,
}
