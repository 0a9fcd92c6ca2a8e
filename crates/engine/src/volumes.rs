//! Named and anonymous volumes of the `local` driver: a directory per volume under
//! `<data-root>/volumes/<name>/_data`, with its options beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::container::write_atomic;
use crate::error::{Error, Result};

pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub name: String,
    pub created: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// The volume store.
#[derive(Debug)]
pub struct Volumes {
    root: PathBuf,
    /// Serialises create and remove of one name against each other.
    lock: Mutex<()>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Volumes {
    pub fn open(root: PathBuf) -> Result<Volumes> {
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::internal(format!("create {}: {e}", root.display())))?;
        Ok(Volumes {
            root,
            lock: Mutex::new(()),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// Creates a volume; creating an existing one returns it, as dockerd does.
    pub fn create(
        &self,
        name: &str,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeMeta> {
        if !driver.is_empty() && driver != "local" {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        if !valid_name(name) {
            return Err(Error::invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        if let Some(key) = options
            .keys()
            .find(|k| !["type", "device", "o", "size"].contains(&k.as_str()))
        {
            return Err(Error::invalid(format!(
                "create {name}: invalid option key: \"{key}\""
            )));
        }
        if options.contains_key("type") || options.contains_key("device") {
            return Err(Error::invalid(format!(
                "create {name}: mount options (type, device) of the local driver are not supported by Wharf yet"
            )));
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(meta) = self.get(name) {
            return Ok(meta);
        }
        let dir = self.dir(name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::internal(format!("create {}: {e}", data.display())))?;
        let meta = VolumeMeta {
            name: name.to_string(),
            created: Utc::now(),
            labels,
            options,
        };
        write_atomic(&dir.join("opts.json"), &serde_json::to_vec(&meta)?)?;
        Ok(meta)
    }

    pub fn get(&self, name: &str) -> Result<VolumeMeta> {
        if !valid_name(name) {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        let path = self.dir(name).join("opts.json");
        let data = std::fs::read(&path)
            .map_err(|_| Error::not_found(format!("get {name}: no such volume")))?;
        serde_json::from_slice(&data)
            .map_err(|e| Error::internal(format!("read {}: {e}", path.display())))
    }

    pub fn list(&self) -> Result<Vec<VolumeMeta>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| Error::internal(format!("read {}: {e}", self.root.display())))?;
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && let Ok(meta) = self.get(name)
            {
                out.push(meta);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume; the caller has checked that no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.get(name)?;
        let dir = self.dir(name);
        // Drop the metadata first: a crash half-way leaves an unlisted directory, never a
        // listed volume with half its data.
        std::fs::remove_file(dir.join("opts.json"))
            .map_err(|e| Error::internal(format!("remove {name}: {e}")))?;
        std::fs::remove_dir_all(&dir).map_err(|e| Error::internal(format!("remove {name}: {e}")))
    }

    /// The JSON `inspect` and `ls` answer.
    pub fn to_json(&self, meta: &VolumeMeta) -> Value {
        json!({
            "CreatedAt": meta.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "Driver": "local",
            "Labels": meta.labels,
            "Mountpoint": self.mountpoint(&meta.name),
            "Name": meta.name,
            "Options": meta.options,
            "Scope": "local",
        })
    }

    /// Bytes used by a volume's data.
    pub fn size(&self, name: &str) -> u64 {
        dir_size(&self.mountpoint(name))
    }
}

/// Bytes of regular files under a directory (not following symlinks).
pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

/// Copies the contents of `src` into `dst` (an empty volume), keeping modes, owners and
/// symlinks, as Docker copies image content into a new named volume.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(src)?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let _ = std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()));
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
            let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_list_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = Volumes::open(dir.path().join("volumes")).expect("open");
        v.create("data", "local", BTreeMap::new(), BTreeMap::new())
            .expect("create");
        std::fs::write(v.mountpoint("data").join("f"), b"x").expect("write");
        // Creating it again keeps the data.
        v.create("data", "", BTreeMap::new(), BTreeMap::new())
            .expect("create again");
        assert!(v.mountpoint("data").join("f").exists());
        assert_eq!(v.list().expect("list").len(), 1);
        v.remove("data").expect("remove");
        assert!(v.get("data").is_err());
        assert_eq!(
            v.remove("data").expect_err("gone").status(),
            404,
            "removing a missing volume is a 404"
        );
    }

    #[test]
    fn bad_names_and_drivers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = Volumes::open(dir.path().join("volumes")).expect("open");
        let e = v
            .create("../x", "local", BTreeMap::new(), BTreeMap::new())
            .expect_err("traversal");
        assert_eq!(e.status(), 400);
        let e = v
            .create("x", "nfs", BTreeMap::new(), BTreeMap::new())
            .expect_err("driver");
        assert_eq!(e.status(), 404);
    }
}
