//! Running a container process in the foreground, as `runc run` and `runc exec` do without
//! `--detach`: receive its pty master through a console socket when it has a terminal, proxy
//! the terminal, forward signals to it, and return its exit status.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// A unix socket the runtime connects to and sends a pty master over (runc's console socket).
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listens on a fresh socket path inside `dir`.
    pub fn bind(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(format!("{name}.{}.console.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).with_context(|| format!("bind {}", path.display()))?;
        Ok(ConsoleSocket { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the pty master the container sent, and clears ONLCR on it as runc does, so that
    /// output reads the same with or without a terminal. Call it before the process starts:
    /// the line discipline translates newlines as they are written.
    pub fn receive(&self) -> Result<OwnedFd> {
        let (stream, _) = self.listener.accept().context("accept on console socket")?;
        let master = receive_fd(stream.as_raw_fd())?;
        if let Ok(mut t) = termios::tcgetattr(master.as_fd()) {
            t.output_flags.remove(termios::OutputFlags::ONLCR);
            let _ = termios::tcsetattr(master.as_fd(), SetArg::TCSANOW, &t);
        }
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads one message carrying a file descriptor (SCM_RIGHTS) from a connected socket.
pub fn receive_fd(sock: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .context("receive pty master")?;
    for c in msg.cmsgs().context("read control message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for us; nobody
                // else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    bail!("the console socket message carried no file descriptor")
}

/// Sends a pidfd of `pid` over a fresh connection to the unix socket at `path` (runc's
/// `--pidfd-socket`), so a supervisor can wait for the process without racing pid reuse.
pub fn send_pidfd(path: &Path, pid: i32) -> Result<()> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("pidfd_open");
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let stream = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connect to pidfd socket {}", path.display()))?;
    let iov = [std::io::IoSlice::new(b"pidfd")];
    let fds = [pidfd.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    nix::sys::socket::sendmsg::<()>(stream.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .context("send pidfd")?;
    Ok(())
}

/// Our terminal in raw mode for the life of the value, restored on drop.
struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Copies our terminal's window size to the pty.
fn copy_window_size(master: RawFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass; fd 0 may not be a
    // terminal, in which case the call fails and we leave the pty alone.
    let ok = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok {
        // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
    }
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Signals the caller blocks and handles itself while a process runs in the foreground.
fn forwarded_signals() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGKILL,
        Signal::SIGSTOP,
    ] {
        set.remove(s);
    }
    set
}

/// Blocks the signals we forward. Call before spawning any thread, after the container
/// process exists (it must not inherit the mask).
pub fn block_signals() -> Result<SigSet> {
    let set = forwarded_signals();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context("block signals")?;
    Ok(set)
}

/// Waits for `pid` (our child) to exit, forwarding every signal we receive to it and proxying
/// `pty` (its terminal's master side) to our stdio; returns its exit code (128+n for signal n).
/// The caller must have called [`block_signals`].
pub fn wait(pid: i32, pty: Option<OwnedFd>, signals: SigSet) -> Result<i32> {
    let pid = Pid::from_raw(pid);
    let sfd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    let mut output = None;
    let _raw = match &pty {
        Some(master) => {
            copy_window_size(master.as_raw_fd());
            let raw = RawTerminal::enter();
            let mut to_pty = std::fs::File::from(master.try_clone().context("dup pty")?);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut stdin = std::io::stdin();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let mut from_pty = std::fs::File::from(master.try_clone().context("dup pty")?);
            output = Some(std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut stdout = std::io::stdout();
                while let Ok(n) = from_pty.read(&mut buf) {
                    if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    let _ = stdout.flush();
                }
            }));
            raw
        }
        None => None,
    };
    let code = loop {
        // Reap first: the process may have exited before its SIGCHLD could reach us.
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    break code;
                }
            }
            Err(nix::errno::Errno::ECHILD) => bail!("process {pid} is not our child"),
            Err(e) => return Err(e).context("waitpid"),
        }
        let Some(info) = sfd.read_signal().context("read signalfd")? else {
            continue;
        };
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGWINCH => {
                if let Some(master) = &pty {
                    copy_window_size(master.as_raw_fd());
                }
            }
            other => {
                let _ = kill(pid, other);
            }
        }
    };
    drop(pty);
    if let Some(out) = output {
        // The reader ends when the last holder of the pty's slave side is gone.
        let _ = out.join();
    }
    Ok(code)
}
