//! Docker's default seccomp profile, expressed as data and rendered into the
//! OCI runtime-spec [`LinuxSeccomp`] type.
//!
//! The behaviour mirrors the profile `dockerd` places into `linux.seccomp` of
//! a container's `config.json` when the user asks for nothing else (the
//! `github.com/moby/profiles/seccomp` package, `seccomp/v0.2.3`):
//!
//! * everything not listed is refused with `EPERM` (`SCMP_ACT_ERRNO`, errno 1);
//! * a large, always-on allow-list of ordinary syscalls ([`BASE_ALLOW_GROUPS`]);
//! * a few argument-filtered rules (`personality`, `socket`, `clone`);
//! * groups that are only added when the container's capability set holds
//!   the capability that the kernel would check anyway (mount needs
//!   `CAP_SYS_ADMIN`, reboot needs `CAP_SYS_BOOT`, …);
//! * a handful of architecture-specific entries (only the x86_64 and aarch64
//!   ones are modelled here).
//!
//! Moby describes each conditional entry with `includes` / `excludes` filters
//! and resolves them when a container is created.  The same semantics are
//! used here:
//!
//! * `includes.caps`: the entry is kept only if **every** listed capability is
//!   present;
//! * `excludes.caps`: the entry is dropped if **any** listed capability is
//!   present;
//! * `includes.arches`: the entry is kept only if the architecture the profile
//!   is generated for is listed (sub-architectures such as x86 or x32 never
//!   count, exactly as in moby, which compares against the daemon's GOARCH);
//! * `includes.minKernel`: the entry is kept only if the host kernel is at
//!   least that version.
//!
//! Construction is infallible from the caller's point of view:
//! [`docker_default`] returns a [`LinuxSeccomp`], not a `Result`.  The OCI
//! structs are built with `Default` plus their public setters; only
//! `LinuxSeccompArg` has no setters and goes through its builder, whose
//! `build()` cannot fail (every field has a default).  Should it ever fail,
//! the affected argument-filtered rule is omitted, which can only make the
//! profile stricter.

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

// ---------------------------------------------------------------------------
// Constants from the kernel ABI that the rules below refer to.
// ---------------------------------------------------------------------------

/// `EPERM`: what a syscall that is not on any list returns.
const EPERM: u32 = 1;
/// `ENOSYS`: what `clone3` returns without `CAP_SYS_ADMIN`, so that libc falls
/// back to `clone` (whose flags seccomp *can* inspect).
const ENOSYS: u32 = 38;

/// `AF_ALG`: the kernel crypto API socket family (blocked).
const AF_ALG: u64 = 38;
/// `AF_NFC`: the single family between `AF_ALG` and `AF_VSOCK` (allowed).
const AF_NFC: u64 = 39;
/// `AF_VSOCK`: host <-> VM sockets (blocked).
const AF_VSOCK: u64 = 40;
// The three `socket` rules rely on AF_ALG and AF_VSOCK being two apart.
const _: () = assert!(AF_ALG + 1 == AF_NFC && AF_NFC + 1 == AF_VSOCK);

/// `CLONE_NEW*` flags: creating any namespace requires `CAP_SYS_ADMIN`.
const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_NEWCGROUP: u64 = 0x0200_0000;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWIPC: u64 = 0x0800_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWPID: u64 = 0x2000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
/// Mask of every namespace flag `clone` may not carry without `CAP_SYS_ADMIN`
/// (`0x7E020000`, 2114060288 — the value in moby's `default.json`).
const CLONE_NAMESPACE_FLAGS: u64 = CLONE_NEWNS
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWCGROUP;

/// `personality(2)` personas.
const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;
const UNAME26: u64 = 0x0002_0000;
/// `personality(0xffffffff)` only queries the current persona.
const PERSONALITY_QUERY: u64 = 0xffff_ffff;

// ---------------------------------------------------------------------------
// Public API.
// ---------------------------------------------------------------------------

/// The 14 capabilities Docker grants a non-privileged container by default
/// (moby's `oci/caps.DefaultCapabilities`), in Docker's order.
pub const DOCKER_DEFAULT_CAPABILITIES: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Docker's default capability set as an owned vector (see
/// [`DOCKER_DEFAULT_CAPABILITIES`]).
pub fn docker_default_capabilities() -> Vec<Capability> {
    DOCKER_DEFAULT_CAPABILITIES.to_vec()
}

/// The CPU architecture a profile is generated for.
///
/// Moby resolves arch-restricted entries against the architecture the daemon
/// was built for; [`TargetArch::host`] does the same at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetArch {
    /// x86_64 (`amd64`); the filter also covers the x86 and x32 ABIs.
    X86_64,
    /// aarch64 (`arm64`); the filter also covers the 32-bit ARM ABI.
    Aarch64,
    /// Any other architecture: no `architectures` list is emitted (the
    /// runtime uses the native one) and no arch-specific entry is included.
    Other,
}

impl TargetArch {
    /// The architecture this binary was compiled for.
    pub const fn host() -> Self {
        if cfg!(target_arch = "x86_64") {
            Self::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Self::Aarch64
        } else {
            Self::Other
        }
    }

    /// The seccomp architectures the filter is installed for: the native one
    /// followed by its compat sub-architectures (moby's `archMap`).
    fn seccomp_arches(self) -> Option<Vec<Arch>> {
        match self {
            Self::X86_64 => Some(vec![
                Arch::ScmpArchX86_64,
                Arch::ScmpArchX86,
                Arch::ScmpArchX32,
            ]),
            Self::Aarch64 => Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]),
            Self::Other => None,
        }
    }
}

/// A kernel version, compared on `major.minor` only (as moby does:
/// `3.12.25-gentoo` and `3.12-1-amd64` are both 3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major version (the `5` in `5.15.0-91-generic`).
    pub major: u32,
    /// Minor version (the `15` in `5.15.0-91-generic`).
    pub minor: u32,
}

impl KernelVersion {
    /// Builds a version from its two components.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Parses a kernel release string such as `6.8.0-45-generic` or
    /// `3.12-1-amd64`; `None` if it does not start with `<digits>.<digits>`.
    pub fn parse(release: &str) -> Option<Self> {
        fn leading_number(s: &str) -> Option<(u32, &str)> {
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let number = s.get(..end)?.parse().ok()?;
            Some((number, s.get(end..)?))
        }
        let (major, rest) = leading_number(release.trim())?;
        let (minor, _) = leading_number(rest.strip_prefix('.')?)?;
        Some(Self::new(major, minor))
    }

    /// The running kernel's version, read from `/proc/sys/kernel/osrelease`;
    /// `None` if that file is unreadable or unparsable.
    pub fn host() -> Option<Self> {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .as_deref()
            .and_then(Self::parse)
    }
}

/// Docker's default seccomp profile for a container whose **bounding**
/// capability set is `capabilities` (moby filters on
/// `process.capabilities.bounding`), for the host architecture and the running
/// kernel.
///
/// This never fails.  If the kernel version cannot be determined, entries that
/// need a minimum kernel (ptrace & co., kernel >= 4.8) are left out, i.e. the
/// profile errs on the strict side where moby would refuse to start the
/// container.
pub fn docker_default(capabilities: &[Capability]) -> LinuxSeccomp {
    docker_default_for(capabilities, TargetArch::host(), KernelVersion::host())
}

/// Like [`docker_default`], with the architecture and kernel version given
/// explicitly (useful for tests and for generating profiles for other hosts).
///
/// `kernel: None` means "unknown": entries that need a minimum kernel are
/// left out.
///
/// The output never lists a syscall twice with the same action unless the
/// occurrences carry different argument filters: moby's profile repeats a few
/// names across groups (e.g. `ptrace` in both the kernel >= 4.8 group and the
/// `CAP_SYS_PTRACE` group); repeats are dropped here, which does not change
/// what the filter allows.
pub fn docker_default_for(
    capabilities: &[Capability],
    arch: TargetArch,
    kernel: Option<KernelVersion>,
) -> LinuxSeccomp {
    let mut syscalls = Vec::new();
    // Names already granted without argument filters, per action.
    let mut granted = HashSet::new();

    let base_names = BASE_ALLOW_GROUPS
        .iter()
        .flat_map(|group| group.iter().copied());
    push_rule(&mut syscalls, &mut granted, &ALWAYS, base_names);
    for rule in RULES
        .iter()
        .filter(|rule| rule.applies(capabilities, arch, kernel))
    {
        push_rule(
            &mut syscalls,
            &mut granted,
            rule,
            rule.names.iter().copied(),
        );
    }

    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(EPERM))
        .set_architectures(arch.seccomp_arches())
        .set_syscalls(Some(syscalls));
    profile
}

/// Appends `rule` (restricted to `names`) to `syscalls`, skipping names an
/// earlier argument-less rule already gave the same action.
fn push_rule(
    syscalls: &mut Vec<LinuxSyscall>,
    granted: &mut HashSet<(&'static str, Action)>,
    rule: &Rule,
    names: impl Iterator<Item = &'static str>,
) {
    let names: Vec<String> = names
        .filter(|name| !rule.args.is_empty() || granted.insert((name, rule.action)))
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return;
    }
    if let Some(syscall) = rule.render(names) {
        syscalls.push(syscall);
    }
}

// ---------------------------------------------------------------------------
// Rule representation.
// ---------------------------------------------------------------------------

/// What a rule does to the syscalls it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    Allow,
    Errno(u32),
}

/// One argument comparison (`args[]` in the OCI spec).
#[derive(Debug, Clone, Copy)]
struct Arg {
    index: usize,
    value: u64,
    op: LinuxSeccompOperator,
}

/// One entry of the profile plus the conditions under which it is included.
#[derive(Debug, Clone, Copy)]
struct Rule {
    names: &'static [&'static str],
    action: Action,
    /// All comparisons must hold (they are ANDed by the runtime).
    args: &'static [Arg],
    /// `includes.arches`: empty means every architecture.
    only_arches: &'static [TargetArch],
    /// `includes.caps`: all of them must be present.
    requires_caps: &'static [Capability],
    /// `excludes.caps`: any of them present drops the rule.
    unless_caps: &'static [Capability],
    /// `includes.minKernel`.
    min_kernel: Option<KernelVersion>,
}

/// An unconditional allow rule, used as the base for struct-update syntax.
const ALWAYS: Rule = Rule {
    names: &[],
    action: Action::Allow,
    args: &[],
    only_arches: &[],
    requires_caps: &[],
    unless_caps: &[],
    min_kernel: None,
};

impl Rule {
    fn applies(
        &self,
        capabilities: &[Capability],
        arch: TargetArch,
        kernel: Option<KernelVersion>,
    ) -> bool {
        let arch_ok = self.only_arches.is_empty() || self.only_arches.contains(&arch);
        let caps_ok = self.requires_caps.iter().all(|c| capabilities.contains(c))
            && !self.unless_caps.iter().any(|c| capabilities.contains(c));
        let kernel_ok = match self.min_kernel {
            None => true,
            Some(min) => kernel.is_some_and(|k| k >= min),
        };
        arch_ok && caps_ok && kernel_ok
    }

    /// Renders the rule as an OCI entry.  `None` only if oci-spec's argument
    /// builder fails, which it cannot (every builder field has a default);
    /// the caller then omits the rule, which can only make the profile
    /// stricter, never looser.
    fn render(&self, names: Vec<String>) -> Option<LinuxSyscall> {
        let (action, errno) = match self.action {
            Action::Allow => (LinuxSeccompAction::ScmpActAllow, None),
            Action::Errno(errno) => (LinuxSeccompAction::ScmpActErrno, Some(errno)),
        };
        let args = self
            .args
            .iter()
            .map(|arg| {
                // valueTwo is left out, as in dockerd's JSON; runtimes read
                // a missing valueTwo as 0 (the datum for SCMP_CMP_MASKED_EQ).
                LinuxSeccompArgBuilder::default()
                    .index(arg.index)
                    .value(arg.value)
                    .op(arg.op)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let mut syscall = LinuxSyscall::default();
        syscall
            .set_names(names)
            .set_action(action)
            .set_errno_ret(errno)
            .set_args((!args.is_empty()).then_some(args));
        Some(syscall)
    }
}

/// Shorthand for a one-comparison argument filter.
const fn arg(index: usize, op: LinuxSeccompOperator, value: u64) -> Arg {
    Arg { index, value, op }
}

// ---------------------------------------------------------------------------
// The always-allowed syscalls (moby's first, unconditional entry).
//
// The `*32` and `*_time64` variants (and `_llseek`, `socketcall`, `ipc`, …)
// only exist on 32-bit ABIs; they are listed because the filter also covers
// the x86/x32 (on x86_64) and ARM (on aarch64) compat ABIs.  Names a
// particular architecture does not know are skipped by the runtime.
// ---------------------------------------------------------------------------

/// Process lifecycle, identity and process-wide controls.
const PROCESS: &[&str] = &[
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "getpgrp",
    "getsid",
    "setpgid",
    "setsid",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    "prctl",
    "restart_syscall",
    "uname",
    "sysinfo",
    "getcpu",
    "getrandom",
    // Kernel-side probe/return trampolines used by tracing (v6.11+).
    "uretprobe",
    // RISC-V hardware probing; harmless elsewhere (moby keeps it in the base).
    "riscv_hwprobe",
];

/// Threads and user-space synchronisation (pthreads, futex-based locks).
const THREADS: &[&str] = &[
    "futex",
    "futex_time64",
    "futex_waitv",
    "futex_wait",
    "futex_wake",
    "futex_requeue",
    "set_robust_list",
    "get_robust_list",
    "set_tid_address",
    "get_thread_area",
    "set_thread_area",
    "rseq",
    "membarrier",
];

/// Memory management of the process's own address space.
const MEMORY: &[&str] = &[
    "brk",
    "mmap",
    "mmap2",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    "msync",
    "mlock",
    "mlock2",
    "mlockall",
    "munlock",
    "munlockall",
    "remap_file_pages",
    "memfd_create",
    "memfd_secret",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "map_shadow_stack",
    "mseal",
];

/// User/group IDs and capabilities of the calling process; the kernel
/// enforces `CAP_SETUID`/`CAP_SETGID`/`CAP_SETPCAP` itself.
const CREDENTIALS: &[&str] = &[
    "getuid",
    "getuid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getegid",
    "getegid32",
    "getgroups",
    "getgroups32",
    "getresuid",
    "getresuid32",
    "getresgid",
    "getresgid32",
    "setuid",
    "setuid32",
    "setgid",
    "setgid32",
    "setreuid",
    "setreuid32",
    "setregid",
    "setregid32",
    "setresuid",
    "setresuid32",
    "setresgid",
    "setresgid32",
    "setfsuid",
    "setfsuid32",
    "setfsgid",
    "setfsgid32",
    "setgroups",
    "setgroups32",
    "capget",
    "capset",
];

/// Resource limits, accounting, priorities and CPU scheduling.
const SCHEDULING: &[&str] = &[
    "getrlimit",
    "setrlimit",
    "ugetrlimit",
    "prlimit64",
    "getrusage",
    "times",
    "getpriority",
    "setpriority",
    "ioprio_get",
    "ioprio_set",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getattr",
    "sched_setattr",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_yield",
];

/// Signal delivery and handling.
const SIGNALS: &[&str] = &[
    "kill",
    "tkill",
    "tgkill",
    "pause",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
    "signalfd",
    "signalfd4",
];

/// Reading clocks, sleeping and timers.  `adjtimex`/`clock_adjtime` are
/// allowed because in read-only mode they are harmless; changing the clock
/// still needs `CAP_SYS_TIME`, checked by the kernel.
const TIME: &[&str] = &[
    "time",
    "gettimeofday",
    "clock_gettime",
    "clock_gettime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "nanosleep",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "adjtimex",
    "clock_adjtime",
    "clock_adjtime64",
];

/// Reading, writing and managing open file descriptors.
const FILE_IO: &[&str] = &[
    "read",
    "readv",
    "pread64",
    "preadv",
    "preadv2",
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "lseek",
    "_llseek",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "ioctl",
    "flock",
    "pipe",
    "pipe2",
    "sendfile",
    "sendfile64",
    "splice",
    "tee",
    "vmsplice",
    "copy_file_range",
    "readahead",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "cachestat",
    "truncate",
    "truncate64",
    "ftruncate",
    "ftruncate64",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
];

/// Path-based operations: opening, creating, linking and removing files and
/// directories, and moving around the tree.
const PATHS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "access",
    "faccessat",
    "faccessat2",
    "chdir",
    "fchdir",
    "getcwd",
    "mkdir",
    "mkdirat",
    "rmdir",
    "mknod",
    "mknodat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "umask",
    // Only *creates* a handle; using one (`open_by_handle_at`) needs
    // CAP_DAC_READ_SEARCH, see below.
    "name_to_handle_at",
];

/// File metadata: stat, permissions, ownership, timestamps, and read-only
/// mount information.
const METADATA: &[&str] = &[
    "stat",
    "stat64",
    "lstat",
    "lstat64",
    "fstat",
    "fstat64",
    "fstatat64",
    "newfstatat",
    "statx",
    "statfs",
    "statfs64",
    "fstatfs",
    "fstatfs64",
    "statmount",
    "listmount",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "chown32",
    "fchown",
    "fchown32",
    "fchownat",
    "lchown",
    "lchown32",
    "utime",
    "utimes",
    "utimensat",
    "utimensat_time64",
    "futimesat",
];

/// Extended attributes.
const XATTRS: &[&str] = &[
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "getxattrat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "setxattrat",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "listxattrat",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "removexattrat",
];

/// Waiting for events: select/poll/epoll, eventfd, inotify, fanotify marks
/// (creating a fanotify group needs CAP_SYS_ADMIN, see below).
const EVENTS: &[&str] = &[
    "select",
    "_newselect",
    "pselect6",
    "pselect6_time64",
    "poll",
    "ppoll",
    "ppoll_time64",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_wait",
    "epoll_wait_old",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_mark",
];

/// Linux native AIO.  (`io_uring_*` is deliberately absent: moby removed it
/// from the default profile because of its history of kernel bugs.)
const ASYNC_IO: &[&str] = &[
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
];

/// Sockets once created (`socket` itself is argument-filtered below;
/// `socketcall` is the 32-bit x86 multiplexer).
const NETWORK: &[&str] = &[
    "socketpair",
    "socketcall",
    "bind",
    "connect",
    "listen",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "send",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recv",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "recvmmsg_time64",
    "shutdown",
];

/// System V and POSIX IPC, namespaced per container.
const IPC: &[&str] = &[
    "ipc",
    "msgget",
    "msgctl",
    "msgsnd",
    "msgrcv",
    "semget",
    "semctl",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmget",
    "shmctl",
    "shmat",
    "shmdt",
    "mq_open",
    "mq_unlink",
    "mq_getsetattr",
    "mq_notify",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
];

/// Self-sandboxing: a process may always restrict itself further.
const SELF_SANDBOXING: &[&str] = &[
    "seccomp",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
];

/// Every always-allowed group; rendered as the profile's first entry.
pub const BASE_ALLOW_GROUPS: &[&[&str]] = &[
    PROCESS,
    THREADS,
    MEMORY,
    CREDENTIALS,
    SCHEDULING,
    SIGNALS,
    TIME,
    FILE_IO,
    PATHS,
    METADATA,
    XATTRS,
    EVENTS,
    ASYNC_IO,
    NETWORK,
    IPC,
    SELF_SANDBOXING,
];

// ---------------------------------------------------------------------------
// Conditional groups.
// ---------------------------------------------------------------------------

/// Cross-process inspection.  Before Linux 4.8 a tracer could rewrite a
/// syscall after the seccomp check, so these are only safe on >= 4.8.
const PTRACE_SINCE_4_8: &[&str] = &["process_vm_readv", "process_vm_writev", "ptrace"];

/// Arm-only helpers (cache maintenance, TLS, arm-specific argument orders).
const ARM_SPECIFIC: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];

/// `CAP_SYS_ADMIN`: mounts, namespaces, hostnames, quotas, BPF/perf (legacy
/// gating), syslog, fanotify groups, LSM attributes, and unrestricted
/// `clone`/`clone3`.
const SYS_ADMIN: &[&str] = &[
    "bpf",
    "clone",
    "clone3",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "lsm_get_self_attr",
    "lsm_list_modules",
    "lsm_set_self_attr",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
];

/// `CAP_SYS_PTRACE`: inspecting and manipulating other processes.
const SYS_PTRACE: &[&str] = &[
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
];

/// `CAP_SYS_MODULE`: loading and unloading kernel modules.
const SYS_MODULE: &[&str] = &["delete_module", "init_module", "finit_module"];

/// `CAP_SYS_TIME`: setting the system clock.
const SYS_TIME: &[&str] = &["settimeofday", "stime", "clock_settime", "clock_settime64"];

/// `CAP_SYS_NICE`: NUMA memory policy.
const SYS_NICE: &[&str] = &[
    "get_mempolicy",
    "mbind",
    "set_mempolicy",
    "set_mempolicy_home_node",
];

/// `CAP_SYS_RAWIO`: x86 I/O port access.
const SYS_RAWIO: &[&str] = &["iopl", "ioperm"];

/// The profile after the base allow-list, in moby's order.  Entries for
/// ppc64le, s390/s390x and riscv64 are intentionally not modelled.
const RULES: &[Rule] = &[
    Rule {
        names: PTRACE_SINCE_4_8,
        min_kernel: Some(KernelVersion::new(4, 8)),
        ..ALWAYS
    },
    // socket(2) for every address family except AF_ALG (kernel crypto API,
    // a large attack surface) and AF_VSOCK (host <-> VM channel).  Three
    // rules because the runtime ORs rules and ANDs arguments.
    Rule {
        names: &["socket"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpLt, AF_ALG)],
        ..ALWAYS
    },
    Rule {
        names: &["socket"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpEq, AF_NFC)],
        ..ALWAYS
    },
    Rule {
        names: &["socket"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpGt, AF_VSOCK)],
        ..ALWAYS
    },
    // personality(2) only for the plain Linux personas (and querying), never
    // e.g. READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE.
    Rule {
        names: &["personality"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpEq, PER_LINUX)],
        ..ALWAYS
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpEq, PER_LINUX32)],
        ..ALWAYS
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpEq, UNAME26)],
        ..ALWAYS
    },
    Rule {
        names: &["personality"],
        args: &[arg(
            0,
            LinuxSeccompOperator::ScmpCmpEq,
            UNAME26 | PER_LINUX32,
        )],
        ..ALWAYS
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, LinuxSeccompOperator::ScmpCmpEq, PERSONALITY_QUERY)],
        ..ALWAYS
    },
    // Architecture-specific entries (moby `includes.arches`).
    Rule {
        names: ARM_SPECIFIC,
        only_arches: &[TargetArch::Aarch64],
        ..ALWAYS
    },
    Rule {
        names: &["arch_prctl"],
        only_arches: &[TargetArch::X86_64],
        ..ALWAYS
    },
    Rule {
        names: &["modify_ldt"],
        only_arches: &[TargetArch::X86_64],
        ..ALWAYS
    },
    // Opening a file by handle bypasses path checks (the "shocker" breakout).
    Rule {
        names: &["open_by_handle_at"],
        requires_caps: &[Capability::DacReadSearch],
        ..ALWAYS
    },
    Rule {
        names: SYS_ADMIN,
        requires_caps: &[Capability::SysAdmin],
        ..ALWAYS
    },
    // Without CAP_SYS_ADMIN, clone(2) may not create namespaces: allowed
    // only when (flags & CLONE_NAMESPACE_FLAGS) == 0.  (s390 passes the
    // flags as the second argument; that variant is not modelled.)
    Rule {
        names: &["clone"],
        args: &[arg(
            0,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
            CLONE_NAMESPACE_FLAGS,
        )],
        unless_caps: &[Capability::SysAdmin],
        ..ALWAYS
    },
    // clone3(2) takes its flags in a struct seccomp cannot read, so it is
    // answered with ENOSYS and libc falls back to the filtered clone(2).
    Rule {
        names: &["clone3"],
        action: Action::Errno(ENOSYS),
        unless_caps: &[Capability::SysAdmin],
        ..ALWAYS
    },
    Rule {
        names: &["reboot"],
        requires_caps: &[Capability::SysBoot],
        ..ALWAYS
    },
    Rule {
        names: &["chroot"],
        requires_caps: &[Capability::SysChroot],
        ..ALWAYS
    },
    Rule {
        names: SYS_MODULE,
        requires_caps: &[Capability::SysModule],
        ..ALWAYS
    },
    Rule {
        names: &["acct"],
        requires_caps: &[Capability::SysPacct],
        ..ALWAYS
    },
    Rule {
        names: SYS_PTRACE,
        requires_caps: &[Capability::SysPtrace],
        ..ALWAYS
    },
    Rule {
        names: SYS_RAWIO,
        requires_caps: &[Capability::SysRawio],
        ..ALWAYS
    },
    Rule {
        names: SYS_TIME,
        requires_caps: &[Capability::SysTime],
        ..ALWAYS
    },
    Rule {
        names: &["vhangup"],
        requires_caps: &[Capability::SysTtyConfig],
        ..ALWAYS
    },
    Rule {
        names: SYS_NICE,
        requires_caps: &[Capability::SysNice],
        ..ALWAYS
    },
    Rule {
        names: &["syslog"],
        requires_caps: &[Capability::Syslog],
        ..ALWAYS
    },
    // Since Linux 5.8 BPF and perf have their own capabilities.
    Rule {
        names: &["bpf"],
        requires_caps: &[Capability::Bpf],
        ..ALWAYS
    },
    Rule {
        names: &["perf_event_open"],
        requires_caps: &[Capability::Perfmon],
        ..ALWAYS
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use oci_spec::runtime::{
        Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall,
    };

    use super::{
        BASE_ALLOW_GROUPS, DOCKER_DEFAULT_CAPABILITIES, KernelVersion, TargetArch, docker_default,
        docker_default_capabilities, docker_default_for,
    };

    const NEW_KERNEL: Option<KernelVersion> = Some(KernelVersion::new(6, 8));
    const ARCHES: [TargetArch; 3] = [TargetArch::X86_64, TargetArch::Aarch64, TargetArch::Other];

    fn default_profile() -> LinuxSeccomp {
        docker_default_for(
            &docker_default_capabilities(),
            TargetArch::X86_64,
            NEW_KERNEL,
        )
    }

    fn with_caps(extra: &[Capability]) -> LinuxSeccomp {
        let mut caps = docker_default_capabilities();
        caps.extend_from_slice(extra);
        docker_default_for(&caps, TargetArch::X86_64, NEW_KERNEL)
    }

    fn rules(profile: &LinuxSeccomp) -> &[LinuxSyscall] {
        profile.syscalls().as_deref().unwrap_or(&[])
    }

    /// Rules naming `name`.
    fn rules_for<'a>(profile: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        rules(profile)
            .iter()
            .filter(|rule| rule.names().iter().any(|n| n == name))
            .collect()
    }

    /// Allowed whatever the arguments.
    fn allowed_unconditionally(profile: &LinuxSeccomp, name: &str) -> bool {
        rules_for(profile, name).iter().any(|rule| {
            rule.action() == LinuxSeccompAction::ScmpActAllow
                && rule.args().as_ref().is_none_or(Vec::is_empty)
        })
    }

    /// Allowed at least for some arguments.
    fn allowed_at_all(profile: &LinuxSeccomp, name: &str) -> bool {
        rules_for(profile, name)
            .iter()
            .any(|rule| rule.action() == LinuxSeccompAction::ScmpActAllow)
    }

    fn all_caps() -> Vec<Capability> {
        let mut caps = docker_default_capabilities();
        caps.extend([
            Capability::SysAdmin,
            Capability::SysPtrace,
            Capability::SysModule,
            Capability::SysBoot,
            Capability::SysTime,
            Capability::SysPacct,
            Capability::SysRawio,
            Capability::SysNice,
            Capability::Syslog,
            Capability::SysTtyConfig,
            Capability::SysResource,
            Capability::Bpf,
            Capability::Perfmon,
            Capability::DacReadSearch,
        ]);
        caps
    }

    #[test]
    fn default_action_is_eperm() {
        let profile = default_profile();
        assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(profile.default_errno_ret(), Some(1));
    }

    #[test]
    fn architectures_follow_moby_arch_map() {
        let arches = |arch| {
            docker_default_for(&[], arch, NEW_KERNEL)
                .architectures()
                .clone()
        };
        assert_eq!(
            arches(TargetArch::X86_64),
            Some(vec![
                Arch::ScmpArchX86_64,
                Arch::ScmpArchX86,
                Arch::ScmpArchX32
            ])
        );
        assert_eq!(
            arches(TargetArch::Aarch64),
            Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm])
        );
        assert_eq!(arches(TargetArch::Other), None);
    }

    #[test]
    fn dangerous_syscalls_denied_with_default_caps() {
        for arch in ARCHES {
            let profile = docker_default_for(&docker_default_capabilities(), arch, NEW_KERNEL);
            for name in [
                "keyctl",
                "add_key",
                "request_key",
                "unshare",
                "mount",
                "umount2",
                "setns",
                "kexec_load",
                "kexec_file_load",
                "bpf",
                "perf_event_open",
                "open_by_handle_at",
                "init_module",
                "reboot",
                "swapon",
                "pivot_root",
                "io_uring_setup",
                "userfaultfd",
                "clone3",
            ] {
                assert!(
                    !allowed_at_all(&profile, name),
                    "{name} allowed on {arch:?}"
                );
            }
        }
    }

    #[test]
    fn ordinary_syscalls_allowed_with_default_caps() {
        let profile = default_profile();
        for name in [
            "read",
            "write",
            "execve",
            "openat",
            "getpid",
            "mmap",
            "futex",
            "exit_group",
            "chroot",
            "ptrace",
        ] {
            assert!(
                allowed_unconditionally(&profile, name),
                "{name} not allowed"
            );
        }
        // clone is allowed, but only without namespace flags.
        assert!(allowed_at_all(&profile, "clone"));
        assert!(!allowed_unconditionally(&profile, "clone"));
    }

    #[test]
    fn clone_without_sys_admin_forbids_namespace_flags() {
        let profile = default_profile();
        let clone = rules_for(&profile, "clone");
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().clone().unwrap_or_default();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert_eq!(args[0].value(), 2_114_060_288);
        assert_eq!(args[0].value_two().unwrap_or(0), 0);
    }

    #[test]
    fn clone3_gets_enosys_without_sys_admin() {
        let profile = default_profile();
        let clone3 = rules_for(&profile, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
    }

    #[test]
    fn sys_admin_unlocks_mount_unshare_and_plain_clone() {
        let profile = with_caps(&[Capability::SysAdmin]);
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "sethostname",
        ] {
            assert!(
                allowed_unconditionally(&profile, name),
                "{name} not allowed"
            );
        }
        // Neither the masked clone rule nor the clone3 ENOSYS rule remain.
        assert_eq!(rules_for(&profile, "clone").len(), 1);
        assert_eq!(rules_for(&profile, "clone3").len(), 1);
        assert!(
            rules(&profile)
                .iter()
                .all(|rule| rule.action() == LinuxSeccompAction::ScmpActAllow)
        );
        // Still never allowed.
        for name in ["keyctl", "add_key", "kexec_load"] {
            assert!(!allowed_at_all(&profile, name), "{name} allowed");
        }
    }

    #[test]
    fn each_capability_unlocks_its_group() {
        let cases: &[(Capability, &[&str])] = &[
            (
                Capability::SysPtrace,
                &["kcmp", "pidfd_getfd", "process_madvise"],
            ),
            (
                Capability::SysModule,
                &["init_module", "finit_module", "delete_module"],
            ),
            (Capability::SysBoot, &["reboot"]),
            (
                Capability::SysTime,
                &["settimeofday", "stime", "clock_settime", "clock_settime64"],
            ),
            (Capability::SysPacct, &["acct"]),
            (Capability::SysRawio, &["iopl", "ioperm"]),
            (
                Capability::SysNice,
                &[
                    "mbind",
                    "get_mempolicy",
                    "set_mempolicy",
                    "set_mempolicy_home_node",
                ],
            ),
            (Capability::Syslog, &["syslog"]),
            (Capability::SysTtyConfig, &["vhangup"]),
            (Capability::Bpf, &["bpf"]),
            (Capability::Perfmon, &["perf_event_open"]),
            (Capability::DacReadSearch, &["open_by_handle_at"]),
        ];
        let base = default_profile();
        for (cap, names) in cases {
            let profile = with_caps(&[*cap]);
            for name in *names {
                assert!(!allowed_at_all(&base, name), "{name} allowed by default");
                assert!(allowed_unconditionally(&profile, name), "{cap:?}: {name}");
            }
        }
    }

    #[test]
    fn chroot_follows_sys_chroot() {
        assert!(allowed_unconditionally(&default_profile(), "chroot"));
        let without: Vec<Capability> = docker_default_capabilities()
            .into_iter()
            .filter(|c| *c != Capability::SysChroot)
            .collect();
        let profile = docker_default_for(&without, TargetArch::X86_64, NEW_KERNEL);
        assert!(!allowed_at_all(&profile, "chroot"));
    }

    #[test]
    fn ptrace_needs_kernel_4_8_or_cap() {
        let caps = docker_default_capabilities();
        for kernel in [
            Some(KernelVersion::new(4, 8)),
            Some(KernelVersion::new(5, 0)),
        ] {
            let profile = docker_default_for(&caps, TargetArch::X86_64, kernel);
            assert!(allowed_unconditionally(&profile, "ptrace"));
        }
        for kernel in [
            Some(KernelVersion::new(4, 7)),
            Some(KernelVersion::new(3, 10)),
            None,
        ] {
            let profile = docker_default_for(&caps, TargetArch::X86_64, kernel);
            assert!(!allowed_at_all(&profile, "ptrace"), "{kernel:?}");
            assert!(!allowed_at_all(&profile, "process_vm_readv"), "{kernel:?}");
        }
        let mut caps = caps;
        caps.push(Capability::SysPtrace);
        let profile = docker_default_for(&caps, TargetArch::X86_64, None);
        assert!(allowed_unconditionally(&profile, "ptrace"));
    }

    #[test]
    fn arch_specific_entries() {
        let caps = docker_default_capabilities();
        let x86 = docker_default_for(&caps, TargetArch::X86_64, NEW_KERNEL);
        let arm = docker_default_for(&caps, TargetArch::Aarch64, NEW_KERNEL);
        let other = docker_default_for(&caps, TargetArch::Other, NEW_KERNEL);
        for name in ["arch_prctl", "modify_ldt"] {
            assert!(allowed_unconditionally(&x86, name));
            assert!(!allowed_at_all(&arm, name));
            assert!(!allowed_at_all(&other, name));
        }
        for name in [
            "set_tls",
            "cacheflush",
            "sync_file_range2",
            "arm_fadvise64_64",
        ] {
            assert!(allowed_unconditionally(&arm, name));
            assert!(!allowed_at_all(&x86, name));
            assert!(!allowed_at_all(&other, name));
        }
        for name in ["swapcontext", "s390_runtime_instr", "riscv_flush_icache"] {
            assert!(!allowed_at_all(&x86, name) && !allowed_at_all(&arm, name));
        }
    }

    #[test]
    fn personality_only_safe_personas() {
        let profile = default_profile();
        let mut values: Vec<u64> = rules_for(&profile, "personality")
            .iter()
            .flat_map(|rule| rule.args().clone().unwrap_or_default())
            .inspect(|arg| {
                assert_eq!(arg.index(), 0);
                assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpEq);
            })
            .map(|arg| arg.value())
            .collect();
        values.sort_unstable();
        assert_eq!(values, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
        assert!(!allowed_unconditionally(&profile, "personality"));
    }

    #[test]
    fn socket_blocks_af_alg_and_af_vsock() {
        let profile = default_profile();
        let allows = |family: u64| {
            rules_for(&profile, "socket").iter().any(|rule| {
                rule.args().clone().unwrap_or_default().iter().all(|arg| {
                    assert_eq!(arg.index(), 0);
                    match arg.op() {
                        LinuxSeccompOperator::ScmpCmpLt => family < arg.value(),
                        LinuxSeccompOperator::ScmpCmpEq => family == arg.value(),
                        LinuxSeccompOperator::ScmpCmpGt => family > arg.value(),
                        other => panic!("unexpected op {other:?}"),
                    }
                })
            })
        };
        for family in [1, 2, 10, 16, 17, 37, 39, 41, 45] {
            assert!(allows(family), "family {family} denied");
        }
        assert!(!allows(38), "AF_ALG allowed");
        assert!(!allows(40), "AF_VSOCK allowed");
    }

    #[test]
    fn json_uses_oci_field_names() -> Result<(), serde_json::Error> {
        let json = serde_json::to_value(default_profile())?;
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        assert_eq!(json["architectures"][0], "SCMP_ARCH_X86_64");
        let syscalls = json["syscalls"].as_array().cloned().unwrap_or_default();
        assert!(!syscalls.is_empty());
        assert_eq!(syscalls[0]["action"], "SCMP_ACT_ALLOW");
        assert!(
            syscalls[0]["names"]
                .as_array()
                .is_some_and(|n| n.len() > 300)
        );
        assert!(syscalls[0].get("args").is_none());

        let clone = syscalls
            .iter()
            .find(|s| s["names"][0] == "clone")
            .cloned()
            .unwrap_or_default();
        assert_eq!(clone["args"][0]["index"], 0);
        assert_eq!(clone["args"][0]["value"], 2_114_060_288_u64);
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");

        let clone3 = syscalls
            .iter()
            .find(|s| s["names"][0] == "clone3")
            .cloned()
            .unwrap_or_default();
        assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3["errnoRet"], 38);

        // Round-trips through the OCI type.
        let back: LinuxSeccomp = serde_json::from_value(json)?;
        assert_eq!(back, default_profile());
        Ok(())
    }

    #[test]
    fn no_name_repeated_with_same_action() {
        let cap_sets = [
            Vec::new(),
            docker_default_capabilities(),
            all_caps(),
            vec![Capability::SysAdmin, Capability::Syslog, Capability::Bpf],
        ];
        for caps in &cap_sets {
            for arch in ARCHES {
                for kernel in [NEW_KERNEL, Some(KernelVersion::new(4, 4)), None] {
                    let profile = docker_default_for(caps, arch, kernel);
                    let mut seen = HashSet::new();
                    for rule in rules(&profile) {
                        let key = (
                            rule.action().to_string(),
                            rule.errno_ret(),
                            serde_json::to_string(rule.args()).unwrap_or_default(),
                        );
                        for name in rule.names() {
                            assert!(
                                seen.insert((name.clone(), key.clone())),
                                "{name} repeated ({caps:?}, {arch:?}, {kernel:?})"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn no_name_both_allowed_and_refused() {
        for arch in ARCHES {
            for caps in [docker_default_capabilities(), all_caps()] {
                let profile = docker_default_for(&caps, arch, NEW_KERNEL);
                let allowed: HashSet<&String> = rules(&profile)
                    .iter()
                    .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
                    .flat_map(|r| r.names())
                    .collect();
                for rule in rules(&profile) {
                    if rule.action() != LinuxSeccompAction::ScmpActAllow {
                        for name in rule.names() {
                            assert!(!allowed.contains(name), "{name} on {arch:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn base_allow_list_matches_moby() {
        let names: Vec<&str> = BASE_ALLOW_GROUPS
            .iter()
            .flat_map(|g| g.iter().copied())
            .collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "duplicate in base groups");
        assert_eq!(names.len(), 361);
        for absent in [
            "socket",
            "personality",
            "clone",
            "clone3",
            "ptrace",
            "io_uring_setup",
        ] {
            assert!(!unique.contains(absent), "{absent} in base list");
        }
        let profile = default_profile();
        assert_eq!(rules(&profile)[0].names().len(), 361);
    }

    #[test]
    fn default_capabilities() {
        let caps = docker_default_capabilities();
        assert_eq!(caps.len(), 14);
        assert_eq!(caps, DOCKER_DEFAULT_CAPABILITIES);
        let unique: HashSet<Capability> = caps.iter().copied().collect();
        assert_eq!(unique.len(), 14);
        assert!(!caps.contains(&Capability::SysAdmin));
        assert!(caps.contains(&Capability::SysChroot));
        assert!(caps.contains(&Capability::AuditWrite));
    }

    #[test]
    fn kernel_version_parsing() {
        let v = KernelVersion::parse;
        assert_eq!(v("6.8.0-45-generic"), Some(KernelVersion::new(6, 8)));
        assert_eq!(v("3.12-1-amd64"), Some(KernelVersion::new(3, 12)));
        assert_eq!(v("3.12.25-gentoo\n"), Some(KernelVersion::new(3, 12)));
        assert_eq!(v("5.15"), Some(KernelVersion::new(5, 15)));
        assert_eq!(v("6"), None);
        assert_eq!(v("x.y"), None);
        assert_eq!(v(""), None);
        assert!(KernelVersion::new(4, 10) > KernelVersion::new(4, 8));
        assert!(KernelVersion::new(5, 0) > KernelVersion::new(4, 19));
    }

    #[test]
    fn host_profile_is_consistent() {
        let profile = docker_default(&docker_default_capabilities());
        assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert!(allowed_unconditionally(&profile, "read"));
        assert!(!allowed_at_all(&profile, "mount"));
        if cfg!(target_os = "linux") {
            assert!(KernelVersion::host().is_some());
        }
    }
}
