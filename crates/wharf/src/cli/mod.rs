//! The `wharf` client commands (`run`, `ps`, `images`, …): docker's verbs and flags, spoken to
//! `wharf daemon` (or any Docker Engine API) through the Engine API on a unix socket.
//!
//! `client` is the HTTP layer (JSON, streams, hijacked connections), `create` turns `run` flags
//! into the create request (`netopts` reads its networking flags), `container`/`image`/
//! `volume`/`network`/`system`/`copy` hold the commands,
//! `format` and `progress` what they print, `tty` the local terminal.

/// `print!` to stdout; a reader that went away (`wharf ps | head -1`) ends the process quietly
/// with the status of a process killed by SIGPIPE, as docker (a Go program) does.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` through [`out!`].
macro_rules! outln {
    () => {
        $crate::cli::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod build;
mod client;
mod container;
mod copy;
mod create;
mod format;
mod image;
mod netopts;
mod network;
mod progress;
mod system;
mod tty;
mod volume;

use clap::Subcommand;

use client::Client;

/// Writes to stdout for [`out!`]: exits 141 when the reader is gone, ignores other failures
/// (there is nowhere left to report them).
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
    }
}

/// A failure that ends the command with a particular exit status (docker's `StatusError`):
/// `run` exits 125 when the container never started, 126/127 when its command cannot run.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    /// The process exit status.
    pub code: i32,
    /// What to print on stderr (nothing when empty).
    pub message: String,
}

/// The client commands, flattened into `wharf`'s top level.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(Box<container::RunArgs>),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(Box<container::CreateArgs>),
    /// Start one or more stopped containers
    Start(container::StartArgs),
    /// List containers
    Ps(container::PsArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Execute a command in a running container
    Exec(container::ExecArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Pause all processes within one or more containers
    Pause(container::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::ContainersArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::ContainersArgs),
    /// Return low-level information on Docker objects
    Inspect(container::InspectArgs),
    /// Display the running processes of a container
    Top(container::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(container::StatsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(container::AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(copy::CpArgs),
    /// Create a new image from a container's changes
    Commit(container::CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::ExportArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// List images
    Images(image::ImagesArgs),
    /// Remove one or more images
    Rmi(image::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::LoadArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Download an image from a registry
    Pull(image::PullArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Manage builds
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage the daemon
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Show the client and daemon version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
}

/// `image` subcommands (the same commands as the top-level image verbs).
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(image::ImagesArgs),
    /// Download an image from a registry
    Pull(image::PullArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(image::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Save one or more images to a tar archive
    Save(image::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::LoadArgs),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(image::ImageInspectArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
}

/// Runs a client command against the daemon at `hosts[0]` (or `$WHARF_HOST`, `$DOCKER_HOST`,
/// the default socket); returns the process exit status. Errors are printed here, as docker
/// prints them, so the status is the only result.
pub fn main(hosts: Vec<String>, command: Command) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        if let Command::Version(args) = command {
            // The client half is printed even when the daemon is unreachable.
            return match Client::connect(&hosts).await {
                Ok(client) => system::version(Some(&client), args).await,
                Err(e) => {
                    system::version(None, args).await?;
                    Err(e.into())
                }
            };
        }
        if let Command::System(system::SystemCommand::Check(args)) = command {
            // Offline: it reads the stores, not the daemon.
            return system::check(args);
        }
        let client = Client::connect(&hosts).await?;
        dispatch(&client, command).await
    });
    // A blocking read of stdin may still be pending; do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => Ok(code),
        Err(error) => {
            if let Some(status) = error.downcast_ref::<StatusError>() {
                if !status.message.is_empty() {
                    eprintln!("{}", status.message);
                }
                return Ok(status.code);
            }
            // A reader that went away (`wharf export c | head`): end quietly, with the
            // status a process killed by SIGPIPE has.
            let broken_pipe = error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return Ok(141);
            }
            eprintln!("{error:#}");
            Ok(1)
        }
    }
}

async fn dispatch(client: &Client, command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Run(args) => container::run(client, *args).await,
        Command::Create(args) => container::create(client, *args).await,
        Command::Start(args) => container::start(client, args).await,
        Command::Ps(args) => container::ps(client, args).await,
        Command::Logs(args) => container::logs(client, args).await,
        Command::Exec(args) => container::exec(client, args).await,
        Command::Stop(args) => container::stop(client, args).await,
        Command::Kill(args) => container::kill(client, args).await,
        Command::Restart(args) => container::restart(client, args).await,
        Command::Pause(args) => container::pause(client, args).await,
        Command::Unpause(args) => container::unpause(client, args).await,
        Command::Rm(args) => container::rm(client, args).await,
        Command::Rename(args) => container::rename(client, args).await,
        Command::Wait(args) => container::wait(client, args).await,
        Command::Inspect(args) => container::inspect(client, args).await,
        Command::Top(args) => container::top(client, args).await,
        Command::Stats(args) => container::stats(client, args).await,
        Command::Attach(args) => container::attach(client, args).await,
        Command::Cp(args) => copy::cp(client, args).await,
        Command::Commit(args) => container::commit(client, args).await,
        Command::Diff(args) => container::diff(client, args).await,
        Command::Export(args) => container::export(client, args).await,
        Command::Port(args) => container::port(client, args).await,
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            image::images(client, args).await
        }
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => {
            image::rmi(client, args).await
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => {
            image::tag(client, args).await
        }
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            image::import(client, args).await
        }
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            image::save(client, args).await
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            image::load(client, args).await
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            image::history(client, args).await
        }
        Command::Pull(args) | Command::Image(ImageCommand::Pull(args)) => {
            image::pull(client, args).await
        }
        Command::Image(ImageCommand::Inspect(args)) => image::inspect(client, args).await,
        Command::Build(args) | Command::Image(ImageCommand::Build(args)) => {
            build::build(client, *args).await
        }
        Command::Builder(command) => build::builder(client, command).await,
        Command::Volume(command) => volume::main(client, command).await,
        Command::Network(command) => network::main(client, command).await,
        Command::System(command) => system::main(client, command).await,
        Command::Version(args) => system::version(Some(client), args).await,
        Command::Info(args) => system::info(client, args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// The same shape as `wharf`'s top level: a global `-H` next to the client commands.
    #[derive(Debug, Parser)]
    struct Top {
        #[arg(short = 'H', long = "host", global = true)]
        host: Vec<String>,
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn the_command_tree_is_consistent() {
        // clap checks flag clashes (e.g. a subcommand's -H against the global -H) here.
        Top::command().debug_assert();
    }

    #[test]
    fn docker_style_invocations_parse() {
        let parse = |args: &[&str]| {
            Top::try_parse_from(std::iter::once("wharf").chain(args.iter().copied()))
                .map(|t| t.command)
        };
        assert!(matches!(
            parse(&["run", "--rm", "-it", "busybox", "sh"]),
            Ok(Command::Run(_))
        ));
        assert!(matches!(
            parse(&["-H", "unix:///x", "ps", "-a", "--filter", "status=exited"]),
            Ok(Command::Ps(_))
        ));
        assert!(matches!(
            parse(&["exec", "-i", "w", "sh", "-c", "cat"]),
            Ok(Command::Exec(_))
        ));
        assert!(matches!(
            parse(&["volume", "create", "v1"]),
            Ok(Command::Volume(_))
        ));
        assert!(matches!(
            parse(&["system", "prune", "-f", "--volumes"]),
            Ok(Command::System(_))
        ));
        assert!(matches!(
            parse(&["network", "create", "--subnet", "10.5.0.0/16", "net1"]),
            Ok(Command::Network(_))
        ));
        assert!(matches!(
            parse(&[
                "run",
                "-p",
                "8080:80",
                "-P",
                "--network",
                "net1",
                "--dns",
                "1.1.1.1",
                "busybox"
            ]),
            Ok(Command::Run(_))
        ));
        assert!(matches!(
            parse(&["stop", "-t", "1", "w"]),
            Ok(Command::Stop(_))
        ));
        assert!(matches!(
            parse(&["image", "ls", "-q"]),
            Ok(Command::Image(ImageCommand::Ls(_)))
        ));
        assert!(parse(&["exec", "w"]).is_err());
        assert!(parse(&["run"]).is_err());
        let Ok(Command::Run(run)) = parse(&["run", "-d", "-h", "box", "busybox", "hostname"])
        else {
            panic!("run parses");
        };
        assert!(run.detach);
        assert_eq!(run.options.hostname.as_deref(), Some("box"));
    }
}
