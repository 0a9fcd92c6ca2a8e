//! The image store: which images exist, their tags and repo digests, and lookup as Docker does
//! (by name, full ID, or unique ID prefix).
//!
//! An image's ID is the digest of its config blob. All records live in one file,
//! `<root>/images.json`, rewritten whole on each change by write-temp, fsync, rename, fsync-dir,
//! so a crash leaves either the old or the new file, never a mix. Configs, manifests and layers
//! are blobs in the [`ContentStore`]; the record only names them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ErrorKind;
use crate::content::{ContentError, ContentStore, sync_dir};
use crate::digest::{Digest, is_hex64};
use crate::reference::{Reference, ReferenceError, looks_like_id_prefix};
use crate::spec::{
    Compression, Descriptor, ImageConfig, ImageManifest, MEDIA_TYPE_OCI_CONFIG, SpecError,
};

const METADATA_FILE: &str = "images.json";
const METADATA_TMP: &str = "images.json.tmp";
const METADATA_VERSION: u32 = 1;

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No image matches (Docker's wording).
    #[error("No such image: {0}")]
    NotFound(String),
    /// An ID prefix matches several images.
    #[error("ambiguous reference: {prefix} matches {count} images")]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },
    /// A malformed reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A malformed image config or manifest.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Arguments that contradict each other or the config.
    #[error("{0}")]
    Invalid(String),
    /// A blob the image needs is not in the content store.
    #[error("{what} {digest} is not in the content store")]
    MissingBlob {
        /// What the blob is (config, layer, manifest).
        what: &'static str,
        /// Its digest.
        digest: Digest,
    },
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The metadata file cannot be parsed.
    #[error("image metadata {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A file-system error.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// The class of this error, for mapping to API status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) | StoreError::Ambiguous { .. } => ErrorKind::NotFound,
            StoreError::Reference(_) | StoreError::Spec(_) | StoreError::Invalid(_) => {
                ErrorKind::InvalidArgument
            }
            StoreError::MissingBlob { .. } => ErrorKind::NotFound,
            StoreError::Content(e) => e.kind(),
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            StoreError::Io { .. } => ErrorKind::Io,
        }
    }
}

/// One image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image ID: the digest of the config blob.
    pub id: Digest,
    /// The manifest blob (original, or an OCI manifest synthesised at creation).
    pub manifest: Digest,
    /// The parsed config (read from the config blob; not stored in the metadata file).
    #[serde(skip)]
    pub config: ImageConfig,
    /// The manifest's layers, base first; their blobs are in the content store.
    pub layers: Vec<Descriptor>,
    /// Full normalised tags, e.g. `docker.io/library/busybox:latest`.
    pub repo_tags: Vec<String>,
    /// Full normalised repo digests, e.g. `docker.io/library/busybox@sha256:…`.
    pub repo_digests: Vec<String>,
    /// Creation time from the config, else the time the image was stored.
    pub created: DateTime<Utc>,
    /// Sum of the layers' uncompressed sizes.
    pub size: u64,
}

impl ImageRecord {
    /// The layers' diff IDs (digests of the uncompressed tars), from the config.
    pub fn diff_ids(&self) -> &[Digest] {
        &self.config.rootfs.diff_ids
    }

    /// Tags in Docker's short form (`busybox:latest`).
    pub fn familiar_tags(&self) -> Vec<String> {
        self.repo_tags
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .map(|r| r.familiar())
            .collect()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct MetadataFile {
    version: u32,
    images: Vec<ImageRecord>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    content: ContentStore,
    images: Mutex<BTreeMap<Digest, ImageRecord>>,
}

/// Images by ID, with tags. Cheap to clone; safe to share between threads.
#[derive(Debug, Clone)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl ImageStore {
    /// Opens (creating if needed) the store rooted at `root`, reading every record and its
    /// config blob. A record whose config blob is gone is dropped with a warning.
    pub fn open(root: &Path, content: ContentStore) -> Result<ImageStore, StoreError> {
        fs::create_dir_all(root).map_err(io_err("creating", root))?;
        let tmp = root.join(METADATA_TMP);
        if tmp.exists() {
            // A replacement that never got renamed: the real file is still intact.
            fs::remove_file(&tmp).map_err(io_err("removing", &tmp))?;
        }
        let path = root.join(METADATA_FILE);
        let mut images = BTreeMap::new();
        match fs::read(&path) {
            Ok(bytes) => {
                let file: MetadataFile =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                for mut rec in file.images {
                    match content.read(&rec.id) {
                        Ok(cfg) => match ImageConfig::parse(&cfg, rec.id.as_str()) {
                            Ok(c) => rec.config = c,
                            Err(e) => {
                                tracing::warn!(image = %rec.id, error = %e, "dropping image: config unreadable");
                                continue;
                            }
                        },
                        Err(e) => {
                            tracing::warn!(image = %rec.id, error = %e, "dropping image: config blob missing");
                            continue;
                        }
                    }
                    images.insert(rec.id.clone(), rec);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Io {
                    op: "reading",
                    path,
                    source: e,
                });
            }
        }
        Ok(ImageStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                content,
                images: Mutex::new(images),
            }),
        })
    }

    /// The content store this image store keeps its blobs in.
    pub fn content(&self) -> &ContentStore {
        &self.inner.content
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Digest, ImageRecord>> {
        self.inner.images.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an image from its config bytes and layers (blobs already in the content store),
    /// storing the config and a synthesised OCI manifest. `diff_ids` must equal the config's
    /// `rootfs.diff_ids`. Creating an existing image returns it unchanged.
    pub fn create(
        &self,
        config_bytes: &[u8],
        layers: Vec<Descriptor>,
        diff_ids: Vec<Digest>,
    ) -> Result<ImageRecord, StoreError> {
        let id = Digest::of(config_bytes);
        let config = ImageConfig::parse(config_bytes, &format!("image config {id}"))?;
        if layers.len() != diff_ids.len() {
            return Err(StoreError::Invalid(format!(
                "image {id}: {} layers but {} diff IDs",
                layers.len(),
                diff_ids.len()
            )));
        }
        if config.rootfs.diff_ids != diff_ids {
            return Err(StoreError::Invalid(format!(
                "image {id}: the diff IDs given do not match the config's rootfs.diff_ids"
            )));
        }
        let content = &self.inner.content;
        content.ingest_bytes(config_bytes)?;
        let config_desc =
            Descriptor::new(MEDIA_TYPE_OCI_CONFIG, id.clone(), config_bytes.len() as u64);
        let manifest = ImageManifest::oci(config_desc, layers);
        let manifest_digest = content.ingest_bytes(&manifest.to_bytes())?;
        self.insert(id, manifest_digest, config, manifest.layers)
    }

    /// Records an image from a manifest blob already in the content store (with its config and
    /// layers). Creating an existing image returns it unchanged.
    pub fn create_from_manifest(&self, manifest: &Digest) -> Result<ImageRecord, StoreError> {
        let content = &self.inner.content;
        let bytes = content
            .read(manifest)
            .map_err(|_| StoreError::MissingBlob {
                what: "manifest",
                digest: manifest.clone(),
            })?;
        let m = ImageManifest::parse(&bytes, &format!("manifest {manifest}"))?;
        let id = m.config.digest.clone();
        let cfg = content.read(&id).map_err(|_| StoreError::MissingBlob {
            what: "config",
            digest: id.clone(),
        })?;
        let config = ImageConfig::parse(&cfg, &format!("image config {id}"))?;
        if config.rootfs.diff_ids.len() != m.layers.len() {
            return Err(StoreError::Invalid(format!(
                "image {id}: manifest has {} layers but the config {} diff IDs",
                m.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        self.insert(id, manifest.clone(), config, m.layers)
    }

    fn insert(
        &self,
        id: Digest,
        manifest: Digest,
        config: ImageConfig,
        layers: Vec<Descriptor>,
    ) -> Result<ImageRecord, StoreError> {
        if let Some(existing) = self.lock().get(&id) {
            return Ok(existing.clone());
        }
        let mut size = 0;
        for l in &layers {
            size += self.uncompressed_size(l)?;
        }
        let rec = ImageRecord {
            created: config.created_time().unwrap_or_else(Utc::now),
            id: id.clone(),
            manifest,
            config,
            layers,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            size,
        };
        let mut images = self.lock();
        if let Some(existing) = images.get(&id) {
            return Ok(existing.clone());
        }
        images.insert(id.clone(), rec.clone());
        if let Err(e) = self.persist(&images) {
            images.remove(&id);
            return Err(e);
        }
        tracing::info!(image = %id, "image created");
        Ok(rec)
    }

    fn uncompressed_size(&self, layer: &Descriptor) -> Result<u64, StoreError> {
        let content = &self.inner.content;
        let actual = content.size(&layer.digest).map_err(|e| match e {
            ContentError::NotFound(d) => StoreError::MissingBlob {
                what: "layer",
                digest: d,
            },
            e => StoreError::Content(e),
        })?;
        if actual != layer.size {
            return Err(StoreError::Invalid(format!(
                "layer {}: descriptor says {} bytes, blob has {actual}",
                layer.digest, layer.size
            )));
        }
        if Compression::from_media_type(&layer.media_type) == Some(Compression::None) {
            return Ok(actual);
        }
        let path = content.path(&layer.digest);
        let f = content.open_blob(&layer.digest)?;
        let mut r = crate::archive::decompressed(f).map_err(io_err("decompressing", &path))?;
        io::copy(&mut r, &mut io::sink()).map_err(io_err("decompressing", &path))
    }

    /// The image with this ID.
    pub fn get(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Finds an image as Docker does: a name (`busybox`, `busybox:1`, normalised), a repo
    /// digest (`name@sha256:…`), a full ID (`sha256:<hex>` or `<hex>`) or a unique ID prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, StoreError> {
        let images = self.lock();
        let input = name_or_id;
        if let Some(hex) = input.strip_prefix("sha256:") {
            if is_hex64(hex) {
                let id = Digest::from_hex(hex).map_err(|e| StoreError::Invalid(e.to_string()))?;
                return images
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| StoreError::NotFound(input.into()));
            }
            return by_prefix(&images, input, hex);
        }
        if is_hex64(input) {
            let id = Digest::from_hex(input).map_err(|e| StoreError::Invalid(e.to_string()))?;
            let not_found = || StoreError::NotFound(format!("sha256:{input}"));
            return images.get(&id).cloned().ok_or_else(not_found);
        }
        let reference = Reference::parse(input)?.with_default_tag();
        if let Some(rec) = find_by_reference(&images, &reference) {
            return Ok(rec.clone());
        }
        if looks_like_id_prefix(input) {
            match by_prefix(&images, input, input) {
                Err(StoreError::NotFound(_)) => {}
                other => return other,
            }
        }
        Err(StoreError::NotFound(reference.familiar()))
    }

    /// Every image, newest first.
    pub fn list(&self) -> Vec<ImageRecord> {
        let mut v: Vec<ImageRecord> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// Points `reference` at image `id`, taking the tag away from any other image. A reference
    /// without tag or digest gets `latest`; a digest-only reference is recorded as a repo digest.
    pub fn tag(&self, id: &Digest, reference: &Reference) -> Result<(), StoreError> {
        if reference.tag().is_some() && reference.digest().is_some() {
            return Err(StoreError::Invalid(format!(
                "refusing to create a tag with a digest reference: {reference}"
            )));
        }
        let reference = reference.clone().with_default_tag();
        let s = reference.to_string();
        let is_digest = reference.digest().is_some();
        let mut images = self.lock();
        if !images.contains_key(id) {
            return Err(StoreError::NotFound(id.to_string()));
        }
        let before = images.clone();
        for (other, rec) in images.iter_mut() {
            let list = if is_digest {
                &mut rec.repo_digests
            } else {
                &mut rec.repo_tags
            };
            if other == id {
                if !list.contains(&s) {
                    list.push(s.clone());
                }
            } else {
                list.retain(|t| *t != s);
            }
        }
        if let Err(e) = self.persist(&images) {
            *images = before;
            return Err(e);
        }
        Ok(())
    }

    /// Removes a tag (or repo digest), returning the image it pointed to.
    pub fn untag(&self, reference: &Reference) -> Result<Digest, StoreError> {
        let reference = reference.clone().with_default_tag();
        let s = reference.to_string();
        let mut images = self.lock();
        let Some(id) = images
            .values()
            .find(|r| r.repo_tags.contains(&s) || r.repo_digests.contains(&s))
            .map(|r| r.id.clone())
        else {
            return Err(StoreError::NotFound(reference.familiar()));
        };
        let before = images.clone();
        if let Some(rec) = images.get_mut(&id) {
            rec.repo_tags.retain(|t| *t != s);
            rec.repo_digests.retain(|t| *t != s);
        }
        if let Err(e) = self.persist(&images) {
            *images = before;
            return Err(e);
        }
        Ok(id)
    }

    /// Forgets an image (its blobs stay until [`ContentStore::gc`]). Whether containers still
    /// use it is the caller's concern.
    pub fn delete(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        let mut images = self.lock();
        let Some(rec) = images.remove(id) else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        if let Err(e) = self.persist(&images) {
            images.insert(id.clone(), rec);
            return Err(e);
        }
        tracing::info!(image = %id, "image deleted");
        Ok(rec)
    }

    /// Every blob some image needs: configs, manifests and layers. Pass it to
    /// [`ContentStore::gc`].
    pub fn referenced_blobs(&self) -> HashSet<Digest> {
        let images = self.lock();
        let mut out = HashSet::new();
        for rec in images.values() {
            out.insert(rec.id.clone());
            out.insert(rec.manifest.clone());
            out.extend(rec.layers.iter().map(|l| l.digest.clone()));
        }
        out
    }

    /// Writes all records atomically: temp file, fsync, rename, fsync directory.
    fn persist(&self, images: &BTreeMap<Digest, ImageRecord>) -> Result<(), StoreError> {
        let file = MetadataFile {
            version: METADATA_VERSION,
            images: images.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|source| StoreError::Corrupt {
            path: self.inner.root.join(METADATA_FILE),
            source,
        })?;
        let tmp = self.inner.root.join(METADATA_TMP);
        let dest = self.inner.root.join(METADATA_FILE);
        let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        f.write_all(&bytes).map_err(io_err("writing", &tmp))?;
        f.sync_all().map_err(io_err("syncing", &tmp))?;
        drop(f);
        fs::rename(&tmp, &dest).map_err(io_err("replacing", &dest))?;
        sync_dir(&self.inner.root)?;
        Ok(())
    }
}

fn find_by_reference<'a>(
    images: &'a BTreeMap<Digest, ImageRecord>,
    reference: &Reference,
) -> Option<&'a ImageRecord> {
    let s = reference.to_string();
    if let Some(rec) = images
        .values()
        .find(|r| r.repo_tags.contains(&s) || r.repo_digests.contains(&s))
    {
        return Some(rec);
    }
    // `name@sha256:<manifest>` also finds an image of that repository by manifest digest, and
    // `name@sha256:<id>` by ID, as docker's containerd image service does.
    let digest = reference.digest()?;
    let repo = reference.name();
    images.values().find(|r| {
        (r.manifest == *digest || r.id == *digest)
            && r.repo_tags
                .iter()
                .chain(&r.repo_digests)
                .any(|t| Reference::parse(t).is_ok_and(|t| t.name() == repo))
    })
}

fn by_prefix(
    images: &BTreeMap<Digest, ImageRecord>,
    input: &str,
    hex_prefix: &str,
) -> Result<ImageRecord, StoreError> {
    if hex_prefix.is_empty() {
        return Err(StoreError::NotFound(input.to_string()));
    }
    let matches: Vec<&ImageRecord> = images
        .values()
        .filter(|r| r.id.hex().starts_with(hex_prefix))
        .collect();
    match matches.as_slice() {
        [] => Err(StoreError::NotFound(input.to_string())),
        [one] => Ok((*one).clone()),
        many => Err(StoreError::Ambiguous {
            prefix: input.to_string(),
            count: many.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::MEDIA_TYPE_OCI_LAYER;

    struct Fixture {
        dir: tempfile::TempDir,
        content: ContentStore,
        store: ImageStore,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let content = ContentStore::open(&dir.path().join("content")).expect("content");
        let store = ImageStore::open(&dir.path().join("image"), content.clone()).expect("store");
        Fixture {
            dir,
            content,
            store,
        }
    }

    /// An image with one (fake, uncompressed) layer; `seed` varies the config.
    fn make_image(f: &Fixture, seed: &str) -> ImageRecord {
        let layer = format!("layer bytes {seed}").into_bytes();
        let ld = f.content.ingest_bytes(&layer).expect("layer");
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","created":"2024-01-0{}T00:00:00Z","config":{{"Cmd":["sh"],"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":["{ld}"]}}}}"#,
            seed.len() % 9 + 1
        );
        let desc = Descriptor::new(MEDIA_TYPE_OCI_LAYER, ld.clone(), layer.len() as u64);
        f.store
            .create(config.as_bytes(), vec![desc], vec![ld])
            .expect("create")
    }

    fn reference(s: &str) -> Reference {
        Reference::parse(s).expect(s)
    }

    #[test]
    fn create_is_idempotent_and_stores_blobs() {
        let f = fixture();
        let a = make_image(&f, "a");
        let again = make_image(&f, "a");
        assert_eq!(a, again);
        assert_eq!(f.store.list().len(), 1);
        assert!(f.content.contains(&a.id) && f.content.contains(&a.manifest));
        assert_eq!(a.size, "layer bytes a".len() as u64);
        let m = ImageManifest::parse(&f.content.read(&a.manifest).expect("manifest"), "m")
            .expect("parse");
        assert_eq!(m.config.digest, a.id);
        let refs = f.store.referenced_blobs();
        assert!(
            refs.contains(&a.id)
                && refs.contains(&a.manifest)
                && refs.contains(&a.layers[0].digest)
        );
    }

    #[test]
    fn create_rejects_mismatched_diff_ids_and_missing_layers() {
        let f = fixture();
        let ld = Digest::of(b"never stored");
        let config = format!(
            r#"{{"os":"linux","architecture":"amd64","rootfs":{{"type":"layers","diff_ids":["{ld}"]}}}}"#
        );
        let desc = Descriptor::new(MEDIA_TYPE_OCI_LAYER, ld.clone(), 12);
        let e = f
            .store
            .create(config.as_bytes(), vec![desc.clone()], vec![])
            .expect_err("count");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = f
            .store
            .create(config.as_bytes(), vec![desc], vec![ld])
            .expect_err("missing");
        assert!(
            matches!(e, StoreError::MissingBlob { what: "layer", .. }),
            "{e}"
        );
        let e = f.store.create(b"{oops", vec![], vec![]).expect_err("json");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(f.store.list().is_empty());
    }

    #[test]
    fn resolve_by_name_id_and_prefix() {
        let f = fixture();
        let a = make_image(&f, "a");
        let b = make_image(&f, "bb");
        f.store.tag(&a.id, &reference("busybox")).expect("tag");
        f.store
            .tag(&b.id, &reference("localhost:5000/x/y:1"))
            .expect("tag");

        for name in [
            "busybox",
            "busybox:latest",
            "library/busybox",
            "docker.io/library/busybox:latest",
        ] {
            assert_eq!(f.store.resolve(name).expect(name).id, a.id, "{name}");
        }
        assert_eq!(f.store.resolve("localhost:5000/x/y:1").expect("y").id, b.id);
        assert_eq!(f.store.resolve(a.id.as_str()).expect("full").id, a.id);
        assert_eq!(f.store.resolve(a.id.hex()).expect("hex").id, a.id);
        assert_eq!(f.store.resolve(a.id.short()).expect("short").id, a.id);
        assert_eq!(
            f.store
                .resolve(&format!("sha256:{}", &a.id.hex()[..5]))
                .expect("sha prefix")
                .id,
            a.id
        );

        // The longest common prefix of the two IDs is ambiguous (possibly empty: then "no such").
        let common: String =
            a.id.hex()
                .chars()
                .zip(b.id.hex().chars())
                .take_while(|(x, y)| x == y)
                .map(|(x, _)| x)
                .collect();
        if !common.is_empty() {
            let e = f.store.resolve(&common).expect_err("ambiguous");
            assert!(matches!(e, StoreError::Ambiguous { count: 2, .. }), "{e}");
        }

        let e = f.store.resolve("nothere").expect_err("missing");
        assert_eq!(e.to_string(), "No such image: nothere:latest");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = f.store.resolve(&"f".repeat(64)).expect_err("missing id");
        assert_eq!(
            e.to_string(),
            format!("No such image: sha256:{}", "f".repeat(64))
        );
        let e = f.store.resolve("Bad:Name").expect_err("invalid");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn repo_digest_lookup() {
        let f = fixture();
        let a = make_image(&f, "a");
        f.store.tag(&a.id, &reference("busybox")).expect("tag");
        let by_manifest = format!("busybox@{}", a.manifest);
        assert_eq!(
            f.store.resolve(&by_manifest).expect("manifest digest").id,
            a.id
        );
        let e = f
            .store
            .resolve(&format!("other@{}", a.manifest))
            .expect_err("other repo");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let rd = reference("quay.io/x/y").with_digest(a.manifest.clone());
        f.store.tag(&a.id, &rd).expect("repo digest");
        assert_eq!(
            f.store.get(&a.id).expect("get").repo_digests,
            vec![rd.to_string()]
        );
        assert_eq!(f.store.resolve(&rd.to_string()).expect("rd").id, a.id);
        let both = Reference::parse(&format!("x:1@{}", a.manifest)).expect("ref");
        assert!(f.store.tag(&a.id, &both).is_err());
    }

    #[test]
    fn tag_moves_and_untag_and_delete() {
        let f = fixture();
        let a = make_image(&f, "a");
        let b = make_image(&f, "bb");
        f.store.tag(&a.id, &reference("app:v1")).expect("tag a");
        f.store.tag(&b.id, &reference("app:v1")).expect("move to b");
        assert!(f.store.get(&a.id).expect("a").repo_tags.is_empty());
        assert_eq!(
            f.store.get(&b.id).expect("b").repo_tags,
            vec!["docker.io/library/app:v1"]
        );
        assert_eq!(
            f.store.get(&b.id).expect("b").familiar_tags(),
            vec!["app:v1"]
        );
        // Tagging twice keeps one entry.
        f.store.tag(&b.id, &reference("app:v1")).expect("again");
        assert_eq!(f.store.get(&b.id).expect("b").repo_tags.len(), 1);
        assert_eq!(f.store.untag(&reference("app:v1")).expect("untag"), b.id);
        let e = f.store.untag(&reference("app:v1")).expect_err("gone");
        assert_eq!(e.to_string(), "No such image: app:v1");
        let e = f
            .store
            .tag(&Digest::of(b"nope"), &reference("x"))
            .expect_err("no image");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(f.store.delete(&a.id).expect("delete").id, a.id);
        assert!(f.store.delete(&a.id).is_err());
        assert_eq!(f.store.list().len(), 1);
        // GC after delete frees a's blobs only.
        let (n, _) = f.content.gc(&f.store.referenced_blobs()).expect("gc");
        assert_eq!(n, 3);
        assert!(f.content.contains(&b.id));
    }

    #[test]
    fn metadata_survives_reopen_and_ignores_half_written_temp() {
        let f = fixture();
        let a = make_image(&f, "a");
        f.store.tag(&a.id, &reference("busybox")).expect("tag");
        let root = f.dir.path().join("image");
        // A crash mid-write leaves only the temp file half written.
        fs::write(root.join(METADATA_TMP), b"{\"version\":1,\"ima").expect("tmp");
        let reopened = ImageStore::open(&root, f.content.clone()).expect("reopen");
        let rec = reopened.resolve("busybox").expect("resolve");
        assert_eq!(rec, f.store.get(&a.id).expect("get"));
        assert_eq!(rec.config.config.cmd, Some(vec!["sh".to_string()]));
        assert!(!root.join(METADATA_TMP).exists());
        // A corrupt metadata file is an error, not an empty store.
        fs::write(root.join(METADATA_FILE), b"garbage").expect("corrupt");
        let e = ImageStore::open(&root, f.content.clone()).expect_err("corrupt");
        assert_eq!(e.kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn concurrent_tagging_is_consistent() {
        let f = fixture();
        let ids: Vec<Digest> = ["a", "bb", "ccc", "dddd"]
            .iter()
            .map(|s| make_image(&f, s).id)
            .collect();
        let threads: Vec<_> = ids
            .iter()
            .cloned()
            .map(|id| {
                let store = f.store.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        store
                            .tag(&id, &reference(&format!("shared:{}", i % 3)))
                            .expect("tag");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        let all: Vec<String> = f
            .store
            .list()
            .into_iter()
            .flat_map(|r| r.repo_tags)
            .collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            all.len(),
            sorted.len(),
            "each tag on exactly one image: {all:?}"
        );
        assert_eq!(all.len(), 3);
        let reopened =
            ImageStore::open(&f.dir.path().join("image"), f.content.clone()).expect("reopen");
        assert_eq!(reopened.list(), f.store.list());
    }
}
