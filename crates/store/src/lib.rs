//! The cluster store: etcd's data model behind one trait.
//!
//! The store is a map from keys (strings such as `/registry/pods/default/web-1`) to values
//! (opaque bytes; the API server stores JSON), with a **global revision** that every write
//! increments by one. Its story, the same for every backend:
//!
//! 1. [`Store::create`] writes a key that must not exist; [`Store::update`] and
//!    [`Store::delete`] take the `mod_revision` the caller last read and fail with
//!    [`Error::Conflict`] when the key changed since (compare-and-swap, what optimistic
//!    concurrency in the API is built on).
//! 2. [`Store::get`] and [`Store::list`] read the newest state, or `list` reads the state at an
//!    older revision that has not been compacted.
//! 3. [`Store::watch`] streams every change under a prefix from a start revision, in revision
//!    order, without gaps, each change exactly once; a start revision that was compacted away is
//!    [`Error::Compacted`] (the API's `410 Gone`).
//! 4. [`Store::compact`] forgets history older than a revision; [`Compactor`] does it
//!    periodically, keeping a time window (five minutes by default, as kube-apiserver does).
//!
//! Backends: [`sqlite::SqliteStore`] (the default: one file, WAL, an append-only log table in
//! the manner of kine) and [`etcd::EtcdStore`] (etcd's v3 API). Both pass the suite in
//! [`conformance`].

pub mod compact;
pub mod conformance;
pub mod etcd;
pub mod sqlite;

pub use compact::Compactor;

use std::pin::Pin;

use futures_util::Stream;

/// A revision of the whole store. Starts at 1 for an empty store (as etcd does); every write
/// increments it by one.
pub type Revision = i64;

/// The largest value a backend accepts, etcd's default `--max-request-bytes` (1.5 MiB).
pub const MAX_VALUE_BYTES: usize = 3 * 1024 * 1024 / 2;

/// One key and its value as of some revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (empty in the `kv` of a delete event).
    pub value: bytes::Bytes,
    /// The revision at which the key was created (most recently, if it was deleted and
    /// created again).
    pub create_revision: Revision,
    /// The revision of the last change to the key (for a delete event: the delete's revision).
    pub mod_revision: Revision,
}

/// What a watch event says happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created or updated.
    Put,
    /// Deleted.
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// For a put: the new key-value. For a delete: the key, an empty value and
    /// `mod_revision` = the delete's revision (`create_revision` as it was).
    pub kv: KeyValue,
    /// The key-value before this change, when there was one (always for a delete; for a put
    /// that updated an existing key). The API server needs it for DELETED events and for
    /// watchers whose selector stopped matching.
    pub prev_kv: Option<KeyValue>,
}

/// A stream of changes in revision order. It ends with an `Err` when the backend can no
/// longer guarantee a gap-free stream (the watcher fell too far behind, or the connection to
/// etcd broke); the caller then lists again and watches from the list's revision.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Error>> + Send>>;

/// How to read a range of keys.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Read the state at this revision (must not be compacted, must not be in the future).
    /// `None`: the newest state.
    pub revision: Option<Revision>,
    /// Start after this key (exclusive): the continuation of a paginated list.
    pub start_after: Option<String>,
    /// At most this many keys. `None` or `Some(0)`: all of them.
    pub limit: Option<usize>,
}

/// The answer to [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct ListResult {
    /// Keys under the prefix in ascending byte order.
    pub kvs: Vec<KeyValue>,
    /// The revision the list was read at; a watch from `revision + 1` misses nothing.
    pub revision: Revision,
    /// How many keys under the prefix come after the last one returned (0 when the list is
    /// complete).
    pub remaining: u64,
}

/// The store's failures. Callers test the variant, never the text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// [`Store::create`] of a key that exists.
    #[error("key {key} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// Update or delete of a key that does not exist.
    #[error("key {key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// Compare-and-swap failed: the key's `mod_revision` is not the expected one.
    #[error("key {key} was modified: expected revision {expected}, found {}", current.as_ref().map_or(0, |kv| kv.mod_revision))]
    Conflict {
        /// The key.
        key: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The key's value now (`None` if it was deleted).
        current: Option<Box<KeyValue>>,
    },
    /// A read or watch at a revision older than the compacted one.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision still kept.
        compacted: Revision,
    },
    /// A read at a revision the store has not reached yet.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// A value larger than [`MAX_VALUE_BYTES`].
    #[error("value of {size} bytes for key {key} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The key.
        key: String,
        /// The value's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The backend failed (I/O, SQLite, the connection to etcd).
    #[error("store backend: {0}")]
    Backend(String),
}

/// The store interface; see the crate documentation for its story.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The newest revision (every write so far is visible at it).
    async fn current_revision(&self) -> Result<Revision, Error>;

    /// The oldest revision still readable and watchable (0 when nothing was compacted).
    async fn compacted_revision(&self) -> Result<Revision, Error>;

    /// The newest value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error>;

    /// Keys starting with `prefix`, in ascending order, as of `opts.revision`.
    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult, Error>;

    /// How many keys start with `prefix` now.
    async fn count(&self, prefix: &str) -> Result<u64, Error>;

    /// Create `key`; fails with [`Error::AlreadyExists`] if it exists. Returns the new key-value.
    async fn create(&self, key: &str, value: bytes::Bytes) -> Result<KeyValue, Error>;

    /// Replace `key`'s value if its `mod_revision` is `expected`. Returns the new key-value.
    async fn update(
        &self,
        key: &str,
        value: bytes::Bytes,
        expected: Revision,
    ) -> Result<KeyValue, Error>;

    /// Delete `key`, only if its `mod_revision` is `expected` when given. Returns the deleted
    /// key-value (as it was) and the delete's revision.
    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), Error>;

    /// Every change under `prefix` with revision ≥ `start` (etcd's watch semantics: to see
    /// changes after a list at revision R, start at R + 1). `start` = 0 means "from now".
    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream, Error>;

    /// Forget history older than `revision` (reads and watches before it become
    /// [`Error::Compacted`]). Compacting to a revision at or below the compacted one is a no-op.
    async fn compact(&self, revision: Revision) -> Result<(), Error>;
}
