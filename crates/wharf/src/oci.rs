//! `wharf oci …`: the OCI runtime command line, with runc's subcommands, flags, state JSON
//! and exit statuses, so that tools written for runc (containerd's shim, podman, the runtime
//! test suites) can drive Wharf's runtime. Wiring only: the work is in the `runtime` crate.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use runtime::oci::LinuxResources;
use runtime::{ContainerId, ContainerStatus, CreateOptions, ExecOptions, Runtime, Signal};

use crate::foreground::{self, ConsoleSocket};
use crate::logging::LogFormat;

/// Global options, accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Directory holding container state.
    #[arg(long, global = true, default_value = "/run/wharf/oci")]
    pub root: PathBuf,
    /// Write log messages to this file instead of stderr.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported: Wharf writes cgroupfs directly).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: `auto`, `true` or `false` (Wharf runs as root; only auto/false accepted).
    /// Before the subcommand, as with runc (`spec --rootless` is a different flag).
    #[arg(long)]
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility; checkpointing is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Debug, Args)]
pub struct OciArgs {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: OciCommand,
}

#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Write a new config.json (runc's default spec, or Docker's with --profile docker).
    Spec(SpecArgs),
    /// Create a container; its process waits for `start`.
    Create(CreateArgs),
    /// Start the process of a created container.
    Start(IdArg),
    /// Create and start a container, wait for it and delete it (unless --detach or --keep).
    Run(RunArgs),
    /// Print a container's state as JSON.
    State(IdArg),
    /// Send a signal to a container's init process (or to all its processes).
    Kill(KillArgs),
    /// Delete a container and everything it holds.
    Delete(DeleteArgs),
    /// Run a new process inside a running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps(PsArgs),
    /// List containers.
    List(ListArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Print resource usage statistics (once with --stats, else every --interval).
    Events(EventsArgs),
    /// Change the resource limits of a container.
    Update(UpdateArgs),
    /// Print the features this runtime supports, as JSON.
    Features,
    /// Checkpointing is not supported (refused with a clear error).
    #[command(hide = true)]
    Checkpoint(Unsupported),
    /// Restoring from a checkpoint is not supported (refused with a clear error).
    #[command(hide = true)]
    Restore(Unsupported),
    /// Run an OCI hook with the user's bundle in its state (how Wharf's effective
    /// configuration calls hooks).
    #[command(hide = true)]
    Hook(HookArgs),
}

/// Any arguments, for commands Wharf refuses.
#[derive(Debug, Args)]
pub struct Unsupported {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// The bundle to report to the hook.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The hook kind (poststart, poststop) whose failure is only a warning.
    #[arg(long)]
    pub warn_only: Option<String>,
    /// The hook's path, then its argv (argv[0] first).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub hook: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// A spec for a rootless container (user namespace mapping the caller).
    #[arg(long)]
    pub rootless: bool,
    /// Whose defaults to write: `runc` or `docker` (Docker's capabilities and seccomp profile).
    #[arg(long, default_value = "runc")]
    pub profile: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    pub id: String,
    /// The bundle directory (default: the current directory).
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// A unix socket to send the pty master to, when the spec asks for a terminal.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Write the container process's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (use MS_MOVE and chroot).
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring (accepted; Wharf never creates one).
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (from fd 3) to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// A unix socket to send a pidfd of the process to.
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the process has started, leaving it running.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for compatibility.
    #[arg(long)]
    pub no_subreaper: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number; default SIGTERM.
    pub signal: Option<String>,
    /// Send the signal to every process of the container.
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    pub id: String,
    /// Kill the container first if it is running.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variables (KEY=VALUE), repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids, repeatable.
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// A process.json describing the process instead of the flags.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Do not wait for the process.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub process_label: Option<String>,
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privileges for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability (CAP_…), repeatable.
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// A unix socket to send a pidfd of the process to.
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Allow exec into a paused container (the process starts frozen).
    #[arg(long)]
    pub ignore_paused: bool,
    /// Accepted for compatibility (sub-cgroup placement is not supported).
    #[arg(long)]
    pub cgroup: Option<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    pub id: String,
    /// `table` (the output of ps, filtered) or `json` (the pids).
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Options for ps (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// `table` or `json`.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    pub id: String,
    /// Seconds between stats (`5s`, `500ms` or a number of seconds).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print the stats once and exit.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: String,
    /// A JSON file (or `-` for stdin) with the new linux.resources.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long, allow_negative_numbers = true)]
    pub memory: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    pub memory_reservation: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_share: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_idle: Option<i64>,
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
}

/// An error after which the process exits with `code` rather than 1.
#[derive(Debug)]
pub struct ExitStatus {
    pub code: u8,
    error: anyhow::Error,
}

impl ExitStatus {
    fn wrap(code: u8, error: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(ExitStatus { code, error })
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for ExitStatus {}

/// Runs one `wharf oci` command; returns the process exit code.
pub fn main(args: OciArgs) -> Result<i32> {
    let g = &args.global;
    if g.systemd_cgroup {
        bail!(
            "--systemd-cgroup is not supported: Wharf manages cgroups through cgroupfs (there is no systemd on this host)"
        );
    }
    if let Some(mode) = g.rootless.as_deref() {
        if !matches!(mode, "auto" | "false") {
            bail!("--rootless={mode} is not supported: Wharf's runtime runs as root");
        }
    }
    let rt = || Runtime::new(&g.root).context("open state root");
    let id = |s: &str| ContainerId::new(s).map_err(anyhow::Error::from);
    match args.command {
        OciCommand::Spec(a) => spec(a).map(|_| 0),
        OciCommand::Create(a) => {
            let rt = rt()?;
            create(&rt, &a)?;
            Ok(0)
        }
        OciCommand::Start(a) => {
            rt()?.load(&id(&a.id)?)?.start()?;
            Ok(0)
        }
        OciCommand::Run(a) => run(&rt()?, a),
        OciCommand::State(a) => {
            let c = rt()?.load(&id(&a.id)?)?;
            println!("{}", serde_json::to_string_pretty(&c.state())?);
            Ok(0)
        }
        OciCommand::Kill(a) => {
            let mut c = rt()?.load(&id(&a.id)?)?;
            // Signal 0 asks whether the container can be signalled at all (with --all a
            // stopped one can: its other processes may outlive init).
            if a.signal.as_deref() == Some("0") {
                if !a.all && matches!(c.status(), ContainerStatus::Stopped) {
                    bail!("container not running");
                }
                return Ok(0);
            }
            let sig = parse_signal(a.signal.as_deref().unwrap_or("SIGTERM"))?;
            c.kill(sig, a.all)?;
            Ok(0)
        }
        OciCommand::Delete(a) => {
            let rt = rt()?;
            match rt.load(&id(&a.id)?) {
                Ok(c) => c.delete(a.force)?,
                // runc: deleting a missing container with --force is not an error. It also
                // clears what a crashed create may have left for that id.
                Err(e) if a.force && e.kind() == runtime::ErrorKind::NotFound => {
                    rt.remove_leftovers(&id(&a.id)?)?;
                }
                Err(e) => return Err(e.into()),
            }
            Ok(0)
        }
        // As with runc, an exec whose process never started exits 255, so that a caller can
        // tell it from the process's own exit status.
        OciCommand::Exec(a) => exec(&rt()?, a).map_err(|e| ExitStatus::wrap(255, e)),
        OciCommand::Ps(a) => ps(&rt()?, a).map(|_| 0),
        OciCommand::List(a) => list(&rt()?, a).map(|_| 0),
        OciCommand::Pause(a) => {
            rt()?.load(&id(&a.id)?)?.pause()?;
            Ok(0)
        }
        OciCommand::Resume(a) => {
            rt()?.load(&id(&a.id)?)?.resume()?;
            Ok(0)
        }
        OciCommand::Events(a) => events(&rt()?, a).map(|_| 0),
        OciCommand::Update(a) => update(&rt()?, a).map(|_| 0),
        OciCommand::Checkpoint(_) | OciCommand::Restore(_) => {
            bail!("checkpoint/restore is not supported by Wharf's runtime (no CRIU integration)")
        }
        OciCommand::Hook(a) => {
            let (path, argv) = a
                .hook
                .split_first()
                .ok_or_else(|| anyhow!("hook needs a path"))?;
            Ok(runtime::hooks::run(
                &a.bundle,
                Path::new(path),
                argv,
                a.warn_only.as_deref(),
            )?)
        }
        OciCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            Ok(0)
        }
    }
}

fn spec(a: SpecArgs) -> Result<()> {
    let dir = a.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let mut spec = match a.profile.as_str() {
        "runc" => runtime::spec::runc_default(),
        "docker" => runtime::spec::docker_default(),
        other => bail!("--profile {other:?}: expected runc or docker"),
    };
    if a.rootless {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        spec.set_linux(Some(runtime::oci::Linux::rootless(uid, gid)));
    }
    let json = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, json + "\n").with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn bundle_dir(b: &Option<PathBuf>) -> PathBuf {
    b.clone().unwrap_or_else(|| PathBuf::from("."))
}

fn create(rt: &Runtime, a: &CreateArgs) -> Result<runtime::Container> {
    let id = ContainerId::new(&a.id)?;
    let c = rt.create(
        &id,
        &bundle_dir(&a.bundle),
        CreateOptions {
            pid_file: a.pid_file.clone(),
            console_socket: a.console_socket.clone(),
            no_pivot: a.no_pivot,
            preserve_fds: a.preserve_fds,
            hook_runner: std::env::current_exe().ok(),
            ..Default::default()
        },
    )?;
    if let (Some(sock), Some(pid)) = (&a.pidfd_socket, c.pid()) {
        foreground::send_pidfd(sock, pid)?;
    }
    Ok(c)
}

/// Whether the bundle's spec asks for a terminal (read before create, to decide whether we
/// need our own console socket).
fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["process"]["terminal"].as_bool())
        .unwrap_or(false)
}

fn run(rt: &Runtime, mut a: RunArgs) -> Result<i32> {
    let bundle = bundle_dir(&a.create.bundle);
    let console = if !a.detach && a.create.console_socket.is_none() && wants_terminal(&bundle) {
        let sock = ConsoleSocket::bind(&rt.private_dir(), &a.create.id)?;
        a.create.console_socket = Some(sock.path().to_path_buf());
        Some(sock)
    } else {
        None
    };
    let mut c = create(rt, &a.create)?;
    let pty = match &console {
        Some(sock) => Some(sock.receive()?),
        None => None,
    };
    drop(console);
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    if a.detach {
        return Ok(0);
    }
    let pid = c
        .pid()
        .ok_or_else(|| anyhow!("container has no pid after start"))?;
    let signals = foreground::block_signals()?;
    let code = foreground::wait(pid, pty, signals)?;
    if !a.keep {
        let id = ContainerId::new(&a.create.id)?;
        rt.load(&id)?.delete(true)?;
    }
    Ok(code)
}

fn exec(rt: &Runtime, a: ExecArgs) -> Result<i32> {
    let c = rt.load(&ContainerId::new(&a.id)?)?;
    if a.process.is_none() && a.command.is_empty() {
        bail!("exec needs a command (or --process)");
    }
    let (user, group) = match a.user.as_deref() {
        None => (None, None),
        Some(u) => {
            let (uid, gid) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
            let uid: u32 = uid
                .parse()
                .with_context(|| format!("--user {u:?}: expected uid[:gid] as numbers"))?;
            let gid = gid
                .map(|g| g.parse::<u32>())
                .transpose()
                .with_context(|| format!("--user {u:?}: expected uid[:gid] as numbers"))?;
            (Some(uid), gid)
        }
    };
    let mut env = HashMap::new();
    for e in &a.env {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        env.insert(k.to_string(), v.to_string());
    }
    // A process.json is read once (it may be a pipe: `--process <(...)`); with terminal:true
    // it needs a console too.
    let process = match &a.process {
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("read process file {}", path.display()))?;
            Some(runtime::bundle::parse_process(path, &text)?)
        }
        None => None,
    };
    let process_tty = process.as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let tty = a.tty || process_tty;
    let mut console_socket = a.console_socket.clone();
    let console = if tty && !a.detach && console_socket.is_none() {
        let sock = ConsoleSocket::bind(&rt.private_dir(), &a.id)?;
        console_socket = Some(sock.path().to_path_buf());
        Some(sock)
    } else {
        None
    };
    let mut capabilities = a.cap.clone();
    for cap in &mut capabilities {
        if !cap.starts_with("CAP_") {
            *cap = format!("CAP_{}", cap.to_uppercase());
        }
    }
    let pid = c.exec(
        rt,
        ExecOptions {
            process,
            tty,
            args: a.command.clone(),
            env,
            cwd: a.cwd.clone(),
            user,
            group,
            additional_gids: a.additional_gids.clone(),
            capabilities,
            no_new_privs: a.no_new_privs,
            pid_file: a.pid_file.clone(),
            console_socket,
            preserve_fds: a.preserve_fds,
            ignore_paused: a.ignore_paused,
            ..Default::default()
        },
    )?;
    if let Some(sock) = &a.pidfd_socket {
        foreground::send_pidfd(sock, pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    let pty = match &console {
        Some(sock) => Some(sock.receive()?),
        None => None,
    };
    drop(console);
    let signals = foreground::block_signals()?;
    foreground::wait(pid, pty, signals)
}

fn ps(rt: &Runtime, a: PsArgs) -> Result<()> {
    let c = rt.load(&ContainerId::new(&a.id)?)?;
    let pids = c.processes()?;
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(())
        }
        "table" => {
            let args = if a.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                a.ps_args
            };
            let out = Command::new("ps").args(&args).output().context("run ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| anyhow!("ps output has no PID column"))?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{header}")?;
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    writeln!(stdout, "{line}")?;
                }
            }
            Ok(())
        }
        other => bail!("invalid format {other:?}: expected table or json"),
    }
}

fn list(rt: &Runtime, a: ListArgs) -> Result<()> {
    let states: Vec<runtime::State> = rt.list()?.iter().map(|c| c.state()).collect();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for s in &states {
            writeln!(out, "{}", s.id)?;
        }
        return Ok(());
    }
    match a.format.as_str() {
        "json" => writeln!(out, "{}", serde_json::to_string(&states)?)?,
        "table" => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.clone(),
                        s.bundle.display().to_string(),
                        s.created
                            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                        if s.owner.is_empty() {
                            "root".into()
                        } else {
                            s.owner.clone()
                        },
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = header.clone().map(|h| h.len());
            for r in &rows {
                for (w, cell) in widths.iter_mut().zip(r) {
                    *w = (*w).max(cell.len());
                }
            }
            for r in std::iter::once(&header).chain(rows.iter()) {
                let line: Vec<String> = r
                    .iter()
                    .zip(widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                writeln!(out, "{}", line.join("   ").trim_end())?;
            }
        }
        other => bail!("invalid format {other:?}: expected table or json"),
    }
    Ok(())
}

fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || anyhow!("invalid interval {s:?}: expected e.g. 5s or 500ms");
    if let Some(ms) = s.strip_suffix("ms") {
        return Ok(Duration::from_millis(ms.parse().map_err(|_| bad())?));
    }
    let secs = s.strip_suffix('s').unwrap_or(s);
    let v: f64 = secs.parse().map_err(|_| bad())?;
    if v.is_nan() || v <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v))
}

/// One `runc events` record, fields in runc's order (`{"type":"stats","id":…,"data":…}`):
/// tools match the line's start.
#[derive(Debug, serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

/// The `data` of a stats event: cpu, memory, pids, as runc reports them.
fn stats_data(s: &runtime::Stats) -> serde_json::Value {
    let mem = |m: &runtime::MemoryData| serde_json::json!({"limit": m.limit, "usage": m.usage, "max": m.max_usage, "failcnt": m.fail_count});
    serde_json::json!({
            "cpu": {
                "usage": {
                    "total": s.cpu.usage.usage_total,
                    "percpu": s.cpu.usage.per_core_usage_total,
                    "kernel": s.cpu.usage.usage_kernel,
                    "user": s.cpu.usage.usage_user,
                },
                "throttling": {
                    "periods": s.cpu.throttling.periods,
                    "throttledPeriods": s.cpu.throttling.throttled_periods,
                    "throttledTime": s.cpu.throttling.throttled_time,
                },
            },
            "memory": {
                "cache": s.memory.cache,
                "usage": mem(&s.memory.memory),
                "swap": mem(&s.memory.memswap),
                "kernel": mem(&s.memory.kernel),
                "kernelTCP": mem(&s.memory.kernel_tcp),
                "raw": s.memory.stats,
            },
            "pids": {"current": s.pids.current, "limit": s.pids.limit},
            "blkio": {},
            "hugetlb": {},
    })
}

fn events(rt: &Runtime, a: EventsArgs) -> Result<()> {
    let id = ContainerId::new(&a.id)?;
    let interval = parse_duration(&a.interval)?;
    // OOM kills are reported as they happen (within a tick); stats every interval.
    let tick = interval.min(Duration::from_millis(100));
    let mut ooms = None;
    let mut next_stats = std::time::Instant::now();
    loop {
        let c = rt.load(&id)?;
        if c.status() == ContainerStatus::Stopped {
            if a.stats {
                bail!("container {} is not running", a.id);
            }
            return Ok(());
        }
        let now = std::time::Instant::now();
        if a.stats || now >= next_stats {
            let event = Event {
                kind: "stats",
                id: c.id(),
                data: Some(stats_data(&c.stats()?)),
            };
            println!("{}", serde_json::to_string(&event)?);
            if a.stats {
                return Ok(());
            }
            next_stats = now + interval;
        }
        let kills = c.oom_kills();
        if let (Some(before), Some(now)) = (ooms, kills) {
            for _ in before..now {
                let event = Event {
                    kind: "oom",
                    id: c.id(),
                    data: None,
                };
                println!("{}", serde_json::to_string(&event)?);
            }
        }
        ooms = kills.or(ooms);
        std::thread::sleep(tick);
    }
}

/// Parses a byte size as runc's update does: a number, optionally with k/m/g (binary) units;
/// `-1` means unlimited.
fn parse_bytes(name: &str, s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("--{name} {s:?}: not a size (e.g. 64m, 1g, 1048576)"))?;
    if n < 0.0 {
        bail!("--{name} {s:?}: negative sizes other than -1 are invalid");
    }
    Ok((n * mult as f64) as i64)
}

fn update(rt: &Runtime, a: UpdateArgs) -> Result<()> {
    let c = rt.load(&ContainerId::new(&a.id)?)?;
    let resources: LinuxResources = if let Some(path) = &a.resources {
        let text = if path == Path::new("-") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        } else {
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?
        };
        serde_json::from_str(&text).context("parse resources JSON")?
    } else {
        resources_from_flags(&a)?
    };
    c.update(&resources)?;
    Ok(())
}

/// The flags of `update` as the resources object a `-r` file holds (runtime-spec names).
fn resources_from_flags(a: &UpdateArgs) -> Result<LinuxResources> {
    // The flags fill the same object a `-r` file holds (runtime-spec field names).
    let mut r = serde_json::json!({});
    let mut set = |section: &str, field: &str, value: serde_json::Value| {
        r[section][field] = value;
    };
    if let Some(m) = &a.memory {
        set("memory", "limit", parse_bytes("memory", m)?.into());
    }
    if let Some(m) = &a.memory_reservation {
        set(
            "memory",
            "reservation",
            parse_bytes("memory-reservation", m)?.into(),
        );
    }
    if let Some(m) = &a.memory_swap {
        set("memory", "swap", parse_bytes("memory-swap", m)?.into());
    }
    let cpu_numbers = [
        ("period", a.cpu_period.map(i128::from)),
        ("quota", a.cpu_quota.map(i128::from)),
        ("shares", a.cpu_share.map(i128::from)),
        ("idle", a.cpu_idle.map(i128::from)),
        ("burst", a.cpu_burst.map(i128::from)),
        ("realtimePeriod", a.cpu_rt_period.map(i128::from)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(i128::from)),
    ];
    for (field, value) in cpu_numbers {
        if let Some(v) = value {
            set("cpu", field, serde_json::json!(v));
        }
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", v.clone().into());
    }
    if let Some(p) = a.pids_limit {
        set("pids", "limit", p.into());
    }
    serde_json::from_value(r).context("resources from flags")
}

fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": runtime::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind",
                          "private", "rprivate", "shared", "rshared", "slave", "rslave", "relatime", "strictatime"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": [],
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {"org.opencontainers.runc.version": env!("CARGO_PKG_VERSION")},
    })
}

/// Parses `9`, `KILL` or `SIGKILL`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow!("invalid signal {s:?}"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| anyhow!("invalid signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        for s in ["9", "KILL", "SIGKILL", "kill"] {
            assert_eq!(parse_signal(s).expect(s), Signal::SIGKILL);
        }
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn sizes_parse_like_runc() {
        assert_eq!(parse_bytes("memory", "64m").expect("64m"), 64 << 20);
        assert_eq!(parse_bytes("memory", "1g").expect("1g"), 1 << 30);
        assert_eq!(parse_bytes("memory", "4096").expect("n"), 4096);
        assert_eq!(parse_bytes("memory", "-1").expect("-1"), -1);
        assert!(parse_bytes("memory", "lots").is_err());
    }

    #[test]
    fn update_flags_become_resources() {
        let a = UpdateArgs {
            id: "x".into(),
            resources: None,
            memory: Some("64m".into()),
            memory_reservation: None,
            memory_swap: Some("-1".into()),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            cpu_share: None,
            cpu_idle: None,
            cpu_burst: None,
            cpu_rt_period: None,
            cpu_rt_runtime: None,
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: None,
            pids_limit: Some(30),
        };
        let r = serde_json::to_value(resources_from_flags(&a).expect("resources")).expect("json");
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], -1);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["cpu"]["cpus"], "0-1");
        assert_eq!(r["pids"]["limit"], 30);
        assert!(r["cpu"].get("shares").is_none_or(|v| v.is_null()));
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_duration("5s").expect("5s"), Duration::from_secs(5));
        assert_eq!(
            parse_duration("250ms").expect("ms"),
            Duration::from_millis(250)
        );
        assert!(parse_duration("0s").is_err());
    }
}
