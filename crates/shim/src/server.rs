//! The supervisor process: one container, one single-threaded `poll(2)` loop.
//!
//! It creates the container (holding the other ends of its stdio pipes, or its pty master),
//! reports creation on its original stdout, then serves [`crate::proto`] requests on
//! `<state-dir>/shim.sock`, copies the container's output into the json-file log and to
//! attached clients, feeds stdin, reaps the init and exec processes (it is their parent and a
//! child subreaper) and, when init has exited, deletes the container, writes `exit.json`,
//! answers waiters and exits.
//!
//! Buffers are bounded: an attach client that does not read loses output rather than slowing
//! the container, the log is written as output arrives, and stdin is read from clients only
//! while the container keeps up with it. An exec's output waits for its one client instead
//! (its client is the only reader, so nothing else is held up).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind as IoKind, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::sys::signal::Signal;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use runtime::{ContainerId, ContainerStatus, CreateOptions, ExecOptions, Runtime, Stdio};
use serde::Serialize;

use crate::jsonlog::{JsonLog, Stream};
use crate::proto::{
    self, ErrorKind, ExecExit, ExitStatus, Reply, Request, STREAM_EXIT, STREAM_STDERR,
    STREAM_STDOUT, ShimState,
};

/// Output an attach client may have pending before further output to it is dropped.
const ATTACH_LIMIT: usize = 1 << 20;
/// Output an exec client may have pending before the exec's pipes are left unread.
const EXEC_LIMIT: usize = 256 << 10;
/// Stdin held for the container before clients are left unread.
const STDIN_LIMIT: usize = 64 << 10;
/// The longest request line.
const REQUEST_LIMIT: usize = 4 << 20;
/// Bytes read from a pipe or socket at once.
const CHUNK: usize = 32 << 10;
/// How long output may still arrive after init has exited and the container is deleted.
const INIT_DRAIN: Duration = Duration::from_secs(5);
/// How long an exec's output may still arrive after it has exited (background processes may
/// hold its pipes).
const EXEC_DRAIN: Duration = Duration::from_secs(2);
/// How long clients get to read their last bytes before the shim exits.
const FINAL_FLUSH: Duration = Duration::from_secs(2);
/// How long the runtime gets to send a pty master over a console socket.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `wharf shim` was asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub log_path: PathBuf,
    /// Keep a stdin pipe that attach clients write into.
    pub stdin: bool,
    /// Close the container's stdin when the first client attached to it ends its input.
    pub stdin_once: bool,
}

/// A failed operation: its message and kind, as sent to clients.
#[derive(Debug)]
struct Failure {
    message: String,
    kind: ErrorKind,
}

impl Failure {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            kind,
        }
    }

    fn io(what: impl std::fmt::Display, e: std::io::Error) -> Self {
        Failure::new(ErrorKind::Internal, format!("{what}: {e}"))
    }

    fn reply(&self) -> Reply {
        Reply::error(self.message.clone(), Some(self.kind))
    }
}

impl From<runtime::Error> for Failure {
    fn from(e: runtime::Error) -> Self {
        Failure::new(e.kind().into(), e.to_string())
    }
}

type OpResult<T> = Result<T, Failure>;

/// Runs the shim to the end and returns its exit code: 1 when the container could not be
/// created (the reason went to the original stdout), 0 after supervising it to its exit.
pub fn run(cfg: Config) -> i32 {
    let status = match take_stdout() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("shim: cannot set up stdio: {e}");
            return 1;
        }
    };
    match Shim::create(cfg) {
        Ok(mut shim) => {
            let reply = Reply {
                ok: true,
                pid: Some(shim.init_pid),
                shim_pid: Some(std::process::id() as i32),
                ..Default::default()
            };
            report(status, &reply);
            shim.serve();
            0
        }
        Err(f) => {
            eprintln!("shim: create failed: {}", f.message);
            report(status, &f.reply());
            1
        }
    }
}

/// Moves our stdout (the spawner's pipe) to a close-on-exec descriptor and puts /dev/null on
/// stdin and stdout, so that nothing we start can write to the spawner or read its input.
fn take_stdout() -> std::io::Result<File> {
    // SAFETY: F_DUPFD_CLOEXEC duplicates fd 1 to a new descriptor >= 3; no memory involved.
    let fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created for us and nothing else owns it.
    let status = unsafe { File::from_raw_fd(fd) };
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in [0, 1] {
        // SAFETY: dup2 onto the standard descriptors, which we own as the process.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(status)
}

fn report(mut status: File, reply: &Reply) {
    let mut line = serde_json::to_vec(reply).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
    line.push(b'\n');
    if let Err(e) = status.write_all(&line) {
        eprintln!("shim: cannot report to the spawner: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// Signals: SIGCHLD wakes the loop through a pipe. Handlers (not SIG_IGN, not a blocked mask)
// are used so that processes the runtime starts get default dispositions back at execve.

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    // SAFETY: errno is thread-local; write(2) is async-signal-safe; the pipe is non-blocking
    // so a full pipe (the loop is already woken) just fails.
    unsafe {
        let errno = *libc::__errno_location();
        let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
        if fd >= 0 {
            libc::write(fd, [1u8].as_ptr().cast(), 1);
        }
        *libc::__errno_location() = errno;
    }
}

extern "C" fn on_sigpipe(_: libc::c_int) {}

fn install_signals() -> std::io::Result<File> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(std::io::Error::from)?;
    SIGNAL_PIPE.store(w.as_raw_fd(), Ordering::Relaxed);
    // The write end lives as long as the process.
    std::mem::forget(w);
    for (sig, handler, flags) in [
        (
            libc::SIGCHLD,
            on_sigchld as extern "C" fn(libc::c_int),
            libc::SA_RESTART | libc::SA_NOCLDSTOP,
        ),
        (
            libc::SIGPIPE,
            on_sigpipe as extern "C" fn(libc::c_int),
            libc::SA_RESTART,
        ),
    ] {
        // SAFETY: a zeroed sigaction with a handler that only calls async-signal-safe code.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            sa.sa_flags = flags;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(File::from(r))
}

// ---------------------------------------------------------------------------------------

fn set_nonblocking(fd: &impl AsFd) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let raw = fd.as_fd().as_raw_fd();
    let flags = fcntl(raw, FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    fcntl(
        raw,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}

/// A pipe as (our non-blocking end, the process's end): `for_reading` means we read.
fn pipe_pair(for_reading: bool) -> std::io::Result<(File, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let (ours, theirs) = if for_reading { (r, w) } else { (w, r) };
    set_nonblocking(&ours)?;
    Ok((File::from(ours), theirs))
}

fn dev_null() -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/null")?;
    Ok(f.into())
}

/// A console socket the runtime sends a pty master over. Bound by a name relative to the
/// state directory (our working directory), so long state paths do not hit the 108-byte
/// limit of socket addresses; the runtime gets the absolute path.
struct ConsoleSocket {
    name: String,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    fn bind(state_dir: &Path, name: String) -> OpResult<Self> {
        let _ = std::fs::remove_file(&name);
        let listener = UnixListener::bind(&name)
            .map_err(|e| Failure::io(format!("bind console socket {name}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Failure::io("console socket", e))?;
        Ok(ConsoleSocket {
            path: state_dir.join(&name),
            name,
            listener,
        })
    }

    /// Takes the pty master the runtime sent (non-blocking, close-on-exec).
    fn receive(&self) -> OpResult<File> {
        let mut pfd = libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + CONSOLE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::new(
                    ErrorKind::Internal,
                    "the runtime sent no pty master on the console socket",
                ));
            }
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if n > 0 {
                break;
            }
        }
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| Failure::io("accept on console socket", e))?;
        let mut buf = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let fd = {
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(|e| Failure::io("receive pty master", e.into()))?;
            let mut found = None;
            for c in msg
                .cmsgs()
                .map_err(|e| Failure::io("read control message", e.into()))?
            {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for fd in fds {
                        // SAFETY: the kernel installed these descriptors for us.
                        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                        if found.is_none() {
                            found = Some(owned);
                        }
                    }
                }
            }
            found
        };
        let master = fd.ok_or_else(|| {
            Failure::new(
                ErrorKind::Internal,
                "the console socket message carried no file descriptor",
            )
        })?;
        set_nonblocking(&master).map_err(|e| Failure::io("pty master", e))?;
        Ok(File::from(master))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.name);
    }
}

fn set_window_size(pty: &File, height: u16, width: u16) -> OpResult<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass.
    if unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(Failure::io("resize", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Output of a process we read: a pipe, or a pty master (where EIO means the end).
#[derive(Debug)]
struct Source {
    file: File,
    stream: u8,
}

/// Input of a process we write, with what is waiting to be written.
#[derive(Debug)]
struct Sink {
    file: File,
    buf: Vec<u8>,
    closing: bool,
    pty: bool,
}

impl Sink {
    fn new(file: File, pty: bool) -> Self {
        Sink {
            file,
            buf: Vec::new(),
            closing: false,
            pty,
        }
    }

    /// Ends the input: a pipe is closed once written out; a terminal gets its end-of-file
    /// character (closing the master would hang the terminal up).
    fn close(&mut self) {
        if !self.closing && self.pty {
            self.buf.push(0x04);
        }
        self.closing = true;
    }

    /// Writes what it can; true when the sink is done (closed and empty) or broken.
    fn flush(&mut self) -> bool {
        let mut written = 0;
        while written < self.buf.len() {
            match (&self.file).write(&self.buf[written..]) {
                Ok(0) => return true,
                Ok(n) => written += n,
                Err(e) if e.kind() == IoKind::WouldBlock => break,
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        self.buf.drain(..written);
        if self.buf.is_empty() && self.buf.capacity() > STDIN_LIMIT {
            self.buf = Vec::new();
        }
        self.closing && self.buf.is_empty()
    }
}

/// What a connection is for, once its request is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Request,
    /// A reply is queued; the connection closes when it is written.
    Reply,
    Waiter,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Exec {
        key: u64,
        stdin: bool,
    },
}

#[derive(Debug)]
struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    role: Role,
    read_eof: bool,
    close_when_flushed: bool,
    dropped: u64,
}

impl Conn {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn queue_frame(&mut self, stream: u8, data: &[u8]) {
        self.out
            .extend_from_slice(&proto::frame_header(stream, data.len() as u32));
        self.out.extend_from_slice(data);
    }

    /// Writes what it can; false when the peer is gone.
    fn flush(&mut self) -> bool {
        while self.out_pos < self.out.len() {
            match (&self.stream).write(&self.out[self.out_pos..]) {
                Ok(0) => return false,
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == IoKind::WouldBlock => break,
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > 4 * CHUNK {
                self.out = Vec::new();
            }
        }
        true
    }
}

/// A process started by `exec`.
#[derive(Debug)]
struct Exec {
    id: String,
    pid: i32,
    sources: Vec<Option<Source>>,
    stdin: Option<Sink>,
    pty: Option<File>,
    conn: Option<u64>,
    code: Option<i32>,
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Signal,
    Listener,
    Source(usize),
    Sink,
    Conn(u64),
    ExecSource(u64, usize),
    ExecSink(u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Init is alive.
    Running,
    /// Init has exited and the container is deleted; output is being drained.
    Draining(Instant),
    /// The exit is recorded; clients get their last bytes.
    Finishing(Instant),
}

#[derive(Debug)]
struct Shim {
    cfg: Config,
    rt: Runtime,
    id: ContainerId,
    /// The container as created: used to delete it if it can no longer be loaded.
    held: Option<runtime::Container>,
    init_pid: i32,
    tty: bool,
    signals: File,
    listener: Option<UnixListener>,
    log: JsonLog,
    sources: Vec<Option<Source>>,
    stdin: Option<Sink>,
    stdin_owner: Option<u64>,
    pty: Option<File>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    execs: BTreeMap<u64, Exec>,
    next_exec: u64,
    exit: Option<ExitStatus>,
    phase: Phase,
    buf: Vec<u8>,
}

impl Shim {
    fn create(cfg: Config) -> OpResult<Shim> {
        let abs = |p: &Path, what: &str| {
            std::path::absolute(p).map_err(|e| Failure::io(format!("{what} {}", p.display()), e))
        };
        let cfg = Config {
            bundle: abs(&cfg.bundle, "bundle")?,
            state_dir: abs(&cfg.state_dir, "state dir")?,
            runtime_root: abs(&cfg.runtime_root, "runtime root")?,
            log_path: abs(&cfg.log_path, "log")?,
            ..cfg
        };
        let id = ContainerId::new(&cfg.id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&cfg.state_dir)
            .map_err(|e| Failure::io(format!("create {}", cfg.state_dir.display()), e))?;
        redirect_stderr(&cfg.state_dir.join(proto::LOG_FILE));
        std::env::set_current_dir(&cfg.state_dir)
            .map_err(|e| Failure::io(format!("enter {}", cfg.state_dir.display()), e))?;
        let signals = install_signals().map_err(|e| Failure::io("install signal handlers", e))?;
        // Orphans of the container's processes are ours to reap.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

        if UnixStream::connect(proto::SOCKET).is_ok() {
            return Err(Failure::new(
                ErrorKind::AlreadyExists,
                format!("a shim is already running in {}", cfg.state_dir.display()),
            ));
        }
        let _ = std::fs::remove_file(proto::SOCKET);
        let _ = std::fs::remove_file(proto::EXIT_FILE);
        let listener = UnixListener::bind(proto::SOCKET).map_err(|e| {
            Failure::io(
                format!("listen on {}", cfg.state_dir.join(proto::SOCKET).display()),
                e,
            )
        })?;
        let socket_guard = RemoveOnDrop(cfg.state_dir.join(proto::SOCKET));
        listener
            .set_nonblocking(true)
            .map_err(|e| Failure::io("shim socket", e))?;
        let log = JsonLog::open(&cfg.log_path)
            .map_err(|e| Failure::io(format!("open log {}", cfg.log_path.display()), e))?;
        let rt = Runtime::new(&cfg.runtime_root)?;

        let tty = wants_terminal(&cfg.bundle);
        let mut stdio = Stdio::default();
        let mut sources = Vec::new();
        let mut stdin = None;
        let console = if tty {
            Some(ConsoleSocket::bind(
                &cfg.state_dir,
                "console.sock".to_string(),
            )?)
        } else {
            let io = |e| Failure::io("create stdio pipes", e);
            let (out, out_w) = pipe_pair(true).map_err(io)?;
            let (err, err_w) = pipe_pair(true).map_err(io)?;
            stdio.stdout = Some(out_w);
            stdio.stderr = Some(err_w);
            sources.push(Some(Source {
                file: out,
                stream: STREAM_STDOUT,
            }));
            sources.push(Some(Source {
                file: err,
                stream: STREAM_STDERR,
            }));
            if cfg.stdin {
                let (w, r) = pipe_pair(false).map_err(io)?;
                stdio.stdin = Some(r);
                stdin = Some(Sink::new(w, false));
            } else {
                stdio.stdin = Some(dev_null().map_err(io)?);
            }
            None
        };
        let container = rt.create(
            &id,
            &cfg.bundle,
            CreateOptions {
                console_socket: console.as_ref().map(|c| c.path.clone()),
                stdio,
                hook_runner: std::env::current_exe().ok(),
                ..Default::default()
            },
        )?;
        let finish = |sources: &mut Vec<Option<Source>>,
                      stdin: &mut Option<Sink>|
         -> OpResult<(i32, Option<File>)> {
            let pid = container.pid().ok_or_else(|| {
                Failure::new(ErrorKind::Internal, "the created container has no process")
            })?;
            let mut pty = None;
            if let Some(console) = &console {
                let master = console.receive()?;
                if let Some((h, w)) = console_size(&cfg.bundle) {
                    set_window_size(&master, h, w)?;
                }
                let dup = |f: &File| {
                    f.try_clone()
                        .map_err(|e| Failure::io("duplicate pty master", e))
                };
                if cfg.stdin {
                    *stdin = Some(Sink::new(dup(&master)?, true));
                }
                pty = Some(dup(&master)?);
                sources.push(Some(Source {
                    file: master,
                    stream: STREAM_STDOUT,
                }));
            }
            write_atomic(
                Path::new(proto::PID_FILE),
                format!("{}\n", std::process::id()).as_bytes(),
            )
            .map_err(|e| Failure::io("write shim.pid", e))?;
            Ok((pid, pty))
        };
        let (init_pid, pty) = match finish(&mut sources, &mut stdin) {
            Ok(v) => v,
            Err(f) => {
                if let Err(e) = container.delete(true) {
                    eprintln!("shim: deleting the half-made container failed: {e}");
                }
                return Err(f);
            }
        };
        drop(console);
        std::mem::forget(socket_guard);
        Ok(Shim {
            cfg,
            rt,
            id,
            held: Some(container),
            init_pid,
            tty,
            signals,
            listener: Some(listener),
            log,
            sources,
            stdin,
            stdin_owner: None,
            pty,
            conns: BTreeMap::new(),
            next_conn: 0,
            execs: BTreeMap::new(),
            next_exec: 0,
            exit: None,
            phase: Phase::Running,
            buf: vec![0u8; CHUNK],
        })
    }

    /// The loop: until the container's exit is recorded and told.
    fn serve(&mut self) {
        let trimmed = trim_clean_file_pages();
        eprintln!(
            "shim: supervising {} (init pid {}); {} KiB of creation-time pages unmapped",
            self.id,
            self.init_pid,
            trimmed / 1024
        );
        // A process may have exited before the handler was there to tell.
        self.reap();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut tokens: Vec<Token> = Vec::new();
        loop {
            self.progress();
            if let Phase::Finishing(deadline) = self.phase {
                if self.conns.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            fds.clear();
            tokens.clear();
            self.poll_set(&mut fds, &mut tokens);
            let timeout = self.timeout_ms();
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != IoKind::Interrupted {
                    eprintln!("shim: poll: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for (pfd, token) in fds.iter().zip(tokens.iter()) {
                if pfd.revents != 0 {
                    self.handle(*token, pfd.revents);
                }
            }
        }
        let _ = std::fs::remove_file(proto::PID_FILE);
    }

    fn poll_set(&self, fds: &mut Vec<libc::pollfd>, tokens: &mut Vec<Token>) {
        let mut add = |fd: RawFd, events: libc::c_short, token: Token| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tokens.push(token);
        };
        add(self.signals.as_raw_fd(), libc::POLLIN, Token::Signal);
        if let Some(l) = &self.listener {
            add(l.as_raw_fd(), libc::POLLIN, Token::Listener);
        }
        for (i, s) in self.sources.iter().enumerate() {
            if let Some(s) = s {
                add(s.file.as_raw_fd(), libc::POLLIN, Token::Source(i));
            }
        }
        if let Some(s) = &self.stdin {
            if !s.buf.is_empty() {
                add(s.file.as_raw_fd(), libc::POLLOUT, Token::Sink);
            }
        }
        for (key, c) in &self.conns {
            let mut events = 0;
            if !c.read_eof && self.wants_input(c) {
                events |= libc::POLLIN;
            }
            if c.pending() > 0 {
                events |= libc::POLLOUT;
            }
            add(c.stream.as_raw_fd(), events, Token::Conn(*key));
        }
        for (key, e) in &self.execs {
            let reader_ready = e
                .conn
                .and_then(|c| self.conns.get(&c))
                .is_none_or(|c| c.pending() < EXEC_LIMIT);
            if reader_ready {
                for (i, s) in e.sources.iter().enumerate() {
                    if let Some(s) = s {
                        add(s.file.as_raw_fd(), libc::POLLIN, Token::ExecSource(*key, i));
                    }
                }
            }
            if let Some(s) = &e.stdin {
                if !s.buf.is_empty() {
                    add(s.file.as_raw_fd(), libc::POLLOUT, Token::ExecSink(*key));
                }
            }
        }
    }

    /// Whether to read from a connection now: its request, or its stdin while the process
    /// has room for it (input nobody takes is read and dropped).
    fn wants_input(&self, c: &Conn) -> bool {
        let takes = |s: &Sink| s.closing || s.buf.len() < STDIN_LIMIT;
        match c.role {
            Role::Request => true,
            Role::Reply | Role::Waiter => false,
            Role::Attach { stdin, .. } => !stdin || self.stdin.as_ref().is_none_or(takes),
            Role::Exec { key, stdin } => {
                !stdin
                    || self
                        .execs
                        .get(&key)
                        .and_then(|e| e.stdin.as_ref())
                        .is_none_or(takes)
            }
        }
    }

    fn timeout_ms(&self) -> i32 {
        let mut deadline = match self.phase {
            Phase::Running => None,
            Phase::Draining(d) | Phase::Finishing(d) => Some(d),
        };
        for e in self.execs.values() {
            if let Some(d) = e.deadline {
                deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
            }
        }
        match deadline {
            None => -1,
            Some(d) => {
                let ms = d.saturating_duration_since(Instant::now()).as_millis();
                (ms.min(60_000) as i32).max(1)
            }
        }
    }

    fn handle(&mut self, token: Token, revents: libc::c_short) {
        match token {
            Token::Signal => {
                let mut drain = [0u8; 64];
                while matches!((&self.signals).read(&mut drain), Ok(n) if n > 0) {}
                self.reap();
            }
            Token::Listener => self.accept(),
            Token::Source(i) => self.read_init_output(i),
            Token::Sink => {
                if self.stdin.as_mut().is_some_and(Sink::flush) {
                    self.stdin = None;
                }
            }
            Token::Conn(key) => self.conn_event(key, revents),
            Token::ExecSource(key, i) => self.read_exec_output(key, i),
            Token::ExecSink(key) => {
                if let Some(e) = self.execs.get_mut(&key) {
                    if e.stdin.as_mut().is_some_and(Sink::flush) {
                        e.stdin = None;
                    }
                }
            }
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        for _ in 0..16 {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let key = self.next_conn;
                    self.next_conn += 1;
                    self.conns.insert(
                        key,
                        Conn {
                            stream,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                            out_pos: 0,
                            role: Role::Request,
                            read_eof: false,
                            close_when_flushed: false,
                            dropped: 0,
                        },
                    );
                }
                Err(e) if e.kind() == IoKind::WouldBlock => break,
                Err(e) => {
                    eprintln!("shim: accept: {e}");
                    break;
                }
            }
        }
    }

    // ----- reaping -----------------------------------------------------------------------

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.exited(pid.as_raw(), code, None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exited(pid.as_raw(), 128 + sig as i32, Some(sig))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn exited(&mut self, pid: i32, code: i32, signal: Option<Signal>) {
        if pid == self.init_pid && self.phase == Phase::Running {
            self.init_exited(code, signal);
            return;
        }
        if let Some(e) = self.execs.values_mut().find(|e| e.pid == pid) {
            e.code = Some(code);
            e.deadline = Some(Instant::now() + EXEC_DRAIN);
        }
    }

    /// Records init's exit, then removes the container (ending whatever is left of it).
    fn init_exited(&mut self, code: i32, signal: Option<Signal>) {
        let finished_at = proto::timestamp(Utc::now());
        let container = match self.rt.load(&self.id) {
            Ok(c) => {
                self.held = None;
                Some(c)
            }
            Err(e) => {
                eprintln!("shim: load container after its exit: {e}");
                self.held.take()
            }
        };
        let oom_killed = signal == Some(Signal::SIGKILL)
            && container
                .as_ref()
                .and_then(|c| c.oom_kills())
                .is_some_and(|n| n > 0);
        if let Some(c) = container {
            if let Err(e) = c.delete(true) {
                eprintln!("shim: delete container {}: {e}", self.id);
            }
        }
        self.exit = Some(ExitStatus {
            exit_code: code,
            oom_killed,
            finished_at,
        });
        self.stdin = None;
        self.phase = Phase::Draining(Instant::now() + INIT_DRAIN);
    }

    /// Moves lifecycles on: finished execs, the end of draining.
    fn progress(&mut self) {
        let now = Instant::now();
        let done: Vec<u64> = self
            .execs
            .iter()
            .filter(|(_, e)| {
                e.code.is_some()
                    && (e.sources.iter().all(Option::is_none)
                        || e.deadline.is_some_and(|d| now >= d))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in done {
            self.finish_exec(key, None);
        }
        if let Phase::Draining(deadline) = self.phase {
            let drained = self.sources.iter().all(Option::is_none) && self.execs.is_empty();
            if drained || now >= deadline {
                self.finalize();
            }
        }
    }

    /// Sends an exec's exit to its client and forgets it.
    fn finish_exec(&mut self, key: u64, fallback: Option<i32>) {
        let Some(e) = self.execs.remove(&key) else {
            return;
        };
        let code = e.code.or(fallback).unwrap_or(137);
        if let Some(ck) = e.conn {
            if let Some(c) = self.conns.get_mut(&ck) {
                let payload = serde_json::to_vec(&ExecExit { exit_code: code }).unwrap_or_default();
                c.queue_frame(STREAM_EXIT, &payload);
                c.close_when_flushed = true;
            }
            self.flush_conn(ck);
        }
    }

    /// Init is gone and its output drained: record the exit, tell everyone, stop listening.
    fn finalize(&mut self) {
        let time = proto::timestamp(Utc::now());
        self.log.finish(Stream::Stdout, &time);
        self.log.finish(Stream::Stderr, &time);
        self.sources.clear();
        self.pty = None;
        let keys: Vec<u64> = self.execs.keys().copied().collect();
        for key in keys {
            self.finish_exec(key, Some(137));
        }
        let exit = self.exit.clone().unwrap_or_else(|| ExitStatus {
            exit_code: 255,
            oom_killed: false,
            finished_at: time.clone(),
        });
        match serde_json::to_vec(&exit) {
            Ok(json) => {
                if let Err(e) = write_atomic(Path::new(proto::EXIT_FILE), &json) {
                    eprintln!("shim: write exit.json: {e}");
                }
            }
            Err(e) => eprintln!("shim: encode exit: {e}"),
        }
        // From here a client finds no socket and reads exit.json instead.
        self.listener = None;
        let _ = std::fs::remove_file(proto::SOCKET);
        let mut wait_reply = serde_json::to_vec(&exit).unwrap_or_default();
        wait_reply.push(b'\n');
        let keys: Vec<u64> = self.conns.keys().copied().collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(&key) {
                match c.role {
                    Role::Waiter => {
                        c.out.extend_from_slice(&wait_reply);
                        c.close_when_flushed = true;
                    }
                    Role::Attach { .. } | Role::Exec { .. } | Role::Reply => {
                        c.close_when_flushed = true;
                    }
                    Role::Request => {}
                }
            }
            self.flush_conn(key);
        }
        self.phase = Phase::Finishing(Instant::now() + FINAL_FLUSH);
    }

    // ----- output ------------------------------------------------------------------------

    /// Reads a chunk from `file`: Some(n) with data, Some(0) at its end, None to try later.
    fn read_chunk(file: &File, buf: &mut [u8]) -> Option<usize> {
        loop {
            match (&*file).read(buf) {
                Ok(n) => return Some(n),
                Err(e) if e.kind() == IoKind::WouldBlock => return None,
                Err(e) if e.kind() == IoKind::Interrupted => {}
                // EIO from a pty master: every holder of the terminal is gone.
                Err(_) => return Some(0),
            }
        }
    }

    fn read_init_output(&mut self, i: usize) {
        let Some(Some(src)) = self.sources.get(i) else {
            return;
        };
        let stream = src.stream;
        let log_stream = if stream == STREAM_STDERR {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        let mut buf = std::mem::take(&mut self.buf);
        match Self::read_chunk(&src.file, &mut buf) {
            None => {}
            Some(0) => {
                self.sources[i] = None;
                self.log.finish(log_stream, &proto::timestamp(Utc::now()));
            }
            Some(n) => {
                let data = &buf[..n];
                self.log
                    .write(log_stream, data, &proto::timestamp(Utc::now()));
                let keys: Vec<u64> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| match c.role {
                        Role::Attach { stdout, stderr, .. } => {
                            !c.close_when_flushed
                                && if stream == STREAM_STDERR {
                                    stderr
                                } else {
                                    stdout
                                }
                        }
                        _ => false,
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for key in keys {
                    if let Some(c) = self.conns.get_mut(&key) {
                        if c.pending() + n + 8 > ATTACH_LIMIT {
                            if c.dropped == 0 {
                                eprintln!(
                                    "shim: attach client {key} is not reading; dropping its output"
                                );
                            }
                            c.dropped += n as u64;
                            continue;
                        }
                        c.queue_frame(stream, data);
                    }
                    self.flush_conn(key);
                }
            }
        }
        self.buf = buf;
    }

    fn read_exec_output(&mut self, key: u64, i: usize) {
        let Some(e) = self.execs.get_mut(&key) else {
            return;
        };
        let Some(Some(src)) = e.sources.get(i) else {
            return;
        };
        let stream = src.stream;
        let mut buf = std::mem::take(&mut self.buf);
        match Self::read_chunk(&src.file, &mut buf) {
            None => {}
            Some(0) => e.sources[i] = None,
            Some(n) => {
                if let Some(ck) = e.conn {
                    if let Some(c) = self.conns.get_mut(&ck) {
                        c.queue_frame(stream, &buf[..n]);
                    }
                    self.flush_conn(ck);
                }
            }
        }
        self.buf = buf;
    }

    // ----- connections -------------------------------------------------------------------

    /// Writes what a connection has pending; closes it when it is done or its peer is gone.
    fn flush_conn(&mut self, key: u64) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if !c.flush() {
            self.drop_conn(key);
            return;
        }
        if c.pending() == 0 && c.close_when_flushed {
            self.drop_conn(key);
        }
    }

    fn drop_conn(&mut self, key: u64) {
        let Some(c) = self.conns.remove(&key) else {
            return;
        };
        if c.dropped > 0 {
            eprintln!(
                "shim: attach client {key} missed {} bytes of output",
                c.dropped
            );
        }
        self.input_ended(key, c.role);
        if let Role::Exec { key: ek, .. } = c.role {
            if let Some(e) = self.execs.get_mut(&ek) {
                e.conn = None;
            }
        }
    }

    /// A client's input ended (end of file, or it went away).
    fn input_ended(&mut self, key: u64, role: Role) {
        match role {
            Role::Attach { stdin: true, .. }
                if self.cfg.stdin_once && self.stdin_owner == Some(key) =>
            {
                self.close_init_stdin();
            }
            Role::Exec {
                key: ek,
                stdin: true,
            } => {
                if let Some(e) = self.execs.get_mut(&ek) {
                    if let Some(s) = &mut e.stdin {
                        s.close();
                        if s.flush() {
                            e.stdin = None;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn close_init_stdin(&mut self) {
        if let Some(s) = &mut self.stdin {
            s.close();
            if s.flush() {
                self.stdin = None;
            }
        }
    }

    fn conn_event(&mut self, key: u64, revents: libc::c_short) {
        if revents & libc::POLLOUT != 0 {
            self.flush_conn(key);
        }
        if revents & libc::POLLIN != 0 {
            self.conn_readable(key);
        }
        if revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            // The peer is gone for good: take what it sent, then forget it.
            if revents & libc::POLLIN == 0 || self.conns.get(&key).is_some_and(|c| !c.read_eof) {
                self.conn_readable(key);
            }
            self.drop_conn(key);
        }
    }

    fn conn_readable(&mut self, key: u64) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.read_eof {
            return;
        }
        let role = c.role;
        let mut buf = std::mem::take(&mut self.buf);
        let n = match (&c.stream).read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::Interrupted) => {
                self.buf = buf;
                return;
            }
            Err(_) => 0,
        };
        if n == 0 {
            c.read_eof = true;
            self.buf = buf;
            match role {
                // A client that went away before finishing its request.
                Role::Request => self.drop_conn(key),
                _ => self.input_ended(key, role),
            }
            return;
        }
        match role {
            Role::Request => {
                c.inbuf.extend_from_slice(&buf[..n]);
                self.buf = buf;
                self.request_bytes(key);
            }
            _ => {
                self.stdin_bytes(role, &buf[..n]);
                self.buf = buf;
            }
        }
    }

    /// Input from a client for the process it is attached to (dropped when it takes none).
    fn stdin_bytes(&mut self, role: Role, data: &[u8]) {
        let sink = match role {
            Role::Attach { stdin: true, .. } => self.stdin.as_mut(),
            Role::Exec { key, stdin: true } => {
                self.execs.get_mut(&key).and_then(|e| e.stdin.as_mut())
            }
            _ => None,
        };
        let Some(sink) = sink else {
            return;
        };
        if sink.closing {
            return;
        }
        sink.buf.extend_from_slice(data);
        if sink.flush() {
            match role {
                Role::Exec { key, .. } => {
                    if let Some(e) = self.execs.get_mut(&key) {
                        e.stdin = None;
                    }
                }
                _ => self.stdin = None,
            }
        }
    }

    fn request_bytes(&mut self, key: u64) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') else {
            if c.inbuf.len() > REQUEST_LIMIT {
                let reply = Reply::error(
                    format!("request longer than {REQUEST_LIMIT} bytes"),
                    Some(ErrorKind::InvalidArgument),
                );
                self.reply(key, &reply);
            }
            return;
        };
        let rest = c.inbuf.split_off(pos + 1);
        let line = std::mem::take(&mut c.inbuf);
        match serde_json::from_slice::<Request>(&line) {
            Ok(req) => self.dispatch(key, req, rest),
            Err(e) => {
                let reply = Reply::error(
                    format!("invalid request: {e}"),
                    Some(ErrorKind::InvalidArgument),
                );
                self.reply(key, &reply);
            }
        }
    }

    /// Queues one JSON line and closes the connection once it is written.
    fn reply<T: Serialize>(&mut self, key: u64, value: &T) {
        if let Some(c) = self.conns.get_mut(&key) {
            if let Ok(mut line) = serde_json::to_vec(value) {
                line.push(b'\n');
                c.out.extend_from_slice(&line);
            }
            c.role = Role::Reply;
            c.close_when_flushed = true;
        }
        self.flush_conn(key);
    }

    /// Queues the acknowledgement of a streaming request; the connection stays open.
    fn ack(&mut self, key: u64, reply: &Reply, role: Role) {
        if let Some(c) = self.conns.get_mut(&key) {
            if let Ok(mut line) = serde_json::to_vec(reply) {
                line.push(b'\n');
                c.out.extend_from_slice(&line);
            }
            c.role = role;
        }
        self.flush_conn(key);
    }

    fn dispatch(&mut self, key: u64, req: Request, rest: Vec<u8>) {
        match req {
            Request::Start => {
                let r = self.start();
                self.reply(key, &outcome(r));
                // Starting ran the runtime's code once more; it is not needed again.
                trim_clean_file_pages();
            }
            Request::Kill { signal, all } => {
                let r = self.kill(signal, all);
                self.reply(key, &outcome(r));
            }
            Request::Pause => {
                let r = self.with_container("pause", |c| c.pause());
                self.reply(key, &outcome(r));
            }
            Request::Resume => {
                let r = self.with_container("resume", |c| c.resume());
                self.reply(key, &outcome(r));
            }
            Request::Resize {
                height,
                width,
                exec_id,
            } => {
                let r = self.resize(height, width, exec_id.as_deref());
                self.reply(key, &outcome(r));
            }
            Request::State => {
                let state = self.state();
                self.reply(key, &state);
            }
            Request::Wait => match (&self.exit, self.phase) {
                (Some(exit), Phase::Finishing(_)) => {
                    let exit = exit.clone();
                    self.reply(key, &exit);
                }
                _ => {
                    if let Some(c) = self.conns.get_mut(&key) {
                        c.role = Role::Waiter;
                    }
                }
            },
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                let reply = Reply {
                    ok: true,
                    tty: Some(self.tty),
                    ..Default::default()
                };
                if matches!(self.phase, Phase::Finishing(_)) {
                    self.reply(key, &reply);
                    return;
                }
                let stdin = stdin && self.cfg.stdin;
                if stdin && self.stdin_owner.is_none() && self.stdin.is_some() {
                    self.stdin_owner = Some(key);
                }
                let role = Role::Attach {
                    stdin,
                    stdout,
                    stderr,
                };
                self.ack(key, &reply, role);
                if !rest.is_empty() {
                    self.stdin_bytes(role, &rest);
                }
            }
            Request::Exec {
                exec_id,
                process,
                stdin,
            } => match self.exec(key, exec_id, process, stdin) {
                Ok((ek, pid)) => {
                    let reply = Reply {
                        ok: true,
                        pid: Some(pid),
                        ..Default::default()
                    };
                    let role = Role::Exec { key: ek, stdin };
                    self.ack(key, &reply, role);
                    if !rest.is_empty() {
                        self.stdin_bytes(role, &rest);
                    }
                    trim_clean_file_pages();
                }
                Err(f) => self.reply(key, &f.reply()),
            },
        }
    }

    // ----- operations --------------------------------------------------------------------

    fn not_running(&self) -> Failure {
        Failure::new(
            ErrorKind::FailedPrecondition,
            format!("container {} is not running", self.id),
        )
    }

    fn with_container(
        &self,
        _op: &str,
        f: impl FnOnce(&mut runtime::Container) -> runtime::Result<()>,
    ) -> OpResult<()> {
        if self.phase != Phase::Running {
            return Err(self.not_running());
        }
        let mut c = self.rt.load(&self.id)?;
        f(&mut c)?;
        Ok(())
    }

    fn start(&mut self) -> OpResult<()> {
        self.with_container("start", |c| c.start())
    }

    fn kill(&mut self, signal: i32, all: bool) -> OpResult<()> {
        let sig = Signal::try_from(signal).map_err(|_| {
            Failure::new(
                ErrorKind::InvalidArgument,
                format!("invalid signal {signal}"),
            )
        })?;
        self.with_container("kill", |c| c.kill(sig, all))
    }

    fn resize(&self, height: u16, width: u16, exec_id: Option<&str>) -> OpResult<()> {
        let pty = match exec_id {
            Some(id) => {
                let e = self.execs.values().find(|e| e.id == id).ok_or_else(|| {
                    Failure::new(ErrorKind::NotFound, format!("no such exec: {id}"))
                })?;
                e.pty.as_ref().ok_or_else(|| {
                    Failure::new(
                        ErrorKind::FailedPrecondition,
                        format!("exec {id} has no terminal"),
                    )
                })?
            }
            None => self.pty.as_ref().ok_or_else(|| {
                Failure::new(
                    ErrorKind::FailedPrecondition,
                    format!("container {} has no terminal", self.id),
                )
            })?,
        };
        set_window_size(pty, height, width)
    }

    fn state(&self) -> ShimState {
        if let Some(exit) = &self.exit {
            return ShimState {
                status: "stopped".into(),
                pid: 0,
                exit: Some(exit.clone()),
            };
        }
        let status = match self.rt.load(&self.id) {
            Ok(c) => match c.status() {
                ContainerStatus::Creating | ContainerStatus::Created => "created",
                ContainerStatus::Running => "running",
                ContainerStatus::Paused => "paused",
                ContainerStatus::Stopped => "stopped",
            },
            Err(e) => {
                eprintln!("shim: load container for state: {e}");
                "stopped"
            }
        };
        ShimState {
            status: status.into(),
            pid: self.init_pid,
            exit: None,
        }
    }

    fn exec(
        &mut self,
        conn: u64,
        exec_id: String,
        process: serde_json::Value,
        stdin: bool,
    ) -> OpResult<(u64, i32)> {
        if self.phase != Phase::Running {
            return Err(self.not_running());
        }
        if self.execs.values().any(|e| e.id == exec_id) {
            return Err(Failure::new(
                ErrorKind::AlreadyExists,
                format!("exec {exec_id} is already running"),
            ));
        }
        let text = serde_json::to_vec(&process)
            .map_err(|e| Failure::new(ErrorKind::InvalidArgument, e.to_string()))?;
        let process = runtime::bundle::parse_process(Path::new("exec process"), &text)?;
        let tty = process.terminal().unwrap_or(false);
        let key = self.next_exec;
        self.next_exec += 1;
        let mut stdio = Stdio::default();
        let mut sources = Vec::new();
        let mut sink = None;
        let console = if tty {
            Some(ConsoleSocket::bind(
                &self.cfg.state_dir,
                format!("exec-{key}.console.sock"),
            )?)
        } else {
            let io = |e| Failure::io("create exec stdio pipes", e);
            let (out, out_w) = pipe_pair(true).map_err(io)?;
            let (err, err_w) = pipe_pair(true).map_err(io)?;
            stdio.stdout = Some(out_w);
            stdio.stderr = Some(err_w);
            sources.push(Some(Source {
                file: out,
                stream: STREAM_STDOUT,
            }));
            sources.push(Some(Source {
                file: err,
                stream: STREAM_STDERR,
            }));
            if stdin {
                let (w, r) = pipe_pair(false).map_err(io)?;
                stdio.stdin = Some(r);
                sink = Some(Sink::new(w, false));
            } else {
                stdio.stdin = Some(dev_null().map_err(io)?);
            }
            None
        };
        let container = self.rt.load(&self.id)?;
        let pid = container.exec(
            &self.rt,
            ExecOptions {
                process: Some(process),
                tty,
                console_socket: console.as_ref().map(|c| c.path.clone()),
                stdio,
                ..Default::default()
            },
        )?;
        let mut pty = None;
        if let Some(console) = &console {
            let master = match console.receive() {
                Ok(m) => m,
                Err(f) => {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    return Err(f);
                }
            };
            let dup = |f: &File| {
                f.try_clone()
                    .map_err(|e| Failure::io("duplicate pty master", e))
            };
            if stdin {
                sink = Some(Sink::new(dup(&master)?, true));
            }
            pty = Some(dup(&master)?);
            sources.push(Some(Source {
                file: master,
                stream: STREAM_STDOUT,
            }));
        }
        self.execs.insert(
            key,
            Exec {
                id: exec_id,
                pid,
                sources,
                stdin: sink,
                pty,
                conn: Some(conn),
                code: None,
                deadline: None,
            },
        );
        Ok((key, pid))
    }
}

fn outcome(r: OpResult<()>) -> Reply {
    match r {
        Ok(()) => Reply::ok(),
        Err(f) => f.reply(),
    }
}

/// Drops from our page tables the clean file pages that creating the container touched (the
/// runtime's code, the binary's read-only data): the loop that follows uses little of them,
/// and the pages stay in the page cache, shared with every other wharf process, to be
/// faulted back in when needed. Only mappings that are not writable and hold no private
/// (anonymous, e.g. relocated) pages are dropped, so what comes back is byte for byte what
/// was there. Returns the bytes unmapped.
fn trim_clean_file_pages() -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut dropped = 0;
    for (range, rss, anon) in clean_file_mappings(&smaps) {
        let (start, end) = range;
        // SAFETY: the range is a whole mapping of this process, file-backed, not writable and
        // without private pages: MADV_DONTNEED only unmaps pages that fault back in unchanged.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if rc == 0 && anon == 0 {
            dropped += rss;
        }
    }
    dropped
}

/// The mappings in `smaps` text that are file-backed, not writable and have no anonymous
/// pages: ((start, end), resident bytes, anonymous bytes).
fn clean_file_mappings(smaps: &str) -> Vec<((usize, usize), u64, u64)> {
    let mut out = Vec::new();
    let mut current: Option<((usize, usize), bool)> = None;
    let mut rss = 0u64;
    let mut anon = None;
    let mut finish = |current: &mut Option<((usize, usize), bool)>, rss: u64, anon: Option<u64>| {
        if let (Some((range, true)), Some(0)) = (current.take(), anon) {
            if rss > 0 {
                out.push((range, rss, 0));
            }
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                finish(&mut current, rss, anon);
                rss = 0;
                anon = None;
                let perms = fields.next().unwrap_or_default();
                let path = fields.nth(3).unwrap_or_default();
                let eligible = path.starts_with('/')
                    && perms.len() == 4
                    && !perms.contains('w')
                    && perms.ends_with('p');
                current = Some(((start, end), eligible));
                continue;
            }
        }
        let kb = || {
            fields
                .clone()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .map(|v| v * 1024)
        };
        match first {
            "Rss:" => rss = kb().unwrap_or(0),
            "Anonymous:" => anon = kb(),
            _ => {}
        }
    }
    finish(&mut current, rss, anon);
    out
}

/// Whether the bundle's config asks for a terminal.
fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["process"]["terminal"].as_bool())
        .unwrap_or(false)
}

/// The spec's `process.consoleSize` (height, width), which the runtime does not apply: the
/// shim sets it on the pty before the process starts, so its first output has the size the
/// client's terminal has.
fn console_size(bundle: &Path) -> Option<(u16, u16)> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).ok()?).ok()?;
    let size = &v["process"]["consoleSize"];
    let h = u16::try_from(size["height"].as_u64()?).ok()?;
    let w = u16::try_from(size["width"].as_u64()?).ok()?;
    (h > 0 && w > 0).then_some((h, w))
}

/// Sends our stderr (diagnostics, and what the runtime prints) to the shim log.
fn redirect_stderr(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
    {
        // SAFETY: dup2 onto fd 2, which we own as the process.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
    }
}

/// Writes a file through a temporary and a rename, so readers see all of it or nothing.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_end_pipes_and_terminals_differently() {
        let (w, r) = pipe_pair(false).expect("pipe");
        let mut sink = Sink::new(w, false);
        sink.buf.extend_from_slice(b"abc");
        assert!(!sink.flush());
        sink.close();
        assert!(sink.flush(), "a closed, empty pipe sink is done");
        drop(sink);
        let mut got = Vec::new();
        File::from(r).read_to_end(&mut got).expect("read");
        assert_eq!(got, b"abc");

        let (w, r) = pipe_pair(false).expect("pipe");
        let mut sink = Sink::new(w, true);
        sink.close();
        assert!(sink.flush());
        drop(sink);
        let mut got = Vec::new();
        File::from(r).read_to_end(&mut got).expect("read");
        assert_eq!(got, [0x04], "a terminal gets its end-of-file character");
    }

    #[test]
    fn a_reader_that_is_gone_breaks_the_sink() {
        // The test harness ignores SIGPIPE as every Rust program does; the shim has a no-op
        // handler instead. Either way the write fails with EPIPE.
        let (w, r) = pipe_pair(false).expect("pipe");
        drop(r);
        let mut sink = Sink::new(w, false);
        sink.buf.extend_from_slice(b"x");
        assert!(sink.flush());
    }

    #[test]
    fn connections_frame_and_flush_their_output() {
        let (a, b) = UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        let mut c = Conn {
            stream: a,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            role: Role::Attach {
                stdin: false,
                stdout: true,
                stderr: true,
            },
            read_eof: false,
            close_when_flushed: false,
            dropped: 0,
        };
        c.queue_frame(STREAM_STDERR, b"err");
        assert_eq!(c.pending(), 11);
        assert!(c.flush());
        assert_eq!(c.pending(), 0);
        let mut got = [0u8; 11];
        (&b).read_exact(&mut got).expect("read frame");
        assert_eq!(&got, b"\x02\0\0\0\0\0\0\x03err");
        drop(b);
        c.queue_frame(STREAM_STDOUT, b"x");
        assert!(!c.flush(), "a peer that is gone is noticed");
    }

    #[test]
    fn only_clean_read_only_file_mappings_are_trimmed() {
        let smaps = "\
55d0a0000000-55d0a0400000 r-xp 00001000 08:01 123 /usr/bin/wharf
Rss:                1024 kB
Anonymous:             0 kB
55d0a0400000-55d0a0500000 r--p 00401000 08:01 123 /usr/bin/wharf
Rss:                  64 kB
Anonymous:            64 kB
55d0a0500000-55d0a0600000 rw-p 00501000 08:01 123 /usr/bin/wharf
Rss:                  64 kB
Anonymous:             0 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Rss:                 100 kB
Anonymous:           100 kB
7fff00000000-7fff00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
7f1000000000-7f1000200000 r--p 00000000 08:01 456 /usr/lib/libc.so.6
Rss:                 200 kB
Anonymous:             0 kB
";
        let got = clean_file_mappings(smaps);
        assert_eq!(
            got,
            vec![
                ((0x55d0a0000000, 0x55d0a0400000), 1024 * 1024, 0),
                ((0x7f1000000000, 0x7f1000200000), 200 * 1024, 0),
            ]
        );
        // On this very process: trimming is harmless (the test goes on running).
        trim_clean_file_pages();
        assert_eq!(clean_file_mappings("").len(), 0);
    }

    #[test]
    fn atomic_writes_leave_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exit.json");
        write_atomic(&path, b"{}").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
