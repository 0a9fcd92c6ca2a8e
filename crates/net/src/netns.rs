//! Network namespaces kept alive by a bind mount, and running code inside one.
//!
//! A namespace lives as long as something refers to it: a process, an open descriptor or a
//! bind mount of its nsfs file. Wharf names each namespace by a file (as `ip netns` does
//! under `/run/netns`): [`NetNs::create`] makes a fresh namespace and bind-mounts it onto
//! that file, [`NetNs::open`] opens an existing one, and [`remove`] unmounts and unlinks it.
//!
//! The network namespace is a per-thread property, so nothing here changes the caller's
//! thread: [`NetNs::run`] runs a closure on a short-lived scoped thread that has entered the
//! namespace. Sockets created there (a netlink socket, a listener) stay in that namespace
//! and can be used from any thread afterwards.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::statfs::{self, NSFS_MAGIC};

use crate::netlink::{self, Netlink};

/// The loopback device of a network namespace always has interface index 1
/// (`LOOPBACK_IFINDEX`, Linux 3.14 and later).
const LOOPBACK_INDEX: u32 = 1;

/// What went wrong with a network namespace or a sysctl; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on the namespace file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"bind-mount network namespace onto"`, …).
        op: &'static str,
        /// The namespace file.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// The file exists but is not a namespace (nothing is mounted on it).
    #[error("{} is not a network namespace (no nsfs bind mount on it)", path.display())]
    NotNamespace {
        /// The file that was opened.
        path: PathBuf,
    },
    /// Bringing up the loopback device of a new namespace failed.
    #[error("set up network namespace {}: {source}", path.display())]
    Netlink {
        /// The namespace file.
        path: PathBuf,
        /// The netlink error.
        source: Box<netlink::Error>,
    },
    /// A sysctl key that is not a relative path below `/proc/sys`.
    #[error("invalid sysctl key {key:?}: {reason}")]
    InvalidSysctlKey {
        /// The key as given.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Reading or writing `/proc/sys/<key>` failed.
    #[error("{op} sysctl {key}: {source}")]
    Sysctl {
        /// `"read"` or `"write"` (with the value).
        op: String,
        /// The key below `/proc/sys`.
        key: String,
        /// The system's error.
        source: io::Error,
    },
}

impl Error {
    /// The OS error number behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Sysctl { source, .. } => source.raw_os_error(),
            Error::Netlink { source, .. } => source.errno(),
            Error::NotNamespace { .. } | Error::InvalidSysctlKey { .. } => None,
        }
    }

    /// Whether the namespace file (or sysctl) already exists.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// Whether the namespace file or sysctl does not exist.
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn errno_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> Error + 'a {
    move |errno| Error::Io {
        op,
        path: path.to_path_buf(),
        source: errno.into(),
    }
}

/// A network namespace kept alive by a bind mount of its nsfs file at `path`.
///
/// Dropping a `NetNs` only closes its descriptor; the namespace stays until [`remove`].
#[derive(Debug)]
pub struct NetNs {
    path: PathBuf,
    file: File,
}

impl NetNs {
    /// Creates a new network namespace bound to `path` (which must not exist; its parent
    /// must) with `lo` up.
    ///
    /// The file is created here; a short-lived thread then unshares its network namespace
    /// and bind-mounts `/proc/thread-self/ns/net` onto the file. On any failure what was
    /// done is undone (unmount, unlink).
    pub fn create(path: &Path) -> Result<NetNs, Error> {
        Self::create_with_netlink(path).map(|(ns, _)| ns)
    }

    /// Like [`NetNs::create`], and also returns the netlink socket (opened inside the new
    /// namespace) that brought `lo` up, saving a thread and a socket for callers that go
    /// on configuring the namespace.
    pub fn create_with_netlink(path: &Path) -> Result<(NetNs, Netlink), Error> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(path)
            .map_err(io_error("create network namespace file", path))?;
        let made = thread::scope(|scope| {
            let worker = thread::Builder::new()
                .name("netns-create".into())
                .spawn_scoped(scope, || {
                    nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                        .map_err(errno_error("unshare a network namespace for", path))?;
                    nix::mount::mount(
                        Some("/proc/thread-self/ns/net"),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .map_err(errno_error("bind-mount network namespace onto", path))?;
                    let file =
                        File::open(path).map_err(io_error("open network namespace", path))?;
                    let mut nl = Netlink::open().map_err(|e| Error::Netlink {
                        path: path.to_path_buf(),
                        source: e.into(),
                    })?;
                    nl.set_up(LOOPBACK_INDEX).map_err(|e| Error::Netlink {
                        path: path.to_path_buf(),
                        source: e.into(),
                    })?;
                    Ok((file, nl))
                })
                .map_err(io_error("start a thread to create network namespace", path))?;
            match worker.join() {
                Ok(result) => result,
                Err(panic) => {
                    let _ = remove(path);
                    std::panic::resume_unwind(panic)
                }
            }
        });
        match made {
            Ok((file, nl)) => Ok((
                NetNs {
                    path: path.to_path_buf(),
                    file,
                },
                nl,
            )),
            Err(e) => {
                // Unmounts if the bind mount was made, then unlinks the file we created.
                if let Err(cleanup) = remove(path) {
                    tracing::warn!(path = %path.display(), error = %cleanup,
                        "could not clean up after a failed network namespace creation");
                }
                Err(e)
            }
        }
    }

    /// Opens the network namespace bound to `path`.
    pub fn open(path: &Path) -> Result<NetNs, Error> {
        let file = File::open(path).map_err(io_error("open network namespace", path))?;
        let fs = statfs::fstatfs(&file).map_err(errno_error("statfs network namespace", path))?;
        if fs.filesystem_type() != NSFS_MAGIC {
            return Err(Error::NotNamespace {
                path: path.to_path_buf(),
            });
        }
        Ok(NetNs {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The file this namespace is bound to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace descriptor (for `setns` or `IFLA_NET_NS_FD`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Runs `f` on a scoped thread that has entered this namespace, and returns its result.
    ///
    /// A panic in `f` is resumed on the caller's thread.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        let fd = self.fd();
        let path = self.path.as_path();
        thread::scope(|scope| {
            let worker = thread::Builder::new()
                .name("netns-run".into())
                .spawn_scoped(scope, move || {
                    nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
                        .map_err(errno_error("enter network namespace", path))?;
                    Ok(f())
                })
                .map_err(io_error("start a thread to enter network namespace", path))?;
            match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

/// Unmounts (lazily, `MNT_DETACH`) the namespace bound to `path` and unlinks the file.
///
/// Succeeds if `path` does not exist or is not mounted; the namespace itself goes away once
/// nothing else (a process, an open descriptor) refers to it.
pub fn remove(path: &Path) -> Result<(), Error> {
    // A file may carry more than one mount (created twice by a buggy caller): peel them all.
    loop {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => break,
            Err(e) => return Err(errno_error("unmount network namespace", path)(e)),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove network namespace file", path)(e)),
    }
}

fn sysctl_path(key: &str) -> Result<PathBuf, Error> {
    let invalid = |reason| Error::InvalidSysctlKey {
        key: key.to_string(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("empty"));
    }
    if key.starts_with('/') {
        return Err(invalid("must be relative to /proc/sys"));
    }
    if key
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid("empty, `.` or `..` path component"));
    }
    Ok(Path::new("/proc/sys").join(key))
}

/// Writes `value` to `/proc/sys/<key>` (e.g. `net/ipv4/conf/wt0/route_localnet`).
///
/// Network sysctls are those of the network namespace of the calling thread; wrap the call
/// in [`NetNs::run`] to set one inside a namespace.
pub fn set_sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = sysctl_path(key)?;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut file| file.write_all(value.as_bytes()))
        .map_err(|source| Error::Sysctl {
            op: format!("write {value:?} to"),
            key: key.to_string(),
            source,
        })
}

/// Reads `/proc/sys/<key>` without its trailing newline, in the calling thread's network
/// namespace.
pub fn get_sysctl(key: &str) -> Result<String, Error> {
    let path = sysctl_path(key)?;
    let sysctl_error = |source| Error::Sysctl {
        op: "read".to_string(),
        key: key.to_string(),
        source,
    };
    let mut value = String::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut value))
        .map_err(sysctl_error)?;
    let trimmed = value.trim_end_matches('\n').len();
    value.truncate(trimmed);
    Ok(value)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A temporary directory of network namespaces that are all removed on drop (even when
    //! a test panics), before the directory itself goes.

    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// Network namespaces created by one test, each bound to a file in a temp directory.
    #[derive(Debug)]
    pub(crate) struct NsDir {
        made: Vec<PathBuf>,
        // Declared last: dropped after `Drop::drop` has unmounted everything.
        dir: tempfile::TempDir,
    }

    impl NsDir {
        pub(crate) fn new() -> NsDir {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = tempfile::Builder::new()
                .prefix(&format!("wharf-netns-{}-{n}-", std::process::id()))
                .tempdir()
                .expect("create a temp dir for test namespaces");
            NsDir {
                made: Vec::new(),
                dir,
            }
        }

        pub(crate) fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// Creates namespace `name` and registers it for removal.
        pub(crate) fn create(&mut self, name: &str) -> NetNs {
            let path = self.path(name);
            self.made.push(path.clone());
            NetNs::create(&path).expect("create a test network namespace")
        }

        pub(crate) fn create_with_netlink(&mut self, name: &str) -> (NetNs, Netlink) {
            let path = self.path(name);
            self.made.push(path.clone());
            NetNs::create_with_netlink(&path).expect("create a test network namespace")
        }
    }

    impl Drop for NsDir {
        fn drop(&mut self) {
            for path in &self.made {
                if let Err(e) = remove(path) {
                    eprintln!("test cleanup: {e}");
                }
            }
        }
    }

    /// Whether anything is mounted at `path` (per /proc/self/mountinfo).
    pub(crate) fn is_mounted(path: &Path) -> bool {
        let info = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
        let want = path.to_str().expect("utf-8 temp path");
        info.lines()
            .any(|line| line.split(' ').nth(4) == Some(want))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{NsDir, is_mounted};
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn netns_inode_of_thread() -> u64 {
        fs::metadata("/proc/thread-self/ns/net")
            .expect("stat own netns")
            .ino()
    }

    #[test]
    fn create_run_open_and_remove() {
        let mut dir = NsDir::new();
        let ns = dir.create("a");
        assert!(is_mounted(ns.path()));
        let host = netns_inode_of_thread();
        let inside = ns.run(netns_inode_of_thread).expect("run in ns");
        assert_ne!(host, inside, "run() must execute inside the new namespace");
        assert_eq!(fs::metadata(ns.path()).expect("stat ns file").ino(), inside);
        assert_eq!(
            netns_inode_of_thread(),
            host,
            "the caller's thread is untouched"
        );

        // lo is up inside; nothing else is there.
        let links = ns
            .run(|| Netlink::open().and_then(|mut nl| nl.links()))
            .expect("run")
            .expect("links");
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].name, "lo");
        assert!(links[0].up);

        let again = NetNs::open(ns.path()).expect("open");
        assert_eq!(again.run(netns_inode_of_thread).expect("run"), inside);

        remove(ns.path()).expect("remove");
        assert!(!ns.path().exists());
        assert!(!is_mounted(ns.path()));
        remove(ns.path()).expect("remove is idempotent");
    }

    #[test]
    fn create_refuses_an_existing_file_and_keeps_it() {
        let mut dir = NsDir::new();
        let ns = dir.create("a");
        let err = NetNs::create(ns.path()).expect_err("second create on the same path");
        assert!(err.is_exists(), "{err}");
        assert!(
            err.to_string().contains(ns.path().to_str().expect("utf-8")),
            "{err}"
        );
        // The first namespace is intact.
        assert!(is_mounted(ns.path()));
        NetNs::open(ns.path()).expect("still a namespace");
    }

    #[test]
    fn create_fails_cleanly_without_parent() {
        let dir = NsDir::new();
        let path = dir.path("missing/a");
        let err = NetNs::create(&path).expect_err("parent does not exist");
        assert!(err.is_not_found(), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn open_refuses_plain_files_and_missing_ones() {
        let dir = NsDir::new();
        let plain = dir.path("plain");
        fs::write(&plain, b"").expect("write plain file");
        let err = NetNs::open(&plain).expect_err("a plain file is not a namespace");
        assert!(matches!(err, Error::NotNamespace { .. }), "{err}");
        let err = NetNs::open(&dir.path("nope")).expect_err("missing");
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn run_resumes_panics_on_the_caller() {
        let mut dir = NsDir::new();
        let ns = dir.create("a");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ns.run(|| panic!("boom inside the namespace"))
        }));
        assert!(caught.is_err());
    }

    #[test]
    fn guard_unmounts_even_when_the_test_panics() {
        let mut seen = None;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut dir = NsDir::new();
            let ns = dir.create("a");
            seen = Some(ns.path().to_path_buf());
            panic!("test failure while a namespace is mounted");
        }));
        assert!(caught.is_err());
        let path = seen.expect("namespace was created");
        assert!(!is_mounted(&path));
        assert!(!path.exists());
        assert!(
            !path.parent().expect("parent").exists(),
            "temp dir removed too"
        );
    }

    #[test]
    fn sysctls_are_per_namespace() {
        let mut dir = NsDir::new();
        let ns = dir.create("a");
        let host = get_sysctl("net/ipv4/conf/lo/route_localnet").expect("read host value");
        let key = "net/ipv4/conf/lo/route_localnet";
        let want = if host == "1" { "0" } else { "1" };
        let inside = ns
            .run(|| {
                set_sysctl(key, want)?;
                get_sysctl(key)
            })
            .expect("run")
            .expect("sysctl in ns");
        assert_eq!(inside, want);
        assert_eq!(get_sysctl(key).expect("host value"), host, "host untouched");
    }

    #[test]
    fn sysctl_errors_name_the_key() {
        let err = get_sysctl("net/ipv4/conf/no-such-if/forwarding").expect_err("missing key");
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string()
                .contains("net/ipv4/conf/no-such-if/forwarding"),
            "{err}"
        );
        for bad in ["", "/proc/sys/net", "net/../../etc/passwd", "net//ipv4"] {
            let err = set_sysctl(bad, "1").expect_err("bad key");
            assert!(
                matches!(err, Error::InvalidSysctlKey { .. }),
                "{bad}: {err}"
            );
        }
    }
}
