//! Facts about the host that decide how a spec is applied: capabilities we hold, resource
//! limits we can grant, CPUs that exist.

use std::fs;
use std::path::Path;

use nix::sys::resource::{Resource, getrlimit};
use oci_spec::runtime::PosixRlimitType;

/// `CAP_SYS_RESOURCE`, the capability needed to raise a hard resource limit.
const CAP_SYS_RESOURCE: u32 = 24;

/// Whether this process holds `cap` in its effective set (read from /proc/self/status).
pub fn has_capability(cap: u32) -> bool {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << cap) != 0)
}

/// Whether hard limits may be raised here. Root on this kind of machine lacks it.
pub fn can_raise_rlimits() -> bool {
    has_capability(CAP_SYS_RESOURCE)
}

/// The current hard limit of this process for an OCI rlimit type, `None` when unknown.
pub fn hard_rlimit(typ: PosixRlimitType) -> Option<u64> {
    let resource = match typ {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    };
    getrlimit(resource).ok().map(|(_, hard)| hard)
}

/// The CPUs the kernel has online, from `/sys/devices/system/cpu/online` (`0-1`, `0,2-3`).
pub fn online_cpus() -> Option<Vec<u32>> {
    let text = fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    parse_cpu_list(text.trim())
}

/// Parses a cpuset list (`0-2,4`) into the CPUs it names; `None` when malformed.
pub fn parse_cpu_list(list: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    if list.is_empty() {
        return Some(cpus);
    }
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    Some(cpus)
}

/// Whether the host runs cgroup v2 alone (`/sys/fs/cgroup` is the unified hierarchy).
pub fn cgroup_v2_unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Names of the cgroup-v1 hierarchies mounted under /sys/fs/cgroup (`cpu`, `memory`,
/// `systemd`, …): the directories libcontainer mounts in a container's /sys/fs/cgroup. Empty on
/// a pure cgroup-v2 host.
pub fn cgroup_v1_hierarchies() -> Vec<String> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut names: Vec<String> = info
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            if post.split_whitespace().next()? != "cgroup" {
                return None;
            }
            let mount_point = pre.split_whitespace().nth(4)?;
            let name = mount_point.strip_prefix("/sys/fs/cgroup/")?;
            (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the cgroup at `path` (relative to the hierarchies' roots, as in
/// `linux.cgroupsPath`) holds any process, looking at the hierarchies every task is in (pids,
/// freezer, memory on v1; the unified one on v2). `None` when no hierarchy has that cgroup.
pub fn cgroup_has_processes(path: &std::path::Path) -> Option<bool> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let roots = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
    ];
    let mut found = None;
    for root in roots {
        if let Ok(procs) =
            fs::read_to_string(std::path::Path::new(root).join(rel).join("cgroup.procs"))
        {
            if !procs.trim().is_empty() {
                return Some(true);
            }
            found = Some(false);
        }
    }
    found
}

/// Whether the cgroup at `path` exists and is frozen (v1 freezer.state, v2 cgroup.freeze).
pub fn cgroup_is_frozen(path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let v1 = Path::new("/sys/fs/cgroup/freezer")
        .join(rel)
        .join("freezer.state");
    let v2 = Path::new("/sys/fs/cgroup").join(rel).join("cgroup.freeze");
    fs::read_to_string(v1).is_ok_and(|s| matches!(s.trim(), "FROZEN" | "FREEZING"))
        || fs::read_to_string(v2).is_ok_and(|s| s.trim() == "1")
}

/// How many processes the kernel's OOM killer has killed in the cgroup at `path`
/// (`oom_kill` of v1 memory.oom_control or v2 memory.events); `None` if unreadable.
pub fn cgroup_oom_kills(path: &Path) -> Option<u64> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let files = [
        Path::new("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.oom_control"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
    ];
    files.iter().find_map(|f| {
        fs::read_to_string(f).ok()?.lines().find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse().ok())
        })
    })
}

/// Whether `/` is an initramfs (rootfs or ramfs), where `pivot_root` cannot work and the
/// runtime must fall back to `MS_MOVE` + `chroot`.
pub fn root_is_ramfs() -> bool {
    use nix::sys::statfs::{FsType, statfs};
    // RAMFS_MAGIC from linux/magic.h; nix names no constant for it.
    const RAMFS_MAGIC: FsType = FsType(0x8584_58f6);
    statfs("/")
        .map(|s| s.filesystem_type() == RAMFS_MAGIC)
        .unwrap_or(false)
}

/// Starts the kernel's cgroup-migration grace period early, in parallel with container setup.
///
/// Moving a process into a cgroup through `cgroup.procs` takes the kernel's global
/// threadgroup rwsem for writing, and the first writer after a quiet spell waits a whole RCU
/// grace period (10–20 ms on this kind of machine, more than the rest of a container's
/// creation). Writers that arrive while a grace period is pending share it. libcontainer
/// migrates its intermediate process late in `create`; a throwaway child that performs a
/// no-op migration (into the cgroup it is already in) the moment creation begins makes that
/// wait overlap with bundle parsing, cloning and namespace setup instead of following them.
/// Dropping the value reaps the child.
#[derive(Debug)]
pub struct CgroupAttachWarmup {
    child: nix::unistd::Pid,
}

impl CgroupAttachWarmup {
    /// Forks the warm-up child; `None` when no cgroup file to write could be found (nothing is
    /// lost: creation just pays the grace period itself).
    pub fn start() -> Option<Self> {
        let path = own_cgroup_procs()?;
        let path = std::ffi::CString::new(path.into_os_string().into_encoded_bytes()).ok()?;
        // SAFETY: the child only calls async-signal-safe functions (open, write, close, _exit)
        // on memory prepared before the fork, so a lock held by another thread at fork time
        // cannot deadlock it.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                // SAFETY: `path` is a valid NUL-terminated string; the buffer is static.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1);
                        libc::close(fd);
                    }
                    libc::_exit(0)
                }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => Some(CgroupAttachWarmup { child }),
            Err(_) => None,
        }
    }
}

impl Drop for CgroupAttachWarmup {
    fn drop(&mut self) {
        let _ = nix::sys::wait::waitpid(self.child, None);
    }
}

/// The `cgroup.procs` of the cgroup this process is in, in one mounted hierarchy.
fn own_cgroup_procs() -> Option<std::path::PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path_of = |wanted: &dyn Fn(&str) -> bool| {
        own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            wanted(ctrls).then(|| path.trim_start_matches('/').to_string())
        })
    };
    let candidates = [
        // v1 hierarchies present on hybrid and legacy hosts
        (
            "/sys/fs/cgroup/pids",
            path_of(&|c| c.split(',').any(|c| c == "pids")),
        ),
        (
            "/sys/fs/cgroup/freezer",
            path_of(&|c| c.split(',').any(|c| c == "freezer")),
        ),
        // the unified hierarchy (pure v2, or hybrid's unified mount)
        ("/sys/fs/cgroup", path_of(&|c| c.is_empty())),
        ("/sys/fs/cgroup/unified", path_of(&|c| c.is_empty())),
    ];
    candidates.into_iter().find_map(|(mount, rel)| {
        let procs = std::path::Path::new(mount).join(rel?).join("cgroup.procs");
        procs.exists().then_some(procs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,2-3"), Some(vec![0, 2, 3]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn cgroup_processes_are_seen() {
        let own = fs::read_to_string("/proc/self/cgroup").expect("cgroup");
        let path = own
            .lines()
            .find_map(|l| {
                l.split(':')
                    .nth(2)
                    .filter(|_| l.contains(":pids:") || l.starts_with("0::"))
            })
            .expect("a pids or unified cgroup");
        assert_eq!(cgroup_has_processes(std::path::Path::new(path)), Some(true));
        assert_eq!(
            cgroup_has_processes(std::path::Path::new("/no/such/wharf/cgroup")),
            None
        );
    }

    #[test]
    fn own_cgroup_is_found() {
        let p = own_cgroup_procs().expect("a cgroup.procs of ours");
        assert!(p.ends_with("cgroup.procs") && p.exists(), "{}", p.display());
    }

    #[test]
    fn nofile_hard_limit_is_known() {
        assert!(hard_rlimit(PosixRlimitType::RlimitNofile).is_some_and(|h| h > 0));
    }
}
