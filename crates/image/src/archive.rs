//! Image archives: `docker save` / `docker load` tars (the legacy layout of docker ≤ 24 and the
//! OCI-layout-plus-`manifest.json` of docker ≥ 25), OCI image layout tars, and `docker import`
//! of a root file-system tar.
//!
//! [`load`] only puts blobs into the content store (under a [`Lease`] so garbage collection
//! leaves them alone) and describes the images it found; recording them is the caller's job,
//! after unpacking layers, so an interrupted load never leaves a partial image.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Cursor, Read, Write};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ErrorKind;
use crate::content::{ContentError, ContentStore, Lease};
use crate::digest::{Digest, digest_reader};
use crate::reference::Reference;
use crate::spec::{
    ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME, Compression, ContainerConfig,
    Descriptor, History, ImageConfig, ImageIndex, ImageManifest, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST, ManifestOrIndex, Platform, RootFs, format_time,
    host_arch, is_index_media_type, is_manifest_media_type, select_platform,
};
use crate::store::ImageRecord;

/// Files outside `blobs/` up to this size are kept in memory while reading an archive.
const SMALL_FILE_MAX: u64 = 16 << 20;
/// At most this much is kept in memory in total; further files go to the content store.
const SMALL_FILES_TOTAL_MAX: u64 = 128 << 20;
const OCI_LAYOUT_JSON: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Errors reading or writing archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is malformed; the message names what is wrong.
    #[error("invalid archive: {0}")]
    Invalid(String),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Stored content does not match what its record says (while saving).
    #[error("{0}")]
    Corrupt(String),
    /// Writing the output failed.
    #[error("writing archive: {0}")]
    Write(#[source] io::Error),
}

impl ArchiveError {
    /// The class of this error, for mapping to API status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ArchiveError::Invalid(_) => ErrorKind::InvalidArgument,
            ArchiveError::Content(e) => e.kind(),
            ArchiveError::Corrupt(_) => ErrorKind::Corrupt,
            ArchiveError::Write(_) => ErrorKind::Io,
        }
    }
}

fn invalid(msg: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(msg.into())
}

/// A reader yielding the uncompressed bytes of a plain, gzip or zstd stream, recognised by
/// its magic bytes.
pub struct Decompressor<R: Read> {
    inner: DecompressorInner<R>,
}

type Rejoined<R> = io::Chain<Cursor<Vec<u8>>, R>;

enum DecompressorInner<R: Read> {
    Plain(Rejoined<R>),
    Gzip(Box<flate2::read::MultiGzDecoder<Rejoined<R>>>),
    Zstd(zstd::stream::read::Decoder<'static, io::BufReader<Rejoined<R>>>),
}

impl<R: Read> std::fmt::Debug for Decompressor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("compression", &self.compression())
            .finish()
    }
}

impl<R: Read> Decompressor<R> {
    /// Reads the first bytes of `reader` to tell its compression.
    pub fn new(mut reader: R) -> io::Result<Self> {
        let mut head = [0u8; 4];
        let mut n = 0;
        while n < head.len() {
            match reader.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let whole = Cursor::new(head[..n].to_vec()).chain(reader);
        let inner = match Compression::detect(&head[..n]) {
            Compression::None => DecompressorInner::Plain(whole),
            Compression::Gzip => {
                DecompressorInner::Gzip(Box::new(flate2::read::MultiGzDecoder::new(whole)))
            }
            Compression::Zstd => DecompressorInner::Zstd(zstd::stream::read::Decoder::new(whole)?),
        };
        Ok(Decompressor { inner })
    }

    /// The compression found.
    pub fn compression(&self) -> Compression {
        match self.inner {
            DecompressorInner::Plain(_) => Compression::None,
            DecompressorInner::Gzip(_) => Compression::Gzip,
            DecompressorInner::Zstd(_) => Compression::Zstd,
        }
    }
}

impl<R: Read> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            DecompressorInner::Plain(r) => r.read(buf),
            DecompressorInner::Gzip(r) => r.read(buf),
            DecompressorInner::Zstd(r) => r.read(buf),
        }
    }
}

/// Wraps `reader` so it yields the uncompressed bytes: gzip and zstd are recognised by their
/// magic bytes, anything else passes through.
pub fn decompressed<'a>(reader: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(Box::new(Decompressor::new(reader)?))
}

/// The compression of a stored blob, judged by its first bytes.
fn blob_compression(content: &ContentStore, digest: &Digest) -> Result<Compression, ArchiveError> {
    let mut f = content.open_blob(digest)?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(invalid(format!("reading blob {digest}: {e}"))),
        }
    }
    Ok(Compression::detect(&head[..n]))
}

/// The digest and size of a stored blob's uncompressed bytes.
fn uncompressed_digest(content: &ContentStore, digest: &Digest) -> io::Result<(Digest, u64)> {
    let f = content.open_blob(digest).map_err(io::Error::other)?;
    digest_reader(decompressed(f)?)
}

/// One image found in an archive; its blobs are in the content store, protected from garbage
/// collection while `lease` (shared by all images of one load) is alive.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The image ID.
    pub config_digest: Digest,
    /// The config exactly as stored.
    pub config_bytes: Vec<u8>,
    /// The layer blobs (media type from the manifest, or from their magic bytes), base first.
    pub layers: Vec<Descriptor>,
    /// The config's diff IDs; each layer's uncompressed digest was checked against them.
    pub diff_ids: Vec<Digest>,
    /// Full normalised names (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<String>,
    /// The archive's manifest blob, when the archive had one (OCI layout, docker ≥ 25).
    pub manifest: Option<Digest>,
    /// Keeps this load's blobs from garbage collection until dropped.
    pub lease: Arc<Lease>,
}

/// A file of the archive: in memory (small metadata) or in the content store.
#[derive(Debug)]
enum Member {
    Small(Vec<u8>),
    Blob(Digest, u64),
}

/// What was read from the tar stream.
struct Members<'c> {
    content: &'c ContentStore,
    files: HashMap<String, Member>,
    links: HashMap<String, String>,
    lease: Lease,
    uncompressed: HashMap<Digest, Digest>,
}

impl Members<'_> {
    fn lookup(&self, path: &str) -> Option<&Member> {
        let mut p = path.to_string();
        for _ in 0..16 {
            if let Some(m) = self.files.get(&p) {
                return Some(m);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    fn exists(&self, path: &str) -> bool {
        self.lookup(path).is_some()
    }

    /// The bytes of a (small) file.
    fn bytes(&self, path: &str, what: &str) -> Result<Vec<u8>, ArchiveError> {
        match self.lookup(path) {
            Some(Member::Small(b)) => Ok(b.clone()),
            Some(Member::Blob(d, _)) => Ok(self.content.read(d)?),
            None => Err(invalid(format!("{what} {path} missing"))),
        }
    }

    /// The file as a blob in the content store (stored now if it was kept in memory).
    fn blob(&mut self, path: &str, what: &str) -> Result<(Digest, u64), ArchiveError> {
        let (d, n) = match self.lookup(path) {
            Some(Member::Blob(d, n)) => (d.clone(), *n),
            Some(Member::Small(b)) => {
                let b = b.clone();
                let d = Digest::of(&b);
                let n = Some(b.len() as u64);
                self.content
                    .ingest_leased(&b[..], Some(&d), n, &mut self.lease)?
            }
            None => return Err(invalid(format!("{what} {path} missing"))),
        };
        self.lease.add(&d);
        Ok((d, n))
    }

    /// A blob named `blobs/<alg>/<hex>` in an OCI layout, checked against its name and
    /// the descriptor's size.
    fn oci_blob(&mut self, desc: &Descriptor, what: &str) -> Result<Vec<u8>, ArchiveError> {
        let path = blob_path(&desc.digest);
        let (d, n) = self.blob(&path, what)?;
        self.check_blob(&path, &desc.digest, desc.size, &d, n)?;
        Ok(self.content.read(&d)?)
    }

    fn check_blob(
        &self,
        path: &str,
        want: &Digest,
        want_size: u64,
        got: &Digest,
        got_size: u64,
    ) -> Result<(), ArchiveError> {
        if want != got {
            return Err(invalid(format!(
                "{path}: content hashes to {got}, not {want}"
            )));
        }
        if want_size != got_size {
            return Err(invalid(format!(
                "{path}: {got_size} bytes, but its descriptor says {want_size}"
            )));
        }
        Ok(())
    }

    /// Checks that a layer blob's uncompressed content hashes to `diff_id`.
    fn verify_layer(
        &mut self,
        path: &str,
        blob: &Digest,
        diff_id: &Digest,
    ) -> Result<(), ArchiveError> {
        let actual = match self.uncompressed.get(blob) {
            Some(d) => d.clone(),
            // A plain tar is its own uncompressed content: no need to read it again.
            None if blob_compression(self.content, blob)? == Compression::None => blob.clone(),
            None => {
                let (d, _) = uncompressed_digest(self.content, blob).map_err(|e| {
                    invalid(format!("layer {path}: cannot read or decompress: {e}"))
                })?;
                self.uncompressed.insert(blob.clone(), d.clone());
                d
            }
        };
        if actual != *diff_id {
            return Err(invalid(format!(
                "layer {path}: uncompressed content hashes to {actual}, but the config's diff_id is {diff_id}"
            )));
        }
        Ok(())
    }
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

/// Normalises an entry name: relative, no `..`, no `.` or empty components.
fn clean_entry_path(raw: &str) -> Result<String, ArchiveError> {
    if raw.starts_with('/') {
        return Err(invalid(format!("entry {raw:?} has an absolute path")));
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(invalid(format!("entry {raw:?} escapes the archive ('..')"))),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a link target against the directory of `from` (symlinks) or the archive root
/// (hard links), refusing targets outside the archive.
fn resolve_link(
    from: &str,
    target: &str,
    relative_to_parent: bool,
) -> Result<String, ArchiveError> {
    if target.starts_with('/') {
        return Err(invalid(format!(
            "link {from:?} points to absolute path {target:?}"
        )));
    }
    let mut parts: Vec<&str> = if relative_to_parent {
        let mut p: Vec<&str> = from.split('/').collect();
        p.pop();
        p
    } else {
        Vec::new()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(invalid(format!(
                        "link {from:?} -> {target:?} escapes the archive"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Streams every entry of the tar into memory (small metadata) or the content store.
fn read_members<'c>(
    reader: impl Read,
    content: &'c ContentStore,
) -> Result<Members<'c>, ArchiveError> {
    let mut m = Members {
        content,
        files: HashMap::new(),
        links: HashMap::new(),
        lease: content.lease(),
        uncompressed: HashMap::new(),
    };
    let mut small_total = 0u64;
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            invalid(format!(
                "reading tar (truncated, or not a tar archive): {e}"
            ))
        })?;
        let raw = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|e| invalid(format!("entry name is not UTF-8: {:?}", e.as_bytes())))?;
        let path = clean_entry_path(&raw)?;
        let size = entry.size();
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Directory => {}
            T::Regular | T::Continuous => {
                if path.is_empty() {
                    return Err(invalid(format!("entry {raw:?} has no name")));
                }
                let in_memory = !path.starts_with("blobs/")
                    && !path.ends_with(".tar")
                    && size <= SMALL_FILE_MAX
                    && small_total + size <= SMALL_FILES_TOTAL_MAX;
                let member = if in_memory {
                    let mut buf = Vec::with_capacity(size as usize);
                    entry
                        .read_to_end(&mut buf)
                        .map_err(|e| invalid(format!("entry {path}: {e}")))?;
                    if buf.len() as u64 != size {
                        return Err(invalid(format!(
                            "entry {path}: truncated ({} of {size} bytes)",
                            buf.len()
                        )));
                    }
                    small_total += size;
                    Member::Small(buf)
                } else {
                    let (d, n) = content
                        .ingest_leased(&mut entry, None, Some(size), &mut m.lease)
                        .map_err(|e| match e {
                            ContentError::SizeMismatch { actual, .. } => invalid(format!(
                                "entry {path}: truncated ({actual} of {size} bytes)"
                            )),
                            ContentError::Source(e) => invalid(format!("entry {path}: {e}")),
                            e => ArchiveError::Content(e),
                        })?;
                    Member::Blob(d, n)
                };
                m.links.remove(&path);
                m.files.insert(path, member);
            }
            kind @ (T::Symlink | T::Link) => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| invalid(format!("link {path} has no target")))?;
                let resolved = resolve_link(&path, &target, kind == T::Symlink)?;
                m.files.remove(&path);
                m.links.insert(path, resolved);
            }
            // pax and GNU long-name headers are consumed by the tar crate itself.
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(invalid(format!(
                    "entry {path}: unsupported entry type {other:?}"
                )));
            }
        }
    }
    Ok(m)
}

/// One element of a docker-save `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
    #[serde(
        rename = "LayerSources",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    layer_sources: Option<BTreeMap<String, Descriptor>>,
}

/// Reads a `docker save` archive (either format) or an OCI image layout tar, putting every blob
/// into `content` and returning the images described. Nothing is recorded in an image store.
/// The archive itself may be gzip or zstd compressed, as `docker load` accepts.
pub fn load(reader: impl Read, content: &ContentStore) -> Result<Vec<LoadedImage>, ArchiveError> {
    let reader = Decompressor::new(reader).map_err(|e| invalid(format!("reading archive: {e}")))?;
    let mut m = read_members(reader, content)?;
    let images = if m.exists("manifest.json") {
        load_docker(&mut m)?
    } else if m.exists("index.json") {
        load_oci(&mut m)?
    } else {
        return Err(invalid(
            "neither manifest.json nor index.json found (not a docker save or OCI layout archive)",
        ));
    };
    if images.is_empty() {
        return Err(invalid("the archive describes no image"));
    }
    let lease = Arc::new(m.lease);
    Ok(images
        .into_iter()
        .map(|mut i| {
            i.lease = Arc::clone(&lease);
            i
        })
        .collect())
}

fn normalize_tag(tag: &str, source: &str) -> Result<String, ArchiveError> {
    let r = Reference::parse(tag).map_err(|e| invalid(format!("{source}: tag {tag:?}: {e}")))?;
    if r.digest().is_some() {
        return Err(invalid(format!("{source}: tag {tag:?} has a digest")));
    }
    Ok(r.with_default_tag().to_string())
}

fn parse_config(bytes: &[u8], path: &str) -> Result<ImageConfig, ArchiveError> {
    ImageConfig::parse(bytes, &format!("config {path}")).map_err(|e| invalid(e.to_string()))
}

fn load_docker(m: &mut Members<'_>) -> Result<Vec<LoadedImage>, ArchiveError> {
    let bytes = m.bytes("manifest.json", "manifest.json")?;
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("manifest.json: invalid JSON: {e}")))?;
    let mut out: Vec<LoadedImage> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let where_ = format!("manifest.json[{i}]");
        let config_path = clean_entry_path(&e.config)?;
        let config_bytes = m.bytes(&config_path, &format!("{where_}: config"))?;
        let config = parse_config(&config_bytes, &config_path)?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if e.layers.len() != diff_ids.len() {
            return Err(invalid(format!(
                "{where_}: {} layers listed but config {config_path} has {} diff_ids",
                e.layers.len(),
                diff_ids.len()
            )));
        }
        let (config_digest, _) = m.blob(&config_path, &format!("{where_}: config"))?;
        let mut layers = Vec::new();
        for (layer, diff_id) in e.layers.iter().zip(&diff_ids) {
            let path = clean_entry_path(layer)?;
            let (d, size) = m.blob(&path, &format!("{where_}: layer"))?;
            m.verify_layer(&path, &d, diff_id)?;
            let media_type = blob_compression(m.content, &d)?.oci_layer_media_type();
            layers.push(Descriptor::new(media_type, d, size));
        }
        let mut repo_tags = Vec::new();
        for t in e.repo_tags.iter().flatten() {
            repo_tags.push(normalize_tag(t, &where_)?);
        }
        merge(
            &mut out,
            LoadedImage {
                config_digest,
                config_bytes,
                layers,
                diff_ids,
                repo_tags,
                manifest: None,
                lease: Arc::new(m.content.lease()),
            },
        );
    }
    Ok(out)
}

/// Adds an image, merging tags into an earlier entry for the same config.
fn merge(out: &mut Vec<LoadedImage>, img: LoadedImage) {
    if let Some(prev) = out
        .iter_mut()
        .find(|p| p.config_digest == img.config_digest)
    {
        for t in img.repo_tags {
            if !prev.repo_tags.contains(&t) {
                prev.repo_tags.push(t);
            }
        }
        if prev.manifest.is_none() {
            prev.manifest = img.manifest;
        }
    } else {
        out.push(img);
    }
}

/// The image name an OCI index entry carries: containerd's full-name annotation, else
/// `ref.name` when it is a full reference rather than a bare tag.
fn oci_entry_name(d: &Descriptor) -> Result<Option<String>, ArchiveError> {
    if let Some(n) = d.annotation(ANNOTATION_CONTAINERD_IMAGE_NAME) {
        return normalize_tag(n, "index.json").map(Some);
    }
    match d.annotation(ANNOTATION_REF_NAME) {
        Some(n) if n.contains(['/', ':']) => Ok(Reference::parse(n)
            .ok()
            .filter(|r| r.digest().is_none())
            .map(|r| r.with_default_tag().to_string())),
        _ => Ok(None),
    }
}

fn load_oci(m: &mut Members<'_>) -> Result<Vec<LoadedImage>, ArchiveError> {
    if m.exists("oci-layout") {
        let layout = m.bytes("oci-layout", "oci-layout")?;
        let v: serde_json::Value = serde_json::from_slice(&layout)
            .map_err(|e| invalid(format!("oci-layout: invalid JSON: {e}")))?;
        if v.get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(invalid("oci-layout: no imageLayoutVersion"));
        }
    }
    let bytes = m.bytes("index.json", "index.json")?;
    let index = ImageIndex::parse(&bytes, "index.json").map_err(|e| invalid(e.to_string()))?;
    let mut out = Vec::new();
    for d in &index.manifests {
        let name = oci_entry_name(d)?;
        let Some(manifest_desc) = pick_manifest(m, d, 0)? else {
            continue;
        };
        let manifest_bytes = m.oci_blob(&manifest_desc, "manifest")?;
        let what = blob_path(&manifest_desc.digest);
        let manifest =
            ImageManifest::parse(&manifest_bytes, &what).map_err(|e| invalid(e.to_string()))?;
        let config_bytes = m.oci_blob(&manifest.config, &format!("{what}: config"))?;
        let config_path = blob_path(&manifest.config.digest);
        let config = parse_config(&config_bytes, &config_path)?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if manifest.layers.len() != diff_ids.len() {
            return Err(invalid(format!(
                "{what}: {} layers but config {config_path} has {} diff_ids",
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (l, diff_id) in manifest.layers.iter().zip(&diff_ids) {
            let path = blob_path(&l.digest);
            let (got, size) = m.blob(&path, &format!("{what}: layer"))?;
            m.check_blob(&path, &l.digest, l.size, &got, size)?;
            m.verify_layer(&path, &got, diff_id)?;
            layers.push(l.clone());
        }
        merge(
            &mut out,
            LoadedImage {
                config_digest: manifest.config.digest.clone(),
                config_bytes,
                layers,
                diff_ids,
                repo_tags: name.into_iter().collect(),
                manifest: Some(manifest_desc.digest.clone()),
                lease: Arc::new(m.content.lease()),
            },
        );
    }
    Ok(out)
}

/// Follows nested indexes to the manifest for this machine; `None` skips non-image entries.
fn pick_manifest(
    m: &mut Members<'_>,
    d: &Descriptor,
    depth: usize,
) -> Result<Option<Descriptor>, ArchiveError> {
    if depth > 4 {
        return Err(invalid("index.json: indexes nested too deeply"));
    }
    if is_manifest_media_type(&d.media_type) {
        return Ok(Some(d.clone()));
    }
    if !is_index_media_type(&d.media_type) {
        // Unknown media type: decide by the document's shape.
        let bytes = m.oci_blob(d, "manifest")?;
        return match ManifestOrIndex::parse(&bytes, None, &blob_path(&d.digest)) {
            Ok(ManifestOrIndex::Manifest(_)) => Ok(Some(d.clone())),
            Ok(ManifestOrIndex::Index(i)) => pick_from_index(m, &i, d, depth),
            Err(_) => Ok(None),
        };
    }
    let bytes = m.oci_blob(d, "index")?;
    let index =
        ImageIndex::parse(&bytes, &blob_path(&d.digest)).map_err(|e| invalid(e.to_string()))?;
    pick_from_index(m, &index, d, depth)
}

fn pick_from_index(
    m: &mut Members<'_>,
    index: &ImageIndex,
    d: &Descriptor,
    depth: usize,
) -> Result<Option<Descriptor>, ArchiveError> {
    let (arch, variant) = host_arch();
    let Some(chosen) = select_platform(index, "linux", arch, variant) else {
        return Err(invalid(format!(
            "{}: no manifest for linux/{arch} (and the archive does not include one)",
            blob_path(&d.digest)
        )));
    };
    let chosen = chosen.clone();
    pick_manifest(m, &chosen, depth + 1)
}

/// Deterministic tar output: fixed owner, mode and time.
struct TarOut<W: Write> {
    builder: tar::Builder<W>,
    written: std::collections::HashSet<String>,
}

impl<W: Write> TarOut<W> {
    fn new(w: W) -> Self {
        let mut builder = tar::Builder::new(w);
        builder.mode(tar::HeaderMode::Deterministic);
        TarOut {
            builder,
            written: Default::default(),
        }
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        let mut h = Self::header(tar::EntryType::Directory, 0);
        self.builder
            .append_data(&mut h, path, io::empty())
            .map_err(ArchiveError::Write)
    }

    fn file(&mut self, path: &str, size: u64, data: impl Read) -> Result<(), ArchiveError> {
        let mut h = Self::header(tar::EntryType::Regular, size);
        let mut counted = CountingReader {
            inner: data.take(size),
            n: 0,
        };
        self.builder
            .append_data(&mut h, path, &mut counted)
            .map_err(ArchiveError::Write)?;
        if counted.n != size {
            return Err(ArchiveError::Corrupt(format!(
                "{path}: expected {size} bytes, the content yielded {}",
                counted.n
            )));
        }
        Ok(())
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.file(path, data.len() as u64, data)
    }

    /// Writes a blob once under `blobs/sha256/`.
    fn blob_bytes(&mut self, data: &[u8]) -> Result<Digest, ArchiveError> {
        let d = Digest::of(data);
        let p = blob_path(&d);
        if self.written.insert(p.clone()) {
            self.bytes(&p, data)?;
        }
        Ok(d)
    }

    /// Copies a stored blob once under `blobs/sha256/`, verifying it on the way.
    fn stored_blob(&mut self, content: &ContentStore, d: &Digest) -> Result<u64, ArchiveError> {
        let size = content.size(d)?;
        let p = blob_path(d);
        if self.written.insert(p.clone()) {
            let mut hr = crate::digest::HashingReader::new(content.open_blob(d)?);
            self.file(&p, size, &mut hr)?;
            let (actual, _) = hr.finish();
            if actual != *d {
                return Err(ArchiveError::Corrupt(format!(
                    "blob {d} is corrupt: it hashes to {actual}"
                )));
            }
        }
        Ok(size)
    }

    /// Writes a layer's uncompressed tar under `blobs/sha256/<diff_id>`; returns its size.
    fn uncompressed_layer(
        &mut self,
        content: &ContentStore,
        layer: &Descriptor,
        diff_id: &Digest,
    ) -> Result<u64, ArchiveError> {
        if layer.digest == *diff_id {
            return self.stored_blob(content, diff_id);
        }
        let p = blob_path(diff_id);
        let corrupt = |e: io::Error| {
            ArchiveError::Corrupt(format!("layer {}: cannot decompress: {e}", layer.digest))
        };
        // First pass: the size (a tar header needs it up front) and a check of the diff ID.
        let (actual, size) = uncompressed_digest(content, &layer.digest).map_err(corrupt)?;
        if actual != *diff_id {
            return Err(ArchiveError::Corrupt(format!(
                "layer {} decompresses to {actual}, not its diff ID {diff_id}",
                layer.digest
            )));
        }
        if self.written.insert(p.clone()) {
            let r = decompressed(content.open_blob(&layer.digest)?).map_err(corrupt)?;
            self.file(&p, size, r)?;
        }
        Ok(size)
    }

    fn finish(self) -> Result<(), ArchiveError> {
        let mut w = self.builder.into_inner().map_err(ArchiveError::Write)?;
        w.flush().map_err(ArchiveError::Write)
    }
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Normalised references for the tags asked for (`busybox` → `docker.io/library/busybox:latest`).
fn parse_tags(tags: &[String]) -> Result<Vec<Reference>, ArchiveError> {
    tags.iter()
        .map(|t| {
            Reference::parse(t)
                .map(Reference::with_default_tag)
                .map_err(|e| invalid(format!("tag {t:?}: {e}")))
        })
        .collect()
}

fn index_entry(manifest: &Descriptor, tag: Option<&Reference>) -> Descriptor {
    let mut d = manifest.clone();
    if let Some(t) = tag {
        let mut ann = BTreeMap::new();
        ann.insert(ANNOTATION_CONTAINERD_IMAGE_NAME.to_string(), t.to_string());
        if let Some(tag) = t.tag() {
            ann.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
        }
        d.annotations = Some(ann);
    }
    d
}

/// Writes `images` (each with the tags to save it under, any spelling) as docker 25+'s
/// `docker save` does: an OCI layout whose layers are uncompressed tars named by their diff
/// IDs, plus `manifest.json` and `repositories`, which docker load of any version reads.
pub fn save_docker(
    images: &[(ImageRecord, Vec<String>)],
    content: &ContentStore,
    w: impl Write,
) -> Result<(), ArchiveError> {
    let mut out = TarOut::new(w);
    out.dir("blobs/")?;
    out.dir("blobs/sha256/")?;
    let mut index = Vec::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (rec, tags) in images {
        let tags = parse_tags(tags)?;
        let diff_ids = rec.diff_ids();
        if diff_ids.len() != rec.layers.len() {
            return Err(ArchiveError::Corrupt(format!(
                "image {}: {} layers but {} diff IDs",
                rec.id,
                rec.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in rec.layers.iter().zip(diff_ids) {
            let size = out.uncompressed_layer(content, layer, diff_id)?;
            layers.push(Descriptor::new(MEDIA_TYPE_OCI_LAYER, diff_id.clone(), size));
        }
        let config_size = out.stored_blob(content, &rec.id)?;
        let manifest = ImageManifest::oci(
            Descriptor::new(MEDIA_TYPE_OCI_CONFIG, rec.id.clone(), config_size),
            layers,
        );
        let manifest_bytes = manifest.to_bytes();
        let md = out.blob_bytes(&manifest_bytes)?;
        let mut mdesc = Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, md, manifest_bytes.len() as u64);
        mdesc.platform = Some(rec.config.platform());
        if tags.is_empty() {
            index.push(index_entry(&mdesc, None));
        }
        for t in &tags {
            index.push(index_entry(&mdesc, Some(t)));
            if let (Some(tag), Some(top)) = (t.tag(), diff_ids.last()) {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.hex().to_string());
            }
        }
        manifest_json.push(DockerManifestEntry {
            config: blob_path(&rec.id),
            repo_tags: (!tags.is_empty()).then(|| tags.iter().map(Reference::familiar).collect()),
            layers: diff_ids.iter().map(blob_path).collect(),
            layer_sources: None,
        });
    }
    out.bytes("index.json", &ImageIndex::oci(index).to_bytes())?;
    let mj = serde_json::to_vec(&manifest_json).map_err(|e| ArchiveError::Write(e.into()))?;
    out.bytes("manifest.json", &mj)?;
    out.bytes("oci-layout", OCI_LAYOUT_JSON)?;
    if !repositories.is_empty() {
        let rj = serde_json::to_vec(&repositories).map_err(|e| ArchiveError::Write(e.into()))?;
        out.bytes("repositories", &rj)?;
    }
    out.finish()
}

/// Writes `images` as an OCI image layout tar (what `skopeo copy oci-archive:` reads): blobs
/// as stored (layers keep their compression), and an index naming each tag with
/// `org.opencontainers.image.ref.name` (the tag) and `io.containerd.image.name` (the full name).
pub fn save_oci(
    images: &[(ImageRecord, Vec<String>)],
    content: &ContentStore,
    w: impl Write,
) -> Result<(), ArchiveError> {
    let mut out = TarOut::new(w);
    out.dir("blobs/")?;
    out.dir("blobs/sha256/")?;
    let mut index = Vec::new();
    for (rec, tags) in images {
        let tags = parse_tags(tags)?;
        let manifest_bytes = content.read(&rec.manifest)?;
        let what = format!("manifest {}", rec.manifest);
        let manifest = ImageManifest::parse(&manifest_bytes, &what)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        for l in &manifest.layers {
            out.stored_blob(content, &l.digest)?;
        }
        out.stored_blob(content, &manifest.config.digest)?;
        let size = out.stored_blob(content, &rec.manifest)?;
        let media_type = manifest
            .media_type
            .as_deref()
            .unwrap_or(MEDIA_TYPE_OCI_MANIFEST);
        let mut mdesc = Descriptor::new(media_type, rec.manifest.clone(), size);
        mdesc.platform = Some(rec.config.platform());
        if tags.is_empty() {
            index.push(index_entry(&mdesc, None));
        }
        for t in &tags {
            index.push(index_entry(&mdesc, Some(t)));
        }
    }
    out.bytes("index.json", &ImageIndex::oci(index).to_bytes())?;
    out.bytes("oci-layout", OCI_LAYOUT_JSON)?;
    out.finish()
}

/// Stores a root file-system tar (plain, gzip or zstd, as `docker import` accepts) as an
/// uncompressed layer blob. Returns its descriptor and diff ID (equal to its digest). The blob
/// is not leased: record an image using it promptly.
pub fn import_layer(
    reader: impl Read + Send,
    content: &ContentStore,
) -> Result<(Descriptor, Digest), ArchiveError> {
    let r = decompressed(reader).map_err(|e| invalid(format!("reading the import stream: {e}")))?;
    let (digest, size) = content.ingest(r, None, None).map_err(|e| match e {
        ContentError::Source(e) => invalid(format!("reading the import stream: {e}")),
        e => ArchiveError::Content(e),
    })?;
    // Refuse anything that is not a tar; the bytes stay as an unreferenced blob for gc.
    let mut archive = tar::Archive::new(content.open_blob(&digest)?);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("import: not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("import: not a tar archive: {e}")))?;
        io::copy(&mut entry, &mut io::sink())
            .map_err(|e| invalid(format!("import: tar entry unreadable: {e}")))?;
    }
    Ok((
        Descriptor::new(MEDIA_TYPE_OCI_LAYER, digest.clone(), size),
        digest,
    ))
}

/// What [`new_image_config`] needs to describe an image made by `import` or `commit`.
#[derive(Debug, Clone)]
pub struct NewImageConfig<'a> {
    /// The image being extended (commit), or `None` (import).
    pub parent: Option<&'a ImageConfig>,
    /// The new layer's diff ID, or `None` for a step that adds no layer.
    pub layer: Option<Digest>,
    /// Container defaults for the new image (`--change`, or the committed container's).
    pub config: ContainerConfig,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Author (`commit --author`).
    pub author: Option<String>,
    /// History comment (`commit -m`, `import -m`; docker import writes "Imported from -").
    pub comment: Option<String>,
    /// History `created_by` (commit: the container's command).
    pub created_by: Option<String>,
    /// Platform; defaults to the parent's, else this machine's.
    pub platform: Option<Platform>,
}

impl NewImageConfig<'_> {
    /// Defaults for an import made now: no parent, no config.
    pub fn new(layer: Option<Digest>) -> Self {
        NewImageConfig {
            parent: None,
            layer,
            config: ContainerConfig::default(),
            created: Utc::now(),
            author: None,
            comment: None,
            created_by: None,
            platform: None,
        }
    }
}

/// Builds the config JSON for an image made by `import` or `commit`: the parent's layers and
/// history plus the new layer and one history entry.
pub fn new_image_config(opts: &NewImageConfig<'_>) -> Vec<u8> {
    let platform = opts
        .platform
        .clone()
        .or_else(|| opts.parent.map(ImageConfig::platform))
        .unwrap_or_else(Platform::host);
    let mut rootfs = opts.parent.map(|p| p.rootfs.clone()).unwrap_or_default();
    rootfs.kind = RootFs::default().kind;
    if let Some(l) = &opts.layer {
        rootfs.diff_ids.push(l.clone());
    }
    let mut history = opts.parent.map(|p| p.history.clone()).unwrap_or_default();
    let created = format_time(&opts.created);
    history.push(History {
        created: Some(created.clone()),
        created_by: opts.created_by.clone(),
        author: opts.author.clone(),
        comment: opts.comment.clone(),
        empty_layer: opts.layer.is_none().then_some(true),
        extra: Default::default(),
    });
    ImageConfig {
        created: Some(created),
        author: opts.author.clone(),
        architecture: platform.architecture,
        variant: platform.variant,
        os: platform.os,
        os_version: platform.os_version,
        os_features: platform.os_features,
        config: opts.config.clone(),
        rootfs,
        history,
        extra: Default::default(),
    }
    .to_bytes()
}

#[cfg(test)]
mod tests;
