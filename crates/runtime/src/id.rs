//! Container ids, checked once at the edge.

use std::fmt;

use crate::error::{Error, Result};

/// A container id as runc accepts them: letters, digits, `_`, `+`, `-` and `.`, at most 1024
/// bytes, and not `.` or `..`. A leading `.` is reserved for Wharf's own entries in the state
/// root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(String);

impl ContainerId {
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let invalid = |reason| {
            Err(Error::InvalidId {
                id: id.clone(),
                reason,
            })
        };
        if id.is_empty() {
            return invalid("it is empty");
        }
        if id.len() > 1024 {
            return invalid("it is longer than 1024 bytes");
        }
        if id.starts_with('.') {
            return invalid("it starts with '.'");
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
        {
            return invalid("only letters, digits, '_', '+', '-' and '.' are allowed");
        }
        Ok(ContainerId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_ids() {
        for id in ["a", "abc-123_x.y+z", "0123456789abcdef"] {
            assert!(ContainerId::new(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_traversal_and_odd_bytes() {
        for id in ["", ".", "..", "../x", "a/b", "a b", ".hidden", "ä"] {
            assert!(ContainerId::new(id).is_err(), "{id}");
        }
    }
}
