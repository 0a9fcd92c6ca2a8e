//! Running a build: the stages the target needs, each step looked up in the cache first.
//!
//! Every step turns a *state* (an image config and its layers) into the next. A step's cache
//! key hashes the state it starts from, the instruction as expanded, and what else decides the
//! result (the files a COPY copies, the build args a RUN sees). On a hit the cached state is
//! taken as it is: no container, no layer, no write except the final image record. On a miss:
//! - metadata instructions (ENV, CMD, LABEL, …) only change the config;
//! - COPY/ADD and WORKDIR mount a scratch snapshot on the state's layers, change the files,
//!   and turn the snapshot's upper directory into a layer;
//! - RUN asks the [`Backend`] (the engine) to run a container on the state and takes its
//!   writable layer.
//!
//! Layers are written with sorted entries and modification times clamped to the build's epoch
//! (`SOURCE_DATE_EPOCH` when given, else the newest modification time in the context), and
//! history times are that epoch: the same Dockerfile and context give the same digests.
//! Stages run as concurrent tasks; a stage waits only for the stages it names.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use image::spec::{ContainerConfig, EmptyObject, HealthConfig, History, ImageConfig};
use image::{ContentStore, Descriptor, Digest, ImageStore};
use sha2::{Digest as _, Sha256};
use snapshot::LayerStore;
use tokio::sync::{mpsc, watch};

use crate::cache::{Cache, Entry};
use crate::context::Context;
use crate::copy::{self, CopyRequest, Source};
use crate::dockerfile::{self, Command, Copy, Dockerfile, Healthcheck, Instruction, Kind, Run};
use crate::error::{BuildError, ErrorKind};
use crate::plan::{Base, Graph, find_stage, mount_from};

/// The media type of the layers the builder writes (uncompressed, as Docker keeps them
/// locally; a push compresses).
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// Snapshot keys of the builder's scratch snapshots start with this (the engine removes any
/// left by a crash when it starts).
pub const SCRATCH_PREFIX: &str = "build-";

/// Build args every build accepts without a matching `ARG` (Docker's proxy variables and
/// `SOURCE_DATE_EPOCH`); they never count as unused.
const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "SOURCE_DATE_EPOCH",
];

/// The `PATH` Docker gives a stage from `scratch`... and every RUN when the image has none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a build is asked to do (the `POST /build` query).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// `--build-arg`s; `None` is an argument given without a value.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--label`s, added to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--cache-from` images.
    pub cache_from: Vec<String>,
    /// `--network` for RUN steps (`default`, `none`, `host`, a network name).
    pub network: String,
    /// `--add-host` entries for RUN steps.
    pub extra_hosts: Vec<String>,
    /// `--shm-size` in bytes for RUN steps.
    pub shm_size: Option<i64>,
}

/// A state: an image config and its layers.
#[derive(Debug, Clone)]
pub struct State {
    /// The config digest (the image ID this state would have).
    pub id: Digest,
    /// The config bytes.
    pub bytes: Vec<u8>,
    /// The parsed config.
    pub config: ImageConfig,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

impl State {
    /// A state from a config and its layers.
    pub fn new(config: ImageConfig, layers: Vec<Descriptor>) -> State {
        let bytes = config.to_bytes();
        State {
            id: Digest::of(&bytes),
            bytes,
            config,
            layers,
        }
    }

    /// A state from stored config bytes.
    pub fn from_bytes(bytes: Vec<u8>, layers: Vec<Descriptor>) -> Result<State, BuildError> {
        let id = Digest::of(&bytes);
        let config = ImageConfig::parse(&bytes, &format!("image config {id}"))
            .map_err(|e| BuildError::internal(e.to_string()))?;
        Ok(State {
            id,
            bytes,
            config,
            layers,
        })
    }

    /// The chain ID of the top layer.
    pub fn chain(&self) -> Option<String> {
        self.config.rootfs.diff_ids.iter().fold(None, |p, d| {
            Some(snapshot::chain_id(p.as_deref(), d.as_str()))
        })
    }
}

/// A mount for a RUN step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// `bind` or `tmpfs`.
    pub kind: &'static str,
    /// Host path (bind).
    pub source: PathBuf,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub readonly: bool,
}

/// What the engine must run for a RUN step.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The state to run on; its config blob is in the content store and its layers unpacked.
    pub state: State,
    /// The full command (shell included for the shell form).
    pub cmd: Vec<String>,
    /// The environment: the config's plus the build args in scope.
    pub env: Vec<String>,
    /// Working directory.
    pub workdir: String,
    /// User.
    pub user: String,
    /// Network mode.
    pub network: String,
    /// Extra `/etc/hosts` entries.
    pub extra_hosts: Vec<String>,
    /// `/dev/shm` size.
    pub shm_size: Option<i64>,
    /// Mounts.
    pub mounts: Vec<RunMount>,
}

/// What a RUN container reports while it runs.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The container exists (its ID).
    Created(String),
    /// Output: stream 1 or 2, bytes.
    Output(u8, Vec<u8>),
}

/// How a RUN container ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Its ID, which is also its snapshot key.
    pub container: String,
    /// Its exit code.
    pub exit_code: i64,
}

/// What the builder needs from the engine: running a step's container.
pub trait Backend: Send + Sync + 'static {
    /// Creates and runs a container for a RUN step to completion, reporting its ID and output
    /// on `events`. The container and its snapshot stay until [`remove`](Self::remove).
    fn run(
        &self,
        req: RunRequest,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> impl Future<Output = Result<RunOutcome, BuildError>> + Send;
    /// Removes a step's container and its snapshot.
    fn remove(&self, container: String) -> impl Future<Output = ()> + Send;
}

/// The stores a build reads and writes.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Blobs.
    pub content: ContentStore,
    /// Unpacked layers and snapshots.
    pub layers: LayerStore,
    /// Images (bases, `--from` images, the result).
    pub images: ImageStore,
    /// The build cache.
    pub cache: Cache,
    /// The builder's own directory (contexts, RUN cache mounts).
    pub root: PathBuf,
    /// Held shared from writing a step's blobs until its cache entry exists, so garbage
    /// collection (which holds it exclusively) never sees the blobs unreferenced.
    pub gc_lock: Arc<tokio::sync::RwLock<()>>,
}

/// Progress of a build, in the order things happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step begins.
    Step {
        /// Unique step id in this build (its position in the file, 1-based, FROMs included).
        id: usize,
        /// Total steps of the stages being built.
        total: usize,
        /// `[stage 2/4]`-style label: stage name and position in the stage.
        label: String,
        /// The instruction as written.
        text: String,
    },
    /// A legacy status line (` ---> Using cache`, ` ---> Running in …`).
    Info {
        /// Step id.
        id: usize,
        /// The line, without the newline.
        text: String,
    },
    /// Output of a RUN.
    Output {
        /// Step id.
        id: usize,
        /// Bytes written.
        data: Vec<u8>,
    },
    /// A step ended.
    Done {
        /// Step id.
        id: usize,
        /// Whether its result came from the cache.
        cached: bool,
        /// The resulting state's ID (none for a meta ARG).
        state: Option<Digest>,
    },
    /// A warning for the end of the output.
    Warning(String),
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The final image (recorded in the image store, untagged).
    pub image: image::ImageRecord,
    /// Steps taken from the cache, and steps run.
    pub cached: usize,
    /// Steps run.
    pub ran: usize,
}

/// Reads `.dockerignore` and the Dockerfile from a received context, applies the ignore
/// rules, and parses the Dockerfile.
pub fn load_dockerfile(ctx: &mut Context, dockerfile: &str) -> Result<Dockerfile, BuildError> {
    let mut name = if dockerfile.is_empty() {
        "Dockerfile".to_string()
    } else {
        dockerfile.trim_start_matches("./").to_string()
    };
    if dockerfile.is_empty() && ctx.get(&name).is_none() && ctx.get("dockerfile").is_some() {
        name = "dockerfile".to_string();
    }
    if ctx.get(".dockerignore").is_some() {
        let text = ctx
            .read(".dockerignore")
            .map_err(|e| BuildError::invalid(format!("reading .dockerignore: {e}")))?;
        let patterns = crate::ignore::parse_dockerignore(&String::from_utf8_lossy(&text));
        let m = crate::ignore::Matcher::new(&patterns)
            .map_err(|e| BuildError::invalid(format!("invalid .dockerignore: {e}")))?;
        ctx.exclude(&m, &[name.as_str(), ".dockerignore"]);
    }
    let text = match ctx.get(&name) {
        Some(_) => ctx.read(&name).map_err(|e| {
            BuildError::invalid(format!("Cannot locate specified Dockerfile: {name}: {e}"))
        })?,
        None => {
            return Err(BuildError::invalid(format!(
                "Cannot locate specified Dockerfile: {name}"
            )));
        }
    };
    let text = String::from_utf8(text)
        .map_err(|_| BuildError::invalid(format!("{name}: the Dockerfile is not UTF-8")))?;
    dockerfile::parse(&text).map_err(|e| BuildError::invalid(e.to_string()))
}

/// The values one stage's expansion sees.
#[derive(Debug, Clone, Default)]
struct Scope {
    /// ARGs declared in the stage (with their values; `None` when unset).
    args: BTreeMap<String, Option<String>>,
}

fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

fn env_set(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key) || e.as_str() == key)
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// Everything the stage tasks share.
struct Shared<B: Backend> {
    backend: Arc<B>,
    stores: Stores,
    ctx: Arc<Context>,
    df: Dockerfile,
    graph: Graph,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
    /// Step ids by (stage, instruction index); index `usize::MAX` is the FROM.
    ids: HashMap<(usize, usize), usize>,
    total: usize,
    /// Stage results, set once each.
    results: Vec<watch::Sender<Option<Result<State, BuildError>>>>,
    epoch: i64,
    /// `SOURCE_DATE_EPOCH` was given: it is part of every key.
    explicit_epoch: Option<i64>,
    /// The `--cache-from` images.
    cache_from: Vec<State>,
    /// Build args some `ARG` declared.
    used_args: std::sync::Mutex<std::collections::BTreeSet<String>>,
    counters: std::sync::Mutex<(usize, usize)>,
}

impl<B: Backend> Shared<B> {
    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn info(&self, id: usize, text: impl Into<String>) {
        self.emit(Event::Info {
            id,
            text: text.into(),
        });
    }

    fn created(&self) -> String {
        image::spec::format_time(
            &Utc.timestamp_opt(self.epoch, 0)
                .single()
                .unwrap_or_else(Utc::now),
        )
    }
}

/// The value of a meta ARG (declared before the first FROM): the build arg, else its
/// default expanded with the meta args before it.
fn meta_value(df: &Dockerfile, opts: &Options, key: &str) -> Option<String> {
    let mut vals: BTreeMap<String, Option<String>> = BTreeMap::new();
    for ins in &df.meta_args {
        let Kind::Arg(decls) = &ins.kind else {
            continue;
        };
        for d in decls {
            let v = match opts.build_args.get(&d.name) {
                Some(Some(v)) => Some(v.clone()),
                _ => d.default.as_ref().map(|def| {
                    let lookup = |k: &str| vals.get(k).cloned().flatten();
                    dockerfile::expand_word(def, df.escape, &lookup).unwrap_or_default()
                }),
            };
            vals.insert(d.name.clone(), v);
        }
    }
    match vals.get(key) {
        Some(v) => v.clone(),
        None => platform_arg(key),
    }
}

/// The automatic platform args BuildKit defines (`TARGETARCH`, `BUILDPLATFORM`, …): this
/// machine's platform, as Wharf builds only for it.
fn platform_arg(key: &str) -> Option<String> {
    let p = image::spec::Platform::host();
    let variant = p.variant.clone().unwrap_or_default();
    let full = match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    };
    let what = key
        .strip_prefix("TARGET")
        .or_else(|| key.strip_prefix("BUILD"))?;
    Some(match what {
        "PLATFORM" => full,
        "OS" => p.os,
        "ARCH" => p.architecture,
        "VARIANT" => variant,
        _ => return None,
    })
}

/// `FROM --platform=…` against the base image's platform: Wharf builds for this machine and
/// cannot pull another platform's image, so a mismatch is dockerd's error.
fn check_platform(wanted: &str, name: &str, st: &State) -> Result<(), BuildError> {
    let mut parts = wanted.split('/');
    let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let cfg = &st.config;
    if os == cfg.os && (arch.is_empty() || arch == cfg.architecture) {
        return Ok(());
    }
    Err(BuildError::invalid(format!(
        "image with reference {name} was found but its platform ({}/{}) does not match the specified platform ({wanted})",
        cfg.os, cfg.architecture
    )))
}

/// Runs a build to the final image (recorded untagged in the image store).
pub async fn build<B: Backend>(
    backend: Arc<B>,
    stores: Stores,
    ctx: Context,
    df: Dockerfile,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Built, BuildError> {
    let lookup = |k: &str| meta_value(&df, &opts, k);
    let graph = Graph::new(&df, opts.target.as_deref(), &lookup)?;
    let explicit_epoch = match opts.build_args.get("SOURCE_DATE_EPOCH") {
        Some(Some(v)) if !v.is_empty() => Some(v.parse::<i64>().map_err(|_| {
            BuildError::invalid(format!(
                "invalid SOURCE_DATE_EPOCH: {v:?} is not an integer"
            ))
        })?),
        _ => None,
    };
    let epoch = explicit_epoch
        .or_else(|| ctx.newest_mtime())
        .unwrap_or_else(|| Utc::now().timestamp());
    let mut ids = HashMap::new();
    // ARGs before the first FROM are steps of their own, as the legacy builder counts them.
    let mut id = df.meta_args.len();
    for &s in &graph.needed {
        id += 1;
        ids.insert((s, usize::MAX), id);
        for i in 0..df.stages[s].instructions.len() {
            id += 1;
            ids.insert((s, i), id);
        }
    }
    let results = df.stages.iter().map(|_| watch::channel(None).0).collect();
    let mut cache_from = Vec::new();
    for name in &opts.cache_from {
        // As dockerd: a cache source that is not there is skipped.
        match image_state(&stores, name) {
            Ok(st) => cache_from.push(st),
            Err(e) => tracing::info!("--cache-from {name}: {e}"),
        }
    }
    let shared = Arc::new(Shared {
        backend,
        stores,
        ctx: Arc::new(ctx),
        df,
        graph,
        opts,
        events,
        ids,
        total: id,
        results,
        epoch,
        explicit_epoch,
        cache_from,
        used_args: Default::default(),
        counters: Default::default(),
    });
    for (i, ins) in shared.df.meta_args.iter().enumerate() {
        if let Kind::Arg(decls) = &ins.kind {
            let mut used = shared.used_args.lock().unwrap_or_else(|e| e.into_inner());
            used.extend(decls.iter().map(|d| d.name.clone()));
        }
        shared.emit(Event::Step {
            id: i + 1,
            total: shared.total,
            label: "[meta]".to_string(),
            text: ins.original.clone(),
        });
        shared.emit(Event::Done {
            id: i + 1,
            cached: false,
            state: None,
        });
    }
    let mut tasks = Vec::new();
    for &s in &shared.graph.needed {
        let sh = shared.clone();
        tasks.push(tokio::spawn(async move {
            let r = run_stage(&sh, s).await;
            sh.results[s].send_replace(Some(r));
        }));
    }
    let target = shared.graph.target;
    let mut rx = shared.results[target].subscribe();
    let result = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| BuildError::internal("the target stage ended without a result"))?
        .clone()
        .unwrap_or_else(|| Err(BuildError::internal("no result")));
    // A failed stage fails the build; stop the rest.
    for t in &tasks {
        if result.is_err() {
            t.abort();
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut state = result?;
    if !shared.opts.labels.is_empty() {
        let mut cfg = state.config.clone();
        let labels = cfg.config.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in &shared.opts.labels {
            labels.insert(k.clone(), v.clone());
        }
        state = State::new(cfg, state.layers.clone());
    }
    let used = shared
        .used_args
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let unused: Vec<&String> = shared
        .opts
        .build_args
        .keys()
        .filter(|k| !used.contains(*k) && !BUILTIN_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        shared.emit(Event::Warning(format!(
            "[Warning] One or more build-args [{}] were not consumed",
            list.join(" ")
        )));
    }
    let stores = shared.stores.clone();
    let st = state.clone();
    let image = tokio::task::spawn_blocking(move || {
        let diff_ids = st.config.rootfs.diff_ids.clone();
        stores
            .images
            .create(&st.bytes, st.layers.clone(), diff_ids)
            .map_err(|e| BuildError::internal(format!("recording the image: {e}")))
    })
    .await
    .map_err(|e| BuildError::internal(e.to_string()))??;
    let (cached, ran) = *shared.counters.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Built { image, cached, ran })
}

/// Waits for stage `s` and returns its final state.
async fn stage_result<B: Backend>(sh: &Shared<B>, s: usize) -> Result<State, BuildError> {
    let mut rx = sh.results[s].subscribe();
    let r = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| BuildError::internal(format!("stage {s} ended without a result")))?
        .clone();
    match r {
        Some(Ok(st)) => Ok(st),
        Some(Err(e)) => Err(e),
        None => Err(BuildError::internal(format!("stage {s} has no result"))),
    }
}

/// An image from the store as a state.
fn image_state(stores: &Stores, name: &str) -> Result<State, BuildError> {
    let rec = stores.images.resolve(name).map_err(|e| {
        if e.kind() == image::ErrorKind::NotFound {
            let familiar = image::Reference::parse(name)
                .map(|r| r.with_default_tag().familiar())
                .unwrap_or_else(|_| name.to_string());
            BuildError::not_found(format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': no image {familiar} in Wharf's image store and no registry to pull it from",
                familiar.split(':').next().unwrap_or(&familiar)
            ))
        } else {
            BuildError::invalid(format!("invalid reference format: {name}: {e}"))
        }
    })?;
    let bytes = stores
        .content
        .read(&rec.id)
        .map_err(|e| BuildError::internal(format!("image {}: {e}", rec.id)))?;
    State::from_bytes(bytes, rec.layers)
}

/// Makes sure the state's layers are unpacked; returns the top chain ID.
fn unpack(stores: &Stores, st: &State) -> Result<Option<String>, BuildError> {
    let diff_ids: Vec<&str> = st
        .config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| d.as_str())
        .collect();
    stores
        .layers
        .apply_stack(&diff_ids, |i| {
            stores.content.open_blob(&st.layers[i].digest)
        })
        .map_err(|e| match e {
            snapshot::StackError::Open(e) => BuildError::internal(format!("opening a layer: {e}")),
            snapshot::StackError::Layer(e) => {
                BuildError::internal(format!("unpacking a layer: {e}"))
            }
        })
}

/// A scratch snapshot on a state, removed when dropped.
struct Scratch {
    layers: LayerStore,
    key: String,
    merged: PathBuf,
}

impl Scratch {
    fn new(stores: &Stores, st: &State) -> Result<Scratch, BuildError> {
        let parent = unpack(stores, st)?;
        let key = format!("{SCRATCH_PREFIX}{}", random_hex());
        let merged = stores
            .layers
            .prepare(&key, parent.as_deref())
            .map_err(|e| BuildError::internal(format!("preparing a build snapshot: {e}")))?;
        Ok(Scratch {
            layers: stores.layers.clone(),
            key,
            merged,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = self.layers.remove(&self.key) {
            tracing::warn!("removing build snapshot {}: {e}", self.key);
        }
    }
}

fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Turns a snapshot's changes into a layer on top of `st`: the diff (mtimes clamped to the
/// epoch) goes into the content store and is unpacked as a layer. Returns the descriptor and
/// diff ID.
fn commit_layer(
    stores: &Stores,
    key: &str,
    st: &State,
    epoch: i64,
) -> Result<(Descriptor, Digest), BuildError> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        BuildError::internal(format!("committing the layer: {what}: {e}"))
    };
    // One pass: the diff streams at once into the content store and into the unpacked layer,
    // each on its own thread, with no temporary file between them.
    let (to_ingest, from_diff_a) =
        std::os::unix::net::UnixStream::pair().map_err(|e| err("pipe", &e))?;
    let (to_apply, from_diff_b) =
        std::os::unix::net::UnixStream::pair().map_err(|e| err("pipe", &e))?;
    let parent = st.chain();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let ingest = s.spawn(move || stores.content.ingest(from_diff_a, None, None));
        let parent = parent.as_deref();
        let apply = s.spawn(move || stores.layers.apply(parent, from_diff_b, None));
        let diffed = {
            let mut tee = Tee(
                std::io::BufWriter::with_capacity(1 << 20, to_ingest),
                std::io::BufWriter::with_capacity(1 << 20, to_apply),
            );
            let d = stores
                .layers
                .diff_clamped(key, &mut tee, Some(epoch))
                .map_err(|e| e.to_string());
            let flushed = tee.flush().map_err(|e| format!("flushing the diff: {e}"));
            // Dropping the tee closes both streams: the readers see the end.
            drop(tee);
            d.and_then(|d| flushed.map(|()| d))
        };
        let ingested = ingest
            .join()
            .map_err(|_| err("ingest", &"the thread panicked"))?;
        let applied = apply
            .join()
            .map_err(|_| err("unpack", &"the thread panicked"))?;
        // A consumer's own failure explains a broken stream better than the diff's.
        let (digest, size) = ingested.map_err(|e| err("ingest", &e))?;
        let layer = applied.map_err(|e| err("unpack", &e))?;
        let diff_id =
            Digest::parse(&diffed.map_err(|e| err("diff", &e))?).map_err(|e| err("digest", &e))?;
        if digest != diff_id || layer.diff_id != diff_id.as_str() {
            return Err(err(
                "verify",
                &format!(
                    "the diff hashed {diff_id}, the blob {digest}, the layer {}",
                    layer.diff_id
                ),
            ));
        }
        tracing::debug!(layer = %diff_id, size, elapsed = ?t0.elapsed(), "build layer committed");
        Ok((Descriptor::new(LAYER_MEDIA_TYPE, digest, size), diff_id))
    })
}

/// Writes everything to two writers.
struct Tee<A: Write, B: Write>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// The stage being built.
struct StageRun {
    index: usize,
    state: State,
    scope: Scope,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// Position of the next step in the stage (FROM is 1).
    pos: usize,
    /// Steps in the stage, FROM included.
    len: usize,
    /// The gc guard a step took before writing blobs, until its cache entry is written.
    held: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
}

fn shell_of(cfg: &ContainerConfig) -> Vec<String> {
    match &cfg.shell {
        Some(s) if !s.is_empty() => s.clone(),
        _ => vec!["/bin/sh".to_string(), "-c".to_string()],
    }
}

fn command_argv(cfg: &ContainerConfig, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = shell_of(cfg);
            v.push(s.clone());
            v
        }
    }
}

/// Go's `%q` of a string slice, which Docker's history lines use: `["a" "b"]`.
fn go_quoted(v: &[String]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", parts.join(" "))
}

fn nop(cfg: &ContainerConfig, text: &str) -> String {
    format!("{} #(nop)  {text}", shell_of(cfg).join(" "))
}

async fn run_stage<B: Backend>(sh: &Arc<Shared<B>>, s: usize) -> Result<State, BuildError> {
    let node = sh.graph.stages[s].clone();
    let stage = sh.df.stages[s].clone();
    let from_id = sh.ids[&(s, usize::MAX)];
    let base = match &node.base {
        Base::Scratch => None,
        Base::Stage(j) => Some(stage_result(sh, *j).await?),
        Base::Image(name) => {
            let stores = sh.stores.clone();
            let n = name.clone();
            let st = tokio::task::spawn_blocking(move || image_state(&stores, &n))
                .await
                .map_err(|e| BuildError::internal(e.to_string()))??;
            if let Some(p) = &stage.platform {
                let lookup = |k: &str| meta_value(&sh.df, &sh.opts, k);
                let wanted = dockerfile::expand_word(p, sh.df.escape, &lookup)
                    .map_err(|e| BuildError::invalid(e.message))?;
                if !wanted.is_empty() {
                    check_platform(&wanted, name, &st)?;
                }
            }
            Some(st)
        }
    };
    let len = stage.instructions.len() + 1;
    sh.emit(Event::Step {
        id: from_id,
        total: sh.total,
        label: format!("[{} 1/{len}]", node.label),
        text: stage.original.clone(),
    });
    let state = match base {
        Some(b) => b,
        None => State::new(
            ImageConfig {
                architecture: image::spec::Platform::host().architecture,
                os: "linux".to_string(),
                config: ContainerConfig {
                    env: Some(vec![DEFAULT_PATH.to_string()]),
                    ..Default::default()
                },
                ..Default::default()
            },
            Vec::new(),
        ),
    };
    let base_id = state.id.clone();
    // As BuildKit does, a base without PATH gets the default one.
    let state = if state
        .config
        .config
        .env
        .as_deref()
        .is_some_and(|e| env_get(e, "PATH").is_some())
    {
        state
    } else {
        let mut cfg = state.config.clone();
        cfg.config
            .env
            .get_or_insert_with(Vec::new)
            .insert(0, DEFAULT_PATH.to_string());
        State::new(cfg, state.layers.clone())
    };
    sh.info(from_id, format!(" ---> {}", short(&base_id)));
    sh.emit(Event::Done {
        id: from_id,
        cached: false,
        state: Some(state.id.clone()),
    });
    let mut run = StageRun {
        index: s,
        state,
        scope: Scope::default(),
        cmd_set: false,
        pos: 1,
        len,
        held: None,
    };
    // ONBUILD triggers of the base run first, then are cleared.
    let triggers = run.state.config.config.on_build.clone().unwrap_or_default();
    if !triggers.is_empty() {
        sh.info(
            from_id,
            format!("# Executing {} build trigger(s)", triggers.len()),
        );
        let mut cfg = run.state.config.clone();
        cfg.config.on_build = None;
        run.state = State::new(cfg, run.state.layers.clone());
        for t in &triggers {
            let ins = dockerfile::parse_trigger(t, sh.df.escape)
                .map_err(|e| BuildError::invalid(format!("ONBUILD trigger {t:?}: {e}")))?;
            step(sh, &mut run, &ins, from_id).await?;
        }
    }
    for (i, ins) in stage.instructions.iter().enumerate() {
        let id = sh.ids[&(s, i)];
        run.pos += 1;
        sh.emit(Event::Step {
            id,
            total: sh.total,
            label: format!("[{} {}/{}]", node.label, run.pos, run.len),
            text: ins.original.clone(),
        });
        step(sh, &mut run, ins, id).await.map_err(|e| {
            if e.kind == ErrorKind::StepFailed || e.message.contains("line ") {
                e
            } else {
                let msg = e.message.clone();
                BuildError {
                    message: format!(
                        "dockerfile line {}: {} {}: {msg}",
                        ins.line,
                        ins.kind.keyword(),
                        ins.original
                            .split_once(char::is_whitespace)
                            .map(|(_, r)| r.trim())
                            .unwrap_or("")
                    ),
                    ..e
                }
            }
        })?;
    }
    Ok(run.state)
}

fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

/// The lookup for expanding an instruction: ENV wins over ARG.
fn lookup_for<'a>(run: &'a StageRun) -> impl Fn(&str) -> Option<String> + 'a {
    move |k: &str| {
        let env = run.state.config.config.env.as_deref().unwrap_or(&[]);
        if let Some(v) = env_get(env, k) {
            return Some(v.to_string());
        }
        run.scope.args.get(k).cloned().flatten()
    }
}

/// One instruction: from the cache, or executed and cached.
async fn step<B: Backend>(
    sh: &Arc<Shared<B>>,
    run: &mut StageRun,
    ins: &Instruction,
    id: usize,
) -> Result<(), BuildError> {
    let escape = sh.df.escape;
    // ARG changes the scope only; it is not a step of its own in the image.
    if let Kind::Arg(decls) = &ins.kind {
        for d in decls {
            let value = match sh.opts.build_args.get(&d.name) {
                Some(Some(v)) => Some(v.clone()),
                _ => match &d.default {
                    Some(def) => Some(
                        dockerfile::expand_word(def, escape, &lookup_for(run))
                            .map_err(|e| BuildError::invalid(e.message))?,
                    ),
                    None => meta_value(&sh.df, &sh.opts, &d.name),
                },
            };
            if sh.opts.build_args.contains_key(&d.name) {
                sh.used_args
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(d.name.clone());
            }
            run.scope.args.insert(d.name.clone(), value);
        }
        sh.info(id, format!(" ---> {}", short(&run.state.id)));
        sh.emit(Event::Done {
            id,
            cached: false,
            state: Some(run.state.id.clone()),
        });
        return Ok(());
    }
    let kind = match &ins.kind {
        Kind::Run(_) | Kind::OnBuild(..) | Kind::Cmd(_) | Kind::Entrypoint(_) | Kind::Shell(_) => {
            ins.kind.clone()
        }
        k => k
            .expand(escape, &lookup_for(run))
            .map_err(|e| BuildError::invalid(e.message))?,
    };
    // The parts of the key besides the parent and the instruction.
    let mut extra = String::new();
    let mut copy_plan = None;
    let mut copy_source: Option<State> = None;
    match &kind {
        Kind::Run(r) => {
            // Build args in scope reach RUN's environment, so they are part of its key.
            for (k, v) in &run.scope.args {
                extra.push_str(&format!("arg {k}={v:?}\n"));
            }
            extra.push_str(&format!("network {}\n", run_network(sh, r)));
        }
        Kind::Copy(c) | Kind::Add(c) => {
            if let Some(from) = &c.from {
                let src = copy_from_state(sh, run.index, from).await?;
                extra.push_str(&format!("from {}\n", src.id));
                copy_source = Some(src);
            } else {
                let ctx = sh.ctx.clone();
                let req = copy_request_owned(&kind, c, &run.state.config.config, sh.explicit_epoch);
                let plan = tokio::task::spawn_blocking(move || {
                    let r = req.borrowed();
                    copy::plan(&Source::Context(&ctx), &r)
                })
                .await
                .map_err(|e| BuildError::internal(e.to_string()))?
                .map_err(|e| BuildError::invalid(e.to_string()))?;
                extra.push_str(&format!("content {}\n", plan.key));
                copy_plan = Some(plan);
            }
        }
        _ => {}
    }
    if let Some(e) = sh.explicit_epoch {
        extra.push_str(&format!("epoch {e}\n"));
    }
    let key = {
        let mut h = Sha256::new();
        h.update(b"wharf-build-v1\0");
        h.update(run.state.id.as_str().as_bytes());
        h.update(b"\0");
        h.update(format!("{kind:?}").as_bytes());
        h.update(b"\0");
        h.update(extra.as_bytes());
        hex::encode(h.finalize())
    };
    if !sh.opts.no_cache
        && let Some(entry) = sh.stores.cache.get(&key)
        && let Ok(bytes) = sh.stores.content.read(&entry.config)
        && entry
            .layers
            .iter()
            .all(|l| sh.stores.content.contains(&l.digest))
    {
        let st = State::from_bytes(bytes, entry.layers)?;
        take_cached(sh, run, &kind, id, st);
        return Ok(());
    }
    if !sh.opts.no_cache && !sh.cache_from.is_empty() {
        let by = match &kind {
            Kind::Run(r) => Some(run_created_by(&run.state.config.config, &run.scope, r)),
            Kind::Copy(c) | Kind::Add(c) if c.from.is_none() => copy_plan
                .as_ref()
                .map(|p| copy_created_by(&run.state.config.config, &kind, c, &p.key)),
            _ => None,
        };
        if let Some(by) = by
            && let Some((desc, diff_id, created)) =
                from_cache_images(&sh.cache_from, &run.state, &by)
        {
            let st = next_state(
                &run.state,
                run.state.config.config.clone(),
                Some((desc, diff_id)),
                by,
                created,
            );
            take_cached(sh, run, &kind, id, st);
            return Ok(());
        }
    }
    let parent_layers = run.state.layers.len();
    if !matches!(kind, Kind::Run(_)) {
        run.held = Some(sh.stores.gc_lock.clone().read_owned().await);
    }
    let new_state = execute(sh, run, &kind, id, copy_plan, copy_source).await;
    let new_state = match new_state {
        Ok(s) => s,
        Err(e) => {
            run.held = None;
            return Err(e);
        }
    };
    let size = if new_state.layers.len() > parent_layers {
        new_state.layers.last().map(|l| l.size).unwrap_or(0)
    } else {
        0
    };
    {
        let stores = sh.stores.clone();
        let st = new_state.clone();
        let entry = Entry {
            config: st.id.clone(),
            layers: st.layers.clone(),
            description: ins.original.clone(),
            size,
            created: Utc::now(),
        };
        tokio::task::spawn_blocking(move || {
            stores
                .content
                .ingest_bytes(&st.bytes)
                .map_err(|e| BuildError::internal(format!("storing a build state: {e}")))?;
            stores.cache.put(&key, &entry)
        })
        .await
        .map_err(|e| BuildError::internal(e.to_string()))??;
    }
    run.held = None;
    apply_scope_effects(run, &kind);
    run.state = new_state;
    sh.info(id, format!(" ---> {}", short(&run.state.id)));
    sh.counters.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
    sh.emit(Event::Done {
        id,
        cached: false,
        state: Some(run.state.id.clone()),
    });
    Ok(())
}

/// A step's result taken from a cache: the stage moves on to it and the hit is reported.
fn take_cached<B: Backend>(sh: &Shared<B>, run: &mut StageRun, kind: &Kind, id: usize, st: State) {
    apply_scope_effects(run, kind);
    run.state = st;
    sh.info(id, " ---> Using cache");
    sh.info(id, format!(" ---> {}", short(&run.state.id)));
    sh.counters.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
    sh.emit(Event::Done {
        id,
        cached: true,
        state: Some(run.state.id.clone()),
    });
}

/// Effects on the stage's bookkeeping that a cached step must have too.
fn apply_scope_effects(run: &mut StageRun, kind: &Kind) {
    if let Kind::Cmd(_) = kind {
        run.cmd_set = true;
    }
}

fn run_network<B: Backend>(sh: &Shared<B>, r: &Run) -> String {
    match r.network.as_deref() {
        Some("default") | None => {
            if sh.opts.network.is_empty() {
                "default".to_string()
            } else {
                sh.opts.network.clone()
            }
        }
        Some(n) => n.to_string(),
    }
}

/// The state a `--from` names: a stage (waited for) or an image.
async fn copy_from_state<B: Backend>(
    sh: &Arc<Shared<B>>,
    stage: usize,
    from: &str,
) -> Result<State, BuildError> {
    if let Some(j) = find_stage(&sh.df, from, stage) {
        return stage_result(sh, j).await;
    }
    let stores = sh.stores.clone();
    let name = from.to_string();
    tokio::task::spawn_blocking(move || image_state(&stores, &name))
        .await
        .map_err(|e| BuildError::internal(e.to_string()))?
}

/// A [`CopyRequest`] with owned fields, to move into a blocking task.
struct OwnedCopy {
    instruction: &'static str,
    sources: Vec<String>,
    heredocs: Vec<(String, Vec<u8>)>,
    dest: String,
    workdir: String,
    chown: Option<String>,
    chmod: Option<String>,
    is_add: bool,
    exclude: Vec<String>,
    parents: bool,
    epoch: Option<i64>,
}

impl OwnedCopy {
    fn borrowed(&self) -> CopyRequest<'_> {
        CopyRequest {
            instruction: self.instruction,
            sources: &self.sources,
            heredocs: &self.heredocs,
            dest: &self.dest,
            workdir: &self.workdir,
            chown: self.chown.as_deref(),
            chmod: self.chmod.as_deref(),
            is_add: self.is_add,
            exclude: &self.exclude,
            parents: self.parents,
            epoch: self.epoch,
        }
    }
}

fn copy_request_owned(
    kind: &Kind,
    c: &Copy,
    cfg: &ContainerConfig,
    epoch: Option<i64>,
) -> OwnedCopy {
    OwnedCopy {
        instruction: kind.keyword(),
        sources: c.sources.clone(),
        heredocs: c
            .heredocs
            .iter()
            .map(|h| (h.name.clone(), h.content.clone().into_bytes()))
            .collect(),
        dest: c.dest.clone(),
        workdir: cfg.working_dir.clone().unwrap_or_else(|| "/".to_string()),
        chown: c.chown.clone(),
        chmod: c.chmod.clone(),
        is_add: matches!(kind, Kind::Add(_)),
        exclude: c.exclude.clone(),
        parents: c.parents,
        epoch,
    }
}

/// A new state from the parent's config with `cfg` and one history line.
fn next_state(
    parent: &State,
    cfg: ContainerConfig,
    layer: Option<(Descriptor, Digest)>,
    created_by: String,
    created: String,
) -> State {
    let mut ic = parent.config.clone();
    ic.config = cfg;
    let mut layers = parent.layers.clone();
    let empty = layer.is_none();
    if let Some((desc, diff_id)) = layer {
        layers.push(desc);
        ic.rootfs.diff_ids.push(diff_id);
    }
    ic.history.push(History {
        created: Some(created.clone()),
        created_by: Some(created_by),
        empty_layer: empty.then_some(true),
        ..Default::default()
    });
    ic.created = Some(created);
    State::new(ic, layers)
}

fn parse_port(p: &str) -> Result<Vec<String>, BuildError> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(BuildError::invalid(format!("invalid proto: {proto}")));
    }
    let bad = || BuildError::invalid(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let v = ports.parse::<u16>().map_err(|_| bad())?;
            (v, v)
        }
    };
    if hi < lo {
        return Err(BuildError::invalid(format!(
            "invalid range specified for container port: {ports}"
        )));
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

fn valid_signal(s: &str) -> bool {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
        "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP",
        "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if NAMES.contains(&name) {
        return true;
    }
    name.strip_prefix("RTMIN+")
        .or_else(|| name.strip_prefix("RTMAX-"))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n <= 30)
        || name == "RTMIN"
        || name == "RTMAX"
}

/// Executes an instruction that missed the cache; returns the new state.
async fn execute<B: Backend>(
    sh: &Arc<Shared<B>>,
    run: &mut StageRun,
    kind: &Kind,
    id: usize,
    copy_plan: Option<copy::Plan>,
    copy_source: Option<State>,
) -> Result<State, BuildError> {
    let parent = run.state.clone();
    let mut cfg = parent.config.config.clone();
    let created = sh.created();
    let meta = |cfg: ContainerConfig, text: String| {
        let by = nop(&parent.config.config, &text);
        next_state(&parent, cfg, None, by, created.clone())
    };
    match kind {
        Kind::Env(pairs) => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            let mut text = "ENV".to_string();
            for (k, v) in pairs {
                if k.is_empty() {
                    return Err(BuildError::invalid("ENV names can not be blank"));
                }
                env_set(env, k, v);
                text.push_str(&format!(" {k}={v}"));
            }
            Ok(meta(cfg, text))
        }
        Kind::Label(pairs) => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            let mut text = "LABEL".to_string();
            for (k, v) in pairs {
                if k.is_empty() {
                    return Err(BuildError::invalid("LABEL names can not be blank"));
                }
                labels.insert(k.clone(), v.clone());
                text.push_str(&format!(" {k}={v}"));
            }
            Ok(meta(cfg, text))
        }
        Kind::Maintainer(m) => {
            let mut st = meta(cfg, format!("MAINTAINER {m}"));
            let mut ic = st.config.clone();
            ic.author = Some(m.clone());
            st = State::new(ic, st.layers);
            Ok(st)
        }
        Kind::Expose(ports) => {
            let mut all = Vec::new();
            for p in ports {
                for w in p.split_whitespace() {
                    all.extend(parse_port(w)?);
                }
            }
            let exposed = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in &all {
                exposed.insert(p.clone(), EmptyObject);
            }
            let text = format!(
                "EXPOSE map[{}]",
                all.iter()
                    .map(|p| format!("{p}:{{}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            Ok(meta(cfg, text))
        }
        Kind::User(u) => {
            cfg.user = Some(u.clone());
            Ok(meta(cfg, format!("USER {u}")))
        }
        Kind::Volume(vols) => {
            let v = cfg.volumes.get_or_insert_with(BTreeMap::new);
            for p in vols {
                if p.trim().is_empty() {
                    return Err(BuildError::invalid(
                        "VOLUME specified can not be an empty string",
                    ));
                }
                v.insert(p.clone(), EmptyObject);
            }
            Ok(meta(cfg, format!("VOLUME {}", go_quoted(vols))))
        }
        Kind::StopSignal(sig) => {
            if !valid_signal(sig) {
                return Err(BuildError::invalid(format!("Invalid signal: {sig}")));
            }
            cfg.stop_signal = Some(sig.clone());
            Ok(meta(cfg, format!("STOPSIGNAL {sig}")))
        }
        Kind::Shell(v) => {
            cfg.shell = Some(v.clone());
            Ok(meta(cfg, format!("SHELL {}", go_quoted(v))))
        }
        Kind::Cmd(c) => {
            let argv = command_argv(&parent.config.config, c);
            cfg.cmd = Some(argv.clone());
            Ok(meta(cfg, format!("CMD {}", go_quoted(&argv))))
        }
        Kind::Entrypoint(c) => {
            let argv = command_argv(&parent.config.config, c);
            cfg.entrypoint = Some(argv.clone());
            if !run.cmd_set {
                cfg.cmd = None;
            }
            Ok(meta(cfg, format!("ENTRYPOINT {}", go_quoted(&argv))))
        }
        Kind::Healthcheck(h) => {
            let text;
            cfg.healthcheck = Some(match h {
                Healthcheck::None => {
                    text = "HEALTHCHECK NONE".to_string();
                    HealthConfig {
                        test: Some(vec!["NONE".to_string()]),
                        ..Default::default()
                    }
                }
                Healthcheck::Cmd {
                    test,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => {
                    let nz = |v: i64| (v != 0).then_some(v);
                    text = format!(
                        "HEALTHCHECK &{{{} {interval} {timeout} {start_period} {start_interval} {retries}}}",
                        go_quoted(test)
                    );
                    HealthConfig {
                        test: Some(test.clone()),
                        interval: nz(*interval),
                        timeout: nz(*timeout),
                        start_period: nz(*start_period),
                        start_interval: nz(*start_interval),
                        retries: nz(*retries),
                    }
                }
            });
            Ok(meta(cfg, text))
        }
        Kind::OnBuild(text, _) => {
            cfg.on_build.get_or_insert_with(Vec::new).push(text.clone());
            Ok(meta(cfg, format!("ONBUILD {text}")))
        }
        Kind::Workdir(w) => {
            let current = cfg.working_dir.clone().unwrap_or_else(|| "/".to_string());
            let joined = if w.starts_with('/') {
                w.clone()
            } else {
                format!("{}/{w}", current.trim_end_matches('/'))
            };
            let path = crate::ignore::clean_path(&joined);
            cfg.working_dir = Some(path.clone());
            let stores = sh.stores.clone();
            let st = parent.clone();
            let epoch = sh.epoch;
            let user = cfg.user.clone().unwrap_or_default();
            let p = path.clone();
            // The directory is created (owned by USER, as BuildKit does) when it is missing.
            let layer = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
                let scratch = Scratch::new(&stores, &st)?;
                let host = snapshot::resolve_in_root(&scratch.merged, &p)
                    .map_err(|e| BuildError::invalid(format!("WORKDIR {p}: {e}")))?;
                if host.is_dir() {
                    return Ok(None);
                }
                if host.exists() {
                    return Err(BuildError::invalid(format!(
                        "WORKDIR {p}: it exists and is not a directory"
                    )));
                }
                mkdir_owned(&scratch.merged, &p, &user)?;
                Ok(Some(commit_layer(&stores, &scratch.key, &st, epoch)?))
            })
            .await
            .map_err(|e| BuildError::internal(e.to_string()))??;
            let by = nop(&parent.config.config, &format!("WORKDIR {path}"));
            Ok(next_state(&parent, cfg, layer, by, created))
        }
        Kind::Copy(c) | Kind::Add(c) => {
            let req = copy_request_owned(kind, c, &cfg, Some(sh.epoch));
            let stores = sh.stores.clone();
            let st = parent.clone();
            let ctx = sh.ctx.clone();
            let epoch = sh.epoch;
            let (layer, key) = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
                let r = req.borrowed();
                let scratch = Scratch::new(&stores, &st)?;
                let key = match copy_source {
                    Some(src_state) => {
                        let src = Scratch::new(&stores, &src_state)?;
                        let source = Source::Rootfs(&src.merged);
                        let plan = copy::plan(&source, &r)
                            .map_err(|e| BuildError::invalid(e.to_string()))?;
                        copy::apply(&plan, &source, &scratch.merged, &r)
                            .map_err(|e| BuildError::invalid(e.to_string()))?;
                        plan.key.clone()
                    }
                    None => {
                        let source = Source::Context(&ctx);
                        let plan = match copy_plan {
                            Some(p) => p,
                            None => copy::plan(&source, &r)
                                .map_err(|e| BuildError::invalid(e.to_string()))?,
                        };
                        copy::apply(&plan, &source, &scratch.merged, &r)
                            .map_err(|e| BuildError::invalid(e.to_string()))?;
                        plan.key.clone()
                    }
                };
                Ok((commit_layer(&stores, &scratch.key, &st, epoch)?, key))
            })
            .await
            .map_err(|e| BuildError::internal(e.to_string()))??;
            let by = copy_created_by(&parent.config.config, kind, c, &key);
            Ok(next_state(&parent, cfg, Some(layer), by, created))
        }
        Kind::Run(r) => run_step(sh, run, r, id, cfg, created).await,
        Kind::Arg(_) => Ok(parent),
    }
}

/// `mkdir -p` inside a root, the new directories owned by `user` (resolved in the root's
/// passwd/group files; root when empty or unknown as a name Docker would also refuse later).
fn mkdir_owned(root: &Path, path: &str, user: &str) -> Result<(), BuildError> {
    let (uid, gid) = resolve_user(root, user);
    let mut cur = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(comp);
        let host = snapshot::resolve_in_root(root, &cur)
            .map_err(|e| BuildError::invalid(format!("WORKDIR {path}: {e}")))?;
        if host.is_dir() {
            continue;
        }
        std::fs::create_dir(&host)
            .map_err(|e| BuildError::invalid(format!("WORKDIR {path}: creating {cur}: {e}")))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755));
        let _ = std::os::unix::fs::lchown(&host, Some(uid), Some(gid));
    }
    Ok(())
}

/// `user[:group]` as uid and gid, by the root's `/etc/passwd` and `/etc/group` (a user
/// without a group gets its primary group; an unknown name is root, as for dockerd's working
/// directory).
fn resolve_user(root: &Path, user: &str) -> (u32, u32) {
    if user.is_empty() {
        return (0, 0);
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid = crate::copy::lookup_id(root, "/etc/passwd", u, 2, "user").unwrap_or(0);
    let gid = match g {
        Some(g) => crate::copy::lookup_id(root, "/etc/group", g, 2, "group").unwrap_or(0),
        None => crate::copy::lookup_id(root, "/etc/passwd", u, 3, "user").unwrap_or(0),
    };
    (uid, gid)
}

/// Parses a `RUN --mount` value into a mount, creating cache directories.
fn run_mount<B: Backend>(sh: &Shared<B>, spec: &str) -> Result<RunMount, BuildError> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut flags = Vec::new();
    for kv in spec.split(',') {
        match kv.split_once('=') {
            Some((k, v)) => {
                fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            None => flags.push(kv.trim().to_ascii_lowercase()),
        }
    }
    let kind = fields.get("type").map(String::as_str).unwrap_or("bind");
    let target = fields
        .get("target")
        .or_else(|| fields.get("dst"))
        .or_else(|| fields.get("destination"))
        .cloned()
        .ok_or_else(|| BuildError::invalid(format!("mount {spec:?}: target is required")))?;
    let readonly_flag = flags.iter().any(|f| f == "ro" || f == "readonly")
        || fields.get("ro").is_some_and(|v| v == "true")
        || fields.get("readonly").is_some_and(|v| v == "true");
    let rw = flags.iter().any(|f| f == "rw" || f == "readwrite")
        || fields.get("rw").is_some_and(|v| v == "true");
    match kind {
        "tmpfs" => Ok(RunMount {
            kind: "tmpfs",
            source: PathBuf::new(),
            target,
            readonly: false,
        }),
        "cache" => {
            let id = fields.get("id").cloned().unwrap_or_else(|| target.clone());
            let dir = sh
                .stores
                .root
                .join("mounts")
                .join(hex::encode(Sha256::digest(id.as_bytes())));
            std::fs::create_dir_all(&dir).map_err(|e| {
                BuildError::internal(format!("creating cache mount {}: {e}", dir.display()))
            })?;
            Ok(RunMount {
                kind: "bind",
                source: dir,
                target,
                readonly: readonly_flag,
            })
        }
        "bind" => {
            if mount_from(spec).is_some() {
                return Err(BuildError::invalid(format!(
                    "mount {spec:?}: binding from another stage or image is not supported by Wharf's builder; use COPY --from"
                )));
            }
            let source = fields.get("source").or_else(|| fields.get("src"));
            let rel = source.map(String::as_str).unwrap_or("");
            let host = snapshot::resolve_in_root(sh.ctx.root(), rel)
                .map_err(|e| BuildError::invalid(format!("mount {spec:?}: {e}")))?;
            if !host.exists() {
                return Err(BuildError::invalid(format!(
                    "mount {spec:?}: {rel}: not found in the build context"
                )));
            }
            Ok(RunMount {
                kind: "bind",
                source: host,
                target,
                readonly: !rw,
            })
        }
        "secret" | "ssh" => {
            if fields.get("required").is_some_and(|v| v == "true") {
                Err(BuildError::invalid(format!(
                    "mount {spec:?}: no {kind} was given to this build (the legacy build API has no way to pass one)"
                )))
            } else {
                Ok(RunMount {
                    kind: "tmpfs",
                    source: PathBuf::new(),
                    target: if target.is_empty() {
                        "/run/secrets".into()
                    } else {
                        target
                    },
                    readonly: true,
                })
            }
        }
        other => Err(BuildError::invalid(format!(
            "mount {spec:?}: unsupported mount type {other:?}"
        ))),
    }
}

async fn run_step<B: Backend>(
    sh: &Arc<Shared<B>>,
    run: &mut StageRun,
    r: &Run,
    id: usize,
    cfg: ContainerConfig,
    created: String,
) -> Result<State, BuildError> {
    let parent = run.state.clone();
    let argv = command_argv(&cfg, &r.command);
    let mut env = cfg.env.clone().unwrap_or_default();
    if env_get(&env, "PATH").is_none() {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    for (k, v) in &run.scope.args {
        if let Some(v) = v
            && env_get(cfg.env.as_deref().unwrap_or(&[]), k).is_none()
        {
            env.push(format!("{k}={v}"));
        }
    }
    let mut mounts = Vec::new();
    for m in &r.mounts {
        mounts.push(run_mount(sh, m)?);
    }
    {
        let stores = sh.stores.clone();
        let st = parent.clone();
        tokio::task::spawn_blocking(move || {
            stores
                .content
                .ingest_bytes(&st.bytes)
                .map_err(|e| BuildError::internal(format!("storing a build state: {e}")))?;
            unpack(&stores, &st)
        })
        .await
        .map_err(|e| BuildError::internal(e.to_string()))??;
    }
    let req = RunRequest {
        state: parent.clone(),
        cmd: argv.clone(),
        env,
        workdir: cfg.working_dir.clone().unwrap_or_default(),
        user: cfg.user.clone().unwrap_or_default(),
        network: run_network(sh, r),
        extra_hosts: sh.opts.extra_hosts.clone(),
        shm_size: sh.opts.shm_size,
        mounts,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let backend = sh.backend.clone();
    let task = tokio::spawn(async move { backend.run(req, tx).await });
    let mut container = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            RunEvent::Created(c) => {
                sh.info(id, format!(" ---> Running in {}", &c[..12.min(c.len())]));
                container = Some(c);
            }
            RunEvent::Output(_, data) => sh.emit(Event::Output { id, data }),
        }
    }
    let outcome = task
        .await
        .map_err(|e| BuildError::internal(format!("RUN: {e}")))?;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            if let Some(c) = container {
                sh.backend.remove(c).await;
            }
            return Err(e);
        }
    };
    let cid = outcome.container.clone();
    let cleanup = |sh: Arc<Shared<B>>, cid: String| async move {
        sh.backend.remove(cid.clone()).await;
        sh.info(
            id,
            format!(
                " ---> Removed intermediate container {}",
                &cid[..12.min(cid.len())]
            ),
        );
    };
    if outcome.exit_code != 0 {
        cleanup(sh.clone(), cid).await;
        let shown = match &r.command {
            Command::Shell(_) => argv.join(" "),
            Command::Exec(v) => go_quoted(v),
        };
        return Err(BuildError {
            kind: ErrorKind::StepFailed,
            message: format!(
                "The command '{shown}' returned a non-zero code: {}",
                outcome.exit_code
            ),
            code: Some(outcome.exit_code),
        });
    }
    run.held = Some(sh.stores.gc_lock.clone().read_owned().await);
    let stores = sh.stores.clone();
    let st = parent.clone();
    let epoch = sh.epoch;
    let key = cid.clone();
    let layer = tokio::task::spawn_blocking(move || commit_layer(&stores, &key, &st, epoch))
        .await
        .map_err(|e| BuildError::internal(e.to_string()));
    cleanup(sh.clone(), cid).await;
    let layer = layer??;
    let by = run_created_by(&cfg, &run.scope, r);
    Ok(next_state(&parent, cfg, Some(layer), by, created))
}

/// The history line of a COPY/ADD, as the legacy builder writes it:
/// `/bin/sh -c #(nop) COPY file:<content key> in /dest `.
fn copy_created_by(cfg: &ContainerConfig, kind: &Kind, c: &Copy, key: &str) -> String {
    let what = if c.sources.len() + c.heredocs.len() > 1 {
        "multi"
    } else if c.sources.first().is_some_and(|s| s.ends_with('/')) {
        "dir"
    } else {
        "file"
    };
    format!(
        "{} #(nop) {} {what}:{key} in {} ",
        shell_of(cfg).join(" "),
        kind.keyword(),
        c.dest
    )
}

/// The history line of a RUN: the build args in scope (`|2 A=1 B=2 `) and the command.
fn run_created_by(cfg: &ContainerConfig, scope: &Scope, r: &Run) -> String {
    let args: Vec<String> = scope
        .args
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let mut by = String::new();
    if !args.is_empty() {
        by.push_str(&format!("|{} {} ", args.len(), args.join(" ")));
    }
    by.push_str(&match &r.command {
        Command::Shell(_) => command_argv(cfg, &r.command).join(" "),
        Command::Exec(v) => go_quoted(v),
    });
    by
}

/// A step's result from a `--cache-from` image, as the legacy builder finds one: an image
/// whose history and layers begin exactly as the parent state's, and whose next history line
/// is the one this step writes, adding a layer. The step's config is computed here; the layer
/// (and its time) come from the image.
fn from_cache_images(
    images: &[State],
    parent: &State,
    created_by: &str,
) -> Option<(Descriptor, Digest, String)> {
    let h = parent.config.history.len();
    let n = parent.layers.len();
    images.iter().find_map(|img| {
        let hist = &img.config.history;
        let diffs = &img.config.rootfs.diff_ids;
        if hist.len() <= h || diffs.len() <= n || img.layers.len() != diffs.len() {
            return None;
        }
        let same_prefix = hist[..h].iter().zip(&parent.config.history).all(|(a, b)| {
            a.created_by == b.created_by
                && a.empty_layer.unwrap_or(false) == b.empty_layer.unwrap_or(false)
        }) && diffs[..n] == parent.config.rootfs.diff_ids[..];
        let next = &hist[h];
        (same_prefix
            && next.created_by.as_deref() == Some(created_by)
            && !next.empty_layer.unwrap_or(false))
        .then(|| {
            (
                img.layers[n].clone(),
                diffs[n].clone(),
                next.created.clone().unwrap_or_default(),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_signals_as_docker_parses_them() {
        assert_eq!(parse_port("80").expect("port"), vec!["80/tcp"]);
        assert_eq!(
            parse_port("8000-8002/udp").expect("range"),
            vec!["8000/udp", "8001/udp", "8002/udp"]
        );
        assert!(parse_port("http").is_err());
        assert!(parse_port("80/xyz").is_err());
        assert!(valid_signal("SIGTERM"));
        assert!(valid_signal("kill"));
        assert!(valid_signal("9"));
        assert!(valid_signal("SIGRTMIN+3"));
        assert!(!valid_signal("SIGFOO"));
    }

    #[test]
    fn platform_args_are_this_machines() {
        let host = image::spec::Platform::host();
        assert_eq!(platform_arg("TARGETARCH"), Some(host.architecture.clone()));
        assert_eq!(platform_arg("BUILDOS"), Some("linux".to_string()));
        assert!(
            platform_arg("TARGETPLATFORM")
                .is_some_and(|p| p.starts_with(&format!("linux/{}", host.architecture)))
        );
        assert_eq!(platform_arg("TARGETFOO"), None);
        assert_eq!(platform_arg("PATH"), None);
        let st = State::new(
            ImageConfig {
                os: "linux".into(),
                architecture: host.architecture.clone(),
                ..Default::default()
            },
            Vec::new(),
        );
        assert!(check_platform(&format!("linux/{}", host.architecture), "x", &st).is_ok());
        let e = check_platform("linux/s390x", "x", &st).expect_err("mismatch");
        assert!(
            e.message
                .contains("does not match the specified platform (linux/s390x)")
        );
    }

    #[test]
    fn env_replaces_in_place_and_paths_clean() {
        let mut env = vec!["A=1".to_string(), "B=2".to_string()];
        env_set(&mut env, "A", "3");
        env_set(&mut env, "C", "4");
        assert_eq!(env, vec!["A=3", "B=2", "C=4"]);
        assert_eq!(env_get(&env, "B"), Some("2"));
        assert_eq!(
            go_quoted(&["cat".into(), "/a b".into()]),
            r#"["cat" "/a b"]"#
        );
    }

    #[test]
    fn users_resolve_against_the_root() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("etc")).expect("etc");
        std::fs::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(tmp.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").expect("group");
        assert_eq!(resolve_user(tmp.path(), "app"), (1000, 1001));
        assert_eq!(resolve_user(tmp.path(), "app:staff"), (1000, 50));
        assert_eq!(resolve_user(tmp.path(), "1000"), (1000, 1001));
        assert_eq!(resolve_user(tmp.path(), "7:8"), (7, 8));
        assert_eq!(resolve_user(tmp.path(), ""), (0, 0));
    }
}
