//! The engine: the stores, the table of containers, and what the daemon does at start.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::container::Container;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::exec::Exec;
use crate::volumes::Volumes;

/// Where the engine keeps things, as dockerd's flags name them.
#[derive(Debug, Clone)]
pub struct Options {
    /// Persistent state: images, layers, containers, volumes (`--data-root`).
    pub data_root: PathBuf,
    /// Run-time state: sockets, supervisors, the runtime's state (`--exec-root`).
    pub exec_root: PathBuf,
    /// The `wharf` executable the supervisors run as.
    pub wharf_exe: PathBuf,
    /// Bridges, address pools, the nftables table, resolvers.
    pub network: crate::network::Settings,
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    pub by_id: BTreeMap<String, Arc<Container>>,
    /// Name (with slash) → id.
    pub names: HashMap<String, String>,
}

/// The engine behind the Engine API.
#[derive(Debug)]
pub struct Engine {
    pub opts: Options,
    pub content: image::content::ContentStore,
    pub images: image::store::ImageStore,
    pub layers: snapshot::LayerStore,
    pub volumes: Volumes,
    pub networks: Arc<crate::network::Networks>,
    pub events: Events,
    pub(crate) table: Mutex<Table>,
    pub(crate) execs: Mutex<HashMap<String, Arc<Exec>>>,
    /// Serialises image writes (load, import, commit, tag, delete) against removal checks.
    pub(crate) image_lock: tokio::sync::Mutex<()>,
    /// The build cache (`<data-root>/builder/cache`).
    pub build_cache: build::cache::Cache,
    /// Builds hold it shared while they write blobs not yet in the cache; garbage collection
    /// holds it exclusively.
    pub(crate) gc_lock: Arc<tokio::sync::RwLock<()>>,
    pub started: chrono::DateTime<chrono::Utc>,
}

/// The image crate's errors, which all say what kind they are.
pub(crate) trait ImageErrorKind: std::fmt::Display {
    fn image_kind(&self) -> image::ErrorKind;
}

macro_rules! image_kinds {
    ($($t:ty),*) => {
        $(impl ImageErrorKind for $t {
            fn image_kind(&self) -> image::ErrorKind {
                self.kind()
            }
        })*
    };
}
image_kinds!(image::StoreError, image::ContentError, image::ArchiveError);

pub(crate) fn image_error(e: impl ImageErrorKind) -> Error {
    use image::ErrorKind as K;
    let kind = match e.image_kind() {
        K::NotFound => crate::error::Kind::NotFound,
        K::Conflict => crate::error::Kind::Conflict,
        K::InvalidArgument => crate::error::Kind::InvalidArgument,
        _ => crate::error::Kind::Internal,
    };
    Error::new(kind, e.to_string())
}

pub(crate) fn layer_error(e: snapshot::Error) -> Error {
    use snapshot::ErrorKind as K;
    let kind = match e.kind() {
        K::NotFound => crate::error::Kind::NotFound,
        K::Conflict => crate::error::Kind::Conflict,
        K::InvalidLayer | K::InvalidArgument => crate::error::Kind::InvalidArgument,
        _ => crate::error::Kind::Internal,
    };
    Error::new(kind, e.to_string())
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("worker failed: {e}")))?
}

impl Engine {
    /// Opens (creating) the stores and loads the containers on disk. Supervisors still alive
    /// are re-adopted by [`Engine::restore`].
    pub fn open(opts: Options) -> Result<Arc<Engine>> {
        for dir in [&opts.data_root, &opts.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("create {}: {e}", dir.display())))?;
        }
        let content = image::content::ContentStore::open(&opts.data_root.join("content"))
            .map_err(image_error)?;
        content.clean_ingest().map_err(image_error)?;
        let images = image::store::ImageStore::open(&opts.data_root.join("image"), content.clone())
            .map_err(image_error)?;
        let layers =
            snapshot::LayerStore::open(&opts.data_root.join("overlay")).map_err(layer_error)?;
        layers.clean_tmp().map_err(layer_error)?;
        let volumes = Volumes::open(opts.data_root.join("volumes"))?;
        let build_cache = build::cache::Cache::open(&opts.data_root.join("builder"))
            .map_err(|e| Error::internal(e.to_string()))?;
        // Contexts of builds a crash interrupted.
        let _ = remove_tree(&opts.data_root.join("builder").join("contexts"));
        let networks =
            crate::network::Networks::open(&opts.data_root, &opts.exec_root, opts.network.clone())?;
        let containers_dir = opts.data_root.join("containers");
        std::fs::create_dir_all(&containers_dir)?;
        std::fs::create_dir_all(opts.exec_root.join("containers"))?;
        let mut table = Table::default();
        for entry in std::fs::read_dir(&containers_dir)?.flatten() {
            let dir = entry.path();
            if !dir.join("config.v2.json").exists() {
                // A create that crashed before its record was written.
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            match Container::load(&dir) {
                Ok(c) => {
                    let name = c.with(|r| r.name.clone());
                    table.names.insert(name, c.id.clone());
                    table.by_id.insert(c.id.clone(), Arc::new(c));
                }
                Err(e) => tracing::warn!("skipping container in {}: {e}", dir.display()),
            }
        }
        Ok(Arc::new(Engine {
            opts,
            content,
            images,
            layers,
            volumes,
            networks,
            events: Events::default(),
            table: Mutex::new(table),
            execs: Mutex::new(HashMap::new()),
            image_lock: tokio::sync::Mutex::new(()),
            build_cache,
            gc_lock: Arc::new(tokio::sync::RwLock::new(())),
            started: chrono::Utc::now(),
        }))
    }

    pub(crate) fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.opts.exec_root.join("runtime")
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.opts.exec_root.join("containers").join(id)
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.opts.data_root.join("containers").join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// Finds a container by full id, name or unique id prefix, as dockerd does.
    pub fn container(&self, name_or_id: &str) -> Result<Arc<Container>> {
        let table = self.table();
        if name_or_id.is_empty() {
            return Err(Error::no_such_container(name_or_id));
        }
        if let Some(c) = table.by_id.get(name_or_id) {
            return Ok(c.clone());
        }
        let name = if name_or_id.starts_with('/') {
            name_or_id.to_string()
        } else {
            format!("/{name_or_id}")
        };
        if let Some(c) = table.names.get(&name).and_then(|id| table.by_id.get(id)) {
            return Ok(c.clone());
        }
        let mut matches = table
            .by_id
            .range(name_or_id.to_string()..)
            .take_while(|(id, _)| id.starts_with(name_or_id));
        match (matches.next(), matches.next()) {
            (Some((_, c)), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {name_or_id}"
            ))),
            _ => Err(Error::no_such_container(name_or_id)),
        }
    }

    pub fn containers(&self) -> Vec<Arc<Container>> {
        self.table().by_id.values().cloned().collect()
    }

    /// Attributes of container events: the image and name, and the labels.
    pub fn container_attributes(&self, c: &Container) -> BTreeMap<String, String> {
        c.with(|r| {
            let mut attrs = BTreeMap::new();
            if let Some(Value::Object(labels)) = r.config.get("Labels") {
                for (k, v) in labels {
                    attrs.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            attrs.insert(
                "image".into(),
                r.config["Image"].as_str().unwrap_or_default().to_string(),
            );
            attrs.insert("name".into(), r.bare_name().to_string());
            attrs
        })
    }

    pub fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs = self.container_attributes(c);
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    /// Volumes in use by any container, with the ids of their users.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers()
            .iter()
            .filter(|c| {
                c.with(|r| {
                    r.mounts
                        .iter()
                        .any(|m| m.kind == "volume" && m.name == name)
                })
            })
            .map(|c| c.id.clone())
            .collect()
    }
}

/// Unpacks the layers (blob, diff id; base first) not yet in the layer store, from the
/// content store; returns the top chain id (None for no layers). Blocking.
pub(crate) fn unpack_layers(
    content: &image::ContentStore,
    layers: &snapshot::LayerStore,
    stack: &[(image::Digest, image::Digest)],
) -> Result<Option<String>> {
    let diff_ids: Vec<&str> = stack.iter().map(|(_, d)| d.as_str()).collect();
    layers
        .apply_stack(&diff_ids, |i| content.open_blob(&stack[i].0))
        .map_err(|e| match e {
            snapshot::StackError::Open(e) => image_error(e),
            snapshot::StackError::Layer(e) => layer_error(e),
        })
}

/// The chain id of the top of a stack of layers with these diff ids.
pub(crate) fn top_chain(diff_ids: &[image::Digest]) -> Option<String> {
    diff_ids.iter().fold(None, |parent, d| {
        Some(snapshot::chain_id(parent.as_deref(), d.as_str()))
    })
}

/// The image's (blob, diff id) pairs, base first.
pub(crate) fn layer_stack(rec: &image::ImageRecord) -> Result<Vec<(image::Digest, image::Digest)>> {
    if rec.diff_ids().len() != rec.layers.len() {
        return Err(Error::internal(format!(
            "image {}: {} layers but {} diff ids",
            rec.id,
            rec.layers.len(),
            rec.diff_ids().len()
        )));
    }
    Ok(rec
        .layers
        .iter()
        .map(|d| d.digest.clone())
        .zip(rec.diff_ids().iter().cloned())
        .collect())
}

/// This machine's name.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Total memory in bytes (`MemTotal` of /proc/meminfo).
pub fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|kb| kb.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// 64 random hex digits, as Docker's ids.
pub fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let id = hex_encode(&bytes);
    // Docker avoids ids that are all digits (they would read as numbers).
    if id.bytes().all(|b| b.is_ascii_digit()) {
        return random_id();
    }
    id
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes a directory tree, treating "already gone" as done.
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
