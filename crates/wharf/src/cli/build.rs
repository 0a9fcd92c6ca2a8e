//! `build` (also `image build`, `builder build`) and `builder prune`: docker CLI 28's legacy
//! build client — the context tar streamed to `POST /build` with the query docker sends — shown
//! the way BuildKit shows a build when the daemon speaks wharf's step events
//! (`wharf-progress=1`), and as docker shows it otherwise.
//!
//! `context` prepares and streams the context, `render` shows the build.

mod context;
mod render;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{ArgAction, Args, Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{Value, json};

use super::StatusError;
use super::client::{Client, JsonStream, Query, RequestBody};
use super::container::save_body;
use super::format::{human_size_4, parse_ram};
use super::image::ImageRef;
use super::netopts::{FlagError, flag_error, parse_extra_host};
use super::tty;
use render::{Display, Live, Message, Outcome, Plain};

/// `build`'s usage line, for flag errors.
const USAGE: &str = "[OPTIONS] PATH | URL | -";

/// How the build is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// `tty` when stderr is a terminal, else `plain`.
    Auto,
    /// One line per event, `#N` prefixed, nothing lost.
    Plain,
    /// A live view redrawn in place.
    Tty,
    /// Nothing but the image ID.
    Quiet,
}

/// `build` flags (docker build's).
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_delimiter = ',')]
    pub cache_from: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Remove intermediate containers after a successful build
    #[arg(
        long,
        action = ArgAction::Set,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Set type of progress output (auto, plain, tty, quiet)
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Output destination (format: "type=docker|oci|tar,dest=path")
    #[arg(short = 'o', long)]
    pub output: Vec<String>,
    /// Shorthand for "--output=type=docker" (refused: the image is already in the daemon)
    #[arg(long)]
    pub load: bool,
    /// Shorthand for "--output=type=registry" (refused)
    #[arg(long)]
    pub push: bool,
    /// PATH | URL | -
    pub context: String,
}

/// `builder` subcommands.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

/// `builder prune` flags.
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long)]
    pub filter: Vec<String>,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage")]
    pub keep_storage: Option<String>,
}

/// `builder …`.
pub async fn builder(client: &Client, command: BuilderCommand) -> anyhow::Result<i32> {
    match command {
        BuilderCommand::Build(args) => build(client, *args).await,
        BuilderCommand::Prune(args) => prune(client, args).await,
    }
}

/// The image export `--output` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// `type=docker`: `docker save`'s archive (also an OCI layout); no `dest` means the image
    /// stays where it is, in the daemon (buildx loads it there).
    Docker(Option<String>),
    /// `type=oci`: a plain OCI image layout (`format=oci`, which the daemon honours on `GET /images/get`).
    Oci(String),
    /// `type=tar`: the image's filesystem.
    Tar(String),
}

impl Export {
    /// Parses `type=…,dest=…` (buildx's CSV form; `-` alone is a filesystem tar on stdout).
    pub fn parse(text: &str) -> anyhow::Result<Export> {
        if text == "-" {
            return Ok(Export::Tar("-".into()));
        }
        if !text.contains('=') {
            bail!(
                "output {text:?} is a local directory export (type=local), which wharf does not \
                 support; use type=tar,dest=FILE"
            );
        }
        let mut kind = None;
        let mut dest = None;
        for field in text.split(',') {
            let Some((key, value)) = field.split_once('=') else {
                bail!("invalid value {field:?} in output {text:?}: expected key=value");
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "type" => kind = Some(value.to_string()),
                "dest" => dest = Some(value.to_string()),
                other => bail!("output attribute {other:?} is not supported (only type and dest)"),
            }
        }
        let dest_or_stdout = || dest.clone().unwrap_or_else(|| "-".to_string());
        match kind.as_deref() {
            Some("docker") => Ok(Export::Docker(dest.clone())),
            Some("oci") => Ok(Export::Oci(dest_or_stdout())),
            Some("tar") => Ok(Export::Tar(dest_or_stdout())),
            Some(other) => bail!(
                "output type {other:?} is not supported; use type=docker, type=oci or type=tar"
            ),
            None => bail!("output {text:?} names no type"),
        }
    }

    /// The exporter's name and where it writes (`None`: nowhere).
    fn target(&self) -> (&'static str, Option<&str>) {
        match self {
            Export::Docker(dest) => ("docker", dest.as_deref()),
            Export::Oci(dest) => ("oci", Some(dest)),
            Export::Tar(dest) => ("tar", Some(dest)),
        }
    }
}

/// The request options, checked and converted as docker CLI converts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildOptions {
    tags: Vec<String>,
    build_args: BTreeMap<String, Option<String>>,
    labels: BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    cache_from: Vec<String>,
    quiet: bool,
    rm: bool,
    force_rm: bool,
    pull: bool,
    network: String,
    platform: Option<String>,
    extra_hosts: Vec<String>,
    shm_size: i64,
}

impl BuildOptions {
    /// Checks the flags; `env` looks up `--build-arg NAME` values (the client's environment).
    pub fn from_args(
        args: &BuildArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<BuildOptions> {
        for tag in &args.tags {
            check_tag(tag).map_err(|reason| flag_error("-t, --tag", tag, &reason))?;
        }
        let mut build_args = BTreeMap::new();
        for arg in &args.build_args {
            let (key, value) = match arg.split_once('=') {
                Some((key, value)) => (key, Some(value.to_string())),
                None => (arg.as_str(), env(arg)),
            };
            if key.is_empty() {
                return Err(flag_error(
                    "--build-arg",
                    arg,
                    &format!("invalid environment variable: {arg}"),
                ));
            }
            build_args.insert(key.to_string(), value);
        }
        let mut labels = BTreeMap::new();
        for label in &args.label {
            let (key, value) = label.split_once('=').unwrap_or((label, ""));
            if key.trim().is_empty() {
                return Err(flag_error(
                    "--label",
                    label,
                    &format!("invalid label '{label}': empty name"),
                ));
            }
            labels.insert(key.to_string(), value.to_string());
        }
        let mut extra_hosts = Vec::new();
        for host in &args.add_host {
            extra_hosts.push(parse_extra_host(host)?);
        }
        let shm_size = match &args.shm_size {
            Some(text) => {
                parse_ram(text).map_err(|e| flag_error("--shm-size", text, &e.to_string()))?
            }
            None => 0,
        };
        let platform = args
            .platform
            .clone()
            .or_else(|| env("DOCKER_DEFAULT_PLATFORM"))
            .filter(|p| !p.is_empty());
        Ok(BuildOptions {
            tags: args.tags.clone(),
            build_args,
            labels,
            target: args.target.clone().filter(|t| !t.is_empty()),
            no_cache: args.no_cache,
            cache_from: args.cache_from.clone(),
            quiet: args.quiet || args.progress == ProgressMode::Quiet,
            rm: args.rm,
            force_rm: args.force_rm,
            pull: args.pull,
            network: args.network.clone(),
            platform,
            extra_hosts,
            shm_size,
        })
    }

    /// The `POST /build` query as docker CLI 28 sends it (Go's `url.Values`: keys sorted,
    /// a key's values in order), plus `wharf-progress=1` when asked.
    pub fn query(&self, dockerfile: Option<&str>, wharf_progress: bool) -> Query {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for tag in &self.tags {
            pairs.push(("t", tag.clone()));
        }
        for host in &self.extra_hosts {
            pairs.push(("extrahosts", host.clone()));
        }
        if self.quiet {
            pairs.push(("q", "1".into()));
        }
        if self.no_cache {
            pairs.push(("nocache", "1".into()));
        }
        if !self.rm {
            // Only the opt-out is sent: the daemon removes them by default.
            pairs.push(("rm", "0".into()));
        }
        if self.force_rm {
            pairs.push(("forcerm", "1".into()));
        }
        if self.pull {
            pairs.push(("pull", "1".into()));
        }
        if !self.network.is_empty() && self.network != "default" {
            pairs.push(("networkmode", self.network.clone()));
        }
        if self.shm_size != 0 {
            pairs.push(("shmsize", self.shm_size.to_string()));
        }
        if let Some(dockerfile) = dockerfile.filter(|d| !d.is_empty()) {
            pairs.push(("dockerfile", dockerfile.to_string()));
        }
        if let Some(target) = &self.target {
            pairs.push(("target", target.clone()));
        }
        if !self.build_args.is_empty() {
            pairs.push(("buildargs", json!(self.build_args).to_string()));
        }
        if !self.labels.is_empty() {
            pairs.push(("labels", json!(self.labels).to_string()));
        }
        if !self.cache_from.is_empty() {
            pairs.push(("cachefrom", json!(self.cache_from).to_string()));
        }
        if let Some(platform) = &self.platform {
            pairs.push(("platform", platform.to_ascii_lowercase()));
        }
        pairs.push(("version", "1".into()));
        if wharf_progress {
            pairs.push(("wharf-progress", "1".into()));
        }
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs
            .into_iter()
            .fold(Query::new(), |query, (key, value)| query.add(key, value))
    }

    /// The names the tags give the image (`docker.io/library/x:latest`).
    fn names(&self) -> Vec<String> {
        self.tags
            .iter()
            .map(|t| ImageRef::parse(t).full())
            .collect()
    }
}

/// docker's `validateTag` (`reference.ParseNormalizedNamed`), in its common cases: the text
/// is a reference, and its repository is lowercase.
fn check_tag(tag: &str) -> Result<(), String> {
    let invalid = || "invalid reference format".to_string();
    if tag.is_empty() || tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let reference = ImageRef::parse(tag);
    if let Some(tag) = &reference.tag {
        let valid = tag.len() <= 128
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(invalid());
        }
    }
    let (domain, path) = reference
        .name
        .split_once('/')
        .unwrap_or(("", reference.name.as_str()));
    if let Some((host, port)) = domain.split_once(':') {
        if host.is_empty() || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "invalid reference format: repository name ({path}) must be lowercase"
        ));
    }
    let component_ok = |component: &str| {
        !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_alphanumeric())
            && component.ends_with(|c: char| c.is_ascii_alphanumeric())
            && component
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if !path.split('/').all(component_ok) {
        return Err(invalid());
    }
    Ok(())
}

/// How the stream is shown.
enum View {
    /// Only the ID at the end; the text is kept to show on failure (docker prints it then).
    Quiet(String),
    /// A display on stderr.
    Shown(Box<dyn Display>),
}

/// `build`.
pub async fn build(client: &Client, args: BuildArgs) -> anyhow::Result<i32> {
    if args.push {
        bail!(
            "--push is not supported by wharf build: the image is stored in the daemon; push it \
             from there once built"
        );
    }
    if args.load {
        bail!(
            "--load is not needed with wharf build: the image is stored in the daemon when the \
             build succeeds"
        );
    }
    let options = BuildOptions::from_args(&args, |name| std::env::var(name).ok())
        .map_err(|e| FlagError::report(e, "build", USAGE))?;
    let exports = args
        .output
        .iter()
        .map(|o| Export::parse(o))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if exports.len() > 1 {
        bail!(
            "only one --output is supported, {} were given",
            exports.len()
        );
    }
    for export in &exports {
        if let (name, Some("-")) = export.target() {
            if tty::stdout_is_terminal() {
                bail!("dest file is required for {name} exporter. refusing to write to console");
            }
        }
    }
    if let Some(file) = &args.iidfile {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::from(e).context("Removing image ID file"));
            }
            _ => {}
        }
    }

    let prepared = context::prepare(
        &args.context,
        args.file.as_deref(),
        &mut std::io::stdin().lock(),
    )?;
    let quiet = options.quiet;
    let query = options.query(prepared.dockerfile.as_deref(), !quiet);
    let (body, context_result) = context::stream(prepared);
    let start = Instant::now();
    let response = client
        .request(
            Method::POST,
            "/build",
            &query,
            RequestBody::Reader(Box::new(body), "application/x-tar"),
            &[("X-Registry-Config", "e30=")],
        )
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            // A context that could not be read explains a broken request better.
            if let Ok(Ok(Err(context_error))) =
                tokio::time::timeout(Duration::from_secs(1), context_result).await
            {
                if !matches!(context_error, context::ContextError::Send(_)) {
                    return Err(context_error.into());
                }
            }
            return Err(error.into());
        }
    };

    let mut view = if quiet {
        View::Quiet(String::new())
    } else {
        let live = match args.progress {
            ProgressMode::Tty => true,
            ProgressMode::Auto => tty::stderr_is_terminal(),
            ProgressMode::Plain | ProgressMode::Quiet => false,
        };
        if live {
            let (rows, columns) = tty::window_size().unwrap_or((24, 80));
            View::Shown(Box::new(Live::new(
                std::io::stderr(),
                start,
                usize::from(rows),
                usize::from(columns),
            )))
        } else {
            View::Shown(Box::new(Plain::new(std::io::stderr())))
        }
    };
    let mut stream = JsonStream::new(response);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut image_id: Option<String> = None;
    let mut failure: Option<(String, i32)> = None;
    let mut last_step = Instant::now();
    loop {
        let next = match &mut view {
            View::Shown(display) => tokio::select! {
                next = stream.next() => next?,
                _ = ticker.tick() => {
                    // A display that cannot write (stderr closed) does not stop the build.
                    let _ = display.tick(Instant::now());
                    continue;
                }
            },
            View::Quiet(_) => stream.next().await?,
        };
        let Some(value) = next else {
            break;
        };
        let message = Message::classify(&value);
        let now = Instant::now();
        match &message {
            Message::Aux(aux) => {
                if let Some(id) = aux.get("ID").and_then(Value::as_str) {
                    image_id = Some(id.to_string());
                }
            }
            Message::Error { message, code } => failure = Some((message.clone(), *code)),
            Message::Step(_) => last_step = now,
            Message::Text(_) => {}
        }
        match &mut view {
            View::Shown(display) => {
                let _ = display.message(&message, now);
            }
            View::Quiet(text) => {
                if let Message::Text(line) = &message {
                    text.push_str(line);
                }
            }
        }
        if failure.is_some() {
            break;
        }
    }

    if let Some((message, code)) = failure {
        match &mut view {
            View::Shown(display) => {
                let _ = display.finish(&Outcome::Failed(message.clone()), Instant::now());
            }
            View::Quiet(text) => eprint!("{text}"),
        }
        return Err(StatusError { code, message }.into());
    }
    let image_id = image_id.or_else(|| match &view {
        // With q=1 a daemon without aux messages sends the ID as the only stream line.
        View::Quiet(text) => Some(text.trim().to_string()).filter(|t| t.starts_with("sha256:")),
        View::Shown(_) => None,
    });
    if let View::Shown(display) = &mut view {
        let outcome = Outcome::Built {
            id: image_id.clone().unwrap_or_default(),
            names: options.names(),
            export_seconds: last_step.elapsed().as_secs_f64(),
        };
        let _ = display.finish(&outcome, Instant::now());
    }
    if quiet {
        match &image_id {
            Some(id) => outln!("{id}"),
            None => {
                if let View::Quiet(text) = &view {
                    out!("{text}");
                }
            }
        }
    }
    if let Some(file) = &args.iidfile {
        let Some(id) = &image_id else {
            bail!("Server did not provide an image ID. Cannot write {file}");
        };
        std::fs::write(file, id).with_context(|| format!("writing {file}"))?;
    }
    for export in &exports {
        let Some(id) = &image_id else {
            bail!("the daemon did not name the image it built: nothing to export");
        };
        export_image(client, export, id, options.tags.first()).await?;
    }
    Ok(0)
}

/// Writes the built image where `--output` says.
async fn export_image(
    client: &Client,
    export: &Export,
    id: &str,
    tag: Option<&String>,
) -> anyhow::Result<()> {
    let name = tag.map_or(id, String::as_str);
    match export {
        Export::Docker(None) => Ok(()),
        Export::Docker(Some(dest)) | Export::Oci(dest) => {
            let mut query = Query::new().add("names", name);
            if matches!(export, Export::Oci(_)) {
                query = query.add("format", "oci");
            }
            let response = client
                .request(Method::GET, "/images/get", &query, RequestBody::Empty, &[])
                .await?;
            save_body(response, Some(dest.as_str())).await
        }
        Export::Tar(dest) => export_filesystem(client, id, dest).await,
    }
}

/// `type=tar`: the image's filesystem, through a container that is created, exported and
/// removed (never started).
async fn export_filesystem(client: &Client, id: &str, dest: &str) -> anyhow::Result<()> {
    let body = json!({
        "Image": id,
        // Never run: a command only because create wants one for an image without CMD.
        "Cmd": ["/wharf-export"],
        "Labels": {"wharf.build.export": "tar"},
    });
    let created = client
        .json(
            Method::POST,
            "/containers/create",
            &Query::new(),
            RequestBody::Json(body),
        )
        .await
        .context("creating a container to export the image's filesystem")?;
    let Some(container) = created
        .get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        bail!("the daemon created no container to export the image from: {created}");
    };
    let result = async {
        let response = client
            .request(
                Method::GET,
                &format!("/containers/{container}/export"),
                &Query::new(),
                RequestBody::Empty,
                &[],
            )
            .await?;
        save_body(response, Some(dest)).await
    }
    .await;
    let removed = client
        .json(
            Method::DELETE,
            &format!("/containers/{container}"),
            &Query::new().add("force", 1),
            RequestBody::Empty,
        )
        .await;
    result?;
    removed.with_context(|| format!("removing the export container {container}"))?;
    Ok(())
}

/// docker's `builder prune` prompt texts.
const PRUNE_WARNING: &str =
    "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";
const PRUNE_ALL_WARNING: &str =
    "WARNING! This will remove all build cache. Are you sure you want to continue?";

/// The `POST /build/prune` query docker CLI 28 sends (keys sorted; `filters` always there).
fn prune_query(args: &BuilderPruneArgs) -> anyhow::Result<Query> {
    let keep_storage = match &args.keep_storage {
        Some(text) => parse_ram(text).map_err(|e| {
            FlagError::report(
                flag_error("--keep-storage", text, &e.to_string()),
                "builder prune",
                "[OPTIONS]",
            )
        })?,
        None => 0,
    };
    let filters = super::create::filters_json(&args.filter)?.unwrap_or_default();
    Ok(Query::new()
        .add_if(args.all, "all", 1)
        .add("filters", filters)
        .add_if(keep_storage != 0, "keep-storage", keep_storage))
}

/// What `builder prune` prints for the daemon's report.
fn prune_report(report: &Value) -> String {
    let mut text = String::new();
    let ids: Vec<&str> = report["CachesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !ids.is_empty() {
        text.push_str("Deleted build cache objects:\n");
        for id in ids {
            text.push_str(id);
            text.push('\n');
        }
        text.push('\n');
    }
    let reclaimed = report["SpaceReclaimed"].as_u64().unwrap_or(0);
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size_4(reclaimed as f64)
    ));
    text
}

/// docker's `prompt.Confirm`: the question and ` [y/N] ` on stdout, an answer on stdin.
fn confirm(question: &str) -> bool {
    out!("{question} [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `builder prune`.
async fn prune(client: &Client, args: BuilderPruneArgs) -> anyhow::Result<i32> {
    let query = prune_query(&args)?;
    if !args.force {
        let warning = if args.all {
            PRUNE_ALL_WARNING
        } else {
            PRUNE_WARNING
        };
        if !confirm(warning) {
            // docker: a cancelled prune is no failure.
            return Ok(0);
        }
    }
    let report = client
        .json(Method::POST, "/build/prune", &query, RequestBody::Empty)
        .await?;
    out!("{}", prune_report(&report));
    let _ = std::io::stdout().flush();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        command: Top2,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top2 {
        Build(Box<BuildArgs>),
        #[command(subcommand)]
        Builder(BuilderCommand),
    }

    fn parse(args: &[&str]) -> BuildArgs {
        let argv = ["wharf", "build"].into_iter().chain(args.iter().copied());
        match Top::try_parse_from(argv).expect("flags parse").command {
            Top2::Build(args) => *args,
            Top2::Builder(_) => panic!("build"),
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "FROM_ENV" => Some("env value".into()),
            _ => None,
        }
    }

    #[test]
    fn flags_parse_like_docker_build() {
        let args = parse(&[
            "-t",
            "a:1",
            "--tag",
            "b",
            "-f",
            "Dockerfile.dev",
            "--build-arg",
            "X=1",
            "--build-arg",
            "Y",
            "--label",
            "l=v",
            "--cache-from",
            "c1,c2",
            "--cache-from",
            "c3",
            "--rm=false",
            "-q",
            "--progress",
            "plain",
            "-o",
            "type=oci,dest=x.tar",
            ".",
        ]);
        assert_eq!(args.tags, ["a:1", "b"]);
        assert_eq!(args.file.as_deref(), Some("Dockerfile.dev"));
        assert_eq!(args.build_args, ["X=1", "Y"]);
        assert_eq!(args.cache_from, ["c1", "c2", "c3"]);
        assert!(!args.rm);
        assert!(args.quiet);
        assert_eq!(args.progress, ProgressMode::Plain);
        assert_eq!(args.output, ["type=oci,dest=x.tar"]);
        assert_eq!(args.context, ".");
        let args = parse(&["--rm", "--progress=tty", "-"]);
        assert!(args.rm);
        assert_eq!(args.progress, ProgressMode::Tty);
        assert_eq!(args.context, "-");
        assert!(parse(&["."]).rm);
        assert_eq!(parse(&["."]).network, "default");
        let argv = ["wharf", "build", "--progress=fancy", "."];
        assert!(Top::try_parse_from(argv).is_err());
        let argv = ["wharf", "build"];
        assert!(
            Top::try_parse_from(argv).is_err(),
            "the context is required"
        );
        let argv = ["wharf", "builder", "prune", "-af", "--filter", "until=24h"];
        let Top2::Builder(BuilderCommand::Prune(prune)) =
            Top::try_parse_from(argv).expect("parses").command
        else {
            panic!("builder prune");
        };
        assert!(prune.all && prune.force);
        assert_eq!(prune.filter, ["until=24h"]);
    }

    #[test]
    fn the_query_is_docker_clis() {
        // What docker CLI 28 sent for `docker build -t myimg .` (client-compat.md §B4).
        let options = BuildOptions::from_args(&parse(&["-t", "myimg", "."]), env).expect("valid");
        assert_eq!(
            options.query(Some("Dockerfile"), false).encode(),
            "?dockerfile=Dockerfile&t=myimg&version=1"
        );
        assert_eq!(
            options.query(Some("Dockerfile"), true).encode(),
            "?dockerfile=Dockerfile&t=myimg&version=1&wharf-progress=1"
        );
        let args = parse(&[
            "-t",
            "x:1",
            "-t",
            "y",
            "--build-arg",
            "A=1",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "UNSET",
            "--label",
            "k=v",
            "--label",
            "bare",
            "--target",
            "final",
            "--no-cache",
            "--cache-from",
            "c1,c2",
            "-q",
            "--rm=false",
            "--force-rm",
            "--pull",
            "--network",
            "host",
            "--platform",
            "Linux/AMD64",
            "--add-host",
            "db=10.0.0.2",
            "--shm-size",
            "64m",
            ".",
        ]);
        let options = BuildOptions::from_args(&args, env).expect("valid");
        let query = options.query(Some("sub/Dockerfile"), false);
        let expected: Vec<(&str, String)> = vec![
            (
                "buildargs",
                r#"{"A":"1","FROM_ENV":"env value","UNSET":null}"#.into(),
            ),
            ("cachefrom", r#"["c1","c2"]"#.into()),
            ("dockerfile", "sub/Dockerfile".into()),
            ("extrahosts", "db:10.0.0.2".into()),
            ("forcerm", "1".into()),
            ("labels", r#"{"bare":"","k":"v"}"#.into()),
            ("networkmode", "host".into()),
            ("nocache", "1".into()),
            ("platform", "linux/amd64".into()),
            ("pull", "1".into()),
            ("q", "1".into()),
            ("rm", "0".into()),
            ("shmsize", "67108864".into()),
            ("t", "x:1".into()),
            ("t", "y".into()),
            ("target", "final".into()),
            ("version", "1".into()),
        ];
        let expected = expected
            .into_iter()
            .fold(Query::new(), |q, (k, v)| q.add(k, v));
        assert_eq!(query.encode(), expected.encode());
        // The default network is not sent; --platform comes from DOCKER_DEFAULT_PLATFORM.
        let options = BuildOptions::from_args(&parse(&["."]), |name| {
            (name == "DOCKER_DEFAULT_PLATFORM").then(|| "linux/arm64".to_string())
        })
        .expect("valid");
        assert_eq!(
            options.query(None, false).encode(),
            "?platform=linux%2Farm64&version=1"
        );
    }

    #[test]
    fn bad_flag_values_are_docker_errors() {
        let error =
            BuildOptions::from_args(&parse(&["-t", "UPPER", "."]), env).expect_err("uppercase");
        assert_eq!(
            error.to_string(),
            "invalid argument \"UPPER\" for \"-t, --tag\" flag: invalid reference format: repository name (library/UPPER) must be lowercase"
        );
        let reported = FlagError::report(error, "build", USAGE);
        let status = reported.downcast_ref::<StatusError>().expect("a status");
        assert_eq!(status.code, 125);
        assert!(BuildOptions::from_args(&parse(&["-t", "a b", "."]), env).is_err());
        assert!(BuildOptions::from_args(&parse(&["-t", "x:bad/tag", "."]), env).is_err());
        assert!(BuildOptions::from_args(&parse(&["--tag=-x", "."]), env).is_err());
        for good in [
            "x",
            "x:1.0",
            "localhost:5000/team/app:v1",
            "a/b-c_d.e:latest",
        ] {
            assert!(
                BuildOptions::from_args(&parse(&["-t", good, "."]), env).is_ok(),
                "{good}"
            );
        }
        let error = BuildOptions::from_args(&parse(&["--build-arg", "=v", "."]), env)
            .expect_err("empty name");
        assert_eq!(
            error.to_string(),
            "invalid argument \"=v\" for \"--build-arg\" flag: invalid environment variable: =v"
        );
        assert!(BuildOptions::from_args(&parse(&["--label", "=v", "."]), env).is_err());
        assert!(BuildOptions::from_args(&parse(&["--shm-size", "lots", "."]), env).is_err());
        assert!(BuildOptions::from_args(&parse(&["--add-host", "nohost", "."]), env).is_err());
    }

    #[test]
    fn outputs_parse_like_buildx() {
        assert_eq!(
            Export::parse("type=oci,dest=x.tar").expect("valid"),
            Export::Oci("x.tar".into())
        );
        assert_eq!(
            Export::parse("type=oci").expect("valid"),
            Export::Oci("-".into())
        );
        assert_eq!(
            Export::parse("type=docker").expect("valid"),
            Export::Docker(None)
        );
        assert_eq!(
            Export::parse("type=docker,dest=-").expect("valid"),
            Export::Docker(Some("-".into()))
        );
        assert_eq!(
            Export::parse("type=tar,dest=fs.tar").expect("valid"),
            Export::Tar("fs.tar".into())
        );
        assert_eq!(Export::parse("-").expect("valid"), Export::Tar("-".into()));
        assert!(Export::parse("type=registry").is_err());
        assert!(Export::parse("out-dir").is_err());
        assert!(Export::parse("type=oci,compression=zstd").is_err());
        assert!(Export::parse("dest=x").is_err());
    }

    #[test]
    fn prune_speaks_like_docker() {
        let args = BuilderPruneArgs {
            all: true,
            force: true,
            filter: vec!["until=24h".into()],
            keep_storage: Some("1g".into()),
        };
        assert_eq!(
            prune_query(&args).expect("valid").encode(),
            "?all=1&filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D&keep-storage=1073741824"
        );
        let args = BuilderPruneArgs {
            all: false,
            force: false,
            filter: vec![],
            keep_storage: None,
        };
        assert_eq!(prune_query(&args).expect("valid").encode(), "?filters=");
        assert_eq!(
            prune_report(&json!({"CachesDeleted": ["a1", "b2"], "SpaceReclaimed": 1_234_567})),
            "Deleted build cache objects:\na1\nb2\n\nTotal reclaimed space: 1.235MB\n"
        );
        assert_eq!(
            prune_report(&json!({"CachesDeleted": null, "SpaceReclaimed": 0})),
            "Total reclaimed space: 0B\n"
        );
    }
}
