//! Build contexts.
//!
//! The daemon receives a context as a tar stream (plain, gzip or zstd). [`Context::receive`]
//! extracts it into a directory of its own and, in the same pass, indexes every entry with
//! the BLAKE3 hash of its content, so COPY's cache keys come from the index and never from
//! mtimes or a second read of the files. [`write_context_tar`] is the client's side: a
//! directory walked into such a tar, `.dockerignore` applied as the docker CLI applies it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use crate::ignore::Matcher;

/// What went wrong with a build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A filesystem operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the path or entry.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The target directory exists and is not empty.
    #[error("context directory {0} already exists and is not empty")]
    NotEmpty(PathBuf),
    /// The stream is not a readable tar (bad compression, truncated, corrupt headers).
    #[error("invalid build context: {0}")]
    Malformed(String),
    /// An entry was refused.
    #[error("invalid build context: entry {entry:?}: {reason}")]
    InvalidEntry {
        /// The entry's name as written in the tar.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// A path asked of the context does not exist in it.
    #[error("{0}: no such file or directory in the build context")]
    NotFound(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ContextError {
    let what = what.into();
    move |source| ContextError::Io { what, source }
}

/// The kind of an indexed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (hard links become files too).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One indexed entry of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Permission bits with setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner as written in the tar.
    pub uid: u32,
    /// Group as written in the tar.
    pub gid: u32,
    /// Content size in bytes (files), 0 otherwise.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// BLAKE3 hash of the content (files), of the target (symlinks), zeros (directories).
    /// Only cache keys use it, and BLAKE3 hashes a large context several times faster than
    /// sha256.
    pub digest: [u8; 32],
    /// The symlink's target.
    pub link: Option<String>,
}

impl Entry {
    /// A directory made because an entry below it needed it: 0755, root-owned.
    fn implicit_dir() -> Entry {
        Entry {
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            digest: [0; 32],
            link: None,
        }
    }
}

/// A received build context: a directory and the index of what it holds.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    entries: BTreeMap<String, Entry>,
}

/// Splits a tar entry name into its place in the context, as Docker's unpacker does: the
/// name is cleaned, made relative when absolute, and refused when it leaves the root.
fn entry_key(name: &str) -> Result<String, String> {
    let absolute = name.starts_with('/');
    let mut comps: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if comps.pop().is_none() && !absolute {
                    return Err("path escapes the build context".into());
                }
            }
            c => comps.push(c),
        }
    }
    Ok(comps.join("/"))
}

/// The cleaned relative form of a path asked of the context (`""` is the root).
fn lookup_key(path: &str) -> String {
    entry_key(&format!("/{path}")).unwrap_or_default()
}

fn parent_key(key: &str) -> &str {
    key.rfind('/').map_or("", |i| &key[..i])
}

fn system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

struct Header {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

impl Context {
    /// Extracts the tar into `dir` (created; must not exist or be empty), never outside it:
    /// an absolute name is made relative as Docker does, a name leaving the root with `..` is
    /// refused, nothing is written through a symlink, device nodes and fifos are skipped.
    /// Every entry is indexed and hashed while it is extracted. Parent directories missing
    /// from the tar are created and indexed as directories 0755 owned by root.
    pub fn receive(reader: impl Read, dir: &Path) -> Result<Context, ContextError> {
        match fs::read_dir(dir) {
            Ok(mut it) => {
                if it.next().is_some() {
                    return Err(ContextError::NotEmpty(dir.to_path_buf()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
            }
            Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
        }
        let root = dir.to_path_buf();
        let mut ctx = Context {
            root,
            entries: BTreeMap::new(),
        };
        ctx.entries.insert(String::new(), Entry::implicit_dir());
        let stream = image::archive::Decompressor::new(reader)
            .map_err(|e| ContextError::Malformed(format!("reading the stream: {e}")))?;
        let mut archive = tar::Archive::new(stream);
        let mut buf = vec![0u8; 256 * 1024];
        let malformed = |e: io::Error| ContextError::Malformed(format!("reading the tar: {e}"));
        for entry in archive.entries().map_err(malformed)? {
            let mut entry = entry.map_err(malformed)?;
            ctx.receive_entry(&mut entry, &mut buf)?;
        }
        Ok(ctx)
    }

    fn receive_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        buf: &mut [u8],
    ) -> Result<(), ContextError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let etype = entry.header().entry_type();
        let refuse = |reason: &str| ContextError::InvalidEntry {
            entry: shown.clone(),
            reason: reason.to_string(),
        };
        match etype {
            EntryType::XGlobalHeader | EntryType::XHeader => return Ok(()),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                tracing::debug!(entry = %shown, "skipping a device node or fifo in the build context");
                return Ok(());
            }
            _ => {}
        }
        let name = std::str::from_utf8(&raw).map_err(|_| refuse("the name is not UTF-8"))?;
        let key = entry_key(name).map_err(|r| refuse(&r))?;
        let header = {
            let h = entry.header();
            let bad = |field: &str, e: io::Error| refuse(&format!("bad {field}: {e}"));
            let mode = h.mode().map_err(|e| bad("mode", e))? & 0o7777;
            let uid = h.uid().map_err(|e| bad("uid", e))?;
            let gid = h.gid().map_err(|e| bad("gid", e))?;
            let mtime = h.mtime().map_err(|e| bad("mtime", e))?;
            Header {
                mode,
                uid: u32::try_from(uid).map_err(|_| refuse("uid out of range"))?,
                gid: u32::try_from(gid).map_err(|_| refuse("gid out of range"))?,
                mtime: i64::try_from(mtime).unwrap_or(i64::MAX),
            }
        };
        if key.is_empty() {
            if etype != EntryType::Directory {
                return Err(refuse("a non-directory cannot replace the context root"));
            }
            let root = self
                .entries
                .entry(String::new())
                .or_insert_with(Entry::implicit_dir);
            root.mode = header.mode;
            root.uid = header.uid;
            root.gid = header.gid;
            root.mtime = header.mtime;
            fs::set_permissions(&self.root, fs::Permissions::from_mode(header.mode)).map_err(
                io_err(format!("setting the mode of {}", self.root.display())),
            )?;
            return Ok(());
        }
        self.ensure_parents(&key, &shown)?;
        let path = self.root.join(&key);
        let is_dir = etype == EntryType::Directory;
        self.clear_for(&key, &path, is_dir)?;
        let new = match etype {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(io_err(format!("creating {shown:?}")))?;
                let mut hasher = blake3::Hasher::new();
                let mut size = 0u64;
                loop {
                    let n = match entry.read(buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(ContextError::Malformed(format!(
                                "reading entry {shown:?}: {e}"
                            )));
                        }
                    };
                    hasher.update(&buf[..n]);
                    file.write_all(&buf[..n])
                        .map_err(io_err(format!("writing {shown:?}")))?;
                    size += n as u64;
                }
                file.set_permissions(fs::Permissions::from_mode(header.mode))
                    .map_err(io_err(format!("setting the mode of {shown:?}")))?;
                file.set_modified(system_time(header.mtime))
                    .map_err(io_err(format!("setting the mtime of {shown:?}")))?;
                Entry {
                    kind: EntryKind::File,
                    mode: header.mode,
                    uid: header.uid,
                    gid: header.gid,
                    size,
                    mtime: header.mtime,
                    digest: hasher.finalize().into(),
                    link: None,
                }
            }
            EntryType::Directory => {
                if !path.is_dir() {
                    fs::create_dir(&path).map_err(io_err(format!("creating {shown:?}")))?;
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(header.mode))
                    .map_err(io_err(format!("setting the mode of {shown:?}")))?;
                Entry {
                    kind: EntryKind::Dir,
                    mode: header.mode,
                    uid: header.uid,
                    gid: header.gid,
                    size: 0,
                    mtime: header.mtime,
                    digest: [0; 32],
                    link: None,
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse("symlink without a target"))?
                    .into_owned();
                let target = String::from_utf8(target)
                    .map_err(|_| refuse("the symlink target is not UTF-8"))?;
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(io_err(format!("creating symlink {shown:?}")))?;
                Entry {
                    kind: EntryKind::Symlink,
                    mode: header.mode,
                    uid: header.uid,
                    gid: header.gid,
                    size: 0,
                    mtime: header.mtime,
                    digest: blake3::hash(target.as_bytes()).into(),
                    link: Some(target),
                }
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse("hard link without a target"))?
                    .into_owned();
                let target = String::from_utf8_lossy(&target).into_owned();
                let tkey = entry_key(&target)
                    .map_err(|r| refuse(&format!("hard link target {target:?}: {r}")))?;
                let Some(found) = self.entries.get(&tkey).cloned() else {
                    return Err(refuse(&format!(
                        "hard link target {target:?} is not in the build context"
                    )));
                };
                match found.kind {
                    EntryKind::Dir => {
                        return Err(refuse(&format!(
                            "hard link target {target:?} is a directory"
                        )));
                    }
                    EntryKind::File => fs::hard_link(self.root.join(&tkey), &path)
                        .map_err(io_err(format!("creating hard link {shown:?}")))?,
                    EntryKind::Symlink => {
                        std::os::unix::fs::symlink(found.link.as_deref().unwrap_or_default(), &path)
                            .map_err(io_err(format!("creating {shown:?}")))?
                    }
                }
                found
            }
            other => return Err(refuse(&format!("unsupported entry type {other:?}"))),
        };
        self.entries.insert(key, new);
        Ok(())
    }

    /// Makes sure every parent of `key` is a directory of the context, creating missing
    /// ones (0755, indexed), refusing to go through a symlink or a file.
    fn ensure_parents(&mut self, key: &str, shown: &str) -> Result<(), ContextError> {
        let parent = parent_key(key);
        if parent.is_empty() {
            return Ok(());
        }
        if self
            .entries
            .get(parent)
            .is_some_and(|e| e.kind == EntryKind::Dir)
        {
            return Ok(());
        }
        let mut end = 0;
        for comp in parent.split('/') {
            end += comp.len();
            let prefix = &parent[..end];
            end += 1;
            match self.entries.get(prefix).map(|e| e.kind) {
                Some(EntryKind::Dir) => {}
                Some(EntryKind::Symlink) => {
                    return Err(ContextError::InvalidEntry {
                        entry: shown.to_string(),
                        reason: format!(
                            "parent {prefix:?} is a symlink; refusing to write through it"
                        ),
                    });
                }
                Some(EntryKind::File) => {
                    return Err(ContextError::InvalidEntry {
                        entry: shown.to_string(),
                        reason: format!("parent {prefix:?} is not a directory"),
                    });
                }
                None => {
                    let p = self.root.join(prefix);
                    fs::create_dir(&p).map_err(io_err(format!("creating {prefix:?}")))?;
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                        .map_err(io_err(format!("setting the mode of {prefix:?}")))?;
                    self.entries
                        .insert(prefix.to_string(), Entry::implicit_dir());
                }
            }
        }
        Ok(())
    }

    /// Removes what is at `key` unless both it and the new entry are directories.
    fn clear_for(&mut self, key: &str, path: &Path, is_dir: bool) -> Result<(), ContextError> {
        let Some(old) = self.entries.get(key) else {
            return Ok(());
        };
        if old.kind == EntryKind::Dir {
            if is_dir {
                return Ok(());
            }
            fs::remove_dir_all(path).map_err(io_err(format!("replacing {key:?}")))?;
            let below = format!("{key}/");
            let gone: Vec<String> = self
                .entries
                .range(below.clone()..)
                .take_while(|(k, _)| k.starts_with(&below))
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                self.entries.remove(&k);
            }
        } else {
            fs::remove_file(path).map_err(io_err(format!("replacing {key:?}")))?;
        }
        self.entries.remove(key);
        Ok(())
    }

    /// The directory the context was extracted into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry at a relative path (`"a/b"`, cleaned; `""` or `"."` is the root).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&lookup_key(path))
    }

    /// Every indexed entry, by cleaned relative path (the root is `""`).
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// Reads a file of the context (e.g. the Dockerfile), following symlinks only inside
    /// the context. Works for files [`Context::exclude`] kept on disk but not in the index.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, ContextError> {
        let key = lookup_key(path);
        let full = snapshot::resolve_in_root(&self.root, &key).map_err(|e| ContextError::Io {
            what: format!("resolving {path:?} in the build context"),
            source: io::Error::other(e.to_string()),
        })?;
        match fs::read(&full) {
            Ok(data) => Ok(data),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContextError::NotFound(path.to_string()))
            }
            Err(e) => Err(io_err(format!("reading {path:?} from the build context"))(
                e,
            )),
        }
    }

    /// Removes excluded entries from the index and the disk. Names in `keep` that are
    /// excluded leave the index but stay on disk, so [`Context::read`] still finds them, as
    /// moby does for a Dockerfile or `.dockerignore` the `.dockerignore` lists (they can be
    /// read but not COPYed). A directory excluded while something under it is not stays, as
    /// a plain 0755 directory, the way the docker CLI's tar recreates it.
    pub fn exclude(&mut self, m: &Matcher, keep: &[&str]) {
        if m.is_empty() {
            return;
        }
        let keep: Vec<String> = keep.iter().map(|k| lookup_key(k)).collect();
        let excluded: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !k.is_empty() && m.is_excluded(k))
            .cloned()
            .collect();
        if excluded.is_empty() {
            return;
        }
        let mut removed: HashMap<String, Entry> = HashMap::new();
        for k in &excluded {
            if let Some(e) = self.entries.remove(k) {
                removed.insert(k.clone(), e);
            }
        }
        // Directories still needed by a surviving or kept entry below them.
        let mut needed: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut mark = |key: &str| {
            let mut p = parent_key(key);
            while !p.is_empty() {
                if !needed.insert(p.to_string()) {
                    break;
                }
                p = parent_key(p);
            }
        };
        for k in self.entries.keys() {
            mark(k);
        }
        for k in &keep {
            mark(k);
        }
        for k in &excluded {
            let Some(entry) = removed.get(k) else {
                continue;
            };
            let path = self.root.join(k);
            if entry.kind == EntryKind::Dir && needed.contains(k) {
                self.entries.insert(k.clone(), Entry::implicit_dir());
                continue;
            }
            if keep.contains(k) {
                continue;
            }
            // An ancestor already removed takes this one with it.
            if excluded_ancestor_removed(k, &removed, &needed) {
                continue;
            }
            let res = if entry.kind == EntryKind::Dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(e) = res {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "removing an excluded context entry");
                }
            }
        }
    }

    /// The newest mtime among the indexed entries.
    pub fn newest_mtime(&self) -> Option<i64> {
        self.entries.values().map(|e| e.mtime).max()
    }
}

fn excluded_ancestor_removed(
    key: &str,
    removed: &HashMap<String, Entry>,
    needed: &std::collections::HashSet<String>,
) -> bool {
    let mut p = parent_key(key);
    while !p.is_empty() {
        if removed.get(p).is_some_and(|e| e.kind == EntryKind::Dir) && !needed.contains(p) {
            return true;
        }
        p = parent_key(p);
    }
    false
}

/// Writes `dir` as a build-context tar: entries in a sorted depth-first walk,
/// `.dockerignore` applied through `m` (an excluded directory is entered only when an
/// exception could re-include something below it, as the docker CLI's archiver decides),
/// the names in `always` (the Dockerfile, `.dockerignore`) included whatever `m` says, as
/// docker/cli adds `!` exceptions for them. Owners are 0:0 like the docker CLI's, modes and
/// mtimes kept; files sharing an inode become hard links; sockets and devices are skipped.
pub fn write_context_tar(
    dir: &Path,
    m: &Matcher,
    always: &[&str],
    w: impl Write,
) -> Result<(), ContextError> {
    let always: Vec<String> = always.iter().map(|a| lookup_key(a)).collect();
    let mut builder = tar::Builder::new(w);
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk_into(dir, "", m, &always, &mut builder, &mut inodes)?;
    builder
        .into_inner()
        .map_err(io_err("finishing the context tar"))?
        .flush()
        .map_err(io_err("flushing the context tar"))
}

fn walk_into<W: Write>(
    dir: &Path,
    rel: &str,
    m: &Matcher,
    always: &[String],
    builder: &mut tar::Builder<W>,
    inodes: &mut HashMap<(u64, u64), String>,
) -> Result<(), ContextError> {
    let host = if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    };
    let mut names: Vec<String> = Vec::new();
    for item in fs::read_dir(&host).map_err(io_err(format!("reading {}", host.display())))? {
        let item = item.map_err(io_err(format!("reading {}", host.display())))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            return Err(ContextError::InvalidEntry {
                entry: item.path().display().to_string(),
                reason: "the name is not UTF-8".into(),
            });
        };
        names.push(name.to_string());
    }
    names.sort();
    for name in names {
        let key = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&key);
        let md = fs::symlink_metadata(&path).map_err(io_err(format!("inspecting {key}")))?;
        let forced = always.contains(&key);
        let ft = md.file_type();
        if !forced && m.is_excluded(&key) {
            let prefix = format!("{key}/");
            if ft.is_dir()
                && (m.must_descend(&key) || always.iter().any(|a| a.starts_with(&prefix)))
            {
                walk_into(dir, &key, m, always, builder, inodes)?;
            }
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(md.mode() & 0o7777);
        header.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
        let what = || format!("adding {key} to the context tar");
        if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{key}/"), io::empty())
                .map_err(io_err(what()))?;
            walk_into(dir, &key, m, always, builder, inodes)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err(format!("reading link {key}")))?;
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, &key, &target)
                .map_err(io_err(what()))?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = inodes.get(&(md.dev(), md.ino())) {
                    header.set_entry_type(EntryType::Link);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, &key, first)
                        .map_err(io_err(what()))?;
                    continue;
                }
                inodes.insert((md.dev(), md.ino()), key.clone());
            }
            header.set_entry_type(EntryType::Regular);
            header.set_size(md.len());
            let file = File::open(&path).map_err(io_err(format!("opening {key}")))?;
            builder
                .append_data(&mut header, &key, file)
                .map_err(io_err(what()))?;
        } else {
            tracing::debug!(path = %key, "skipping a socket, fifo or device in the build context");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> [u8; 32] {
        blake3::hash(data).into()
    }

    /// A tar built entry by entry.
    struct TarBuilder(tar::Builder<Vec<u8>>);

    impl TarBuilder {
        fn new() -> Self {
            TarBuilder(tar::Builder::new(Vec::new()))
        }

        fn raw(&mut self, name: &str, kind: EntryType, mode: u32, data: &[u8], link: &str) {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mtime(1_600_000_000);
            h.set_size(data.len() as u64);
            {
                let bytes = h.as_mut_bytes();
                bytes[..100].fill(0);
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                bytes[157..257].fill(0);
                bytes[157..157 + link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_cksum();
            self.0.append(&h, data).expect("append");
        }

        fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
            self.raw(name, EntryType::Regular, mode, data, "");
            self
        }

        fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
            self.raw(name, EntryType::Directory, mode, b"", "");
            self
        }

        fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.raw(name, EntryType::Symlink, 0o777, b"", target);
            self
        }

        fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.raw(name, EntryType::Link, 0o644, b"", target);
            self
        }

        fn finish(self) -> Vec<u8> {
            self.0.into_inner().expect("finish")
        }
    }

    fn receive(tar: &[u8]) -> (tempfile::TempDir, Result<Context, ContextError>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ctx = Context::receive(tar, &tmp.path().join("ctx"));
        (tmp, ctx)
    }

    #[test]
    fn receives_and_indexes() {
        let mut t = TarBuilder::new();
        t.file("Dockerfile", 0o644, b"FROM busybox\n")
            .dir("src/", 0o750)
            .file("src/main.rs", 0o4755, b"fn main() {}")
            .symlink("link", "src/main.rs")
            .hardlink("src/hard", "src/main.rs")
            .file("/abs/x", 0o600, b"x")
            .file("deep/er/f", 0o644, b"f");
        let (_tmp, ctx) = receive(&t.finish());
        let ctx = ctx.expect("receive");
        let df = ctx.get("Dockerfile").expect("Dockerfile");
        assert_eq!(df.kind, EntryKind::File);
        assert_eq!(df.digest, sha(b"FROM busybox\n"));
        assert_eq!(
            (df.uid, df.gid, df.size, df.mtime),
            (1000, 1000, 13, 1_600_000_000)
        );
        let main = ctx.get("./src//main.rs").expect("main");
        assert_eq!(main.mode, 0o4755);
        assert_eq!(ctx.get("src").expect("src").mode, 0o750);
        let link = ctx.get("link").expect("link");
        assert_eq!(link.kind, EntryKind::Symlink);
        assert_eq!(link.link.as_deref(), Some("src/main.rs"));
        assert_eq!(link.digest, sha(b"src/main.rs"));
        let hard = ctx.get("src/hard").expect("hard");
        assert_eq!(hard.kind, EntryKind::File);
        assert_eq!(hard.digest, main.digest);
        assert!(ctx.get("abs/x").is_some());
        let implicit = ctx.get("deep/er").expect("implicit dir");
        assert_eq!((implicit.kind, implicit.mode), (EntryKind::Dir, 0o755));
        assert_eq!(ctx.get("").expect("root").kind, EntryKind::Dir);
        assert_eq!(ctx.get(".").expect("root").kind, EntryKind::Dir);
        assert_eq!(ctx.read("Dockerfile").expect("read"), b"FROM busybox\n");
        assert_eq!(ctx.read("link").expect("read link"), b"fn main() {}");
        assert_eq!(ctx.newest_mtime(), Some(1_600_000_000));
        let on_disk = fs::metadata(ctx.root().join("src/main.rs")).expect("stat");
        assert_eq!(on_disk.mode() & 0o7777, 0o4755);
    }

    #[test]
    fn compressed_streams() {
        let mut t = TarBuilder::new();
        t.file("a", 0o644, b"hello");
        let plain = t.finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(plain.as_slice(), 1).expect("zstd");
        for data in [plain, gz, zst] {
            let (_tmp, ctx) = receive(&data);
            let ctx = ctx.expect("receive");
            assert_eq!(ctx.get("a").expect("a").digest, sha(b"hello"));
        }
    }

    #[test]
    fn refuses_escapes_and_symlink_parents() {
        let mut t = TarBuilder::new();
        t.file("../evil", 0o644, b"x");
        let (tmp, ctx) = receive(&t.finish());
        let err = ctx.expect_err("escape");
        assert!(err.to_string().contains("../evil"), "{err}");
        assert!(!tmp.path().join("evil").exists());

        let mut t = TarBuilder::new();
        t.symlink("out", "/").file("out/etc/evil", 0o644, b"x");
        let (_tmp, ctx) = receive(&t.finish());
        let err = ctx.expect_err("through symlink").to_string();
        assert!(
            err.contains("out/etc/evil") && err.contains("symlink"),
            "{err}"
        );

        let mut t = TarBuilder::new();
        t.file("a", 0o644, b"x").hardlink("b", "missing");
        let (_tmp, ctx) = receive(&t.finish());
        let err = ctx.expect_err("dangling hard link").to_string();
        assert!(err.contains("\"b\"") && err.contains("missing"), "{err}");
    }

    #[test]
    fn later_entries_replace_earlier() {
        let mut t = TarBuilder::new();
        t.file("x", 0o644, b"one")
            .file("x", 0o600, b"two")
            .dir("d/", 0o755)
            .file("d/f", 0o644, b"f")
            .file("d", 0o644, b"now a file");
        let (_tmp, ctx) = receive(&t.finish());
        let ctx = ctx.expect("receive");
        assert_eq!(ctx.get("x").expect("x").digest, sha(b"two"));
        assert_eq!(ctx.read("x").expect("x"), b"two");
        assert_eq!(ctx.get("d").expect("d").kind, EntryKind::File);
        assert!(ctx.get("d/f").is_none());
    }

    #[test]
    fn target_must_be_empty() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join("junk"), b"x").expect("write");
        let err =
            Context::receive(&TarBuilder::new().finish()[..], tmp.path()).expect_err("not empty");
        assert!(matches!(err, ContextError::NotEmpty(_)));
    }

    #[test]
    fn exclude_keeps_listed_names_readable() {
        let mut t = TarBuilder::new();
        t.file("Dockerfile", 0o644, b"FROM x")
            .file(
                ".dockerignore",
                0o644,
                b"Dockerfile\n.dockerignore\nlogs\n!logs/keep.log\n*.tmp\n",
            )
            .file("a.tmp", 0o644, b"t")
            .file("logs/1.log", 0o644, b"1")
            .file("logs/keep.log", 0o644, b"k")
            .file("src/b.tmp", 0o644, b"b")
            .file("src/c", 0o644, b"c");
        let (_tmp, ctx) = receive(&t.finish());
        let mut ctx = ctx.expect("receive");
        let patterns = crate::ignore::parse_dockerignore(
            std::str::from_utf8(&ctx.read(".dockerignore").expect("read")).expect("utf8"),
        );
        let m = Matcher::new(&patterns).expect("matcher");
        ctx.exclude(&m, &["Dockerfile", ".dockerignore"]);
        let keys: Vec<&str> = ctx.entries().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec!["", "logs", "logs/keep.log", "src", "src/b.tmp", "src/c"]
        );
        assert_eq!(ctx.read("Dockerfile").expect("still readable"), b"FROM x");
        assert!(ctx.read(".dockerignore").is_ok());
        assert!(matches!(ctx.read("a.tmp"), Err(ContextError::NotFound(_))));
        assert!(!ctx.root().join("logs/1.log").exists());
        assert!(ctx.root().join("logs/keep.log").exists());
    }

    #[test]
    fn context_tar_round_trip() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("docs/keep")).expect("mkdir");
        fs::create_dir_all(src.join("node_modules/x")).expect("mkdir");
        fs::write(src.join("Dockerfile"), b"FROM busybox").expect("write");
        fs::write(src.join(".dockerignore"), b"*\n!app\n!docs/keep/a.md").expect("write");
        fs::write(src.join("app"), b"app").expect("write");
        fs::hard_link(src.join("app"), src.join("app2")).expect("link");
        fs::write(src.join("docs/keep/a.md"), b"a").expect("write");
        fs::write(src.join("docs/b.md"), b"b").expect("write");
        fs::write(src.join("node_modules/x/y"), b"y").expect("write");
        std::os::unix::fs::symlink("app", src.join("applink")).expect("symlink");
        let m = Matcher::new(&parse(&src)).expect("matcher");
        let mut tar = Vec::new();
        write_context_tar(&src, &m, &["Dockerfile", ".dockerignore"], &mut tar).expect("tar");
        let mut names = Vec::new();
        for e in tar::Archive::new(tar.as_slice())
            .entries()
            .expect("entries")
        {
            let e = e.expect("entry");
            assert_eq!(
                (
                    e.header().uid().expect("uid"),
                    e.header().gid().expect("gid")
                ),
                (0, 0)
            );
            names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
        }
        assert_eq!(
            names,
            vec![".dockerignore", "Dockerfile", "app", "docs/keep/a.md"]
        );
        let ctx = Context::receive(tar.as_slice(), &tmp.path().join("recv")).expect("receive");
        assert_eq!(ctx.read("docs/keep/a.md").expect("a"), b"a");

        // Without ignore rules: everything, hard links as links.
        let mut tar = Vec::new();
        write_context_tar(&src, &Matcher::default(), &[], &mut tar).expect("tar");
        let ctx = Context::receive(tar.as_slice(), &tmp.path().join("recv2")).expect("receive");
        assert_eq!(ctx.get("app2").expect("app2").digest, sha(b"app"));
        assert_eq!(
            ctx.get("applink").expect("link").link.as_deref(),
            Some("app")
        );
        assert!(ctx.get("node_modules/x/y").is_some());
    }

    fn parse(dir: &Path) -> Vec<String> {
        crate::ignore::parse_dockerignore(
            &fs::read_to_string(dir.join(".dockerignore")).expect("read .dockerignore"),
        )
    }
}
