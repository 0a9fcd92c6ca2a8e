//! Writing a directory tree as a tar stream: a container's upper directory as an OCI layer
//! (`diff`), its merged view (`export`), or one path of it (`docker cp`).
//!
//! The tree is walked through directory descriptors with `O_NOFOLLOW`, in bytewise name order,
//! so the output is deterministic and a container swapping a directory for a symlink while we
//! read cannot make us read outside its tree. Headers carry mode, owner and mtime only (no
//! atime/ctime, no user or group names); xattrs go in PAX `SCHILY.xattr.*` records, except
//! overlayfs's own `trusted.overlay.*`.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::{EntryType, Header};

use crate::error::{Error, IoContext, Result};
use crate::extract::{OPAQUE_XATTR, OVERLAY_XATTR_PREFIX};
use crate::sys::{self, XattrTarget};

/// How a tree is turned into entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeMode {
    /// An overlay upper directory: whiteouts (char 0:0) become `.wh.<name>` and opaque
    /// directories get a `.wh..wh..opq` entry.
    Diff,
    /// A plain tree.
    Plain,
}

/// Writes entries of a tree into a tar builder.
pub(crate) struct TreeWriter<W: Write> {
    builder: tar::Builder<W>,
    mode: TreeMode,
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Modification times later than this are written as this (`SOURCE_DATE_EPOCH`).
    epoch: Option<i64>,
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

fn header(st: &libc::stat, etype: EntryType, epoch: Option<i64>) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(etype);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    let mtime = match epoch {
        Some(e) => st.st_mtime.min(e),
        None => st.st_mtime,
    };
    h.set_mtime(u64::try_from(mtime).unwrap_or(0));
    h.set_size(0);
    h
}

impl<W: Write> TreeWriter<W> {
    pub(crate) fn new(w: W, mode: TreeMode) -> Self {
        TreeWriter {
            builder: tar::Builder::new(w),
            mode,
            links: HashMap::new(),
            epoch: None,
        }
    }

    /// Clamps every modification time written to `epoch` (seconds since 1970).
    pub(crate) fn clamp_mtimes(mut self, epoch: Option<i64>) -> Self {
        self.epoch = epoch;
        self
    }

    /// Writes the end-of-archive blocks and returns the writer.
    pub(crate) fn finish(self) -> Result<W> {
        self.builder
            .into_inner()
            .ctx(|| "finishing the tar stream".into())
    }

    fn tar_err(path: &[u8]) -> impl FnOnce() -> String + '_ {
        move || format!("writing tar entry {:?}", show(path))
    }

    fn xattrs(&mut self, target: XattrTarget<'_>, path: &[u8]) -> Result<()> {
        let names =
            sys::list_xattrs(target).ctx(|| format!("listing xattrs of {:?}", show(path)))?;
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for name in names {
            if name.starts_with(OVERLAY_XATTR_PREFIX) {
                continue;
            }
            let Ok(name_str) = std::str::from_utf8(&name) else {
                continue;
            };
            if let Some(value) = sys::get_xattr(target, &name)
                .ctx(|| format!("reading xattr {name_str} of {:?}", show(path)))?
            {
                records.push((format!("SCHILY.xattr.{name_str}"), value));
            }
        }
        if !records.is_empty() {
            self.builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .ctx(Self::tar_err(path))?;
        }
        Ok(())
    }

    fn append_empty(&mut self, mut h: Header, path: &[u8]) -> Result<()> {
        self.builder
            .append_data(&mut h, Path::new(OsStr::from_bytes(path)), io::empty())
            .ctx(Self::tar_err(path))
    }

    fn append_link(&mut self, mut h: Header, path: &[u8], target: &[u8]) -> Result<()> {
        let p = Path::new(OsStr::from_bytes(path));
        if target.len() <= 100 {
            // Keep the target byte for byte (the builder's helper would normalise it).
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target);
            self.builder
                .append_data(&mut h, p, io::empty())
                .ctx(Self::tar_err(path))
        } else {
            self.builder
                .append_link(&mut h, p, Path::new(OsStr::from_bytes(target)))
                .ctx(Self::tar_err(path))
        }
    }

    /// Writes every entry below the open directory `dir`, named `prefix/<name>`.
    pub(crate) fn children(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> Result<()> {
        let names = sys::list_dir(dir).ctx(|| format!("listing {:?}", show(prefix)))?;
        for name in names {
            let Some(st) =
                sys::lstat_at(dir, &name).ctx(|| format!("inspecting {:?}", show(&name)))?
            else {
                continue;
            };
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            self.entry(dir, &name, &st, &path)?;
        }
        Ok(())
    }

    /// Writes the entry `name` of `parent` (already `lstat`ed) as `path`, recursively.
    pub(crate) fn entry(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        st: &libc::stat,
        path: &[u8],
    ) -> Result<()> {
        match sys::file_type(st) {
            libc::S_IFDIR => {
                let fd = match sys::open_subdir(parent, name) {
                    Ok(fd) => fd,
                    // Gone or swapped for something else since the listing.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ENOENT) | Some(libc::ELOOP) | Some(libc::ENOTDIR)
                        ) =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(Error::io(format!("opening {:?}", show(path)), e)),
                };
                let st = sys::fstat(fd.as_fd()).ctx(|| format!("inspecting {:?}", show(path)))?;
                self.xattrs(XattrTarget::Fd(fd.as_fd()), path)?;
                let mut dir_path = path.to_vec();
                dir_path.push(b'/');
                self.append_empty(header(&st, EntryType::Directory, self.epoch), &dir_path)?;
                if self.mode == TreeMode::Diff
                    && sys::get_xattr(XattrTarget::Fd(fd.as_fd()), OPAQUE_XATTR)
                        .ctx(|| format!("reading the opaque xattr of {:?}", show(path)))?
                        .as_deref()
                        == Some(b"y")
                {
                    let mut opq = dir_path.clone();
                    opq.extend_from_slice(b".wh..wh..opq");
                    let mut h = header(&st, EntryType::Regular, self.epoch);
                    h.set_mode(0o644);
                    self.append_empty(h, &opq)?;
                }
                self.children(fd.as_fd(), path)
            }
            libc::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key).cloned() {
                        let h = header(st, EntryType::Link, self.epoch);
                        return self.append_link(h, path, &first);
                    }
                }
                let file = match sys::open_file_nofollow(parent, name) {
                    Ok(f) => f,
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ELOOP)) =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(Error::io(format!("opening {:?}", show(path)), e)),
                };
                let st = sys::fstat(file.as_fd()).ctx(|| format!("inspecting {:?}", show(path)))?;
                if sys::file_type(&st) != libc::S_IFREG {
                    return Ok(());
                }
                self.xattrs(XattrTarget::Fd(file.as_fd()), path)?;
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let mut h = header(&st, EntryType::Regular, self.epoch);
                h.set_size(size);
                // Exactly `size` bytes even if the file changes while we read it.
                let data = (&file).take(size).chain(io::repeat(0)).take(size);
                self.builder
                    .append_data(&mut h, Path::new(OsStr::from_bytes(path)), data)
                    .ctx(Self::tar_err(path))?;
                if st.st_nlink > 1 {
                    self.links.insert(key, path.to_vec());
                }
                Ok(())
            }
            libc::S_IFLNK => {
                let target = match sys::readlinkat(parent, name) {
                    Ok(t) => t,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                    Err(e) => return Err(Error::io(format!("reading link {:?}", show(path)), e)),
                };
                let link_path = CString::new(
                    sys::proc_fd_path(parent, name).as_os_str().as_bytes(),
                )
                .map_err(|_| {
                    Error::io(
                        format!("path {:?}", show(path)),
                        io::ErrorKind::InvalidInput.into(),
                    )
                })?;
                self.xattrs(XattrTarget::Link(&link_path), path)?;
                self.append_link(header(st, EntryType::Symlink, self.epoch), path, &target)
            }
            libc::S_IFCHR if self.mode == TreeMode::Diff && sys::is_whiteout(st) => {
                let (dir, base) = match path.iter().rposition(|b| *b == b'/') {
                    Some(i) => (&path[..=i], &path[i + 1..]),
                    None => (&b""[..], path),
                };
                let mut wh = dir.to_vec();
                wh.extend_from_slice(b".wh.");
                wh.extend_from_slice(base);
                let mut h = header(st, EntryType::Regular, self.epoch);
                h.set_mode(0o600);
                self.append_empty(h, &wh)
            }
            libc::S_IFIFO => self.append_empty(header(st, EntryType::Fifo, self.epoch), path),
            _ => {
                // Device nodes and sockets: a layer with a device node would be refused on
                // apply, and sockets are not content (docker skips them too).
                tracing::warn!(path = %show(path), "skipping a device node or socket");
                Ok(())
            }
        }
    }
}
