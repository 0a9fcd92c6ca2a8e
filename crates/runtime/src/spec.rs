//! Default runtime specs: the one `wharf oci spec` writes (runc's), and the one Docker's engine
//! gives every container (moby's default spec with its capability set, masked and read-only
//! paths, device rules and seccomp profile).

use std::path::PathBuf;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxNamespace, LinuxNamespaceType, LinuxResources, Mount, Spec,
};

use crate::seccomp_profile;

/// The runtime-spec version Wharf writes.
pub const OCI_VERSION: &str = "1.2.1";

/// What `runc spec` writes: a `sh` with a terminal, a read-only root, the mount, network, pid,
/// ipc and uts namespaces (and cgroup on a cgroup-v2 host, as runc and Docker do), the three
/// capabilities runc grants, masked and read-only paths, nofile 1024 and every device denied.
pub fn runc_default() -> Spec {
    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.into());
    spec.set_hostname(Some("wharf".into()));
    if let Some(mut process) = spec.process().clone() {
        process.set_terminal(Some(true));
        let caps: Capabilities = [
            Capability::AuditWrite,
            Capability::Kill,
            Capability::NetBindService,
        ]
        .into_iter()
        .collect();
        process.set_capabilities(Some(capabilities(caps)));
        spec.set_process(Some(process));
    }
    if let Some(mut root) = spec.root().clone() {
        root.set_path(PathBuf::from("rootfs"));
        root.set_readonly(Some(true));
        spec.set_root(Some(root));
    }
    spec.set_mounts(Some(default_mounts()));
    if let Some(mut linux) = spec.linux().clone() {
        let mut resources = LinuxResources::default();
        resources.set_devices(Some(vec![deny_all_devices()]));
        linux.set_resources(Some(resources));
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|n| n.typ() != LinuxNamespaceType::Cgroup);
        if crate::host::cgroup_v2_unified() {
            namespaces.push(namespace(LinuxNamespaceType::Cgroup));
        }
        linux.set_namespaces(Some(namespaces));
        spec.set_linux(Some(linux));
    }
    spec.set_annotations(None);
    spec
}

/// Every capability Linux knows, indexed by its number.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The spec Docker's engine starts from for every container: Docker's 14 default
/// capabilities (bounding, effective and permitted; no inheritable or ambient ones), its
/// masked and read-only paths, the device cgroup rules that allow `mknod` but only the
/// standard devices to be opened, and Docker's default seccomp profile.
pub fn docker_default() -> Spec {
    let mut spec = runc_default();
    if let Some(mut process) = spec.process().clone() {
        process.set_terminal(Some(false));
        process.set_no_new_privileges(None);
        process.set_rlimits(None);
        process.set_env(Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ]));
        let caps: Capabilities = seccomp_profile::docker_default_capabilities()
            .into_iter()
            .collect();
        process.set_capabilities(Some(capabilities(caps)));
        spec.set_process(Some(process));
    }
    if let Some(mut root) = spec.root().clone() {
        root.set_readonly(Some(false));
        spec.set_root(Some(root));
    }
    if let Some(mut mounts) = spec.mounts().clone() {
        for m in mounts
            .iter_mut()
            .filter(|m| m.destination() == &PathBuf::from("/proc"))
        {
            m.set_options(Some(vec!["nosuid".into(), "noexec".into(), "nodev".into()]));
        }
        spec.set_mounts(Some(mounts));
    }
    if let Some(mut linux) = spec.linux().clone() {
        let mut masked = linux.masked_paths().clone().unwrap_or_default();
        for extra in ["/proc/interrupts", "/sys/devices/virtual/powercap"] {
            if !masked.iter().any(|p| p == extra) {
                masked.push(extra.into());
            }
        }
        linux.set_masked_paths(Some(masked));
        let mut resources = LinuxResources::default();
        resources.set_devices(Some(docker_device_rules()));
        linux.set_resources(Some(resources));
        linux.set_seccomp(Some(seccomp_profile::docker_default(
            &seccomp_profile::docker_default_capabilities(),
        )));
        spec.set_linux(Some(linux));
    }
    spec
}

fn capabilities(caps: Capabilities) -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(caps.clone()));
    c.set_effective(Some(caps.clone()));
    c.set_permitted(Some(caps));
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

fn namespace(typ: LinuxNamespaceType) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.into()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

/// The mounts every container gets, as runc writes them: /proc, /dev (tmpfs) with devpts, shm
/// and mqueue, a read-only /sys and a read-only cgroup filesystem.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        {
            let mut proc = mount("/proc", "proc", "proc", &[]);
            proc.set_options(None);
            proc
        },
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

fn deny_all_devices() -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(false);
    d.set_access(Some("rwm".into()));
    d
}

fn allow_device(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(true);
    d.set_typ(Some(typ));
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some(access.into()));
    d
}

/// Docker's device cgroup rules: deny everything, allow `mknod` of any node, and read/write of
/// null, zero, full, random, urandom, tty, console, ptmx and the pty slaves.
pub fn docker_device_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    vec![
        deny_all_devices(),
        allow_device(C, None, None, "m"),
        allow_device(B, None, None, "m"),
        allow_device(C, Some(1), Some(3), "rwm"),
        allow_device(C, Some(1), Some(8), "rwm"),
        allow_device(C, Some(1), Some(7), "rwm"),
        allow_device(C, Some(5), Some(0), "rwm"),
        allow_device(C, Some(1), Some(5), "rwm"),
        allow_device(C, Some(1), Some(9), "rwm"),
        allow_device(C, Some(5), Some(1), "rwm"),
        allow_device(C, Some(136), None, "rwm"),
        allow_device(C, Some(5), Some(2), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap_mask(caps: &Capabilities) -> u64 {
        caps.iter()
            .map(|c| {
                let v = serde_json::to_value(c).expect("cap");
                let name = v.as_str().expect("name").to_string();
                1u64 << cap_number(&name)
            })
            .fold(0, |a, b| a | b)
    }

    fn cap_number(name: &str) -> u32 {
        super::CAPABILITIES
            .iter()
            .position(|n| *n == name)
            .expect("known cap") as u32
    }

    #[test]
    fn runc_default_matches_runc_spec() {
        let s = runc_default();
        let p = s.process().as_ref().expect("process");
        assert_eq!(p.terminal(), Some(true));
        let caps = p.capabilities().as_ref().expect("caps");
        assert_eq!(
            cap_mask(caps.effective().as_ref().expect("eff")),
            0x2000_0420
        );
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());
        assert_eq!(s.root().as_ref().expect("root").readonly(), Some(true));
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(v["ociVersion"], OCI_VERSION);
        assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], false);
    }

    #[test]
    fn docker_default_has_dockers_capabilities_and_profile() {
        let s = docker_default();
        let p = s.process().as_ref().expect("process");
        let caps = p.capabilities().as_ref().expect("caps");
        // Docker's default set, as /proc/self/status shows it in a docker container.
        assert_eq!(
            cap_mask(caps.effective().as_ref().expect("eff")),
            0xa80425fb
        );
        assert_eq!(cap_mask(caps.bounding().as_ref().expect("bnd")), 0xa80425fb);
        let linux = s.linux().as_ref().expect("linux");
        let masked = linux.masked_paths().as_ref().expect("masked");
        for p in [
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/sys/firmware",
        ] {
            assert!(masked.iter().any(|m| m == p), "{p} masked");
        }
        let ro = linux.readonly_paths().as_ref().expect("ro");
        assert!(ro.iter().any(|m| m == "/proc/sysrq-trigger"));
        assert!(linux.seccomp().is_some());
        assert_eq!(s.root().as_ref().expect("root").readonly(), Some(false));
    }
}
