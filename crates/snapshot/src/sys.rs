//! Thin, safe wrappers over the `*at` system calls, extended attributes and overlay mounts.
//!
//! Everything that touches a tree we do not fully trust (a layer being unpacked, a container's
//! upper or merged directory) goes through a directory file descriptor and a single path
//! component, opened with `O_NOFOLLOW`, so a symlink can never redirect us elsewhere.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Converts bytes into a C string, refusing interior NUL bytes.
pub(crate) fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

fn path_cstr(path: &Path) -> io::Result<CString> {
    cstr(path.as_os_str().as_bytes())
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Opens a directory by path (following symlinks: used only for paths we own).
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = path_cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated string; the returned fd is checked before wrapping.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub(crate) fn openat(
    dir: BorrowedFd<'_>,
    name: &[u8],
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: valid dir fd and NUL-terminated name; result checked before wrapping.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` inside `dir` without following a symlink.
pub(crate) fn open_subdir(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// Opens the regular file `name` inside `dir` for reading without following a symlink.
pub(crate) fn open_file_nofollow(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<File> {
    let fd = openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        0,
    )?;
    Ok(File::from(fd))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `None` when the name does not exist.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<libc::stat>> {
    let c = cstr(name)?;
    // SAFETY: zeroed `stat` is a valid out-parameter for fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, NUL-terminated name, and a valid pointer to `st`.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(st))
}

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: zeroed `stat` is a valid out-parameter for fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and a valid pointer to `st`.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `lstat(path)`; `None` when it does not exist.
pub(crate) fn lstat(path: &Path) -> io::Result<Option<libc::stat>> {
    let c = path_cstr(path)?;
    // SAFETY: zeroed `stat` is a valid out-parameter for lstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: NUL-terminated path and a valid pointer to `st`.
    let ret = unsafe { libc::lstat(c.as_ptr(), &mut st) };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(st))
}

/// The file-type bits of a `stat`.
pub(crate) fn file_type(st: &libc::stat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

/// Whether a `stat` describes an overlay whiteout (a character device 0:0).
pub(crate) fn is_whiteout(st: &libc::stat) -> bool {
    file_type(st) == libc::S_IFCHR && st.st_rdev == 0
}

/// `mkdirat(dir, name, mode)`.
pub(crate) fn mkdirat(dir: BorrowedFd<'_>, name: &[u8], mode: libc::mode_t) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) })
}

/// `mknodat(dir, name, mode, dev)`.
pub(crate) fn mknodat(
    dir: BorrowedFd<'_>,
    name: &[u8],
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) })
}

/// `symlinkat(target, dir, name)`.
pub(crate) fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let t = cstr(target)?;
    let c = cstr(name)?;
    // SAFETY: valid fd and NUL-terminated strings.
    check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) })
}

/// `linkat(old_dir, old_name, new_dir, new_name, 0)`: never follows a symlink at the source.
pub(crate) fn linkat(
    old_dir: BorrowedFd<'_>,
    old_name: &[u8],
    new_dir: BorrowedFd<'_>,
    new_name: &[u8],
) -> io::Result<()> {
    let o = cstr(old_name)?;
    let n = cstr(new_name)?;
    // SAFETY: valid fds and NUL-terminated names.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            o.as_ptr(),
            new_dir.as_raw_fd(),
            n.as_ptr(),
            0,
        )
    })
}

/// `unlinkat(dir, name, flags)`.
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &[u8], flags: libc::c_int) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) })
}

/// `readlinkat(dir, name)`.
pub(crate) fn readlinkat(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: valid fd, NUL-terminated name, buffer pointer and its length.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                c.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lchown_at(dir: BorrowedFd<'_>, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid fd and NUL-terminated name.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// `fchown(fd, uid, gid)`.
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid fd.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })
}

/// `fchmod(fd, mode)`.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: valid fd.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) })
}

fn timespecs(sec: i64) -> [libc::timespec; 2] {
    let ts = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: 0,
    };
    [ts, ts]
}

/// Sets atime and mtime of an open file to `sec`.
pub(crate) fn futimens(fd: BorrowedFd<'_>, sec: i64) -> io::Result<()> {
    let ts = timespecs(sec);
    // SAFETY: valid fd and a pointer to two timespecs.
    check(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) })
}

/// Sets atime and mtime of `name` in `dir` (not following a symlink) to `sec`.
pub(crate) fn lutimes_at(dir: BorrowedFd<'_>, name: &[u8], sec: i64) -> io::Result<()> {
    let c = cstr(name)?;
    let ts = timespecs(sec);
    // SAFETY: valid fd, NUL-terminated name and a pointer to two timespecs.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// `/proc/self/fd/<fd>/<name>`: a path that reaches `name` inside an open directory without
/// re-resolving the directory's own path.
pub(crate) fn proc_fd_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if !name.is_empty() {
        p.push(OsStr::from_bytes(name));
    }
    p
}

/// `fsetxattr(fd, name, value)`.
pub(crate) fn fsetxattr(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid fd, NUL-terminated name, value pointer and length.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// `lsetxattr(path, name, value)`.
pub(crate) fn lsetxattr(path: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let p = path_cstr(path)?;
    let n = cstr(name)?;
    // SAFETY: NUL-terminated path and name, value pointer and length.
    check(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// The target of an xattr call: an open fd or a path not followed at its last component.
#[derive(Clone, Copy)]
pub(crate) enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    Link(&'a CStr),
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTSUP) | Some(libc::ENODATA) | Some(libc::EPERM)
    )
}

/// Lists the extended attributes of a target, sorted by name; empty when unsupported.
pub(crate) fn list_xattrs(target: XattrTarget<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: valid fd or NUL-terminated path, buffer pointer and length.
        let n = unsafe {
            match target {
                XattrTarget::Fd(fd) => {
                    libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                }
                XattrTarget::Link(p) => {
                    libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                }
            }
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                buf.resize(buf.len() * 4, 0);
                continue;
            }
            if is_unsupported(&e) {
                return Ok(Vec::new());
            }
            return Err(e);
        }
        buf.truncate(n as usize);
        let mut names: Vec<Vec<u8>> = buf
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        names.sort();
        return Ok(names);
    }
}

/// Reads one extended attribute; `None` when absent.
pub(crate) fn get_xattr(target: XattrTarget<'_>, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let n = cstr(name)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid fd or NUL-terminated path, NUL-terminated name, buffer and length.
        let len = unsafe {
            match target {
                XattrTarget::Fd(fd) => libc::fgetxattr(
                    fd.as_raw_fd(),
                    n.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                ),
                XattrTarget::Link(p) => {
                    libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                }
            }
        };
        if len < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                buf.resize(buf.len() * 4, 0);
                continue;
            }
            if is_unsupported(&e) {
                return Ok(None);
            }
            return Err(e);
        }
        buf.truncate(len as usize);
        return Ok(Some(buf));
    }
}

/// Reads one extended attribute of a path without following its last component.
pub(crate) fn lget_xattr(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let p = path_cstr(path)?;
    get_xattr(XattrTarget::Link(&p), name)
}

/// Lists the names in an open directory (without `.` and `..`), sorted bytewise.
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(proc_fd_path(dir, b""))? {
        names.push(entry?.file_name().as_bytes().to_vec());
    }
    names.sort();
    Ok(names)
}

/// Removes `name` in `dir` whatever it is, recursively for a directory (never following
/// symlinks). A missing name is not an error.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match lstat_at(dir, name)? {
        None => Ok(()),
        Some(st) if file_type(&st) == libc::S_IFDIR => {
            std::fs::remove_dir_all(proc_fd_path(dir, name))
        }
        Some(_) => unlinkat(dir, name, 0),
    }
}

/// `syncfs(fd)`: flushes the filesystem holding `fd`.
pub(crate) fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: valid fd.
    check(unsafe { libc::syncfs(fd.as_raw_fd()) })
}

/// Whether `path` is a mount point according to `/proc/self/mountinfo`.
pub(crate) fn is_mount_point(path: &Path) -> io::Result<bool> {
    let info = std::fs::read("/proc/self/mountinfo")?;
    let want = path.as_os_str().as_bytes();
    for line in info.split(|b| *b == b'\n') {
        if let Some(field) = line.split(|b| *b == b' ').nth(4) {
            if unescape_mountinfo(field) == want {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn unescape_mountinfo(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() {
            let oct = &field[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = (oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0');
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// `umount2(path, flags)`.
pub(crate) fn umount2(path: &Path, flags: libc::c_int) -> io::Result<()> {
    let c = path_cstr(path)?;
    // SAFETY: NUL-terminated path.
    check(unsafe { libc::umount2(c.as_ptr(), flags) })
}

// The new mount API (fsopen/fsconfig/fsmount/move_mount); constants from <linux/mount.h>.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

fn syscall_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
}

/// Drains the kernel's messages about a filesystem context (why a mount was refused).
fn fs_context_log(fd: BorrowedFd<'_>) -> String {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..32 {
        // SAFETY: valid fd, buffer pointer and length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        msgs.push(
            String::from_utf8_lossy(&buf[..n as usize])
                .trim()
                .to_string(),
        );
    }
    msgs.join("; ")
}

fn with_log(fd: BorrowedFd<'_>, what: &str, e: io::Error) -> io::Error {
    let log = fs_context_log(fd);
    if log.is_empty() {
        io::Error::new(e.kind(), format!("{what}: {e}"))
    } else {
        io::Error::new(e.kind(), format!("{what}: {e} (kernel: {log})"))
    }
}

fn fsconfig_string(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> io::Result<()> {
    let k = cstr(key.as_bytes())?;
    let v = cstr(value)?;
    // SAFETY: valid fs-context fd and NUL-terminated key and value.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fd.as_raw_fd(),
            FSCONFIG_SET_STRING,
            k.as_ptr(),
            v.as_ptr(),
            0 as libc::c_int,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts an overlay at `target` with the new mount API, passing each lower directory as its
/// own `lowerdir+` parameter (kernel 6.8+), so the number of layers is not limited by the
/// one-page size of a classic mount option string.
///
/// `Ok(false)` means the kernel lacks the new API or `lowerdir+`: the caller falls back.
fn mount_overlay_fsconfig(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<bool> {
    let name = cstr(b"overlay")?;
    // SAFETY: NUL-terminated filesystem name; result checked by syscall_fd.
    let fs =
        match syscall_fd(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })
        {
            Ok(fs) => fs,
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(false),
            Err(e) => return Err(io::Error::new(e.kind(), format!("fsopen overlay: {e}"))),
        };
    for (i, lower) in lowers.iter().enumerate() {
        match fsconfig_string(fs.as_fd(), "lowerdir+", lower.as_os_str().as_bytes()) {
            Ok(()) => {}
            // A kernel before 6.8 does not know `lowerdir+`.
            Err(e) if i == 0 && e.raw_os_error() == Some(libc::EINVAL) => {
                let log = fs_context_log(fs.as_fd());
                if log.contains("Unknown parameter") || log.is_empty() {
                    return Ok(false);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("lowerdir+ {}: {e} (kernel: {log})", lower.display()),
                ));
            }
            Err(e) => {
                return Err(with_log(
                    fs.as_fd(),
                    &format!("lowerdir+ {}", lower.display()),
                    e,
                ));
            }
        }
    }
    fsconfig_string(fs.as_fd(), "upperdir", upper.as_os_str().as_bytes())
        .map_err(|e| with_log(fs.as_fd(), "upperdir", e))?;
    fsconfig_string(fs.as_fd(), "workdir", work.as_os_str().as_bytes())
        .map_err(|e| with_log(fs.as_fd(), "workdir", e))?;
    // The inode index ties an upper dir to the exact lower filesystems; layers are shared by
    // many containers and may move, so keep it off as docker's overlay2 driver does. Older
    // kernels without the option are fine either way.
    let _ = fsconfig_string(fs.as_fd(), "index", b"off");
    // SAFETY: valid fs-context fd; no pointers are passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_int,
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(with_log(fs.as_fd(), "creating overlay", e));
    }
    // SAFETY: valid fs-context fd; result checked by syscall_fd.
    let mnt = syscall_fd(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            0 as libc::c_uint,
        )
    })
    .map_err(|e| with_log(fs.as_fd(), "fsmount", e))?;
    let t = path_cstr(target)?;
    let empty = cstr(b"")?;
    // SAFETY: valid mount fd, empty NUL-terminated path, AT_FDCWD and NUL-terminated target.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("move_mount: {e}")));
    }
    Ok(true)
}

/// Mounts an overlay with classic `mount(2)`; the option string must fit in one page.
fn mount_overlay_legacy(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<()> {
    let mut opts = b"lowerdir=".to_vec();
    for (i, l) in lowers.iter().enumerate() {
        if i > 0 {
            opts.push(b':');
        }
        opts.extend_from_slice(l.as_os_str().as_bytes());
    }
    opts.extend_from_slice(b",upperdir=");
    opts.extend_from_slice(upper.as_os_str().as_bytes());
    opts.extend_from_slice(b",workdir=");
    opts.extend_from_slice(work.as_os_str().as_bytes());
    opts.extend_from_slice(b",index=off");
    if opts.len() >= 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlay options for {} layers are {} bytes, over the one-page limit of mount(2)",
                lowers.len(),
                opts.len()
            ),
        ));
    }
    let src = cstr(b"overlay")?;
    let t = path_cstr(target)?;
    let o = cstr(&opts)?;
    // SAFETY: NUL-terminated source, target, fstype and data strings.
    check(unsafe { libc::mount(src.as_ptr(), t.as_ptr(), src.as_ptr(), 0, o.as_ptr().cast()) })
}

/// Mounts an overlay of `lowers` (topmost first), `upper` and `work` at `target`.
pub(crate) fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<()> {
    if mount_overlay_fsconfig(lowers, upper, work, target)? {
        return Ok(());
    }
    // No new mount API, or no `lowerdir+` (kernels before 6.8): classic mount.
    mount_overlay_legacy(lowers, upper, work, target)
}
