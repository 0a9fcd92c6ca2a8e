//! The snapshotter's error type, classified by [`ErrorKind`] so callers never parse text.

use std::io;

/// What kind of failure an [`Error`] is; the daemon maps each kind to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A layer, snapshot or path does not exist.
    NotFound,
    /// The operation conflicts with current state (a layer still in use).
    Conflict,
    /// A layer or archive was refused: unsafe entry, malformed stream, wrong diff ID.
    InvalidLayer,
    /// An argument is malformed (a digest that is not `sha256:<64 hex>`, a bad key).
    InvalidArgument,
    /// The filesystem or the input stream failed.
    Io,
}

/// An error from the snapshotter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tar entry was refused; nothing of the layer is kept.
    #[error("invalid {what}: entry {entry:?}: {reason}")]
    InvalidEntry {
        /// `"layer"` or `"archive"`.
        what: &'static str,
        /// The entry's path as written in the tar.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// The stream is not a readable tar (bad compression, truncated, corrupt headers).
    #[error("invalid {what}: {reason}")]
    Malformed {
        /// `"layer"` or `"archive"`.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The uncompressed layer does not hash to the expected diff ID.
    #[error("invalid layer: diff ID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// The diff ID the caller expected.
        expected: String,
        /// The sha256 of the uncompressed tar actually read.
        actual: String,
    },
    /// No layer with this chain ID.
    #[error("layer {0} not found")]
    LayerNotFound(String),
    /// No container snapshot with this key.
    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),
    /// A snapshot with this key exists on another parent.
    #[error("snapshot {key} already exists with parent {parent:?}")]
    SnapshotExists {
        /// The key asked for.
        key: String,
        /// The parent of the existing snapshot.
        parent: Option<String>,
    },
    /// A path inside a container filesystem does not exist.
    #[error("no such file or directory: {0}")]
    PathNotFound(String),
    /// The layer is still used by a child layer or a container snapshot.
    #[error("layer {chain_id} is in use by {user}")]
    LayerInUse {
        /// The layer that was to be removed.
        chain_id: String,
        /// Who uses it (`layer sha256:…` or `snapshot <key>`).
        user: String,
    },
    /// A malformed argument.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// What the argument is (`chain ID`, `snapshot key`, `path`).
        what: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A filesystem or stream error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidEntry { .. } | Error::Malformed { .. } | Error::DiffIdMismatch { .. } => {
                ErrorKind::InvalidLayer
            }
            Error::LayerNotFound(_) | Error::SnapshotNotFound(_) | Error::PathNotFound(_) => {
                ErrorKind::NotFound
            }
            Error::LayerInUse { .. } | Error::SnapshotExists { .. } => ErrorKind::Conflict,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The snapshotter's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a context to `io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}
