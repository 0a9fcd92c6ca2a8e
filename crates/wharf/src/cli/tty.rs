//! The local terminal: whether stdin/stdout are terminals, raw mode (restored on drop), and the
//! window size that `-t` sends to the container.

use std::io::IsTerminal;
use std::os::fd::AsRawFd;

use nix::sys::termios::{self, SetArg, Termios};

/// Whether stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Stdin in raw mode (no echo, no line discipline, no signals from ^C) until dropped, as
/// `docker run -it` sets it so that keys reach the container's terminal unchanged.
#[derive(Debug)]
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode.
    pub fn enable() -> nix::Result<Self> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // Nothing better to do if the terminal went away meanwhile.
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// The terminal's size as (rows, columns), read from stdout (or stdin when stdout is
/// redirected); `None` when neither is a terminal.
pub fn window_size() -> Option<(u16, u16)> {
    let fds = [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()];
    fds.into_iter().find_map(|fd| {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass, which points at a
        // live, properly aligned local; the fd is one of our standard streams.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size as *mut libc::winsize) };
        (rc == 0 && size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
    })
}
