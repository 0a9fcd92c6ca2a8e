//! OCI image index, manifest and descriptor; Docker schema2 manifest and manifest list (the same
//! shapes under other media types); the image config in Docker's JSON shape; platform
//! selection.
//!
//! Unknown fields are kept in `extra` maps so a parsed document re-serialises faithfully, but
//! stored blobs are never re-serialised: an image ID is the digest of the config bytes as
//! received.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ErrorKind;
use crate::digest::Digest;

/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable uncompressed layer (deprecated).
pub const MEDIA_TYPE_OCI_LAYER_NONDIST: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable gzip layer (deprecated).
pub const MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI empty descriptor payload (`{}`).
pub const MEDIA_TYPE_OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker schema2 manifest list.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer.
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker foreign (non-distributable) gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_FOREIGN_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Annotation naming a manifest in an OCI layout's index (usually a tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's (and docker 25+'s) annotation holding the full image name.
pub const ANNOTATION_CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";
/// Creation time annotation.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Errors parsing image documents.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A document is not valid JSON of the expected shape.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A document is well-formed JSON but means nothing we can use.
    #[error("{what}: {why}")]
    Invalid {
        /// Which document.
        what: String,
        /// What is wrong.
        why: String,
    },
}

impl SpecError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Recognises gzip and zstd by their magic bytes; anything else is taken as plain.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The compression a layer media type announces, or `None` for a non-layer type.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            MEDIA_TYPE_OCI_LAYER | MEDIA_TYPE_OCI_LAYER_NONDIST | MEDIA_TYPE_DOCKER_LAYER => {
                Some(Compression::None)
            }
            MEDIA_TYPE_OCI_LAYER_GZIP
            | MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP
            | MEDIA_TYPE_DOCKER_LAYER_GZIP
            | MEDIA_TYPE_DOCKER_LAYER_FOREIGN_GZIP => Some(Compression::Gzip),
            MEDIA_TYPE_OCI_LAYER_ZSTD => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The OCI layer media type for this compression.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_TYPE_OCI_LAYER,
            Compression::Gzip => MEDIA_TYPE_OCI_LAYER_GZIP,
            Compression::Zstd => MEDIA_TYPE_OCI_LAYER_ZSTD,
        }
    }
}

/// True for the manifest media types (OCI and Docker schema2).
pub fn is_manifest_media_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_OCI_MANIFEST || mt == MEDIA_TYPE_DOCKER_MANIFEST
}

/// True for the index media types (OCI index and Docker manifest list).
pub fn is_index_media_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_OCI_INDEX || mt == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// A platform, as in an index's descriptors and an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture in Go's spelling (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// This machine's platform in Go's spelling.
    pub fn host() -> Platform {
        let (architecture, variant) = host_arch();
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        }
    }
}

/// This machine's architecture and variant, as Go (and so every image) spells them.
pub fn host_arch() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "x86" => ("386", None),
        "aarch64" => ("arm64", None),
        "arm" => ("arm", Some("v7")),
        "powerpc64" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The blob's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform of the manifest it points to (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor with just media type, digest and size.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
            extra: Map::new(),
        }
    }

    /// One annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// An OCI image manifest or Docker schema2 manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageManifest {
    /// An OCI manifest for a config and layers.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
            extra: Map::new(),
        }
    }

    /// Parses manifest bytes.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageManifest, SpecError> {
        serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
            what: what.to_string(),
            source,
        })
    }

    /// Canonical bytes for storing a manifest this crate built (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json_bytes(self)
    }
}

/// An OCI image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageIndex {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// The manifests (or nested indexes).
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageIndex {
    /// An OCI index of `manifests`.
    pub fn oci(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.to_string()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: None,
            extra: Map::new(),
        }
    }

    /// Parses index bytes.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageIndex, SpecError> {
        serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
            what: what.to_string(),
            source,
        })
    }

    /// Canonical bytes for storing an index this crate built (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json_bytes(self)
    }
}

/// A manifest-or-index document, told apart by media type or by shape.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestOrIndex {
    /// A single-platform manifest.
    Manifest(Box<ImageManifest>),
    /// An index / manifest list.
    Index(Box<ImageIndex>),
}

impl ManifestOrIndex {
    /// Parses `bytes`, using `media_type` (from the pointing descriptor) when it is known,
    /// else the document's own `mediaType`, else its shape (`manifests` vs `config`).
    pub fn parse(bytes: &[u8], media_type: Option<&str>, what: &str) -> Result<Self, SpecError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
            what: what.to_string(),
            source,
        })?;
        let own = v.get("mediaType").and_then(Value::as_str);
        let mt = media_type
            .filter(|m| is_index_media_type(m) || is_manifest_media_type(m))
            .or(own);
        let is_index = match mt {
            Some(m) if is_index_media_type(m) => true,
            Some(m) if is_manifest_media_type(m) => false,
            _ => v.get("manifests").is_some(),
        };
        let json = |source| SpecError::Json {
            what: what.to_string(),
            source,
        };
        if is_index {
            Ok(ManifestOrIndex::Index(
                serde_json::from_value(v).map_err(json)?,
            ))
        } else if v.get("config").is_some() {
            Ok(ManifestOrIndex::Manifest(Box::new(
                serde_json::from_value(v).map_err(json)?,
            )))
        } else {
            Err(SpecError::Invalid {
                what: what.to_string(),
                why: "neither an image manifest nor an index".to_string(),
            })
        }
    }
}

/// Picks the manifest for `os`/`arch`/`variant` from an index, as containerd's platform
/// matcher does: OS and architecture must match; a requested variant prefers an exact match,
/// then a descriptor without variant; attestation entries (`unknown/unknown`) never match.
/// Descriptors without a platform match only when no descriptor has one for the request.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    let arch = normalize_arch(arch);
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| is_manifest_media_type(&d.media_type) || is_index_media_type(&d.media_type))
        .collect();
    let matching = |want_variant: Option<&str>, exact: bool| {
        candidates.iter().copied().find(|d| {
            let Some(p) = &d.platform else { return false };
            if p.os != os || normalize_arch(&p.architecture) != arch {
                return false;
            }
            let pv = p.variant.as_deref().filter(|v| !v.is_empty());
            match (want_variant, exact) {
                (Some(w), true) => {
                    pv == Some(w) || (pv.is_none() && default_variant(arch) == Some(w))
                }
                (Some(_), false) => pv.is_none(),
                (None, _) => pv.is_none() || pv == default_variant(arch),
            }
        })
    };
    let variant = variant.filter(|v| !v.is_empty());
    let found = match variant {
        Some(v) => matching(Some(v), true).or_else(|| matching(Some(v), false)),
        None => matching(None, true).or_else(|| {
            // Any variant of the architecture beats nothing.
            candidates.iter().copied().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == os && normalize_arch(&p.architecture) == arch)
            })
        }),
    };
    found.or_else(|| {
        if candidates.iter().all(|d| d.platform.is_none()) && candidates.len() == 1 {
            candidates.first().copied()
        } else {
            None
        }
    })
}

/// [`select_platform`] for this machine (linux/amd64 on x86_64).
pub fn select_host_platform(index: &ImageIndex) -> Option<&Descriptor> {
    let (arch, variant) = host_arch();
    select_platform(index, "linux", arch, variant)
}

fn normalize_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        other => other,
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        _ => None,
    }
}

/// An empty JSON object (`{}`), the value type of `ExposedPorts` and `Volumes`; whatever an
/// incoming document put there is accepted and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(EmptyObject)
    }
}

/// Docker's `strslice`: a JSON array of strings, or a single string, or null.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// A HEALTHCHECK, durations in nanoseconds as Docker stores them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", …]` or `["CMD-SHELL", cmd]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Time between checks (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Time a check may take (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Grace period after start (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Time between checks during the start period (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// The `config` object of an image config: what a container of this image runs by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Hostname (Docker writes it; empty in images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Domain name (Docker writes it; empty in images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// `user[:group]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `port/proto` → `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    /// `KEY=value` entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Default command arguments.
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub cmd: Option<Vec<String>>,
    /// Healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Whether `Cmd` is already escaped (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// Image the container was made from (Docker writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Anonymous volume paths → `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Entrypoint.
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// ONBUILD triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing (Docker writes it on commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for the shell form of RUN/CMD/ENTRYPOINT.
    #[serde(
        default,
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub shell: Option<Vec<String>>,
    /// Fields this type does not model (`AttachStdin`, `Tty`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layer tars, base first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One line of `docker history`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction that made the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step added no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image config in Docker's JSON shape (a superset of OCI's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture (`amd64`).
    #[serde(default)]
    pub architecture: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// Container defaults.
    #[serde(default)]
    pub config: ContainerConfig,
    /// Layer diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// Build history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this type does not model (`container`, `container_config`, `docker_version`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// Parses config bytes; the document must be a JSON object with a `rootfs`.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfig, SpecError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|source| SpecError::Json {
            what: what.to_string(),
            source,
        })?;
        if !v.is_object() {
            return Err(SpecError::Invalid {
                what: what.to_string(),
                why: "image config is not a JSON object".to_string(),
            });
        }
        if v.get("rootfs").is_none() {
            return Err(SpecError::Invalid {
                what: what.to_string(),
                why: "image config has no rootfs".to_string(),
            });
        }
        serde_json::from_value(v).map_err(|source| SpecError::Json {
            what: what.to_string(),
            source,
        })
    }

    /// Bytes for a config this crate built (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json_bytes(self)
    }

    /// The creation time, when present and valid RFC 3339.
    pub fn created_time(&self) -> Option<DateTime<Utc>> {
        parse_time(self.created.as_deref()?)
    }

    /// The platform this image is for.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// Parses an RFC 3339 time as Go writes it.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a time as Go's RFC3339Nano does (`2024-01-02T03:04:05.123456789Z`).
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn to_json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: all keys are strings.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn docker_config_round_trips_with_unknown_fields() {
        let json = format!(
            r#"{{"architecture":"amd64","config":{{"Hostname":"","AttachStdin":false,"Env":["PATH=/bin"],
            "Cmd":["sh"],"Entrypoint":null,"Labels":{{"a":"b"}},"ExposedPorts":{{"80/tcp":{{}}}},
            "Healthcheck":{{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":3}},
            "WorkingDir":"/w","OnBuild":null}},
            "container":"abc","created":"2024-05-01T10:00:00.123456789Z","docker_version":"24.0.7",
            "history":[{{"created":"2024-05-01T10:00:00Z","created_by":"/bin/sh -c #(nop) ADD file","empty_layer":true}}],
            "os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{HEX_A}"]}}}}"#
        );
        let c = ImageConfig::parse(json.as_bytes(), "config").expect("parse");
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(c.config.entrypoint, None);
        assert_eq!(c.config.working_dir.as_deref(), Some("/w"));
        assert_eq!(
            c.config.healthcheck.as_ref().and_then(|h| h.retries),
            Some(3)
        );
        assert_eq!(c.config.extra.get("AttachStdin"), Some(&Value::Bool(false)));
        assert_eq!(
            c.extra.get("docker_version"),
            Some(&Value::String("24.0.7".into()))
        );
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        assert_eq!(c.history[0].empty_layer, Some(true));
        assert!(c.created_time().is_some());
        let again = ImageConfig::parse(&c.to_bytes(), "again").expect("reparse");
        assert_eq!(again, c);
        let v: Value = serde_json::from_slice(&c.to_bytes()).expect("json");
        assert!(
            v["config"].get("Entrypoint").is_none(),
            "None fields are skipped"
        );
        assert_eq!(v["config"]["ExposedPorts"]["80/tcp"], serde_json::json!({}));
    }

    #[test]
    fn config_accepts_string_cmd_and_rejects_non_configs() {
        let c = ImageConfig::parse(
            br#"{"os":"linux","architecture":"amd64","config":{"Cmd":"sh"},"rootfs":{"type":"layers","diff_ids":[]}}"#,
            "c",
        )
        .expect("string Cmd");
        assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
        assert!(ImageConfig::parse(b"[1]", "c").is_err());
        assert!(ImageConfig::parse(b"{\"os\":\"linux\"}", "c").is_err());
        let e = ImageConfig::parse(b"{not json", "blobs/sha256/x").expect_err("bad");
        assert!(
            e.to_string().starts_with("blobs/sha256/x: invalid JSON"),
            "{e}"
        );
    }

    fn desc(hex: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(
            MEDIA_TYPE_OCI_MANIFEST,
            Digest::from_hex(hex).expect("hex"),
            1,
        );
        d.platform = Some(Platform {
            architecture: arch.to_string(),
            os: "linux".to_string(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        });
        d
    }

    #[test]
    fn platform_selection() {
        let mut attest = desc(HEX_B, "unknown", None);
        attest.platform.as_mut().expect("platform").os = "unknown".into();
        let idx = ImageIndex::oci(vec![
            attest,
            desc(HEX_A, "amd64", None),
            desc(HEX_B, "arm", Some("v6")),
            desc(&"c".repeat(64), "arm", Some("v7")),
            desc(&"d".repeat(64), "arm64", Some("v8")),
        ]);
        let pick = |arch, variant| {
            select_platform(&idx, "linux", arch, variant).map(|d| d.digest.hex()[..1].to_string())
        };
        assert_eq!(pick("amd64", None).as_deref(), Some("a"));
        assert_eq!(pick("x86_64", None).as_deref(), Some("a"));
        assert_eq!(pick("arm", Some("v7")).as_deref(), Some("c"));
        assert_eq!(pick("arm", Some("v6")).as_deref(), Some("b"));
        assert_eq!(pick("arm64", None).as_deref(), Some("d"));
        assert_eq!(pick("arm64", Some("v8")).as_deref(), Some("d"));
        assert_eq!(pick("s390x", None), None);
        assert_eq!(pick("unknown", None), None);
    }

    #[test]
    fn manifest_or_index_by_media_type_and_shape() {
        let m = ImageManifest::oci(
            Descriptor::new(MEDIA_TYPE_OCI_CONFIG, Digest::of(b"c"), 1),
            vec![Descriptor::new(
                MEDIA_TYPE_DOCKER_LAYER_GZIP,
                Digest::of(b"l"),
                1,
            )],
        );
        let bytes = m.to_bytes();
        assert!(matches!(
            ManifestOrIndex::parse(&bytes, None, "m").expect("manifest"),
            ManifestOrIndex::Manifest(_)
        ));
        let i = ImageIndex::oci(vec![]).to_bytes();
        assert!(matches!(
            ManifestOrIndex::parse(&i, None, "i").expect("index"),
            ManifestOrIndex::Index(_)
        ));
        assert!(ManifestOrIndex::parse(b"{}", None, "x").is_err());
        assert_eq!(
            Compression::from_media_type(MEDIA_TYPE_DOCKER_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
    }
}
