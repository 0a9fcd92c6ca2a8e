//! `wharf`: one binary for every role. Wiring only; the work lives in the library crates.

mod cli;
mod foreground;
mod logging;
mod oci;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wharf",
    version,
    about = "Build, ship and run containers; operate them across a cluster"
)]
struct Cli {
    /// The daemon's socket: `unix:///path` (default unix:///run/wharf/docker.sock, or
    /// $WHARF_HOST, or $DOCKER_HOST). `wharf daemon` listens on every one given.
    #[arg(short = 'H', long = "host", global = true)]
    host: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The OCI runtime (what runc does): create, start, exec, kill and delete containers from
    /// OCI bundles.
    Oci(Box<oci::OciArgs>),
    /// The engine daemon: images, containers and volumes behind the Docker Engine API.
    Daemon(engine::daemon::DaemonArgs),
    /// The cluster's API server: the Kubernetes API over SQLite or etcd.
    Server(Box<apiserver::cli::ServerArgs>),
    /// A container's supervisor (started by the daemon, not by hand).
    #[command(hide = true)]
    Shim(shim::cli::Args),
    #[command(flatten)]
    Client(cli::Command),
}

/// Invoked through a link named `runc` or `wharf-oci`, wharf behaves as `wharf oci`, so that
/// tools which run a runtime binary with runc's arguments can use it as it is.
fn arguments() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "runc" || name.starts_with("wharf-oci") {
        args.insert(1, "oci".into());
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(arguments());
    let result = match cli.command {
        Command::Oci(args) => {
            // Rust starts every program with SIGPIPE ignored, and an ignored signal stays
            // ignored across execve: without this, processes of containers made here (and
            // hooks) would start with SIGPIPE ignored, unlike with runc.
            // The hook runner keeps it ignored (a hook may close its stdin unread); the hook
            // itself gets the default (runtime::hooks).
            if !matches!(args.command, oci::OciCommand::Hook(_)) {
                // SAFETY: restoring a default disposition before any thread or child exists.
                unsafe {
                    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                }
            }
            if let Err(e) = logging::init(
                args.global.log.as_deref(),
                args.global.log_format,
                args.global.debug,
            ) {
                eprintln!("wharf: {e:#}");
                return ExitCode::FAILURE;
            }
            let logged_to_file = args.global.log.is_some();
            oci::main(*args).inspect_err(|e| {
                if logged_to_file {
                    tracing::error!("{e:#}");
                }
            })
        }
        Command::Daemon(args) => engine::daemon::main(cli.host, args),
        Command::Server(args) => apiserver::cli::main(*args),
        Command::Shim(args) => shim::cli::main(args),
        Command::Client(command) => cli::main(cli.host, command),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => {
            // runc's errors are logrus lines with level=error, and harnesses written for runc
            // (youki's contest) look for "error" in stderr rather than at the exit status.
            eprintln!("wharf: error: {e:#}");
            match e.downcast_ref::<oci::ExitStatus>() {
                Some(status) => ExitCode::from(status.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
