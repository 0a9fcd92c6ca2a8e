//! `wharf shim`: the command line of the supervisor process (started by the daemon through
//! [`crate::client::spawn`], not by hand).

use std::path::PathBuf;

/// The shim's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The container's id in the runtime's state root.
    #[arg(long)]
    pub id: String,
    /// The OCI bundle (config.json; its rootfs already mounted).
    #[arg(long)]
    pub bundle: PathBuf,
    /// The shim's own directory: shim.sock, shim.pid, exit.json, shim.log.
    #[arg(long)]
    pub state_dir: PathBuf,
    /// The runtime's state root.
    #[arg(long)]
    pub runtime_root: PathBuf,
    /// The container's log, in Docker's json-file format.
    #[arg(long)]
    pub log: PathBuf,
    /// Keep a stdin pipe that attach clients write into (Docker's OpenStdin).
    #[arg(long)]
    pub stdin: bool,
    /// Close the container's stdin when the first attached client ends its input (StdinOnce).
    #[arg(long)]
    pub stdin_once: bool,
}

/// Runs the shim; returns its exit status (see [`crate::server::run`]).
pub fn main(args: Args) -> anyhow::Result<i32> {
    // First of all, leave the spawner's session and process group: signals meant for the
    // daemon (a terminal's ^C, a kill of its group) must not reach the container's keeper.
    if let Err(e) = nix::unistd::setsid() {
        eprintln!("shim: setsid: {e}");
    }
    reset_ignored_signals();
    Ok(crate::server::run(crate::server::Config {
        id: args.id,
        bundle: args.bundle,
        state_dir: args.state_dir,
        runtime_root: args.runtime_root,
        log_path: args.log,
        stdin: args.stdin,
        stdin_once: args.stdin_once,
    }))
}

/// Signals ignored by whoever started us (a shell's background job ignores SIGQUIT; Rust
/// ignores SIGPIPE) stay ignored across execve: give them back their default, so the
/// container's processes start as they would under runc.
fn reset_ignored_signals() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: reading and restoring dispositions with sigaction; no handler is installed.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}
