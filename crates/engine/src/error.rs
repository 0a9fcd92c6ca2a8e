//! Engine errors, classified the way the Engine API answers them.

use std::fmt;

/// What went wrong, as an HTTP status class of the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400: a bad parameter or body.
    InvalidArgument,
    /// 404: no such container, image, volume or exec instance.
    NotFound,
    /// 409: a name in use, an image in use, a container in the wrong state.
    Conflict,
    /// 403: an operation the object does not allow (removing a network in use, a predefined
    /// network, overlapping address pools).
    Forbidden,
    /// 304: the container is already in the requested state (start, stop).
    NotModified,
    /// 500: anything else.
    Internal,
}

/// An engine error: its kind and Docker's message.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Kind::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(Kind::Conflict, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::new(Kind::Forbidden, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Kind::Internal, message)
    }

    pub fn not_modified() -> Error {
        Error::new(Kind::NotModified, "")
    }

    pub fn no_such_container(name: &str) -> Error {
        Error::not_found(format!("No such container: {name}"))
    }

    pub fn no_such_image(name: &str) -> Error {
        Error::not_found(format!("No such image: {name}"))
    }

    /// Adds context in front of the message, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }

    pub fn status(&self) -> u16 {
        match self.kind {
            Kind::InvalidArgument => 400,
            Kind::NotFound => 404,
            Kind::Conflict => 409,
            Kind::Forbidden => 403,
            Kind::NotModified => 304,
            Kind::Internal => 500,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<runtime::Error> for Error {
    fn from(e: runtime::Error) -> Error {
        let kind = match e.kind() {
            runtime::ErrorKind::NotFound => Kind::NotFound,
            runtime::ErrorKind::InvalidArgument => Kind::InvalidArgument,
            runtime::ErrorKind::AlreadyExists | runtime::ErrorKind::FailedPrecondition => {
                Kind::Conflict
            }
            runtime::ErrorKind::Internal => Kind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

/// Shorthand: an internal error with context.
pub fn internal(what: impl fmt::Display, e: impl fmt::Display) -> Error {
    Error::internal(format!("{what}: {e}"))
}
