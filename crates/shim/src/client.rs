//! The daemon's side: start a shim and talk to it (async, on tokio).

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::proto::{self, ErrorKind, ExecExit, ExitStatus, Reply, Request, ShimState};

/// Errors of the shim client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No shim answers on the state directory's socket: it has exited (its container's exit
    /// is in `exit.json`, see [`read_exit`]) or never ran.
    #[error("the shim of {} is gone", state_dir.display())]
    Gone { state_dir: PathBuf },
    /// The shim (or the runtime under it) refused the request.
    #[error("{message}")]
    Shim {
        message: String,
        kind: Option<ErrorKind>,
    },
    /// The shim executable could not be started.
    #[error("start shim {}: {source}", exe.display())]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The shim exited without saying whether it created the container.
    #[error("the shim exited without reporting ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    SpawnFailed { status: String, stderr: String },
    #[error("shim {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The shim said something that does not follow the protocol.
    #[error("shim protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// How the shim classified a refusal (`None` for other errors).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Shim { kind, .. } => *kind,
            _ => None,
        }
    }

    /// Whether the shim is gone (the container has exited, or was never created).
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::Gone { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to start a shim.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The `wharf` executable.
    pub exe: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub log_path: PathBuf,
    /// Keep a stdin pipe for attach clients (`docker run -i`).
    pub stdin: bool,
    /// Close that stdin when the first attached client ends its input.
    pub stdin_once: bool,
}

impl SpawnOptions {
    /// Options with the running executable as `exe` and no stdin.
    pub fn new(
        id: impl Into<String>,
        bundle: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        runtime_root: impl Into<PathBuf>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        SpawnOptions {
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("wharf")),
            id: id.into(),
            bundle: bundle.into(),
            state_dir: state_dir.into(),
            runtime_root: runtime_root.into(),
            log_path: log_path.into(),
            stdin: false,
            stdin_once: false,
        }
    }
}

/// A created container under a running shim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    /// The container's init process (waiting for `start`).
    pub pid: i32,
    /// The shim.
    pub shim_pid: i32,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|source| Error::Io {
        op: "resolve path",
        source,
    })
}

/// Starts `exe shim …` for a container and waits until it has created it (or failed to).
///
/// The shim puts itself in a session of its own, so it outlives the caller. It is the
/// caller's child all the same: a tokio task waits for it (so it never stays a zombie while
/// the caller lives; if the caller dies first, init adopts and reaps it). Must be called
/// inside a tokio runtime.
pub async fn spawn(opts: &SpawnOptions) -> Result<Spawned> {
    let mut cmd = tokio::process::Command::new(&opts.exe);
    cmd.arg("shim")
        .arg("--id")
        .arg(&opts.id)
        .arg("--bundle")
        .arg(absolute(&opts.bundle)?)
        .arg("--state-dir")
        .arg(absolute(&opts.state_dir)?)
        .arg("--runtime-root")
        .arg(absolute(&opts.runtime_root)?)
        .arg("--log")
        .arg(absolute(&opts.log_path)?);
    if opts.stdin {
        cmd.arg("--stdin");
    }
    if opts.stdin_once {
        cmd.arg("--stdin-once");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(false);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        exe: opts.exe.clone(),
        source,
    })?;
    let mut stdout = child.stdout.take().ok_or_else(|| Error::Spawn {
        exe: opts.exe.clone(),
        source: std::io::Error::other("no stdout pipe"),
    })?;
    let mut stderr = child.stderr.take();
    let line = read_line(&mut stdout, 64 << 10).await;
    drop(stdout);
    let line = match line {
        Ok(Some(line)) => line,
        Ok(None) | Err(_) => {
            // The shim died before reporting (bad arguments, a crash): say what it printed.
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string());
            let mut text = Vec::new();
            if let Some(err) = &mut stderr {
                let _ = err.take(64 << 10).read_to_end(&mut text).await;
            }
            return Err(Error::SpawnFailed {
                status,
                stderr: String::from_utf8_lossy(&text).trim().to_string(),
            });
        }
    };
    drop(stderr);
    let reply: Reply = serde_json::from_slice(&line)
        .map_err(|e| Error::Protocol(format!("bad status line from the shim: {e}")))?;
    if !reply.ok {
        // It exits right after saying so.
        let _ = child.wait().await;
        return Err(Error::Shim {
            message: reply
                .error
                .unwrap_or_else(|| "the shim failed to create the container".into()),
            kind: reply.kind,
        });
    }
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    match (reply.pid, reply.shim_pid) {
        (Some(pid), Some(shim_pid)) => Ok(Spawned { pid, shim_pid }),
        _ => Err(Error::Protocol(
            "the shim's status line lacks pid or shim_pid".into(),
        )),
    }
}

/// Reads one line (without its newline); None at end of input before any newline.
async fn read_line<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let mut b = [0u8; 1];
        if r.read(&mut b).await? == 0 {
            return Ok(None);
        }
        if b[0] == b'\n' {
            return Ok(Some(line));
        }
        if line.len() >= limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
        line.push(b[0]);
    }
}

/// An attach connection after its acknowledgement: frames from the shim, raw stdin to it.
#[derive(Debug)]
pub struct AttachStream {
    pub stream: UnixStream,
    /// The container has a terminal: every frame is stream 1 and carries the terminal's
    /// bytes.
    pub tty: bool,
}

/// An exec connection after its acknowledgement: frames from the shim (the last one on
/// stream [`proto::STREAM_EXIT`]), raw stdin to it.
#[derive(Debug)]
pub struct ExecStream {
    pub stream: UnixStream,
    /// The exec's host pid.
    pub pid: i32,
}

/// Reads one frame: `Some((stream, payload))`, or `None` when the shim closed the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<(u8, Vec<u8>)>> {
    let io = |source| Error::Io {
        op: "read frame",
        source,
    };
    let mut header = [0u8; 8];
    if r.read(&mut header[..1]).await.map_err(io)? == 0 {
        return Ok(None);
    }
    r.read_exact(&mut header[1..]).await.map_err(io)?;
    let (stream, len) = proto::parse_frame_header(&header);
    if len > 64 << 20 {
        return Err(Error::Protocol(format!("frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await.map_err(io)?;
    Ok(Some((stream, payload)))
}

/// The exit code in the payload of an exec's last frame.
pub fn exec_exit_code(payload: &[u8]) -> Result<i32> {
    serde_json::from_slice::<ExecExit>(payload)
        .map(|e| e.exit_code)
        .map_err(|e| Error::Protocol(format!("bad exec exit frame: {e}")))
}

/// A client of the shim of one container, by its state directory. Each call is one
/// connection.
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
}

impl ShimClient {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        ShimClient {
            state_dir: state_dir.into(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    fn gone(&self) -> Error {
        Error::Gone {
            state_dir: self.state_dir.clone(),
        }
    }

    async fn connect(&self) -> Result<UnixStream> {
        let path = self.state_dir.join(proto::SOCKET);
        // Socket addresses hold at most 107 bytes; a longer path is reached through the
        // directory's descriptor.
        let (result, _dir) = if path.as_os_str().len() < 100 {
            (UnixStream::connect(&path).await, None)
        } else {
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&self.state_dir);
            match dir {
                Ok(dir) => {
                    use std::os::fd::AsRawFd;
                    let short = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), proto::SOCKET);
                    (UnixStream::connect(short).await, Some(dir))
                }
                Err(e) => (Err(e), None),
            }
        };
        // A shim that exits closes its listening socket: a connection still in its backlog is
        // reset rather than refused, which means the same.
        result.map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset => self.gone(),
            _ => Error::Io {
                op: "connect",
                source,
            },
        })
    }

    /// Sends a request; returns the connection and the reply line.
    async fn request(&self, req: &Request) -> Result<(UnixStream, Vec<u8>)> {
        let mut stream = self.connect().await?;
        let mut line = serde_json::to_vec(req).map_err(|e| Error::Protocol(e.to_string()))?;
        line.push(b'\n');
        if let Err(source) = stream.write_all(&line).await {
            return Err(match source.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => self.gone(),
                _ => Error::Io {
                    op: "send request",
                    source,
                },
            });
        }
        match read_line(&mut stream, 1 << 20).await {
            Ok(Some(reply)) => Ok((stream, reply)),
            // The shim closed without answering: it exited meanwhile.
            Ok(None) => Err(self.gone()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(self.gone()),
            Err(source) => Err(Error::Io {
                op: "read reply",
                source,
            }),
        }
    }

    async fn call<T: DeserializeOwned>(&self, req: &Request) -> Result<(UnixStream, T)> {
        let (stream, line) = self.request(req).await?;
        let value = serde_json::from_slice(&line).map_err(|e| {
            Error::Protocol(format!(
                "bad reply {:?}: {e}",
                String::from_utf8_lossy(&line)
            ))
        })?;
        Ok((stream, value))
    }

    async fn simple(&self, req: &Request) -> Result<Reply> {
        let (_, reply) = self.call::<Reply>(req).await?;
        checked(reply)
    }

    /// Runs the container's process (once).
    pub async fn start(&self) -> Result<()> {
        self.simple(&Request::Start).await.map(drop)
    }

    /// Attaches to the container's stdio. Frames follow on the returned stream; with
    /// `stdin` (and a shim started with stdin), bytes written to it reach the container and
    /// `shutdown()` ends this client's input.
    pub async fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<AttachStream> {
        let (stream, reply) = self
            .call::<Reply>(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        let reply = checked(reply)?;
        Ok(AttachStream {
            stream,
            tty: reply.tty.unwrap_or(false),
        })
    }

    /// Sets the window size of the container's terminal, or of an exec's.
    pub async fn resize(&self, height: u16, width: u16, exec_id: Option<&str>) -> Result<()> {
        self.simple(&Request::Resize {
            height,
            width,
            exec_id: exec_id.map(str::to_string),
        })
        .await
        .map(drop)
    }

    /// Signals the init process, or every process of the container with `all`.
    pub async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.simple(&Request::Kill { signal, all }).await.map(drop)
    }

    /// Freezes the container.
    pub async fn pause(&self) -> Result<()> {
        self.simple(&Request::Pause).await.map(drop)
    }

    /// Thaws the container.
    pub async fn resume(&self) -> Result<()> {
        self.simple(&Request::Resume).await.map(drop)
    }

    /// Waits for the container's init to exit. If the shim is already gone, the exit it
    /// recorded is returned.
    pub async fn wait(&self) -> Result<ExitStatus> {
        match self.call::<ExitStatus>(&Request::Wait).await {
            Ok((_, exit)) => Ok(exit),
            Err(Error::Gone { state_dir }) => {
                read_exit(&state_dir).ok_or(Error::Gone { state_dir })
            }
            Err(e) => Err(e),
        }
    }

    /// The container's status; a shim that is gone is reported from its `exit.json`.
    pub async fn state(&self) -> Result<ShimState> {
        match self.call::<ShimState>(&Request::State).await {
            Ok((_, state)) => Ok(state),
            Err(Error::Gone { state_dir }) => match read_exit(&state_dir) {
                Some(exit) => Ok(ShimState {
                    status: "stopped".into(),
                    pid: 0,
                    exit: Some(exit),
                }),
                None => Err(Error::Gone { state_dir }),
            },
            Err(e) => Err(e),
        }
    }

    /// Starts `process` in the container. Its output follows as frames on the returned
    /// stream, then a [`proto::STREAM_EXIT`] frame with its exit code ([`exec_exit_code`]);
    /// with `stdin`, bytes written to the stream are its input and `shutdown()` closes it.
    pub async fn exec(
        &self,
        exec_id: &str,
        process: &runtime::oci::Process,
        stdin: bool,
    ) -> Result<ExecStream> {
        let process = serde_json::to_value(process)
            .map_err(|e| Error::Protocol(format!("encode process: {e}")))?;
        let (stream, reply) = self
            .call::<Reply>(&Request::Exec {
                exec_id: exec_id.to_string(),
                process,
                stdin,
            })
            .await?;
        let reply = checked(reply)?;
        let pid = reply
            .pid
            .ok_or_else(|| Error::Protocol("exec reply without pid".into()))?;
        Ok(ExecStream { stream, pid })
    }
}

fn checked(reply: Reply) -> Result<Reply> {
    if reply.ok {
        Ok(reply)
    } else {
        Err(Error::Shim {
            message: reply
                .error
                .unwrap_or_else(|| "the shim refused without a reason".into()),
            kind: reply.kind,
        })
    }
}

/// The exit the shim recorded in `<state_dir>/exit.json`, if it has.
pub fn read_exit(state_dir: &Path) -> Option<ExitStatus> {
    let text = std::fs::read(state_dir.join(proto::EXIT_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Whether the shim of `state_dir` is running: `shim.pid` names a live process that is a
/// `wharf shim` working in that directory (so a recycled pid is not mistaken for it).
pub fn is_alive(state_dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(state_dir.join(proto::PID_FILE)) else {
        return false;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    if !cmdline.split(|&b| b == 0).any(|arg| arg == b"shim") {
        return false;
    }
    // A zombie has no working directory; a live shim works in its state directory.
    match (
        std::fs::canonicalize(proc_dir.join("cwd")),
        std::fs::canonicalize(state_dir),
    ) {
        (Ok(cwd), Ok(dir)) => cwd == dir,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_read_until_the_end() {
        let mut data = Vec::new();
        data.extend_from_slice(&proto::frame_header(1, 2));
        data.extend_from_slice(b"hi");
        data.extend_from_slice(&proto::frame_header(3, 13));
        data.extend_from_slice(b"{\"exit_code\":4}"[..13].as_ref());
        let mut r = &data[..];
        assert_eq!(
            read_frame(&mut r).await.expect("frame"),
            Some((1, b"hi".to_vec()))
        );
        let (stream, payload) = read_frame(&mut r).await.expect("frame").expect("some");
        assert_eq!(stream, 3);
        assert!(
            exec_exit_code(&payload).is_err(),
            "a cut payload is refused"
        );
        assert_eq!(read_frame(&mut r).await.expect("end"), None);
        let mut cut = &proto::frame_header(1, 5)[..4];
        assert!(read_frame(&mut cut).await.is_err());
        assert_eq!(exec_exit_code(b"{\"exit_code\":4}").expect("code"), 4);
    }

    #[tokio::test]
    async fn a_missing_socket_means_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = ShimClient::new(dir.path());
        assert!(c.start().await.expect_err("no shim").is_gone());
        assert!(c.wait().await.expect_err("no shim").is_gone());
        std::fs::write(
            dir.path().join(proto::EXIT_FILE),
            br#"{"exit_code":3,"oom_killed":false,"finished_at":"T"}"#,
        )
        .expect("write exit");
        assert_eq!(c.wait().await.expect("recorded exit").exit_code, 3);
        assert_eq!(c.state().await.expect("state").status, "stopped");
        assert!(!is_alive(dir.path()));
    }

    #[tokio::test]
    async fn a_long_state_dir_is_reached_through_its_descriptor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = dir.path().join("d".repeat(120));
        std::fs::create_dir(&long).expect("mkdir");
        let dirfd = std::fs::File::open(&long).expect("open dir");
        let short = {
            use std::os::fd::AsRawFd;
            format!("/proc/self/fd/{}/{}", dirfd.as_raw_fd(), proto::SOCKET)
        };
        let listener = std::os::unix::net::UnixListener::bind(short).expect("bind");
        assert!(long.join(proto::SOCKET).exists());
        let server = std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            let (s, _) = listener.accept().expect("accept");
            let mut line = String::new();
            std::io::BufReader::new(&s)
                .read_line(&mut line)
                .expect("read");
            assert_eq!(line, "{\"op\":\"start\"}\n");
            (&s).write_all(b"{\"ok\":false,\"error\":\"nope\",\"kind\":\"failed_precondition\"}\n")
                .expect("write");
        });
        let err = ShimClient::new(&long).start().await.expect_err("refused");
        assert_eq!(err.to_string(), "nope");
        assert_eq!(err.kind(), Some(ErrorKind::FailedPrecondition));
        server.join().expect("server thread");
    }
}
