//! `docker cp`: resolving a path inside a container's root filesystem, archiving it, and
//! extracting an archive into it, all without ever leaving that root.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::extract::{Extractor, Mode};
use crate::stream::open_tar_stream;
use crate::sys;
use crate::tree::{TreeMode, TreeWriter};

/// Symlinks followed while resolving one path before giving up (as Linux's `ELOOP`).
const MAX_SYMLINKS: usize = 255;

fn split(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

fn join_under(root: &Path, comps: &[Vec<u8>]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(OsStr::from_bytes(c));
    }
    p
}

/// Resolves `path` as if `root` were `/`: `..` stops at the root and symlinks (absolute or
/// relative) are followed inside it. Missing components are kept as they are. With
/// `follow_last` unset, a symlink in the last component is not followed.
fn resolve_components(root: &Path, path: &[u8], follow_last: bool) -> Result<Vec<Vec<u8>>> {
    let mut pending = split(path);
    let mut resolved: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == b".." {
            resolved.pop();
            continue;
        }
        resolved.push(c);
        if pending.is_empty() && !follow_last {
            break;
        }
        let p = join_under(root, &resolved);
        let Ok(Some(st)) = sys::lstat(&p) else {
            continue;
        };
        if sys::file_type(&st) != libc::S_IFLNK {
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(Error::InvalidArgument {
                what: "path",
                value: String::from_utf8_lossy(path).into_owned(),
                reason: "too many levels of symbolic links",
            });
        }
        let target = std::fs::read_link(&p).ctx(|| format!("reading link {}", p.display()))?;
        let target = target.as_os_str().as_bytes();
        resolved.pop();
        if target.starts_with(b"/") {
            resolved.clear();
        }
        let mut next = split(target);
        next.extend(pending);
        pending = next;
    }
    Ok(resolved)
}

/// Resolves `path` inside `root` as if `root` were `/` (like moby's `FollowSymlinkInScope`):
/// the result is always `root` or below it, whatever symlinks the tree holds.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    Ok(join_under(
        root,
        &resolve_components(root, path.as_bytes(), true)?,
    ))
}

/// Opens the directory `comps` below `root`, never following a symlink.
fn open_below(root: &Path, comps: &[Vec<u8>], shown: &str) -> Result<OwnedFd> {
    let mut cur = sys::open_dir(root).ctx(|| format!("opening {}", root.display()))?;
    for c in comps {
        cur = match sys::open_subdir(cur.as_fd(), c) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(Error::PathNotFound(shown.to_string()));
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::ELOOP)) => {
                return Err(Error::InvalidArgument {
                    what: "path",
                    value: shown.to_string(),
                    reason: "a component is not a directory (or changed while resolving it)",
                });
            }
            Err(e) => return Err(Error::io(format!("opening {shown}"), e)),
        };
    }
    Ok(cur)
}

fn follows_last(path: &str) -> bool {
    path.ends_with('/')
        || path.ends_with("/.")
        || path == "."
        || path.ends_with("/..")
        || path == ".."
}

/// What `HEAD /containers/{id}/archive` reports about a path (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// The base name (`/` for the root).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The raw `st_mode` (file type and permission bits).
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// For a symlink: the absolute path inside the root it resolves to; otherwise empty.
    pub link_target: String,
}

/// Describes `path` inside `root` (not following a symlink in its last component).
pub fn stat_path(root: &Path, path: &str) -> Result<PathStat> {
    let comps = resolve_components(root, path.as_bytes(), follows_last(path))?;
    let (st, name) = match comps.split_last() {
        None => {
            let fd = open_below(root, &[], path)?;
            (
                sys::fstat(fd.as_fd()).ctx(|| format!("inspecting {path}"))?,
                "/".to_string(),
            )
        }
        Some((name, parents)) => {
            let parent = open_below(root, parents, path)?;
            let st = sys::lstat_at(parent.as_fd(), name)
                .ctx(|| format!("inspecting {path}"))?
                .ok_or_else(|| Error::PathNotFound(path.to_string()))?;
            (st, String::from_utf8_lossy(name).into_owned())
        }
    };
    let link_target = if sys::file_type(&st) == libc::S_IFLNK {
        let full = resolve_components(root, path.as_bytes(), true)?;
        let mut s = String::new();
        for c in &full {
            s.push('/');
            s.push_str(&String::from_utf8_lossy(c));
        }
        if s.is_empty() { "/".to_string() } else { s }
    } else {
        String::new()
    };
    Ok(PathStat {
        name,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mode: st.st_mode,
        mtime: st.st_mtime,
        link_target,
    })
}

/// Writes a tar of `path` inside `root`, its entries named from its base name (`etc/…` for
/// `/etc`), as `GET /containers/{id}/archive` does. A symlink in the last component is
/// archived as a symlink unless the path ends in `/` or `/.`. The root itself is named `.`.
pub fn archive_path(root: &Path, path: &str, w: impl Write) -> Result<()> {
    let comps = resolve_components(root, path.as_bytes(), follows_last(path))?;
    let mut tw = TreeWriter::new(w, TreeMode::Plain);
    match comps.split_last() {
        None => {
            // The root: reach it as a name in its parent so the walker can open it.
            let parent = root.parent().unwrap_or(Path::new("/"));
            let name = root
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default();
            let parent_fd =
                sys::open_dir(parent).ctx(|| format!("opening {}", parent.display()))?;
            let st = sys::lstat_at(parent_fd.as_fd(), &name)
                .ctx(|| format!("inspecting {}", root.display()))?
                .ok_or_else(|| Error::PathNotFound(path.to_string()))?;
            tw.entry(parent_fd.as_fd(), &name, &st, b".")?;
        }
        Some((name, parents)) => {
            let parent = open_below(root, parents, path)?;
            let st = sys::lstat_at(parent.as_fd(), name)
                .ctx(|| format!("inspecting {path}"))?
                .ok_or_else(|| Error::PathNotFound(path.to_string()))?;
            tw.entry(parent.as_fd(), name, &st, name)?;
        }
    }
    let mut w = tw.finish()?;
    w.flush().ctx(|| "flushing the archive".into())
}

/// Extracts a tar (plain, gzip or zstd) into the directory `dest` inside `root`
/// (`PUT /containers/{id}/archive`), under the same rules as layers: no `..`, no absolute
/// paths, no writing through symlinks (including ones already in the container), no hard
/// links leaving `dest`, no device nodes. A directory is never replaced by a non-directory
/// or the other way round. Entries before a refused one stay extracted, as with docker.
///
/// `dest` is a path inside the container (`/etc`, resolved here as if `root` were `/`), or a
/// host path below `root` as [`resolve_in_root`] returns it (then taken relative to `root`
/// and resolved again, which changes nothing for an already resolved path). Either way the
/// directory is opened from `root` one component at a time without following symlinks.
pub fn extract_into(root: &Path, dest: impl AsRef<Path>, r: impl Read) -> Result<()> {
    let dest = dest.as_ref();
    let inner = dest.strip_prefix(root).unwrap_or(dest);
    let inner = inner.as_os_str().as_bytes();
    let shown = dest.to_string_lossy();
    let comps = resolve_components(root, inner, true)?;
    let dest_fd = open_below(root, &comps, &shown)?;
    let (reader, errors) = open_tar_stream(r, "archive")?;
    let mut archive = tar::Archive::new(reader);
    Extractor::new(dest_fd, Mode::Copy).unpack(&mut archive, &errors)
}
