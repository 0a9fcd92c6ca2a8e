//! Reading an OCI bundle: parse `config.json` with errors that name the field, check what can
//! be checked before anything is created, and derive the *effective* configuration the
//! container is really started with.
//!
//! The effective configuration differs from the bundle's in these ways:
//! - `root.path` and relative bind-mount sources are made absolute (they are relative to the
//!   bundle, and the effective copy lives elsewhere);
//! - `linux.cgroupsPath` defaults to `/wharf/<id>`;
//! - rlimits above what this host can grant are clamped to the host's hard limit when the
//!   runtime lacks `CAP_SYS_RESOURCE` (root on this kind of machine has no such capability and a
//!   nofile hard limit of 20000; a spec asking for more must still run);
//! - device cgroup access strings keep only the kernel's letters `r`, `w`, `m`;
//! - on a cgroup-v1 host a read-only `/sys/fs/cgroup` mount also makes each hierarchy mounted
//!   under it read-only (libcontainer mounts them without the flag);
//! - a tmpfs mount without `mode=` gets the mode of the directory it covers, as runc does
//!   (tmpfs would otherwise be 1777);
//! - `noNewPrivileges: false` is written as absent (the same meaning): libcontainer tests for
//!   presence, and loaded the seccomp filter only after dropping the capabilities that loading
//!   it without no_new_privs needs;
//! - hooks run through Wharf's hook runner so that they see the user's bundle ([`crate::hooks`]).
//!
//! The effective copy is what libcontainer reads, at create and again at exec; the user's
//! bundle is never written.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, PosixRlimitBuilder, Spec};

use crate::error::{Error, Result};
use crate::host;

/// A bundle whose configuration parsed and passed the checks.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory as the user named it, made absolute.
    pub dir: PathBuf,
    /// The effective configuration (see the module documentation).
    pub spec: Spec,
    /// What was changed on the way from the bundle's configuration to the effective one.
    pub adjustments: Vec<String>,
}

impl Bundle {
    /// Loads `dir/config.json` for the container `id`. `hook_runner` is the `wharf` executable
    /// that runs hooks (see [`crate::hooks`]); without one, hooks are told the effective
    /// configuration's directory is the bundle.
    pub fn load(dir: &Path, id: &str, hook_runner: Option<&Path>) -> Result<Self> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io("resolve", dir, e))?;
        if !dir.is_dir() {
            return Err(Error::InvalidBundle {
                path: dir,
                reason: "bundle directory does not exist".into(),
            });
        }
        let config = dir.join("config.json");
        let text = fs::read(&config).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::InvalidBundle {
                path: config.clone(),
                reason: "no config.json in the bundle".into(),
            },
            _ => Error::io("read", &config, e),
        })?;
        let spec = parse_spec(&config, &text)?;
        let mut bundle = Bundle {
            dir,
            spec,
            adjustments: Vec::new(),
        };
        bundle.validate(&config)?;
        bundle.make_effective(id, host::can_raise_rlimits(), &|t| host::hard_rlimit(t))?;
        if let Some(runner) = hook_runner {
            let dir = bundle.dir.clone();
            crate::hooks::wrap(&mut bundle.spec, runner, &dir);
        }
        Ok(bundle)
    }

    fn validate(&self, config: &Path) -> Result<()> {
        let invalid = |field: &str, reason: String| Error::InvalidSpec {
            path: config.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        let spec = &self.spec;
        if !spec.version().starts_with("1.") {
            return Err(invalid(
                "ociVersion",
                format!(
                    "unsupported version {:?}: any 1.x version is accepted",
                    spec.version()
                ),
            ));
        }
        let root = spec.root().as_ref().ok_or_else(|| {
            invalid(
                "root",
                "missing: a container needs a root filesystem".into(),
            )
        })?;
        let rootfs = self.dir.join(root.path());
        if !rootfs.is_dir() {
            return Err(invalid(
                "root.path",
                format!("{} does not exist or is not a directory", rootfs.display()),
            ));
        }
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| invalid("process", "missing".into()))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(invalid("process.args", "must name a command".into()));
        }
        if !process.cwd().is_absolute() {
            return Err(invalid(
                "process.cwd",
                format!("{} is not an absolute path", process.cwd().display()),
            ));
        }
        for (i, r) in process.rlimits().iter().flatten().enumerate() {
            if r.soft() > r.hard() {
                return Err(invalid(
                    &format!("process.rlimits[{i}]"),
                    format!(
                        "soft limit {} is above hard limit {} for {:?}",
                        r.soft(),
                        r.hard(),
                        r.typ()
                    ),
                ));
            }
        }
        let mut seen = HashSet::new();
        let Some(linux) = spec.linux() else {
            return Ok(());
        };
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if !seen.insert(ns.typ()) {
                return Err(invalid(
                    &format!("linux.namespaces[{i}].type"),
                    format!("namespace {:?} is listed twice", ns.typ()),
                ));
            }
            if let Some(path) = ns.path() {
                if !path.exists() {
                    return Err(invalid(
                        &format!("linux.namespaces[{i}].path"),
                        format!("{} does not exist", path.display()),
                    ));
                }
            }
        }
        let has_userns = seen.contains(&LinuxNamespaceType::User);
        let joins_userns = linux
            .namespaces()
            .iter()
            .flatten()
            .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_some());
        if has_userns && !joins_userns {
            let empty = |m: &Option<Vec<_>>| m.as_ref().is_none_or(|v| v.is_empty());
            if empty(linux.uid_mappings()) || empty(linux.gid_mappings()) {
                return Err(invalid(
                    "linux.uidMappings",
                    "a new user namespace needs both uidMappings and gidMappings".into(),
                ));
            }
        }
        if !has_userns && (linux.uid_mappings().is_some() || linux.gid_mappings().is_some()) {
            let any = |m: &Option<Vec<_>>| m.as_ref().is_some_and(|v| !v.is_empty());
            if any(linux.uid_mappings()) || any(linux.gid_mappings()) {
                return Err(invalid(
                    "linux.uidMappings",
                    "id mappings are set but there is no user namespace".into(),
                ));
            }
        }
        if let Some(seccomp) = linux.seccomp() {
            for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
                let notify = rule.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActNotify;
                if notify && rule.names().iter().any(|n| n == "write") {
                    // The runtime itself writes to the container's stdio and sync pipes.
                    return Err(invalid(
                        &format!("linux.seccomp.syscalls[{i}]"),
                        "SCMP_ACT_NOTIFY cannot be used for the write syscall".into(),
                    ));
                }
            }
        }
        if let Some(resources) = linux.resources() {
            let unified = resources.unified().as_ref().is_some_and(|u| !u.is_empty());
            if unified && !host::cgroup_v2_unified() {
                return Err(invalid(
                    "linux.resources.unified",
                    "cgroup v2 settings on a host without cgroup v2 (it runs cgroup v1)".into(),
                ));
            }
            check_resources(resources, host::online_cpus().as_deref())
                .map_err(|(field, reason)| invalid(&format!("linux.resources.{field}"), reason))?;
        }
        Ok(())
    }

    fn make_effective(
        &mut self,
        id: &str,
        can_raise: bool,
        hard_limit: &dyn Fn(oci_spec::runtime::PosixRlimitType) -> Option<u64>,
    ) -> Result<()> {
        let dir = self.dir.clone();
        let spec = &mut self.spec;
        if let Some(mut root) = spec.root().clone() {
            if root.path().is_relative() {
                root.set_path(dir.join(root.path()));
                spec.set_root(Some(root));
            }
        }
        let rootfs = spec.root().as_ref().map(|r| r.path().clone());
        if let Some(mut mounts) = spec.mounts().clone() {
            let mut changed = false;
            for m in &mut mounts {
                let tmpfs = m.typ().as_deref() == Some("tmpfs");
                let has_mode = m.options().iter().flatten().any(|o| o.starts_with("mode="));
                if let (true, false, Some(rootfs)) = (tmpfs, has_mode, &rootfs) {
                    if let Some(mode) = dir_mode(rootfs, m.destination()) {
                        let mut options = m.options().clone().unwrap_or_default();
                        options.push(format!("mode={mode:o}"));
                        m.set_options(Some(options));
                        changed = true;
                    }
                }
                let bind = m.typ().as_deref() == Some("bind")
                    || m.options()
                        .iter()
                        .flatten()
                        .any(|o| o == "bind" || o == "rbind");
                if let Some(src) = m.source().clone() {
                    if bind && src.is_relative() {
                        m.set_source(Some(dir.join(src)));
                        changed = true;
                    }
                }
            }
            if changed {
                spec.set_mounts(Some(mounts));
            }
        }
        if let Some(mut linux) = spec.linux().clone() {
            if linux.cgroups_path().is_none() {
                linux.set_cgroups_path(Some(PathBuf::from(format!("/wharf/{id}"))));
            }
            if let Some(mut resources) = linux.resources().clone() {
                if let Some(mut devices) = resources.devices().clone() {
                    for d in &mut devices {
                        if let Some(access) = d.access().clone() {
                            let clean: String = ['r', 'w', 'm']
                                .into_iter()
                                .filter(|c| access.contains(*c))
                                .collect();
                            if clean != access {
                                self.adjustments
                                    .push(format!("device access {access:?} read as {clean:?}"));
                                d.set_access(Some(clean));
                            }
                        }
                    }
                    resources.set_devices(Some(devices));
                }
                linux.set_resources(Some(resources));
            }
            // Only a private mount namespace gets mounts (and read-only paths) at all.
            let private_mounts = linux
                .namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none());
            let ro_cgroup = spec
                .mounts()
                .iter()
                .flatten()
                .filter(|_| private_mounts)
                .find(|m| {
                    m.typ().as_deref() == Some("cgroup")
                        && m.options().iter().flatten().any(|o| o == "ro")
                });
            if let Some(m) = ro_cgroup {
                let dest = m.destination().clone();
                let mut ro = linux.readonly_paths().clone().unwrap_or_default();
                let hierarchies = host::cgroup_v1_hierarchies();
                // The tmpfs that holds the hierarchies first, then each hierarchy on it.
                let paths = (!hierarchies.is_empty())
                    .then(|| dest.clone())
                    .into_iter()
                    .chain(hierarchies.iter().map(|name| dest.join(name)));
                for p in paths {
                    let p = p.to_string_lossy().into_owned();
                    if !ro.contains(&p) {
                        ro.push(p);
                    }
                }
                linux.set_readonly_paths(Some(ro));
            }
            spec.set_linux(Some(linux));
        }
        if let Some(mut process) = spec.process().clone() {
            if process.no_new_privileges() == Some(false) {
                process.set_no_new_privileges(None);
            }
            // An ambient capability must also be permitted and inheritable; runc warns and
            // skips one that is not, where libcontainer's raise fails the whole create.
            if let Some(mut caps) = process.capabilities().clone() {
                if let Some(ambient) = caps.ambient().clone() {
                    fn holds(
                        set: &Option<oci_spec::runtime::Capabilities>,
                        c: &oci_spec::runtime::Capability,
                    ) -> bool {
                        set.as_ref().is_some_and(|s| s.contains(c))
                    }
                    let (keep, drop): (Vec<_>, Vec<_>) = ambient
                        .into_iter()
                        .partition(|c| holds(caps.inheritable(), c) && holds(caps.permitted(), c));
                    for c in &drop {
                        let name = serde_json::to_value(c).unwrap_or_default();
                        let note = format!(
                            "can't raise ambient capability {}: not in the inheritable and permitted sets",
                            name.as_str().unwrap_or_default()
                        );
                        tracing::warn!(container = id, "{note}");
                        self.adjustments.push(note);
                    }
                    caps.set_ambient(Some(keep.into_iter().collect()));
                    process.set_capabilities(Some(caps));
                }
            }
            spec.set_process(Some(process));
        }
        if !can_raise {
            if let Some(mut process) = spec.process().clone() {
                if let Some(mut rlimits) = process.rlimits().clone() {
                    let mut changed = false;
                    for r in &mut rlimits {
                        let Some(max) = hard_limit(r.typ()) else {
                            continue;
                        };
                        if r.hard() > max {
                            let note = format!(
                                "{:?} hard limit {} clamped to the host's {max} (no CAP_SYS_RESOURCE)",
                                r.typ(),
                                r.hard()
                            );
                            tracing::warn!(container = id, "{note}");
                            self.adjustments.push(note);
                            *r = PosixRlimitBuilder::default()
                                .typ(r.typ())
                                .hard(max)
                                .soft(r.soft().min(max))
                                .build()
                                .map_err(|e| Error::InvalidArgument {
                                    name: "process.rlimits".into(),
                                    reason: e.to_string(),
                                })?;
                            changed = true;
                        }
                    }
                    if changed {
                        process.set_rlimits(Some(rlimits));
                        spec.set_process(Some(process));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The permission bits (with setuid/setgid/sticky) of the directory `dest` names inside
/// `rootfs`; `None` when it is missing, not a directory, or reached through a symlink.
fn dir_mode(rootfs: &Path, dest: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mut path = rootfs.to_path_buf();
    for part in dest.components() {
        if let std::path::Component::Normal(p) = part {
            path.push(p);
            if fs::symlink_metadata(&path).ok()?.file_type().is_symlink() {
                return None;
            }
        }
    }
    let meta = fs::symlink_metadata(&path).ok()?;
    meta.is_dir().then(|| meta.permissions().mode() & 0o7777)
}

/// Parses a spec, naming the JSON path of the first problem (`linux.namespaces[2].type`).
/// Capabilities this build does not know are dropped with a warning, as runc does: a spec
/// written for a newer kernel still runs.
pub fn parse_spec(path: &Path, text: &[u8]) -> Result<Spec> {
    let mut value = parse_value(path, text)?;
    if let Some(process) = value.get_mut("process") {
        for unknown in drop_unknown_capabilities(process) {
            tracing::warn!("{}: ignoring unknown capability {unknown}", path.display());
        }
    }
    deserialize(path, value)
}

/// Parses a process.json (runc's `exec --process`) the way [`parse_spec`] parses a spec.
pub fn parse_process(path: &Path, text: &[u8]) -> Result<oci_spec::runtime::Process> {
    let mut value = parse_value(path, text)?;
    for unknown in drop_unknown_capabilities(&mut value) {
        tracing::warn!("{}: ignoring unknown capability {unknown}", path.display());
    }
    deserialize(path, value)
}

fn parse_value(path: &Path, text: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(text).map_err(|e| Error::InvalidSpec {
        path: path.to_path_buf(),
        field: format!("line {} column {}", e.line(), e.column()),
        reason: e.to_string(),
    })
}

fn deserialize<T: serde::de::DeserializeOwned>(path: &Path, value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| Error::InvalidSpec {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })
}

/// Removes capability names that do not parse from a process's `capabilities.*`; returns
/// them.
fn drop_unknown_capabilities(process: &mut serde_json::Value) -> Vec<String> {
    let mut dropped = Vec::new();
    let Some(caps) = process
        .pointer_mut("/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return dropped;
    };
    for set in caps.values_mut() {
        if let Some(names) = set.as_array_mut() {
            names.retain(|name| {
                let known =
                    serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
                if !known && name.is_string() {
                    dropped.push(name.as_str().unwrap_or_default().to_string());
                }
                known || !name.is_string()
            });
        }
    }
    dropped.sort();
    dropped.dedup();
    dropped
}

/// Checks resource limits that the kernel would refuse, or that make no sense, before any
/// cgroup exists. Returns the offending field (relative to `linux.resources`) and why.
pub fn check_resources(
    r: &LinuxResources,
    online_cpus: Option<&[u32]>,
) -> std::result::Result<(), (String, String)> {
    let err = |f: &str, why: String| Err((f.to_string(), why));
    if let Some(mem) = r.memory() {
        let limit = mem.limit();
        if let Some(l) = limit {
            if l == 0 || l < -1 {
                return err("memory.limit", format!("{l} is not a valid memory limit"));
            }
        }
        if let Some(res) = mem.reservation() {
            if res < -1 {
                return err("memory.reservation", format!("{res} is not valid"));
            }
            if let Some(l) = limit.filter(|l| *l > 0) {
                if res > l {
                    return err(
                        "memory.reservation",
                        format!("reservation {res} is above the memory limit {l}"),
                    );
                }
            }
        }
        if let Some(swap) = mem.swap() {
            if swap == 0 || swap < -1 {
                return err(
                    "memory.swap",
                    format!("{swap} is not a valid memory+swap limit"),
                );
            }
            if let Some(l) = limit.filter(|l| *l > 0) {
                if swap > 0 && swap < l {
                    return err(
                        "memory.swap",
                        format!("memory+swap limit {swap} is below the memory limit {l}"),
                    );
                }
            }
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(p) = cpu.period() {
            if !(1_000..=1_000_000).contains(&p) {
                return err("cpu.period", format!("{p} µs is outside 1000..=1000000"));
            }
        }
        if let Some(q) = cpu.quota() {
            if q != -1 && q < 1_000 {
                return err("cpu.quota", format!("{q} µs is below the minimum of 1000"));
            }
        }
        if let Some(s) = cpu.shares() {
            if s < 2 {
                return err("cpu.shares", format!("{s} is below the minimum of 2"));
            }
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
            let Some(list) = host::parse_cpu_list(cpus) else {
                return err("cpu.cpus", format!("{cpus:?} is not a CPU list"));
            };
            if let Some(online) = online_cpus {
                if let Some(bad) = list.iter().find(|c| !online.contains(c)) {
                    return err(
                        "cpu.cpus",
                        format!("CPU {bad} is not online (online: {online:?})"),
                    );
                }
            }
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
            if host::parse_cpu_list(mems).is_none() {
                return err("cpu.mems", format!("{mems:?} is not a memory node list"));
            }
        }
    }
    if let Some(pids) = r.pids() {
        if pids.limit() < -1 {
            return err("pids.limit", format!("{} is not valid", pids.limit()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, PosixRlimitType,
    };

    fn write_bundle(config: &serde_json::Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
        fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec(config).expect("json"),
        )
        .expect("write");
        dir
    }

    fn base() -> serde_json::Value {
        serde_json::to_value(crate::spec::runc_default()).expect("to value")
    }

    fn load_err(config: serde_json::Value) -> String {
        let dir = write_bundle(&config);
        Bundle::load(dir.path(), "t", None)
            .expect_err("should fail")
            .to_string()
    }

    #[test]
    fn default_spec_loads_and_is_made_effective() {
        let dir = write_bundle(&base());
        let b = Bundle::load(dir.path(), "c1", None).expect("load");
        let root = b.spec.root().as_ref().expect("root").path().clone();
        assert!(root.is_absolute());
        assert_eq!(root, dir.path().join("rootfs"));
        assert_eq!(
            b.spec
                .linux()
                .as_ref()
                .and_then(|l| l.cgroups_path().clone()),
            Some(PathBuf::from("/wharf/c1"))
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("config.json"),
            b"{\"ociVersion\": \"1.0.0\",",
        )
        .expect("w");
        let e = Bundle::load(dir.path(), "t", None)
            .expect_err("fails")
            .to_string();
        assert!(e.contains("config.json") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut c = base();
        c["linux"]["namespaces"][1]["type"] = "bogus".into();
        let e = load_err(c);
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn missing_rootfs_names_the_path() {
        let mut c = base();
        c["root"]["path"] = "nowhere".into();
        let e = load_err(c);
        assert!(e.contains("root.path") && e.contains("nowhere"), "{e}");
    }

    #[test]
    fn wrong_types_and_versions_are_refused() {
        let mut c = base();
        c["process"]["args"] = 7.into();
        assert!(load_err(c).contains("process.args"));
        let mut c = base();
        c["ociVersion"] = "2.0.0".into();
        assert!(load_err(c).contains("ociVersion"));
        let mut c = base();
        c["ociVersion"] = "1.3.0".into();
        let dir = write_bundle(&c);
        assert!(
            Bundle::load(dir.path(), "t", None).is_ok(),
            "any 1.x is accepted"
        );
    }

    #[test]
    fn duplicate_namespace_and_userns_without_mappings() {
        let mut c = base();
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("array")
            .push(serde_json::json!({"type": "pid"}));
        assert!(load_err(c).contains("listed twice"));
        let mut c = base();
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("array")
            .push(serde_json::json!({"type": "user"}));
        assert!(load_err(c).contains("uidMappings"));
    }

    #[test]
    fn impossible_limits_are_refused() {
        let mem = |limit, swap| {
            LinuxResourcesBuilder::default()
                .memory(
                    LinuxMemoryBuilder::default()
                        .limit(limit)
                        .swap(swap)
                        .build()
                        .expect("m"),
                )
                .build()
                .expect("r")
        };
        assert!(check_resources(&mem(32 << 20, 64 << 20), None).is_ok());
        let (f, _) = check_resources(&mem(64 << 20, 32 << 20), None).expect_err("swap < limit");
        assert_eq!(f, "memory.swap");
        let (f, _) = check_resources(&mem(-5, -1), None).expect_err("negative");
        assert_eq!(f, "memory.limit");
        let cpus = |c: &str| {
            LinuxResourcesBuilder::default()
                .cpu(LinuxCpuBuilder::default().cpus(c).build().expect("c"))
                .build()
                .expect("r")
        };
        assert!(check_resources(&cpus("0-1"), Some(&[0, 1])).is_ok());
        let (f, why) = check_resources(&cpus("0-63"), Some(&[0, 1])).expect_err("offline");
        assert_eq!(f, "cpu.cpus");
        assert!(why.contains("CPU 2"), "{why}");
        let period = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().period(10u64).build().expect("c"))
            .build()
            .expect("r");
        assert_eq!(
            check_resources(&period, None).expect_err("period").0,
            "cpu.period"
        );
    }

    #[test]
    fn rlimits_above_the_host_are_clamped_without_cap_sys_resource() {
        let dir = write_bundle(&base());
        let mut b = Bundle::load(dir.path(), "t", None).expect("load");
        let mut process = b.spec.process().clone().expect("process");
        process.set_rlimits(Some(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(1_048_576u64)
                .hard(1_048_576u64)
                .build()
                .expect("rlimit"),
        ]));
        b.spec.set_process(Some(process));
        b.make_effective("t", false, &|_| Some(20_000))
            .expect("effective");
        let r = &b
            .spec
            .process()
            .as_ref()
            .expect("p")
            .rlimits()
            .as_ref()
            .expect("r")[0];
        assert_eq!((r.soft(), r.hard()), (20_000, 20_000));
        assert_eq!(b.adjustments.len(), 1);
        // with the capability nothing is clamped
        let mut b2 = Bundle::load(dir.path(), "t", None).expect("load");
        b2.spec = b.spec.clone();
        b2.adjustments.clear();
        b2.make_effective("t", true, &|_| Some(10))
            .expect("effective");
        assert!(b2.adjustments.is_empty());
    }

    #[test]
    fn device_access_keeps_the_kernels_letters() {
        let mut c = base();
        c["linux"]["resources"]["devices"] = serde_json::json!([{"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwa"}]);
        let dir = write_bundle(&c);
        let b = Bundle::load(dir.path(), "t", None).expect("load");
        let v = serde_json::to_value(&b.spec).expect("json");
        assert_eq!(v["linux"]["resources"]["devices"][0]["access"], "rw");
    }

    #[test]
    fn seccomp_notify_on_write_is_refused() {
        let mut c = base();
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/tmp/x.sock",
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]
        });
        let e = load_err(c);
        assert!(
            e.contains("SCMP_ACT_NOTIFY cannot be used for the write syscall"),
            "{e}"
        );
    }

    #[test]
    fn unknown_capabilities_are_dropped_not_fatal() {
        let mut c = base();
        c["process"]["capabilities"]["bounding"] =
            serde_json::json!(["CAP_KILL", "CAP_FROM_THE_FUTURE"]);
        let dir = write_bundle(&c);
        let b = Bundle::load(dir.path(), "t", None).expect("load");
        let v = serde_json::to_value(&b.spec).expect("json");
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            serde_json::json!(["CAP_KILL"])
        );
        // A wrong type still names its field.
        let mut c = base();
        c["process"]["capabilities"]["bounding"] = 5.into();
        assert!(load_err(c).contains("process.capabilities.bounding"));
    }

    #[test]
    fn soft_above_hard_is_refused() {
        let mut c = base();
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]);
        assert!(load_err(c).contains("process.rlimits[0]"));
    }
}
