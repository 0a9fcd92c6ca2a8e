//! Errors of the runtime, classified by kind so that each surface (the OCI command line now,
//! the engine's API later) maps kinds to its own codes in one place and never matches on text.

use std::path::PathBuf;

/// What went wrong, independent of the words used to say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The container (or another named thing) does not exist.
    NotFound,
    /// A container with that id already exists.
    AlreadyExists,
    /// The request or the bundle is malformed or asks for something impossible.
    InvalidArgument,
    /// The container is in a state that does not allow the operation.
    FailedPrecondition,
    /// The host refused: a syscall, cgroup write or file operation failed.
    Internal,
}

/// An error of the runtime crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container \"{id}\" does not exist")]
    NotFound { id: String },
    #[error("container \"{id}\" already exists")]
    AlreadyExists { id: String },
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// The bundle's config.json is malformed or unusable; `field` is the JSON path
    /// (`linux.namespaces[2].type`) or the file the problem is in.
    #[error("invalid configuration: {path}: {field}: {reason}")]
    InvalidSpec {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("{path}: {reason}")]
    InvalidBundle { path: PathBuf, reason: String },
    #[error("invalid argument {name}: {reason}")]
    InvalidArgument { name: String, reason: String },
    #[error("container \"{id}\" is {status}: cannot {op}")]
    WrongState {
        id: String,
        status: String,
        op: &'static str,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("cgroup {op}: {message}")]
    Cgroup { op: &'static str, message: String },
    /// A failure inside libcontainer, with its whole chain of causes rendered.
    #[error("{op}: {message}")]
    Container {
        op: &'static str,
        message: String,
        kind: ErrorKind,
    },
}

impl Error {
    /// The class of this error, for callers that must choose an exit code or a status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::InvalidId { .. }
            | Error::InvalidSpec { .. }
            | Error::InvalidBundle { .. }
            | Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::WrongState { .. } => ErrorKind::FailedPrecondition,
            Error::Io { .. } | Error::Sys { .. } | Error::Cgroup { .. } => ErrorKind::Internal,
            Error::Container { kind, .. } => *kind,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Wraps a libcontainer error, keeping its chain of causes in the message (libcontainer's
    /// top-level texts such as "io error" say little on their own).
    pub(crate) fn container(op: &'static str, err: libcontainer::error::LibcontainerError) -> Self {
        use libcontainer::error::LibcontainerError as L;
        let kind = match &err {
            L::Exist => ErrorKind::AlreadyExists,
            L::NoDirectory => ErrorKind::NotFound,
            L::IncorrectStatus(_) => ErrorKind::FailedPrecondition,
            L::InvalidID(_) | L::MissingSpec(_) | L::InvalidSpec(_) | L::InvalidInput(_) => {
                ErrorKind::InvalidArgument
            }
            _ => ErrorKind::Internal,
        };
        Error::Container {
            op,
            message: chain(&err),
            kind,
        }
    }
}

/// Renders an error and its sources as `outer: inner: innermost`, skipping repeats.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_joins_sources_and_skips_repeats() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Error::io("open", "/x/config.json", inner);
        assert_eq!(chain(&err), "open /x/config.json: no such file");
        assert_eq!(err.kind(), ErrorKind::Internal);
    }

    #[test]
    fn kinds_are_classified() {
        let e = Error::NotFound { id: "a".into() };
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "container \"a\" does not exist");
        let e = Error::WrongState {
            id: "a".into(),
            status: "running".into(),
            op: "delete",
        };
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
    }
}
