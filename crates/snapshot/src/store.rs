//! The layer store: unpacked layers keyed by chain ID, and container snapshots on top.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::extract::{Extractor, Mode};
use crate::stream::{HashingWriter, open_tar_stream};
use crate::sys;
use crate::tree::{TreeMode, TreeWriter};

/// The OCI chain ID of a layer: `ChainID(L0) = DiffID(L0)`,
/// `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => {
            let mut h = Sha256::new();
            h.update(p.as_bytes());
            h.update(b" ");
            h.update(diff_id.as_bytes());
            format!("sha256:{}", hex::encode(h.finalize()))
        }
    }
}

/// Why [`LayerStore::apply_stack`] failed: a layer's tar could not be opened, or unpacking
/// it failed.
#[derive(Debug)]
pub enum StackError<E> {
    /// The caller's `open` failed.
    Open(E),
    /// Unpacking failed.
    Layer(Error),
}

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// `sha256:<hex>` chain ID: this layer and all below it.
    pub chain_id: String,
    /// `sha256:<hex>` of this layer's uncompressed tar.
    pub diff_id: String,
    /// The chain ID of the layer below, if any.
    pub parent: Option<String>,
    /// Bytes of file content unpacked.
    pub size: u64,
}

/// One container snapshot (a writable layer on top of a layer chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The key it was prepared with (the container ID).
    pub key: String,
    /// The chain ID of the topmost read-only layer, if any.
    pub parent: Option<String>,
}

/// What `docker diff` reports for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeKind {
    /// `C`: the path exists below and was changed (or a child of it was).
    Modified,
    /// `A`: the path is new.
    Added,
    /// `D`: the path was deleted.
    Deleted,
}

impl ChangeKind {
    /// The numeric kind of the Docker Engine API (`0` modified, `1` added, `2` deleted).
    pub fn api_kind(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

/// One changed path of a container snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// Absolute path inside the container (`/etc/hostname`).
    pub path: String,
}

/// Checks `sha256:<64 lowercase hex>` and returns the hex part.
fn digest_hex<'a>(what: &'static str, digest: &'a str) -> Result<&'a str> {
    let invalid = |reason| Error::InvalidArgument {
        what,
        value: digest.to_string(),
        reason,
    };
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| invalid("expected sha256:<64 hex digits>"))?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid("expected sha256:<64 hex digits>"));
    }
    Ok(hex)
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "snapshot key",
            value: key.to_string(),
            reason: "expected 1 to 128 of [A-Za-z0-9_.-], not starting with a dot",
        })
    }
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// Removes a directory tree when dropped, unless disarmed.
struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            if let Err(e) = std::fs::remove_dir_all(&p) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "removing temporary directory");
                }
            }
        }
    }
}

fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::io(format!("encoding {}", path.display()), io::Error::other(e)))?;
    std::fs::write(&tmp, data).ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("renaming {} into place", tmp.display()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<T> {
    let data = std::fs::read(path)?;
    serde_json::from_slice(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Serialises applies of one chain ID inside this process (so one unpack, not two).
    applying: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Serialises mount and unmount so one key is never mounted twice.
    mounting: Mutex<()>,
}

/// The overlayfs snapshotter: unpacked layers shared by every image that uses them, and the
/// writable snapshots of containers on top. Cheap to clone; all methods block (run them on a
/// blocking thread in async code).
///
/// Lifecycle of a container's filesystem: [`prepare`](Self::prepare) (create and mount) →
/// the container runs in [`merged`](Self::merged) → [`diff`](Self::diff) (commit) /
/// [`changes`](Self::changes) / [`export`](Self::export) → [`remove`](Self::remove).
#[derive(Debug, Clone)]
pub struct LayerStore {
    inner: Arc<Inner>,
}

impl LayerStore {
    /// Opens (creating as needed) a store at `root`. Call [`clean_tmp`](Self::clean_tmp) once
    /// when the daemon starts, before any apply, to drop what a crash left behind.
    pub fn open(root: &Path) -> Result<LayerStore> {
        std::fs::create_dir_all(root).ctx(|| format!("creating {}", root.display()))?;
        let root = root
            .canonicalize()
            .ctx(|| format!("resolving {}", root.display()))?;
        for sub in ["layers", "containers", "tmp", "empty"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
        }
        Ok(LayerStore {
            inner: Arc::new(Inner {
                root,
                applying: Mutex::new(HashMap::new()),
                mounting: Mutex::new(()),
            }),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Removes everything under `root/tmp` (unfinished applies and removals). Only call it
    /// when no apply runs, i.e. at daemon start.
    pub fn clean_tmp(&self) -> Result<()> {
        let tmp = self.inner.root.join("tmp");
        for entry in std::fs::read_dir(&tmp).ctx(|| format!("listing {}", tmp.display()))? {
            let path = entry.ctx(|| format!("listing {}", tmp.display()))?.path();
            let res = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            res.ctx(|| format!("removing {}", path.display()))?;
        }
        Ok(())
    }

    fn layer_path(&self, chain_id: &str) -> Result<PathBuf> {
        let hex = digest_hex("chain ID", chain_id)?;
        Ok(self.inner.root.join("layers").join(hex))
    }

    /// Whether a layer with this chain ID is stored.
    pub fn exists(&self, chain_id: &str) -> bool {
        self.layer_path(chain_id)
            .is_ok_and(|p| p.join("meta.json").is_file())
    }

    /// The stored layer with this chain ID.
    pub fn get(&self, chain_id: &str) -> Result<LayerInfo> {
        let meta = self.layer_path(chain_id)?.join("meta.json");
        match read_json(&meta) {
            Ok(info) => Ok(info),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::LayerNotFound(chain_id.to_string()))
            }
            Err(e) => Err(Error::io(format!("reading {}", meta.display()), e)),
        }
    }

    /// Every stored layer, in no particular order.
    pub fn list(&self) -> Result<Vec<LayerInfo>> {
        let dir = self.inner.root.join("layers");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).ctx(|| format!("listing {}", dir.display()))? {
            let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
            let meta = entry.path().join("meta.json");
            match read_json::<LayerInfo>(&meta) {
                Ok(info) => out.push(info),
                Err(e) => {
                    tracing::warn!(path = %meta.display(), error = %e, "skipping unreadable layer")
                }
            }
        }
        Ok(out)
    }

    /// The directory holding the layer's own files. An invalid chain ID yields a path that
    /// never exists.
    pub fn diff_dir(&self, chain_id: &str) -> PathBuf {
        match self.layer_path(chain_id) {
            Ok(p) => p.join("diff"),
            Err(_) => self.inner.root.join("layers").join(".invalid").join("diff"),
        }
    }

    /// The diff directories of the layer and all its parents, topmost first (overlay's
    /// `lowerdir` order).
    pub fn lowerdirs(&self, chain_id: &str) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut cur = Some(chain_id.to_string());
        while let Some(id) = cur {
            if out.len() > 1000 {
                return Err(Error::io(
                    format!("walking the parents of {chain_id}"),
                    io::Error::other("more than 1000 layers (a cycle?)"),
                ));
            }
            let info = self.get(&id)?;
            out.push(self.diff_dir(&id));
            cur = info.parent;
        }
        Ok(out)
    }

    /// Size in bytes of the layer's unpacked files.
    pub fn layer_size(&self, chain_id: &str) -> Result<u64> {
        Ok(self.get(chain_id)?.size)
    }

    fn apply_lock(&self, chain: &str) -> Arc<Mutex<()>> {
        let mut map = self
            .inner
            .applying
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(chain.to_string()).or_default().clone()
    }

    /// Unpacks a layer (plain, gzip or zstd tar, detected by magic bytes) on top of `parent`.
    ///
    /// With `expected_diff_id`, an already stored layer is returned without reading `layer`,
    /// and a stream that hashes differently is refused. The layer becomes visible only once
    /// fully unpacked and verified (one rename); on any error nothing is left behind.
    pub fn apply(
        &self,
        parent: Option<&str>,
        layer: impl Read,
        expected_diff_id: Option<&str>,
    ) -> Result<LayerInfo> {
        if let Some(p) = parent {
            digest_hex("parent chain ID", p)?;
            if !self.exists(p) {
                return Err(Error::LayerNotFound(p.to_string()));
            }
        }
        let lock;
        let _guard;
        if let Some(expected) = expected_diff_id {
            digest_hex("diff ID", expected)?;
            let chain = chain_id(parent, expected);
            lock = self.apply_lock(&chain);
            _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if self.exists(&chain) {
                return self.get(&chain);
            }
        }

        let tmp_path = self.inner.root.join("tmp").join(random_name("apply"));
        std::fs::create_dir(&tmp_path).ctx(|| format!("creating {}", tmp_path.display()))?;
        let mut tmp = TempDir {
            path: Some(tmp_path.clone()),
        };
        let diff = tmp_path.join("diff");
        std::fs::create_dir(&diff).ctx(|| format!("creating {}", diff.display()))?;
        let diff_fd = sys::open_dir(&diff).ctx(|| format!("opening {}", diff.display()))?;

        let (reader, errors) = open_tar_stream(layer, "layer")?;
        let mut archive = tar::Archive::new(reader);
        let mut extractor = Extractor::new(diff_fd.try_clone().ctx(|| "dup".into())?, Mode::Layer);
        extractor.unpack(&mut archive, &errors)?;
        let diff_id = archive
            .into_inner()
            .finish()
            .map_err(|e| errors.classify(e))?;
        if let Some(expected) = expected_diff_id {
            if expected != diff_id {
                return Err(Error::DiffIdMismatch {
                    expected: expected.to_string(),
                    actual: diff_id,
                });
            }
        }
        let chain = chain_id(parent, &diff_id);
        let info = LayerInfo {
            chain_id: chain.clone(),
            diff_id,
            parent: parent.map(str::to_string),
            size: extractor.size(),
        };
        if self.exists(&chain) {
            return self.get(&chain);
        }
        write_json_atomic(&tmp_path.join("meta.json"), &info)?;
        // Power loss must not leave a visible layer with missing content.
        sys::syncfs(diff_fd.as_fd()).ctx(|| format!("syncing {}", diff.display()))?;
        let dest = self.layer_path(&chain)?;
        match std::fs::rename(&tmp_path, &dest) {
            Ok(()) => {
                tmp.disarm();
                tracing::debug!(chain_id = %chain, size = info.size, "layer applied");
                Ok(info)
            }
            // Another apply of the same layer won the race: keep theirs.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => {
                drop(tmp);
                self.get(&chain)
            }
            Err(e) => Err(Error::io(
                format!("renaming {} to {}", tmp_path.display(), dest.display()),
                e,
            )),
        }
    }

    /// Makes sure every layer of a stack (diff IDs, base first) is unpacked, opening a
    /// layer's tar with `open(index)` only when it is missing; returns the top chain ID.
    pub fn apply_stack<R: Read, E>(
        &self,
        diff_ids: &[&str],
        mut open: impl FnMut(usize) -> std::result::Result<R, E>,
    ) -> std::result::Result<Option<String>, StackError<E>> {
        let mut parent: Option<String> = None;
        for (i, diff_id) in diff_ids.iter().enumerate() {
            let chain = chain_id(parent.as_deref(), diff_id);
            if !self.exists(&chain) {
                let reader = open(i).map_err(StackError::Open)?;
                self.apply(parent.as_deref(), reader, Some(diff_id))
                    .map_err(StackError::Layer)?;
            }
            parent = Some(chain);
        }
        Ok(parent)
    }

    fn children_of(&self, chain_id: &str, layers: &[LayerInfo]) -> Option<String> {
        layers
            .iter()
            .find(|l| l.parent.as_deref() == Some(chain_id))
            .map(|l| l.chain_id.clone())
    }

    fn ancestors(&self, chain_id: &str, parents: &HashMap<String, Option<String>>) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(chain_id.to_string());
        while let Some(id) = cur {
            if out.contains(&id) || out.len() > 1000 {
                break;
            }
            cur = parents.get(&id).cloned().flatten();
            out.push(id);
        }
        out
    }

    fn delete_layer_dir(&self, chain_id: &str) -> Result<()> {
        let dir = self.layer_path(chain_id)?;
        let trash = self.inner.root.join("tmp").join(random_name("rm"));
        // One rename makes the layer disappear at once; the files go afterwards.
        match std::fs::rename(&dir, &trash) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("removing {}", dir.display()), e)),
        }
        std::fs::remove_dir_all(&trash).ctx(|| format!("removing {}", trash.display()))
    }

    /// Removes a layer; refused with a `Conflict` while a child layer or a container
    /// snapshot is built on it.
    pub fn remove_layer(&self, chain_id: &str) -> Result<()> {
        digest_hex("chain ID", chain_id)?;
        if !self.exists(chain_id) {
            return Err(Error::LayerNotFound(chain_id.to_string()));
        }
        let layers = self.list()?;
        if let Some(child) = self.children_of(chain_id, &layers) {
            return Err(Error::LayerInUse {
                chain_id: chain_id.to_string(),
                user: format!("layer {child}"),
            });
        }
        let parents: HashMap<String, Option<String>> =
            layers.into_iter().map(|l| (l.chain_id, l.parent)).collect();
        for snap in self.snapshots()? {
            if let Some(p) = &snap.parent {
                if self.ancestors(p, &parents).iter().any(|a| a == chain_id) {
                    return Err(Error::LayerInUse {
                        chain_id: chain_id.to_string(),
                        user: format!("snapshot {}", snap.key),
                    });
                }
            }
        }
        self.delete_layer_dir(chain_id)
    }

    /// Removes every layer that is not in `keep`, not a parent of one in `keep`, and not
    /// under a container snapshot. Returns the removed chain IDs.
    pub fn gc(&self, keep: &HashSet<String>) -> Result<Vec<String>> {
        let layers = self.list()?;
        let parents: HashMap<String, Option<String>> = layers
            .iter()
            .map(|l| (l.chain_id.clone(), l.parent.clone()))
            .collect();
        let mut live = HashSet::new();
        let snapshot_parents: Vec<String> = self
            .snapshots()?
            .into_iter()
            .filter_map(|s| s.parent)
            .collect();
        for root in keep.iter().chain(snapshot_parents.iter()) {
            live.extend(self.ancestors(root, &parents));
        }
        let mut removed = Vec::new();
        for l in layers {
            if !live.contains(&l.chain_id) {
                self.delete_layer_dir(&l.chain_id)?;
                removed.push(l.chain_id);
            }
        }
        Ok(removed)
    }

    // ---- container snapshots ----

    fn snapshot_dir(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.inner.root.join("containers").join(key))
    }

    fn snapshot_path(&self, key: &str, sub: &str) -> PathBuf {
        match self.snapshot_dir(key) {
            Ok(d) => d.join(sub),
            Err(_) => self
                .inner
                .root
                .join("containers")
                .join(".invalid")
                .join(sub),
        }
    }

    /// Where the container's root filesystem is mounted. An invalid key yields a path that
    /// never exists.
    pub fn merged(&self, key: &str) -> PathBuf {
        self.snapshot_path(key, "merged")
    }

    /// The container's writable (upper) directory.
    pub fn upper(&self, key: &str) -> PathBuf {
        self.snapshot_path(key, "upper")
    }

    /// The snapshot prepared with `key`.
    pub fn snapshot(&self, key: &str) -> Result<SnapshotInfo> {
        let meta = self.snapshot_dir(key)?.join("snapshot.json");
        match read_json(&meta) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::SnapshotNotFound(key.to_string()))
            }
            Err(e) => Err(Error::io(format!("reading {}", meta.display()), e)),
        }
    }

    /// Every container snapshot.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let dir = self.inner.root.join("containers");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).ctx(|| format!("listing {}", dir.display()))? {
            let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
            let meta = entry.path().join("snapshot.json");
            match read_json::<SnapshotInfo>(&meta) {
                Ok(s) => out.push(s),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %meta.display(), error = %e, "skipping unreadable snapshot")
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Creates the container's writable layer on top of `parent` (or of nothing) and mounts
    /// it; returns the merged directory. Preparing an existing key with the same parent just
    /// makes sure it is mounted.
    pub fn prepare(&self, key: &str, parent: Option<&str>) -> Result<PathBuf> {
        let dir = self.snapshot_dir(key)?;
        if let Some(p) = parent {
            digest_hex("parent chain ID", p)?;
            if !self.exists(p) {
                return Err(Error::LayerNotFound(p.to_string()));
            }
        }
        match self.snapshot(key) {
            Ok(existing) => {
                if existing.parent.as_deref() != parent {
                    return Err(Error::SnapshotExists {
                        key: key.to_string(),
                        parent: existing.parent,
                    });
                }
            }
            Err(e) if e.kind() == crate::ErrorKind::NotFound => {
                for sub in ["upper", "work", "merged"] {
                    let p = dir.join(sub);
                    std::fs::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
                }
                write_json_atomic(
                    &dir.join("snapshot.json"),
                    &SnapshotInfo {
                        key: key.to_string(),
                        parent: parent.map(str::to_string),
                    },
                )?;
            }
            Err(e) => return Err(e),
        }
        self.mount(key)?;
        Ok(dir.join("merged"))
    }

    /// Mounts the snapshot's overlay at [`merged`](Self::merged); a no-op when it is
    /// already mounted (as after a daemon restart).
    pub fn mount(&self, key: &str) -> Result<()> {
        let info = self.snapshot(key)?;
        let dir = self.snapshot_dir(key)?;
        let merged = dir.join("merged");
        let _g = self
            .inner
            .mounting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if sys::is_mount_point(&merged).ctx(|| "reading /proc/self/mountinfo".into())? {
            return Ok(());
        }
        let lowers = match &info.parent {
            Some(p) => self.lowerdirs(p)?,
            None => vec![self.inner.root.join("empty")],
        };
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        for p in [&upper, &work, &merged] {
            std::fs::create_dir_all(p).ctx(|| format!("creating {}", p.display()))?;
        }
        sys::mount_overlay(&lowers, &upper, &work, &merged).ctx(|| {
            format!(
                "mounting the overlay of snapshot {key} at {}",
                merged.display()
            )
        })
    }

    /// Whether the snapshot's overlay is mounted.
    pub fn is_mounted(&self, key: &str) -> bool {
        self.snapshot_dir(key)
            .is_ok_and(|d| sys::is_mount_point(&d.join("merged")).unwrap_or(false))
    }

    /// Unmounts the snapshot's overlay (lazily when busy); a no-op when not mounted.
    pub fn unmount(&self, key: &str) -> Result<()> {
        let merged = self.snapshot_dir(key)?.join("merged");
        let _g = self
            .inner
            .mounting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for _ in 0..16 {
            if !sys::is_mount_point(&merged).ctx(|| "reading /proc/self/mountinfo".into())? {
                return Ok(());
            }
            match sys::umount2(&merged, 0) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    sys::umount2(&merged, libc::MNT_DETACH)
                        .ctx(|| format!("detaching {}", merged.display()))?;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(()),
                Err(e) => return Err(Error::io(format!("unmounting {}", merged.display()), e)),
            }
        }
        Err(Error::io(
            format!("unmounting {}", merged.display()),
            io::Error::other("still mounted after 16 unmounts"),
        ))
    }

    /// Unmounts and deletes the snapshot; tolerates a half-created or already removed one.
    pub fn remove(&self, key: &str) -> Result<()> {
        let dir = self.snapshot_dir(key)?;
        if !dir.exists() {
            return Ok(());
        }
        self.unmount(key)?;
        if sys::is_mount_point(&dir.join("merged")).unwrap_or(true) {
            return Err(Error::io(
                format!("removing snapshot {key}"),
                io::Error::other("its overlay is still mounted"),
            ));
        }
        let trash = self.inner.root.join("tmp").join(random_name("rm"));
        std::fs::rename(&dir, &trash).ctx(|| format!("removing {}", dir.display()))?;
        std::fs::remove_dir_all(&trash).ctx(|| format!("removing {}", trash.display()))
    }

    fn open_upper(&self, key: &str) -> Result<(SnapshotInfo, std::os::fd::OwnedFd)> {
        let info = self.snapshot(key)?;
        let upper = self.upper(key);
        let fd = sys::open_dir(&upper).ctx(|| format!("opening {}", upper.display()))?;
        Ok((info, fd))
    }

    /// Writes the snapshot's changes as an OCI layer tar (overlay whiteouts become `.wh.`
    /// entries, opaque directories get `.wh..wh..opq`), in a deterministic order, and returns
    /// its diff ID (sha256 of the tar written).
    pub fn diff(&self, key: &str, w: impl Write) -> Result<String> {
        self.diff_clamped(key, w, None)
    }

    /// [`diff`](Self::diff) with every modification time later than `epoch` written as
    /// `epoch`: the same changes then give the same layer whenever they were made.
    pub fn diff_clamped(&self, key: &str, w: impl Write, epoch: Option<i64>) -> Result<String> {
        let (_, upper) = self.open_upper(key)?;
        let mut tw = TreeWriter::new(HashingWriter::new(w), TreeMode::Diff).clamp_mtimes(epoch);
        tw.children(upper.as_fd(), b"")?;
        let mut hw = tw.finish()?;
        hw.flush().ctx(|| "flushing the diff".into())?;
        Ok(hw.digest())
    }

    /// Writes the container's whole filesystem (the merged view) as a tar, mounting it for
    /// the time of the export if it is not mounted.
    pub fn export(&self, key: &str, w: impl Write) -> Result<()> {
        self.snapshot(key)?;
        let was_mounted = self.is_mounted(key);
        if !was_mounted {
            self.mount(key)?;
        }
        let res = (|| {
            let merged = self.merged(key);
            let fd = sys::open_dir(&merged).ctx(|| format!("opening {}", merged.display()))?;
            let mut tw = TreeWriter::new(w, TreeMode::Plain);
            tw.children(fd.as_fd(), b"")?;
            let mut w = tw.finish()?;
            w.flush().ctx(|| "flushing the export".into())
        })();
        if !was_mounted {
            let unmounted = self.unmount(key);
            res?;
            unmounted
        } else {
            res
        }
    }

    /// Bytes used by the container's writable layer (file sizes, hard links counted once).
    pub fn usage(&self, key: &str) -> Result<u64> {
        let (_, upper) = self.open_upper(key)?;
        let mut seen = HashSet::new();
        crate::walk::usage(upper.as_fd(), &mut seen)
    }

    /// What `docker diff` shows: each path of the writable layer as added, modified or
    /// deleted, with the directories above a change reported as modified; sorted by path.
    pub fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let (info, upper) = self.open_upper(key)?;
        let lowers = match &info.parent {
            Some(p) => self.lowerdirs(p)?,
            None => Vec::new(),
        };
        let mut out = Vec::new();
        crate::walk::changes(upper.as_fd(), &lowers, &mut Vec::new(), false, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}
