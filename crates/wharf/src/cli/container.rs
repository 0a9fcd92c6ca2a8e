//! Container commands: run, create, start, attach, exec, logs, ps, stop, kill, restart, pause,
//! unpause, rm, rename, wait, inspect, top, stats, port, diff, export, commit.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::StatusError;
use super::client::{Client, ClientError, Demuxer, Hijacked, Query, RequestBody, next_chunk};
use super::create::{CreateOptions, create_body, filters_json};
use super::format::{
    OutputFormat, Template, ago, bytes_size, display_ports, ellipsis, human_size, indent_json,
    join_host_port, natural_cmp, parse_go_duration, truncate_id,
};
use super::image::{ImageRef, pull_image};
use super::netopts::{FlagError, localhost_dns_warning};
use super::progress::Output;
use super::tty;

/// `run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub options: CreateOptions,
}

/// `create` flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub options: CreateOptions,
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What `docker run`/`create` prints for an error before the container runs, with its status.
fn run_failure(command: &str, code: i32, error: &anyhow::Error) -> anyhow::Error {
    if let Some(flag) = error.downcast_ref::<FlagError>() {
        // A refused flag value is reported as cobra reports flag errors, with the usage line.
        return flag
            .usage_error(command, "[OPTIONS] IMAGE [COMMAND] [ARG...]")
            .into();
    }
    StatusError {
        code,
        message: format!("wharf: {error:#}\n\nRun 'wharf {command} --help' for more information"),
    }
    .into()
}

/// docker's `runStartContainerErr`: 127 when the command is missing, 126 when it cannot be
/// executed, 125 otherwise.
pub fn start_failure_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// Creates a container, pulling its image first if the daemon does not have it (docker's
/// "Unable to find image … locally"). Returns the ID.
async fn create_container(
    client: &Client,
    name: Option<&str>,
    body: Value,
    image: &str,
) -> anyhow::Result<String> {
    let query = Query::new().add_opt("name", name);
    let dns = body["HostConfig"]["Dns"].clone();
    let created = match client
        .json(
            Method::POST,
            "/containers/create",
            &query,
            RequestBody::Json(body.clone()),
        )
        .await
    {
        Err(e) if e.is_not_found() && e.to_string().contains("No such image") => {
            let reference = ImageRef::parse(image);
            eprintln!("Unable to find image '{}' locally", reference.familiar());
            pull_image(
                client,
                &reference,
                Output::Stderr,
                tty::stderr_is_terminal(),
            )
            .await?;
            client
                .json(
                    Method::POST,
                    "/containers/create",
                    &query,
                    RequestBody::Json(body),
                )
                .await?
        }
        other => other?,
    };
    for warning in created["Warnings"].as_array().into_iter().flatten() {
        if let Some(text) = warning.as_str() {
            eprintln!("WARNING: {text}");
        }
    }
    if let Some(warning) = localhost_dns_warning(&dns) {
        eprintln!("WARNING: {warning}");
    }
    created["Id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the daemon's create answer has no Id: {created}"))
}

/// `create`.
pub async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<i32> {
    let id = async {
        let body = create_body(&args.options, false, &env_lookup)?;
        create_container(
            client,
            args.options.name.as_deref(),
            body,
            args.options.image(),
        )
        .await
    }
    .await
    .map_err(|e| run_failure("create", 125, &e))?;
    outln!("{id}");
    Ok(0)
}

/// A pending `POST /containers/{id}/wait`, registered before the container starts.
struct Waiter(JoinHandle<anyhow::Result<i32>>);

impl Waiter {
    /// Sends the wait and returns once the daemon has answered its headers (dockerd flushes
    /// them as soon as the wait is registered), or after two seconds.
    async fn register(client: &Client, id: &str, condition: &str) -> Self {
        let (registered, on_registered) = tokio::sync::oneshot::channel::<()>();
        let client = client.clone();
        let path = format!("/containers/{id}/wait");
        let query = Query::new().add_if(!condition.is_empty(), "condition", condition);
        let task = tokio::spawn(async move {
            let response = client
                .request(Method::POST, &path, &query, RequestBody::Empty, &[])
                .await;
            let _ = registered.send(());
            let bytes = response?.into_body().collect().await?.to_bytes();
            let result: Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the wait result {bytes:?}"))?;
            if let Some(message) = result["Error"]["Message"]
                .as_str()
                .filter(|m| !m.is_empty())
            {
                eprintln!("Error waiting for container: {message}");
                return Ok(125);
            }
            Ok(result["StatusCode"].as_i64().unwrap_or(0) as i32)
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), on_registered).await;
        Waiter(task)
    }

    async fn status(self) -> anyhow::Result<i32> {
        self.0.await.context("waiting for the container")?
    }
}

/// Copies the container's output to ours (demultiplexed unless it has a TTY) and, with
/// `stdin`, our stdin to it, closing its input at our EOF. Returns when the output ends.
async fn stream_io(io: Hijacked, tty_mode: bool, stdin: bool) -> anyhow::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(io);
    let input = stdin.then(|| {
        tokio::spawn(async move {
            let mut input = tokio::io::stdin();
            let _ = tokio::io::copy(&mut input, &mut writer).await;
            let _ = writer.shutdown().await;
        })
    });
    let mut buffer = vec![0u8; 32 * 1024];
    let mut demux = Demuxer::default();
    let result: anyhow::Result<()> = async {
        loop {
            let n = match reader.read(&mut buffer).await {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(e).context("reading the container's output"),
            };
            if n == 0 {
                return Ok(());
            }
            write_output(&mut demux, tty_mode, &buffer[..n])?;
        }
    }
    .await;
    if let Some(task) = input {
        task.abort();
    }
    result
}

/// Writes raw (TTY) output to stdout, or multiplexed frames to stdout/stderr.
fn write_output(demux: &mut Demuxer, raw: bool, data: &[u8]) -> anyhow::Result<()> {
    if raw {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        return Ok(());
    }
    for (stream, payload) in demux.push(data) {
        if stream == 2 {
            let mut err = std::io::stderr().lock();
            err.write_all(&payload)?;
            err.flush()?;
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(&payload)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Sends the terminal size now and on every SIGWINCH (to `/containers/{id}/resize` or
/// `/exec/{id}/resize`); the returned task stops when aborted.
async fn monitor_size(client: &Client, resize_path: String) -> Option<JoinHandle<()>> {
    let send = |client: Client, path: String| async move {
        if let Some((rows, cols)) = tty::window_size() {
            let query = Query::new().add("h", rows).add("w", cols);
            let _ = client
                .json(Method::POST, &path, &query, RequestBody::Empty)
                .await;
        }
    };
    send(client.clone(), resize_path.clone()).await;
    let client = client.clone();
    let mut signals =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()?;
    Some(tokio::spawn(async move {
        while signals.recv().await.is_some() {
            send(client.clone(), resize_path.clone()).await;
        }
    }))
}

/// The interactive part shared by run, start -a, attach and exec: resize, raw mode, streams.
async fn interact(
    client: &Client,
    io: Hijacked,
    tty_mode: bool,
    stdin: bool,
    resize_path: String,
) -> anyhow::Result<()> {
    let resize = if tty_mode && tty::stdout_is_terminal() {
        monitor_size(client, resize_path).await
    } else {
        None
    };
    let raw = if tty_mode && stdin && tty::stdin_is_terminal() {
        Some(tty::RawMode::enable().context("putting the terminal in raw mode")?)
    } else {
        None
    };
    let result = stream_io(io, tty_mode, stdin).await;
    drop(raw);
    if let Some(task) = resize {
        task.abort();
    }
    result
}

fn check_tty_input(tty_mode: bool, stdin: bool) -> anyhow::Result<()> {
    if tty_mode && stdin && !tty::stdin_is_terminal() {
        bail!("the input device is not a TTY");
    }
    Ok(())
}

/// `run`: create (pulling if needed), attach before start, wait, start, stream, exit with the
/// container's status.
pub async fn run(client: &Client, args: RunArgs) -> anyhow::Result<i32> {
    let options = &args.options;
    let attach = !args.detach;
    if attach {
        check_tty_input(options.tty, options.interactive)?;
    }
    let id = async {
        let body = create_body(options, attach, &env_lookup)?;
        create_container(client, options.name.as_deref(), body, options.image()).await
    }
    .await
    .map_err(|e| run_failure("run", 125, &e))?;

    if args.detach {
        start_or_fail(client, &id, false).await?;
        outln!("{id}");
        return Ok(0);
    }

    let query = Query::new()
        .add("stream", 1)
        .add_if(options.interactive, "stdin", 1)
        .add("stdout", 1)
        .add("stderr", 1);
    let io = client
        .hijack(&format!("/containers/{id}/attach"), &query, None)
        .await
        .map_err(|e| run_failure("run", 125, &e.into()))?;
    let condition = if options.rm { "removed" } else { "next-exit" };
    let waiter = Waiter::register(client, &id, condition).await;
    start_or_fail(client, &id, options.rm).await?;
    let streamed = interact(
        client,
        io,
        options.tty,
        options.interactive,
        format!("/containers/{id}/resize"),
    )
    .await;
    if let Err(e) = streamed {
        eprintln!("wharf: {e:#}");
    }
    waiter.status().await
}

/// Starts the container; a failure is reported as `docker run` does, with its exit status.
async fn start_or_fail(client: &Client, id: &str, auto_remove: bool) -> anyhow::Result<()> {
    match client
        .json(
            Method::POST,
            &format!("/containers/{id}/start"),
            &Query::new(),
            RequestBody::Empty,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = e.to_string();
            if auto_remove {
                // The daemon removes an AutoRemove container whose start failed; give it a
                // moment so that a following `ps -a` does not see it.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(run_failure("run", start_failure_code(&message), &e.into()))
        }
    }
}

/// `start` flags.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `start`.
pub async fn start(client: &Client, args: StartArgs) -> anyhow::Result<i32> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let name = &args.containers[0];
        let info = inspect_container(client, name).await?;
        let id = info["Id"].as_str().unwrap_or(name).to_string();
        let tty_mode = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let stdin = args.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
        check_tty_input(tty_mode, stdin)?;
        let query = Query::new()
            .add("stream", 1)
            .add_if(stdin, "stdin", 1)
            .add("stdout", 1)
            .add("stderr", 1);
        let io = client
            .hijack(&format!("/containers/{id}/attach"), &query, None)
            .await?;
        let waiter = Waiter::register(client, &id, "next-exit").await;
        client
            .json(
                Method::POST,
                &format!("/containers/{id}/start"),
                &Query::new(),
                RequestBody::Empty,
            )
            .await?;
        if let Err(e) = interact(
            client,
            io,
            tty_mode,
            stdin,
            format!("/containers/{id}/resize"),
        )
        .await
        {
            eprintln!("wharf: {e:#}");
        }
        return waiter.status().await;
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        match client
            .json(
                Method::POST,
                &format!("/containers/{name}/start"),
                &Query::new(),
                RequestBody::Empty,
            )
            .await
        {
            Ok(_) => outln!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(StatusError {
            code: 1,
            message: format!("Error: failed to start containers: {}", failed.join(", ")),
        }
        .into())
    }
}

async fn inspect_container(client: &Client, name: &str) -> Result<Value, ClientError> {
    client
        .json(
            Method::GET,
            &format!("/containers/{name}/json"),
            &Query::new(),
            RequestBody::Empty,
        )
        .await
}

/// `attach` flags.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process (accepted for compatibility)
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// CONTAINER
    pub container: String,
}

/// `attach`.
pub async fn attach(client: &Client, args: AttachArgs) -> anyhow::Result<i32> {
    let info = inspect_container(client, &args.container).await?;
    if info["State"]["Running"].as_bool() != Some(true) {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if info["State"]["Paused"].as_bool() == Some(true) {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let id = info["Id"].as_str().unwrap_or(&args.container).to_string();
    let tty_mode = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !args.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    check_tty_input(tty_mode, stdin)?;
    let waiter = Waiter::register(client, &id, "").await;
    let query = Query::new()
        .add("stream", 1)
        .add_if(stdin, "stdin", 1)
        .add("stdout", 1)
        .add("stderr", 1);
    let io = client
        .hijack(&format!("/containers/{id}/attach"), &query, None)
        .await?;
    interact(
        client,
        io,
        tty_mode,
        stdin,
        format!("/containers/{id}/resize"),
    )
    .await?;
    waiter.status().await
}

/// `exec` flags.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// CONTAINER COMMAND [ARG...]
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// `exec`: create the exec, start it hijacked, exit with its `ExitCode`.
pub async fn exec(client: &Client, args: ExecArgs) -> anyhow::Result<i32> {
    let container = &args.args[0];
    let command = &args.args[1..];
    let stdin = args.interactive && !args.detach;
    if !args.detach {
        check_tty_input(args.tty, stdin)?;
    }
    let size = if args.tty { tty::window_size() } else { None };
    let env: Vec<String> = args
        .env
        .iter()
        .map(|e| {
            if e.contains('=') {
                e.clone()
            } else {
                env_lookup(e).map_or(e.clone(), |v| format!("{e}={v}"))
            }
        })
        .collect();
    let mut config = json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": stdin,
        "AttachStdout": !args.detach,
        "AttachStderr": !args.detach,
        "Detach": args.detach,
        "DetachKeys": "",
        "Env": if env.is_empty() { Value::Null } else { json!(env) },
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": command,
    });
    let console = size
        .filter(|_| client.at_least("1.42"))
        .map(|(rows, cols)| json!([rows, cols]));
    if let Some(console) = &console {
        config["ConsoleSize"] = console.clone();
    }
    let created = client
        .json(
            Method::POST,
            &format!("/containers/{container}/exec"),
            &Query::new(),
            RequestBody::Json(config),
        )
        .await?;
    let id = created["Id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the daemon's exec answer has no Id: {created}"))?
        .to_string();
    let mut start = json!({"Detach": args.detach, "Tty": args.tty});
    if let Some(console) = console {
        start["ConsoleSize"] = console;
    }
    if args.detach {
        client
            .json(
                Method::POST,
                &format!("/exec/{id}/start"),
                &Query::new(),
                RequestBody::Json(start),
            )
            .await?;
        return Ok(0);
    }
    let io = client
        .hijack(&format!("/exec/{id}/start"), &Query::new(), Some(start))
        .await?;
    interact(client, io, args.tty, stdin, format!("/exec/{id}/resize")).await?;
    let info = client
        .json(
            Method::GET,
            &format!("/exec/{id}/json"),
            &Query::new(),
            RequestBody::Empty,
        )
        .await?;
    Ok(info["ExitCode"].as_i64().unwrap_or(0) as i32)
}

/// `logs` flags.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative duration
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// CONTAINER
    pub container: String,
}

/// docker's `timetypes.GetTimestamp`: a Go duration counts back from now, a Unix time passes
/// as it is, RFC 3339 dates (with or without zone; date only) become Unix seconds.
pub fn api_timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    if let Ok(nanos) = parse_go_duration(value) {
        let at = now.timestamp_nanos_opt().unwrap_or(0) - nanos;
        return Ok(format!(
            "{}.{:09}",
            at.div_euclid(1_000_000_000),
            at.rem_euclid(1_000_000_000)
        ));
    }
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(value.to_string());
    }
    let seconds = if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        (at.timestamp(), at.timestamp_subsec_nanos())
    } else if let Ok(at) = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f") {
        let at = at.and_utc();
        (at.timestamp(), at.timestamp_subsec_nanos())
    } else if let Ok(at) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let at = at.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        (at.map_or(0, |t| t.timestamp()), 0)
    } else {
        bail!("failed to parse value as time or duration: \"{value}\"");
    };
    Ok(format!("{}.{:09}", seconds.0, seconds.1))
}

/// `logs`.
pub async fn logs(client: &Client, args: LogsArgs) -> anyhow::Result<i32> {
    let info = inspect_container(client, &args.container).await?;
    let tty_mode = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let now = chrono::Utc::now();
    let query = Query::new()
        .add("stdout", 1)
        .add("stderr", 1)
        .add_if(args.follow, "follow", 1)
        .add_opt(
            "since",
            args.since
                .as_deref()
                .map(|s| api_timestamp(s, now))
                .transpose()?,
        )
        .add_opt(
            "until",
            args.until
                .as_deref()
                .map(|s| api_timestamp(s, now))
                .transpose()?,
        )
        .add_if(args.timestamps, "timestamps", 1)
        .add_if(args.details, "details", 1)
        .add("tail", &args.tail);
    let response = client
        .request(
            Method::GET,
            &format!("/containers/{}/logs", args.container),
            &query,
            RequestBody::Empty,
            &[],
        )
        .await?;
    let mut body = response.into_body();
    let mut demux = Demuxer::default();
    while let Some(chunk) = next_chunk(&mut body).await? {
        write_output(&mut demux, tty_mode, &chunk)?;
    }
    Ok(0)
}

/// `ps` flags.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

const PS_DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// `ps`.
pub async fn ps(client: &Client, args: PsArgs) -> anyhow::Result<i32> {
    let limit = if args.latest { 1 } else { args.last };
    let query = Query::new()
        .add_if(args.all, "all", 1)
        .add_if(limit > 0, "limit", limit)
        .add_if(args.size, "size", 1)
        .add_opt("filters", filters_json(&args.filter)?);
    let list = client
        .json(Method::GET, "/containers/json", &query, RequestBody::Empty)
        .await?;
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(format), false) if format != "table" => format.clone(),
        _ if args.size => format!("{PS_DEFAULT}\t{{{{.Size}}}}"),
        _ => PS_DEFAULT.to_string(),
    };
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| ps_row(c, !args.no_trunc))
        .collect();
    let headers = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "Names": "NAMES",
        "Labels": "LABELS", "State": "STATE", "Size": "SIZE", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "ImageID": "IMAGE ID",
    });
    out!("{}", OutputFormat::parse(&format).render(&headers, &rows)?);
    Ok(0)
}

fn unix_time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// The fields a `ps --format` template sees for one container (docker's containerContext).
pub fn ps_row(container: &Value, trunc: bool) -> Value {
    let text = |key: &str| container[key].as_str().unwrap_or_default().to_string();
    let id = text("Id");
    let names: Vec<String> = container["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let mut image = text("Image");
    if trunc {
        let image_id = text("ImageID");
        if !image_id.is_empty() && truncate_id(&image) == truncate_id(&image_id) {
            image = truncate_id(&image);
        } else if let Some((name, _digest)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    let command = text("Command");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = container["Created"].as_i64().unwrap_or(0);
    let ports = display_ports(container["Ports"].as_array().map_or(&[], Vec::as_slice));
    let mut labels: Vec<String> = container["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    labels.sort();
    let mounts: Vec<String> = container["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m["Name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .or(m["Source"].as_str())
                .unwrap_or_default();
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let networks: Vec<String> = container["NetworkSettings"]["Networks"]
        .as_object()
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    let size = match (
        container["SizeRw"].as_i64(),
        container["SizeRootFs"].as_i64(),
    ) {
        (Some(rw), Some(root)) => format!(
            "{} (virtual {})",
            human_size(rw as f64),
            human_size(root as f64)
        ),
        (Some(rw), None) => human_size(rw as f64),
        _ => "0B".into(),
    };
    json!({
        "ID": if trunc { truncate_id(&id) } else { id },
        "Names": names.join(","),
        "Image": image,
        "ImageID": text("ImageID"),
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": unix_time(created),
        "RunningFor": ago(created),
        "Ports": ports,
        "State": text("State"),
        "Status": text("Status"),
        "Size": size,
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": container["Mounts"].as_array().map_or(0, |m| m.iter().filter(|m| m["Driver"] == "local").count()),
    })
}

/// `stop` flags (also `restart`).
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `kill` flags.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Containers named on the command line.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Runs one request per container, printing each name on success and each daemon error on
/// stderr; exits 1 if any failed.
async fn for_each(
    client: &Client,
    containers: &[String],
    method: Method,
    path: impl Fn(&str) -> String,
    query: &Query,
) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in containers {
        match client
            .json(method.clone(), &path(name), query, RequestBody::Empty)
            .await
        {
            Ok(_) => outln!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `stop`.
pub async fn stop(client: &Client, args: StopArgs) -> anyhow::Result<i32> {
    let query = Query::new()
        .add_opt("t", args.timeout)
        .add_opt("signal", args.signal.as_deref());
    for_each(
        client,
        &args.containers,
        Method::POST,
        |c| format!("/containers/{c}/stop"),
        &query,
    )
    .await
}

/// `restart`.
pub async fn restart(client: &Client, args: StopArgs) -> anyhow::Result<i32> {
    let query = Query::new()
        .add_opt("t", args.timeout)
        .add_opt("signal", args.signal.as_deref());
    for_each(
        client,
        &args.containers,
        Method::POST,
        |c| format!("/containers/{c}/restart"),
        &query,
    )
    .await
}

/// `kill`.
pub async fn kill(client: &Client, args: KillArgs) -> anyhow::Result<i32> {
    let query = Query::new().add_opt("signal", args.signal.as_deref());
    for_each(
        client,
        &args.containers,
        Method::POST,
        |c| format!("/containers/{c}/kill"),
        &query,
    )
    .await
}

/// `pause`.
pub async fn pause(client: &Client, args: ContainersArgs) -> anyhow::Result<i32> {
    for_each(
        client,
        &args.containers,
        Method::POST,
        |c| format!("/containers/{c}/pause"),
        &Query::new(),
    )
    .await
}

/// `unpause`.
pub async fn unpause(client: &Client, args: ContainersArgs) -> anyhow::Result<i32> {
    for_each(
        client,
        &args.containers,
        Method::POST,
        |c| format!("/containers/{c}/unpause"),
        &Query::new(),
    )
    .await
}

/// `rm`.
pub async fn rm(client: &Client, args: RmArgs) -> anyhow::Result<i32> {
    let query = Query::new()
        .add_if(args.volumes, "v", 1)
        .add_if(args.link, "link", 1)
        .add_if(args.force, "force", 1);
    for_each(
        client,
        &args.containers,
        Method::DELETE,
        |c| format!("/containers/{c}"),
        &query,
    )
    .await
}

/// `wait`: prints each container's exit status.
pub async fn wait(client: &Client, args: ContainersArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &args.containers {
        let waiter = Waiter::register(client, name, "").await;
        match waiter.status().await {
            Ok(status) => outln!("{status}"),
            Err(e) => {
                eprintln!("{e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `rename` arguments.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// CONTAINER
    pub container: String,
    /// NEW_NAME
    pub new_name: String,
}

/// `rename`.
pub async fn rename(client: &Client, args: RenameArgs) -> anyhow::Result<i32> {
    if args.new_name.trim().is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    client
        .json(
            Method::POST,
            &format!("/containers/{}/rename", args.container),
            &Query::new().add("name", &args.new_name),
            RequestBody::Empty,
        )
        .await?;
    Ok(0)
}

/// `inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of the given type (container, image, network, volume)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// NAME|ID...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `inspect`: containers, then images, networks, volumes (or only `--type`); a JSON array
/// indented as docker prints it, or one line per object for `-f`.
pub async fn inspect(client: &Client, args: InspectArgs) -> anyhow::Result<i32> {
    let kinds: Vec<&str> = match args.kind.as_deref() {
        None | Some("") => vec!["container", "image", "network", "volume"],
        Some(kind @ ("container" | "image" | "network" | "volume")) => vec![kind],
        Some(other) => bail!("\"{other}\" is not a valid value for --type"),
    };
    inspect_objects(
        client,
        &args.names,
        &kinds,
        args.format.as_deref(),
        args.size,
    )
    .await
}

/// Shared by `inspect`, `image inspect` and `volume inspect`.
pub async fn inspect_objects(
    client: &Client,
    names: &[String],
    kinds: &[&str],
    format: Option<&str>,
    size: bool,
) -> anyhow::Result<i32> {
    let template = match format {
        Some(f) if !f.is_empty() && f != "json" => {
            Some(Template::parse(&OutputFormat::parse(f).template)?)
        }
        _ => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    'names: for name in names {
        for kind in kinds {
            let (path, query) = match *kind {
                "container" => (
                    format!("/containers/{name}/json"),
                    Query::new().add_if(size, "size", 1),
                ),
                "image" => (format!("/images/{name}/json"), Query::new()),
                "network" => (format!("/networks/{name}"), Query::new()),
                _ => (format!("/volumes/{name}"), Query::new()),
            };
            match client.raw(Method::GET, &path, &query).await {
                Ok(raw) => {
                    found.push(raw);
                    continue 'names;
                }
                // `--type network` reports the daemon's own "network … not found".
                Err(e) if e.is_not_found() && (kinds.len() > 1 || *kind != "network") => {}
                Err(e) => {
                    errors.push(e.to_string());
                    continue 'names;
                }
            }
        }
        errors.push(match kinds {
            [single] => format!("Error: No such {single}: {name}"),
            _ => format!("Error: No such object: {name}"),
        });
    }
    print_inspected(&found, template.as_ref())?;
    for error in &errors {
        eprintln!("{error}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// Prints inspected objects as docker does: each through the `--format` template, or all as
/// one indented JSON array (the daemon's bytes, its key order kept).
pub fn print_inspected(found: &[bytes::Bytes], template: Option<&Template>) -> anyhow::Result<()> {
    match template {
        Some(template) => {
            for raw in found {
                let value: Value = serde_json::from_slice(raw)
                    .context("the daemon's inspect answer is not JSON")?;
                outln!("{}", template.render(&value)?);
            }
        }
        None => {
            let texts: Vec<String> = found
                .iter()
                .map(|raw| String::from_utf8_lossy(raw).trim().to_string())
                .collect();
            outln!("{}", indent_json(&format!("[{}]", texts.join(","))));
        }
    }
    Ok(())
}

/// `top` arguments.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// CONTAINER
    pub container: String,
    /// [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `top`.
pub async fn top(client: &Client, args: TopArgs) -> anyhow::Result<i32> {
    let query = Query::new().add_if(!args.ps_args.is_empty(), "ps_args", args.ps_args.join(" "));
    let answer = client
        .json(
            Method::GET,
            &format!("/containers/{}/top", args.container),
            &query,
            RequestBody::Empty,
        )
        .await?;
    let mut lines = Vec::new();
    let cells = |row: &Value| -> String {
        row.as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("\t")
    };
    lines.push(cells(&answer["Titles"]));
    for process in answer["Processes"].as_array().into_iter().flatten() {
        lines.push(cells(process));
    }
    out!("{}", super::format::tabulate_with(&lines, 20));
    Ok(0)
}

/// `stats` flags.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// CONTAINER...
    pub containers: Vec<String>,
}

/// `stats`: one table (with `--no-stream`), or a table redrawn every second.
pub async fn stats(client: &Client, args: StatsArgs) -> anyhow::Result<i32> {
    loop {
        let targets: Vec<(String, String)> = if args.containers.is_empty() {
            let list = client
                .json(
                    Method::GET,
                    "/containers/json",
                    &Query::new().add_if(args.all, "all", 1),
                    RequestBody::Empty,
                )
                .await?;
            list.as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let id = c["Id"].as_str().unwrap_or_default().to_string();
                    (id.clone(), id)
                })
                .collect()
        } else {
            args.containers
                .iter()
                .map(|c| (c.clone(), c.clone()))
                .collect()
        };
        let tasks: Vec<_> = targets
            .iter()
            .map(|(name, _)| {
                let client = client.clone();
                let path = format!("/containers/{name}/stats");
                tokio::spawn(async move {
                    client
                        .json(
                            Method::GET,
                            &path,
                            &Query::new().add("stream", 0),
                            RequestBody::Empty,
                        )
                        .await
                })
            })
            .collect();
        let mut lines = vec![
            "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS"
                .to_string(),
        ];
        let mut code = 0;
        for (task, (_, given)) in tasks.into_iter().zip(&targets) {
            match task.await? {
                Ok(sample) => lines.push(stats_line(&sample, !args.no_trunc)),
                Err(e) => {
                    eprintln!("{e}");
                    lines.push(format!(
                        "{given}\t--\t--\t-- / --\t--\t-- / --\t-- / --\t--"
                    ));
                    code = 1;
                }
            }
        }
        if args.no_stream {
            out!("{}", super::format::tabulate(&lines));
            return Ok(code);
        }
        if tty::stdout_is_terminal() {
            out!("\x1b[2J\x1b[H");
        }
        out!("{}", super::format::tabulate(&lines));
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One `stats` row from a stats sample, computed as docker does.
pub fn stats_line(sample: &Value, trunc: bool) -> String {
    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    let id = sample["id"].as_str().unwrap_or_default();
    let name = sample["name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/');
    let cpu = &sample["cpu_stats"];
    let precpu = &sample["precpu_stats"];
    let cpu_delta =
        number(&cpu["cpu_usage"]["total_usage"]) - number(&precpu["cpu_usage"]["total_usage"]);
    let system_delta = number(&cpu["system_cpu_usage"]) - number(&precpu["system_cpu_usage"]);
    let online = match cpu["online_cpus"].as_f64() {
        Some(n) if n > 0.0 => n,
        _ => cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(1.0, |a| a.len().max(1) as f64),
    };
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };
    let memory = &sample["memory_stats"];
    let usage = number(&memory["usage"]);
    // cgroup v1 reports total_inactive_file, v2 inactive_file; docker subtracts the cache.
    let inactive = memory["stats"]["total_inactive_file"]
        .as_f64()
        .or(memory["stats"]["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = number(&memory["limit"]);
    let mem_percent = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for network in sample["networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, v)| v)
    {
        rx += number(&network["rx_bytes"]);
        tx += number(&network["tx_bytes"]);
    }
    let (mut read, mut write) = (0.0, 0.0);
    for entry in sample["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match entry["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += number(&entry["value"]),
            Some("write") => write += number(&entry["value"]),
            _ => {}
        }
    }
    let pids = sample["pids_stats"]["current"].as_u64().unwrap_or(0);
    format!(
        "{}\t{name}\t{:.2}%\t{} / {}\t{:.2}%\t{} / {}\t{} / {}\t{pids}",
        if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        },
        cpu_percent,
        bytes_size(used),
        bytes_size(limit),
        mem_percent,
        human_size(rx),
        human_size(tx),
        human_size(read),
        human_size(write),
    )
}

/// `port` arguments.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// CONTAINER
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `port`: the container's published ports from inspect's `NetworkSettings.Ports`, as
/// `80/tcp -> 0.0.0.0:32768` lines, or only the host addresses of one private port.
pub async fn port(client: &Client, args: PortArgs) -> anyhow::Result<i32> {
    let info = inspect_container(client, &args.container).await?;
    let lines = port_lines(&info["NetworkSettings"]["Ports"], &args)?;
    if !lines.is_empty() {
        outln!("{}", lines.join("\n"));
    }
    Ok(0)
}

/// The lines `port` prints for a `NetworkSettings.Ports` map, naturally sorted as docker does.
pub fn port_lines(ports: &Value, args: &PortArgs) -> anyhow::Result<Vec<String>> {
    let frontends = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|binding| {
                join_host_port(
                    binding["HostIp"].as_str().unwrap_or_default(),
                    binding["HostPort"].as_str().unwrap_or_default(),
                )
            })
            .collect()
    };
    let mut lines = Vec::new();
    if let Some(wanted) = &args.port {
        let (port, proto) = wanted.split_once('/').unwrap_or((wanted, ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: invalid syntax"
            );
        }
        if port.parse::<u16>().is_err() {
            bail!(
                "Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: value out of range"
            );
        }
        lines = frontends(&ports[format!("{port}/{proto}")]);
        if lines.is_empty() {
            bail!(
                "Error: No public port '{wanted}' published for {}",
                args.container
            );
        }
    } else {
        for (private, list) in ports.as_object().into_iter().flatten() {
            lines.extend(
                frontends(list)
                    .into_iter()
                    .map(|frontend| format!("{private} -> {frontend}")),
            );
        }
    }
    lines.sort_by(|a, b| natural_cmp(a, b));
    Ok(lines)
}

/// `diff` arguments.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// CONTAINER
    pub container: String,
}

/// `diff`: `C`/`A`/`D` lines for changed, added and deleted paths.
pub async fn diff(client: &Client, args: DiffArgs) -> anyhow::Result<i32> {
    let changes = client
        .json(
            Method::GET,
            &format!("/containers/{}/changes", args.container),
            &Query::new(),
            RequestBody::Empty,
        )
        .await?;
    for change in changes.as_array().into_iter().flatten() {
        let kind = match change["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        outln!("{kind} {}", change["Path"].as_str().unwrap_or_default());
    }
    Ok(0)
}

/// `export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// CONTAINER
    pub container: String,
}

/// `export`: the container's filesystem as a tar.
pub async fn export(client: &Client, args: ExportArgs) -> anyhow::Result<i32> {
    let response = client
        .request(
            Method::GET,
            &format!("/containers/{}/export", args.container),
            &Query::new(),
            RequestBody::Empty,
            &[],
        )
        .await?;
    save_body(response, args.output.as_deref()).await?;
    Ok(0)
}

/// Writes a streamed answer to a file, or to stdout (refusing a terminal, as docker does).
pub async fn save_body(
    response: hyper::Response<hyper::body::Incoming>,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let mut body = response.into_body();
    match output {
        Some(path) if path != "-" => {
            let partial = format!("{path}.wharf-partial");
            let mut file = tokio::fs::File::create(&partial)
                .await
                .with_context(|| format!("failed to save to {path}"))?;
            while let Some(chunk) = next_chunk(&mut body).await? {
                file.write_all(&chunk)
                    .await
                    .with_context(|| format!("writing {path}"))?;
            }
            file.flush().await?;
            tokio::fs::rename(&partial, path)
                .await
                .with_context(|| format!("failed to save to {path}"))?;
        }
        _ => {
            if tty::stdout_is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = tokio::io::stdout();
            while let Some(chunk) = next_chunk(&mut body).await? {
                out.write_all(&chunk).await?;
            }
            out.flush().await?;
        }
    }
    Ok(())
}

/// `commit` flags.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    /// CONTAINER
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `commit`: prints the new image's ID.
pub async fn commit(client: &Client, args: CommitArgs) -> anyhow::Result<i32> {
    let mut query = Query::new().add("container", &args.container);
    if let Some(reference) = &args.reference {
        let parsed = ImageRef::parse(reference);
        query = query
            .add("repo", parsed.familiar_name())
            .add("tag", parsed.tag.clone().unwrap_or_else(|| "latest".into()));
    }
    query = query
        .add_opt("comment", args.message.as_deref())
        .add_opt("author", args.author.as_deref());
    for change in &args.change {
        query = query.add("changes", change);
    }
    query = query.add("pause", if args.pause { 1 } else { 0 });
    let answer = client
        .json(
            Method::POST,
            "/commit",
            &query,
            RequestBody::Json(json!({})),
        )
        .await?;
    outln!("{}", answer["Id"].as_str().unwrap_or_default());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_codes() {
        assert_eq!(
            start_failure_code(
                "OCI runtime create failed: exec: \"nosuch\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(start_failure_code("exec /etc: permission denied"), 126);
        assert_eq!(start_failure_code("cgroup trouble"), 125);
    }

    #[test]
    fn timestamps_for_since() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        assert_eq!(
            api_timestamp("10m", now).expect("valid"),
            "1699999400.000000000"
        );
        assert_eq!(
            api_timestamp("1699999999", now).expect("valid"),
            "1699999999"
        );
        assert_eq!(
            api_timestamp("2023-11-14T22:13:20Z", now).expect("valid"),
            "1700000000.000000000"
        );
        assert_eq!(
            api_timestamp("2023-11-14T22:13:20", now).expect("valid"),
            "1700000000.000000000"
        );
        assert_eq!(
            api_timestamp("2023-11-14", now).expect("valid"),
            "1699920000.000000000"
        );
        assert!(api_timestamp("yesterday", now).is_err());
    }

    #[test]
    fn ps_rows_format_like_docker() {
        let created = chrono::Utc::now().timestamp() - 5;
        let container = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web", "/other/alias"],
            "Image": "busybox", "ImageID": "sha256:aaaa", "Command": "sh -c 'while true; do echo tick; done'",
            "Created": created, "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"}, {"PrivatePort": 53, "Type": "udp"}],
            "Labels": {"b": "2", "a": "1"}, "State": "running", "Status": "Up 5 seconds",
        });
        let row = ps_row(&container, true);
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Names"], "web");
        assert_eq!(row["Command"], "\"sh -c 'while true; …\"");
        assert_eq!(row["RunningFor"], "5 seconds ago");
        assert_eq!(row["Ports"], "53/udp, 0.0.0.0:8080->80/tcp");
        assert_eq!(row["Labels"], "a=1,b=2");
        let full = ps_row(&container, false);
        assert_eq!(full["ID"], "0123456789abcdef0123");
        assert_eq!(full["Names"], "web,other/alias");
        let by_id = ps_row(
            &json!({"Image": "sha256:0123456789abcdef", "ImageID": "sha256:0123456789abcdef"}),
            true,
        );
        assert_eq!(by_id["Image"], "0123456789ab");
    }

    #[test]
    fn stats_lines_compute_percentages() {
        let sample = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3 * 1024 * 1024, "limit": 8 * 1024 * 1024, "stats": {"total_inactive_file": 1024 * 1024}},
            "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 2000}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3},
        });
        assert_eq!(
            stats_line(&sample, true),
            "0123456789ab\tweb\t40.00%\t2MiB / 8MiB\t25.00%\t1kB / 2kB\t4.1kB / 0B\t3"
        );
    }

    #[test]
    fn port_lines_like_docker_port() {
        let ports = json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, {"HostIp": "::", "HostPort": "32768"}],
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
            "53/udp": null,
            "9000/tcp": [{"HostIp": "", "HostPort": "9000"}],
        });
        let args = |port: Option<&str>| PortArgs {
            container: "web".into(),
            port: port.map(str::to_string),
        };
        assert_eq!(
            port_lines(&ports, &args(None)).expect("lines"),
            [
                "80/tcp -> 0.0.0.0:32768",
                "80/tcp -> [::]:32768",
                "443/tcp -> 127.0.0.1:8443",
                "9000/tcp -> :9000",
            ]
        );
        assert_eq!(
            port_lines(&ports, &args(Some("80"))).expect("lines"),
            ["0.0.0.0:32768", "[::]:32768"]
        );
        assert_eq!(
            port_lines(&ports, &args(Some("443/tcp"))).expect("lines"),
            ["127.0.0.1:8443"]
        );
        let error = |port: &str| {
            format!(
                "{:#}",
                port_lines(&ports, &args(Some(port))).expect_err("an error")
            )
        };
        assert_eq!(
            error("53/udp"),
            "Error: No public port '53/udp' published for web"
        );
        assert_eq!(
            error("http"),
            "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        assert!(
            port_lines(&json!(null), &args(None))
                .expect("lines")
                .is_empty()
        );
    }
}
