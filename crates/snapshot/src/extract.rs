//! Safe extraction of a tar stream below one directory.
//!
//! Every entry path is split into components; `..` and absolute paths are refused. Parents are
//! walked from the root directory's file descriptor one component at a time with
//! `O_DIRECTORY | O_NOFOLLOW`, so a symlink met on the way (one this same tar created, or one
//! already in the destination) ends the extraction instead of being followed. The last
//! component is created with `*at` calls relative to its parent's descriptor and never
//! followed either (`O_EXCL | O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use tar::EntryType;

use crate::error::{Error, IoContext, Result};
use crate::stream::StreamErrors;
use crate::sys;

/// The xattr overlayfs reads to make a directory opaque.
pub(crate) const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";
/// The prefix of the xattrs overlayfs keeps for itself; never taken from a tar.
pub(crate) const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";

/// How entries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Into a fresh layer directory: OCI whiteouts become overlay whiteouts; later entries
    /// replace earlier ones.
    Layer,
    /// Into an existing directory (`docker cp` into a container): no whiteout handling; a
    /// directory is never replaced by a non-directory or the other way round.
    Copy,
}

impl Mode {
    fn what(self) -> &'static str {
        match self {
            Mode::Layer => "layer",
            Mode::Copy => "archive",
        }
    }

    fn scope(self) -> &'static str {
        match self {
            Mode::Layer => "layer",
            Mode::Copy => "destination",
        }
    }
}

/// Splits a tar path into normal components; `Err(reason)` for absolute paths and `..`.
pub(crate) fn split_path(raw: &[u8], scope: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    if raw.first() == Some(&b'/') {
        return Err(format!(
            "absolute paths are not allowed in a {scope} archive"
        ));
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(format!("path escapes the {scope} directory")),
            _ => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn join(comps: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&comps.join(&b'/')).into_owned()
}

/// Metadata of one entry, taken from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Unpacks tar entries below a root directory.
pub(crate) struct Extractor {
    root: OwnedFd,
    mode: Mode,
    dir_times: Vec<(Vec<Vec<u8>>, i64)>,
    size: u64,
    buf: Vec<u8>,
}

impl Extractor {
    /// Extracts below the directory `root`.
    pub(crate) fn new(root: OwnedFd, mode: Mode) -> Self {
        Extractor {
            root,
            mode,
            dir_times: Vec::new(),
            size: 0,
            buf: vec![0u8; 128 * 1024],
        }
    }

    /// Bytes of regular-file content written.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn refuse(&self, entry: &str, reason: impl Into<String>) -> Error {
        Error::InvalidEntry {
            what: self.mode.what(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// Extracts every entry of `archive`, then sets directory times.
    pub(crate) fn unpack<R: Read>(
        &mut self,
        archive: &mut tar::Archive<R>,
        errors: &StreamErrors,
    ) -> Result<()> {
        for entry in archive.entries().map_err(|e| errors.classify(e))? {
            let mut entry = entry.map_err(|e| errors.classify(e))?;
            self.entry(&mut entry, errors)?;
        }
        self.finish()
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta> {
        let header = entry.header();
        let bad = |field: &str, e: std::io::Error| self.refuse(shown, format!("bad {field}: {e}"));
        let mode = header.mode().map_err(|e| bad("mode", e))?;
        let uid = header.uid().map_err(|e| bad("uid", e))?;
        let gid = header.gid().map_err(|e| bad("gid", e))?;
        let mtime = header.mtime().map_err(|e| bad("mtime", e))?;
        let uid = u32::try_from(uid)
            .map_err(|_| self.refuse(shown, format!("uid {uid} out of range")))?;
        let gid = u32::try_from(gid)
            .map_err(|_| self.refuse(shown, format!("gid {gid} out of range")))?;
        let mut xattrs = Vec::new();
        if let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| self.refuse(shown, format!("bad PAX header: {e}")))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| self.refuse(shown, format!("bad PAX record: {e}")))?;
                if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.".as_slice()) {
                    if name.starts_with(OVERLAY_XATTR_PREFIX) || name.is_empty() {
                        continue;
                    }
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode: mode & 0o7777,
            uid,
            gid,
            mtime: i64::try_from(mtime).unwrap_or(i64::MAX),
            xattrs,
        })
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        errors: &StreamErrors,
    ) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let etype = entry.header().entry_type();
        if matches!(etype, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let comps = split_path(&raw, self.mode.scope()).map_err(|r| self.refuse(&shown, r))?;
        let meta = self.meta(entry, &shown)?;
        let Some((name, parents)) = comps.split_last() else {
            // "./": the root directory itself. Copying into a container never changes the
            // destination directory's own owner or mode.
            if self.mode == Mode::Copy && etype == EntryType::Directory {
                return Ok(());
            }
            if etype != EntryType::Directory {
                return Err(
                    self.refuse(&shown, "a non-directory cannot replace the root directory")
                );
            }
            let root = self
                .root
                .try_clone()
                .ctx(|| "duplicating the root descriptor".into())?;
            self.set_meta_fd(root.as_fd(), &meta, &shown, false)?;
            self.dir_times.push((Vec::new(), meta.mtime));
            return Ok(());
        };
        let parent = self.open_parent(parents, &shown, true)?;
        if self.mode == Mode::Layer && name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parent.as_fd(), name, &shown, &meta);
        }
        match etype {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(parent.as_fd(), name, &shown, &meta, entry, errors)
            }
            EntryType::Directory => {
                self.dir(parent.as_fd(), name, &shown, &meta)?;
                self.dir_times.push((comps.clone(), meta.mtime));
                Ok(())
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.refuse(&shown, "symlink without a target"))?
                    .into_owned();
                self.replace_target(parent.as_fd(), name, false, &shown)?;
                sys::symlinkat(&target, parent.as_fd(), name)
                    .ctx(|| format!("creating symlink {shown:?}"))?;
                self.set_meta_at(parent.as_fd(), name, &meta, &shown)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.refuse(&shown, "hard link without a target"))?
                    .into_owned();
                self.hardlink(parent.as_fd(), name, &comps, &target, &shown)
            }
            EntryType::Fifo => {
                self.replace_target(parent.as_fd(), name, false, &shown)?;
                sys::mknodat(parent.as_fd(), name, libc::S_IFIFO | 0o600, 0)
                    .ctx(|| format!("creating fifo {shown:?}"))?;
                // Through a descriptor (a non-blocking read open of a fifo needs no writer),
                // so a name swapped for a symlink meanwhile can never redirect the chmod.
                let fifo = sys::open_file_nofollow(parent.as_fd(), name)
                    .ctx(|| format!("opening fifo {shown:?}"))?;
                self.set_meta_fd(fifo.as_fd(), &meta, &shown, true)
            }
            EntryType::Char | EntryType::Block => {
                Err(self.refuse(&shown, "device nodes are not allowed"))
            }
            other => Err(self.refuse(&shown, format!("unsupported entry type {other:?}"))),
        }
    }

    /// Walks `parents` from the root without following symlinks, creating missing
    /// directories when `create` is set.
    fn open_parent(&self, parents: &[Vec<u8>], shown: &str, create: bool) -> Result<OwnedFd> {
        let mut cur = self
            .root
            .try_clone()
            .ctx(|| "duplicating the root descriptor".into())?;
        for (i, c) in parents.iter().enumerate() {
            let next = match sys::open_subdir(cur.as_fd(), c) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    if !create {
                        return Err(self
                            .refuse(shown, format!("{:?} does not exist", join(&parents[..=i]))));
                    }
                    match sys::mkdirat(cur.as_fd(), c, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => {
                            return Err(Error::io(
                                format!("creating directory {:?}", join(&parents[..=i])),
                                e,
                            ));
                        }
                    }
                    sys::open_subdir(cur.as_fd(), c)
                        .ctx(|| format!("opening directory {:?}", join(&parents[..=i])))?
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    let prefix = join(&parents[..=i]);
                    let is_link = sys::lstat_at(cur.as_fd(), c)
                        .ok()
                        .flatten()
                        .is_some_and(|st| sys::file_type(&st) == libc::S_IFLNK);
                    return Err(if is_link {
                        self.refuse(
                            shown,
                            format!("parent {prefix:?} is a symlink; refusing to write through it"),
                        )
                    } else {
                        self.refuse(shown, format!("parent {prefix:?} is not a directory"))
                    });
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("opening directory {:?}", join(&parents[..=i])),
                        e,
                    ));
                }
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Clears the way for a new entry `name`. Returns `true` when a directory already exists
    /// and the new entry is a directory too (it is then kept and only its metadata updated).
    fn replace_target(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        is_dir: bool,
        shown: &str,
    ) -> Result<bool> {
        let Some(st) = sys::lstat_at(parent, name).ctx(|| format!("inspecting {shown:?}"))? else {
            return Ok(false);
        };
        let existing_dir = sys::file_type(&st) == libc::S_IFDIR;
        match (existing_dir, is_dir) {
            (true, true) => return Ok(true),
            (true, false) if self.mode == Mode::Copy => {
                return Err(self.refuse(shown, "cannot overwrite a directory with a non-directory"));
            }
            (false, true) if self.mode == Mode::Copy => {
                return Err(self.refuse(shown, "cannot overwrite a non-directory with a directory"));
            }
            _ => {}
        }
        sys::remove_all_at(parent, name).ctx(|| format!("replacing {shown:?}"))?;
        Ok(false)
    }

    fn file<R: Read>(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        shown: &str,
        meta: &Meta,
        entry: &mut tar::Entry<'_, R>,
        errors: &StreamErrors,
    ) -> Result<()> {
        self.replace_target(parent, name, false, shown)?;
        let fd = sys::openat(
            parent,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        )
        .ctx(|| format!("creating file {shown:?}"))?;
        let mut file = File::from(fd);
        let mut buf = std::mem::take(&mut self.buf);
        let res = self.copy_data(&mut file, &mut buf, shown, entry, errors);
        self.buf = buf;
        res?;
        self.set_meta_fd(file.as_fd(), meta, shown, true)
    }

    fn copy_data<R: Read>(
        &mut self,
        file: &mut File,
        buf: &mut [u8],
        shown: &str,
        entry: &mut tar::Entry<'_, R>,
        errors: &StreamErrors,
    ) -> Result<()> {
        loop {
            let n = match entry.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(errors.classify(e)),
            };
            file.write_all(&buf[..n])
                .ctx(|| format!("writing file {shown:?}"))?;
            self.size += n as u64;
        }
        Ok(())
    }

    fn dir(&mut self, parent: BorrowedFd<'_>, name: &[u8], shown: &str, meta: &Meta) -> Result<()> {
        if !self.replace_target(parent, name, true, shown)? {
            sys::mkdirat(parent, name, 0o700).ctx(|| format!("creating directory {shown:?}"))?;
        }
        let fd = sys::open_subdir(parent, name).ctx(|| format!("opening directory {shown:?}"))?;
        self.set_meta_fd(fd.as_fd(), meta, shown, false)
    }

    fn hardlink(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        comps: &[Vec<u8>],
        target: &[u8],
        shown: &str,
    ) -> Result<()> {
        let shown_target = String::from_utf8_lossy(target).into_owned();
        let tcomps = split_path(target, self.mode.scope())
            .map_err(|r| self.refuse(shown, format!("hard link target {shown_target:?}: {r}")))?;
        let Some((tname, tparents)) = tcomps.split_last() else {
            return Err(self.refuse(shown, "hard link to the root directory"));
        };
        if tcomps == comps {
            return Ok(());
        }
        let tparent = self
            .open_parent(tparents, shown, false)
            .map_err(|e| match e {
                Error::InvalidEntry { reason, .. } => self.refuse(
                    shown,
                    format!("hard link target {shown_target:?}: {reason}"),
                ),
                other => other,
            })?;
        let st = sys::lstat_at(tparent.as_fd(), tname)
            .ctx(|| format!("inspecting hard link target {shown_target:?}"))?
            .ok_or_else(|| {
                self.refuse(
                    shown,
                    format!(
                        "hard link target {shown_target:?} does not exist in the {}",
                        self.mode.scope()
                    ),
                )
            })?;
        if sys::file_type(&st) == libc::S_IFDIR {
            return Err(self.refuse(
                shown,
                format!("hard link target {shown_target:?} is a directory"),
            ));
        }
        self.replace_target(parent, name, false, shown)?;
        sys::linkat(tparent.as_fd(), tname, parent, name)
            .ctx(|| format!("creating hard link {shown:?} to {shown_target:?}"))
    }

    fn whiteout(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        shown: &str,
        meta: &Meta,
    ) -> Result<()> {
        if name == OPAQUE_WHITEOUT {
            return sys::fsetxattr(parent, OPAQUE_XATTR, b"y")
                .ctx(|| format!("marking the directory of {shown:?} opaque"));
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            // Other AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): not part of the content.
            return Ok(());
        }
        let target = &name[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." {
            return Err(self.refuse(shown, "invalid whiteout name"));
        }
        sys::remove_all_at(parent, target)
            .ctx(|| format!("replacing the target of whiteout {shown:?}"))?;
        sys::mknodat(parent, target, libc::S_IFCHR, 0)
            .ctx(|| format!("creating the overlay whiteout for {shown:?}"))?;
        sys::lchown_at(parent, target, meta.uid, meta.gid)
            .ctx(|| format!("setting the owner of whiteout {shown:?}"))
    }

    fn set_xattr(
        &self,
        target: XattrSink<'_>,
        shown: &str,
        name: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let res = match target {
            XattrSink::Fd(fd) => sys::fsetxattr(fd, name, value),
            XattrSink::At(dir, n) => sys::lsetxattr(&sys::proc_fd_path(dir, n), name, value),
        };
        match res {
            Ok(()) => Ok(()),
            // As docker does: not every filesystem takes every namespace.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {
                tracing::warn!(
                    entry = shown,
                    xattr = %String::from_utf8_lossy(name),
                    error = %e,
                    "xattr not set"
                );
                Ok(())
            }
            Err(e) => Err(Error::io(
                format!(
                    "setting xattr {} on {shown:?}",
                    String::from_utf8_lossy(name)
                ),
                e,
            )),
        }
    }

    /// Owner, then mode (chown clears set-id bits), then xattrs (chown clears file
    /// capabilities), then times.
    fn set_meta_fd(&self, fd: BorrowedFd<'_>, meta: &Meta, shown: &str, times: bool) -> Result<()> {
        sys::fchown(fd, meta.uid, meta.gid).ctx(|| format!("setting the owner of {shown:?}"))?;
        sys::fchmod(fd, meta.mode).ctx(|| format!("setting the mode of {shown:?}"))?;
        for (name, value) in &meta.xattrs {
            self.set_xattr(XattrSink::Fd(fd), shown, name, value)?;
        }
        if times {
            sys::futimens(fd, meta.mtime).ctx(|| format!("setting the times of {shown:?}"))?;
        }
        Ok(())
    }

    /// Metadata of a symlink, by name (never following it; symlinks have no mode).
    fn set_meta_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<()> {
        sys::lchown_at(dir, name, meta.uid, meta.gid)
            .ctx(|| format!("setting the owner of {shown:?}"))?;
        for (xname, value) in &meta.xattrs {
            self.set_xattr(XattrSink::At(dir, name), shown, xname, value)?;
        }
        sys::lutimes_at(dir, name, meta.mtime).ctx(|| format!("setting the times of {shown:?}"))
    }

    /// Sets directory times last: creating entries inside a directory changes its mtime.
    fn finish(&mut self) -> Result<()> {
        for (comps, mtime) in std::mem::take(&mut self.dir_times).into_iter().rev() {
            let fd = match comps.split_last() {
                None => self.root.try_clone().ok(),
                Some((name, parents)) => self
                    .open_parent(parents, "", false)
                    .ok()
                    .and_then(|p| sys::open_subdir(p.as_fd(), name).ok()),
            };
            if let Some(fd) = fd {
                sys::futimens(fd.as_fd(), mtime)
                    .ctx(|| format!("setting the times of {:?}", join(&comps)))?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum XattrSink<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a [u8]),
}
