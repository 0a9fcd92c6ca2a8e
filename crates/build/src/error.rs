//! The builder's error: a message as Docker words it, and a kind the API maps to a status.

/// What kind of failure a [`BuildError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The Dockerfile, the context or a flag is wrong.
    Invalid,
    /// A base image or a stage does not exist.
    NotFound,
    /// A step ran and failed (a RUN that exited non-zero).
    StepFailed,
    /// The build was cancelled (the client went away).
    Cancelled,
    /// Something on the daemon's side went wrong.
    Internal,
}

/// A build failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The message, as Docker words it where Docker has one.
    pub message: String,
    /// For a failed RUN: its exit code (Docker puts it in `errorDetail.code`).
    pub code: Option<i64>,
}

impl BuildError {
    /// A build error of some kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> BuildError {
        BuildError {
            kind,
            message: message.into(),
            code: None,
        }
    }

    /// The input is wrong.
    pub fn invalid(message: impl Into<String>) -> BuildError {
        BuildError::new(ErrorKind::Invalid, message)
    }

    /// Something is missing.
    pub fn not_found(message: impl Into<String>) -> BuildError {
        BuildError::new(ErrorKind::NotFound, message)
    }

    /// An internal failure.
    pub fn internal(message: impl Into<String>) -> BuildError {
        BuildError::new(ErrorKind::Internal, message)
    }

    /// The same error with `prefix: ` in front of the message.
    pub fn context(mut self, prefix: &str) -> BuildError {
        self.message = format!("{prefix}: {}", self.message);
        self
    }
}
