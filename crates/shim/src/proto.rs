//! The wire protocol between a shim and its clients, and the files it keeps in its state
//! directory.
//!
//! A connection to `<state-dir>/shim.sock` starts with one JSON [`Request`] line. Control
//! requests get one JSON reply line and the connection closes. `attach` and `exec` get an
//! acknowledgement line ([`Reply`]) and then carry frames from the shim — an 8-byte header
//! `[stream, 0, 0, 0, len (u32 big-endian)]` and `len` bytes — and raw stdin bytes from the
//! client (its `shutdown(Write)` is end of input).

use serde::{Deserialize, Serialize};

/// Frame stream number of the process's standard output (and of a terminal's output).
pub const STREAM_STDOUT: u8 = 1;
/// Frame stream number of the process's standard error.
pub const STREAM_STDERR: u8 = 2;
/// Frame stream number of an exec's last frame, whose payload is `{"exit_code":N}`.
pub const STREAM_EXIT: u8 = 3;

/// The socket the shim listens on, inside its state directory.
pub const SOCKET: &str = "shim.sock";
/// The shim's pid, inside its state directory, while it runs.
pub const PID_FILE: &str = "shim.pid";
/// The container's exit ([`ExitStatus`] as JSON), written once the container is gone.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's own diagnostics (its stderr).
pub const LOG_FILE: &str = "shim.log";

/// One request, the first line of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Run the container's process (valid once, on a created container).
    Start,
    /// Receive the container's output as frames and, with `stdin`, send it input.
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
    },
    /// Set the window size of the container's terminal, or of an exec's with `exec_id`.
    Resize {
        height: u16,
        width: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
    },
    /// Send a signal to the init process, or with `all` to every process of the container.
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Freeze every process of the container.
    Pause,
    /// Thaw a paused container.
    Resume,
    /// Block until the init process has exited; answered with an [`ExitStatus`].
    Wait,
    /// The container's status; answered with a [`ShimState`].
    State,
    /// Start another process in the container: `process` is an OCI runtime `Process`.
    Exec {
        exec_id: String,
        process: serde_json::Value,
        #[serde(default)]
        stdin: bool,
    },
}

/// How a request failed, for callers that map failures to their own status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The container (or the exec) does not exist.
    NotFound,
    /// Something of that name already exists.
    AlreadyExists,
    /// The request is malformed or asks for something impossible.
    InvalidArgument,
    /// The container is in a state that does not allow the request (e.g. not running).
    FailedPrecondition,
    /// The host refused.
    Internal,
}

impl From<runtime::ErrorKind> for ErrorKind {
    fn from(kind: runtime::ErrorKind) -> Self {
        match kind {
            runtime::ErrorKind::NotFound => ErrorKind::NotFound,
            runtime::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            runtime::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
            runtime::ErrorKind::FailedPrecondition => ErrorKind::FailedPrecondition,
            runtime::ErrorKind::Internal => ErrorKind::Internal,
        }
    }
}

/// The answer to `start`, `attach`, `resize`, `kill`, `pause`, `resume` and `exec`, and the
/// line the shim prints when it has created (or failed to create) the container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// The container's init pid (creation) or the exec's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The shim's own pid (creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shim_pid: Option<i32>,
    /// Whether the attached process has a terminal (attach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
}

impl Reply {
    /// A success without data.
    pub fn ok() -> Self {
        Reply {
            ok: true,
            ..Default::default()
        }
    }

    /// A failure with its message and, when known, its kind.
    pub fn error(message: impl Into<String>, kind: Option<ErrorKind>) -> Self {
        Reply {
            ok: false,
            error: Some(message.into()),
            kind,
            ..Default::default()
        }
    }
}

/// How the container's init process ended (also the content of `exit.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit status, or 128 + the signal that killed it.
    pub exit_code: i32,
    /// Killed by SIGKILL while the container's cgroup had recorded an OOM kill.
    pub oom_killed: bool,
    /// When the shim reaped it, RFC 3339 with nanoseconds.
    pub finished_at: String,
}

/// The answer to `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    /// `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// The init process's pid; 0 once it has exited.
    pub pid: i32,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
}

/// The payload of an exec's last frame ([`STREAM_EXIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    pub exit_code: i32,
}

/// The header of a frame of `len` bytes on `stream`.
pub fn frame_header(stream: u8, len: u32) -> [u8; 8] {
    let l = len.to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// The stream and payload length of a frame header.
pub fn parse_frame_header(header: &[u8; 8]) -> (u8, u32) {
    (
        header[0],
        u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
    )
}

/// A time as the shim writes it: RFC 3339 in UTC with nanoseconds.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_documented() {
        let r: Request = serde_json::from_str(r#"{"op":"start"}"#).expect("start parses");
        assert_eq!(r, Request::Start);
        let r: Request = serde_json::from_str(r#"{"op":"attach","stdin":true,"stdout":true}"#)
            .expect("attach parses");
        assert_eq!(
            r,
            Request::Attach {
                stdin: true,
                stdout: true,
                stderr: false
            }
        );
        let r: Request = serde_json::from_str(r#"{"op":"resize","height":24,"width":80}"#)
            .expect("resize parses");
        assert_eq!(
            r,
            Request::Resize {
                height: 24,
                width: 80,
                exec_id: None
            }
        );
        let r: Request = serde_json::from_str(r#"{"op":"kill","signal":15}"#).expect("kill parses");
        assert_eq!(
            r,
            Request::Kill {
                signal: 15,
                all: false
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"fly"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Request::Wait).expect("serializes"),
            r#"{"op":"wait"}"#
        );
    }

    #[test]
    fn replies_leave_out_what_is_not_set() {
        assert_eq!(
            serde_json::to_string(&Reply::ok()).expect("serializes"),
            r#"{"ok":true}"#
        );
        let e = Reply::error("no", Some(ErrorKind::FailedPrecondition));
        assert_eq!(
            serde_json::to_string(&e).expect("serializes"),
            r#"{"ok":false,"error":"no","kind":"failed_precondition"}"#
        );
    }

    #[test]
    fn frame_headers_round_trip() {
        let h = frame_header(STREAM_STDERR, 70000);
        assert_eq!(h, [2, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(parse_frame_header(&h), (2, 70000));
    }

    #[test]
    fn timestamps_have_nanoseconds_and_z() {
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid time");
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123456789Z");
    }
}
