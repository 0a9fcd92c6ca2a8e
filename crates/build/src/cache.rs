//! The build cache: what each step produced, by the step's key.
//!
//! A key is a sha256 over the state the step started from, the instruction as expanded, and
//! what else decides its result (the content of the files a COPY copies, the build args a RUN
//! sees, …). An entry names the resulting image config (a blob in the content store) and its
//! layers, so a hit costs one small file read and creates nothing. Entries are files under
//! `<root>/cache/`, written atomically: they survive daemon restarts, and a crash mid-write
//! leaves either the old entry or the new one.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use image::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

use crate::error::BuildError;

/// What one step produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The image config after the step (a blob in the content store).
    pub config: Digest,
    /// Every layer of that state, base first.
    pub layers: Vec<Descriptor>,
    /// The instruction, for `builder prune` output and debugging.
    pub description: String,
    /// Bytes the step's own layer holds (0 for a step without one).
    pub size: u64,
    /// When the entry was made.
    pub created: DateTime<Utc>,
}

/// A cache entry with its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed {
    /// The step key (64 hex).
    pub key: String,
    /// The entry.
    pub entry: Entry,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> BuildError {
    move |e| BuildError::internal(format!("build cache: {what}: {e}"))
}

impl Cache {
    /// Opens (creating) the cache under `root`.
    pub fn open(root: &Path) -> Result<Cache, BuildError> {
        let dir = root.join("cache");
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        Ok(Cache { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The entry for `key`; an unreadable or malformed entry counts as a miss.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(key, "ignoring a malformed build cache entry: {e}");
                None
            }
        }
    }

    /// Records what `key` produced (replacing any older entry).
    pub fn put(&self, key: &str, entry: &Entry) -> Result<(), BuildError> {
        let bytes = serde_json::to_vec(entry)
            .map_err(|e| BuildError::internal(format!("build cache: {e}")))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(io_err("creating an entry".into()))?;
        tmp.write_all(&bytes)
            .and_then(|()| tmp.as_file().sync_data())
            .map_err(io_err("writing an entry".into()))?;
        tmp.persist(self.path(key))
            .map_err(|e| BuildError::internal(format!("build cache: storing an entry: {e}")))?;
        Ok(())
    }

    /// Every entry.
    pub fn list(&self) -> Vec<Keyed> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for d in dir.flatten() {
            let name = d.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Some(entry) = self.get(key) {
                out.push(Keyed {
                    key: key.to_string(),
                    entry,
                });
            }
        }
        out.sort_by_key(|k| k.entry.created);
        out
    }

    /// Removes one entry.
    pub fn remove(&self, key: &str) -> Result<(), BuildError> {
        match std::fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("removing entry {key}"))(e)),
        }
    }

    /// The blobs (configs and layers) the cache refers to: garbage collection keeps them.
    pub fn referenced_blobs(&self) -> HashSet<Digest> {
        let mut out = HashSet::new();
        for k in self.list() {
            out.insert(k.entry.config);
            out.extend(k.entry.layers.into_iter().map(|l| l.digest));
        }
        out
    }

    /// Removes entries: all of them, or (`all` unset) those whose layers no image uses (as
    /// told by `in_images`) and which are older than `until` when given. Returns the removed
    /// entries.
    pub fn prune(
        &self,
        all: bool,
        until: Option<DateTime<Utc>>,
        in_images: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<Keyed>, BuildError> {
        let mut removed = Vec::new();
        for k in self.list() {
            if until.is_some_and(|u| k.entry.created >= u) {
                continue;
            }
            if !all && in_images(&k.entry) {
                continue;
            }
            self.remove(&k.key)?;
            removed.push(k);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> Entry {
        Entry {
            config: Digest::of(&[n]),
            layers: vec![Descriptor::new(
                "application/vnd.oci.image.layer.v1.tar",
                Digest::of(&[n, n]),
                2,
            )],
            description: format!("RUN step {n}"),
            size: 2,
            created: Utc::now(),
        }
    }

    #[test]
    fn entries_survive_reopening_and_prune_keeps_what_images_use() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(tmp.path()).expect("open");
        cache.put("a", &entry(1)).expect("put");
        cache.put("b", &entry(2)).expect("put");
        let cache = Cache::open(tmp.path()).expect("reopen");
        assert_eq!(
            cache.get("a"),
            Some(entry(1)).map(|mut e| {
                e.created = cache.get("a").expect("a").created;
                e
            })
        );
        assert!(cache.get("zzz").is_none());
        assert!(cache.referenced_blobs().contains(&Digest::of(&[2, 2])));
        let removed = cache
            .prune(false, None, &|e| e.config == Digest::of(&[1]))
            .expect("prune");
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].key, "b");
        assert!(cache.get("a").is_some());
        cache.prune(true, None, &|_| true).expect("prune all");
        assert!(cache.list().is_empty());
    }

    #[test]
    fn a_malformed_entry_is_a_miss() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(tmp.path()).expect("open");
        std::fs::write(tmp.path().join("cache/bad.json"), b"{not json").expect("write");
        assert!(cache.get("bad").is_none());
        assert!(cache.list().is_empty());
    }
}
