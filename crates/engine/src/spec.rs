//! The OCI runtime spec of a container, built from its `Config`, `HostConfig`, image and
//! mounts on top of Docker's default spec (capabilities, seccomp, masked paths, devices).

use std::path::Path;

use serde_json::{Value, json};

use crate::container::{MountPoint, Record};
use crate::error::{Error, Result};
use crate::types::{Config, HostConfig};

/// Where Debian's tini (what dockerd calls docker-init) lives, and where `--init` puts it.
pub const INIT_HOST_PATH: &str = "/usr/bin/tini-static";
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Files the engine writes for the container and binds in.
#[derive(Debug)]
pub struct Files<'a> {
    pub hostname: &'a Path,
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
    /// The network namespace to join (None: the host's).
    pub netns: Option<&'a Path>,
}

/// A resolved user: uid, gid and supplementary groups, from the image's passwd and group.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: Option<String>,
}

fn read_db(rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(rootfs.join(file))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

/// Resolves `user[:group]` (names or numbers) as Docker does, against the rootfs.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_db(rootfs, "etc/passwd");
    let groups = read_db(rootfs, "etc/group");
    let mut out = User::default();
    let mut name = None;
    if user.is_empty() {
        out.uid = 0;
        out.gid = 0;
        name = Some("root".to_string());
        if let Some(e) = passwd
            .iter()
            .find(|e| e.get(2).map(String::as_str) == Some("0"))
        {
            out.home = e.get(5).cloned();
        }
    } else if let Ok(uid) = user.parse::<u32>() {
        out.uid = uid;
        if let Some(e) = passwd
            .iter()
            .find(|e| e.get(2).and_then(|u| u.parse().ok()) == Some(uid))
        {
            out.gid = e.get(3).and_then(|g| g.parse().ok()).unwrap_or(0);
            name = e.first().cloned();
            out.home = e.get(5).cloned();
        }
    } else {
        let e = passwd
            .iter()
            .find(|e| e.first().map(String::as_str) == Some(user))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unable to find user {user}: no matching entries in passwd file"
                ))
            })?;
        out.uid = e.get(2).and_then(|u| u.parse().ok()).unwrap_or(0);
        out.gid = e.get(3).and_then(|g| g.parse().ok()).unwrap_or(0);
        name = Some(user.to_string());
        out.home = e.get(5).cloned();
    }
    if let Some(group) = group {
        out.gid = match group.parse::<u32>() {
            Ok(g) => g,
            Err(_) => groups
                .iter()
                .find(|e| e.first().map(String::as_str) == Some(group))
                .and_then(|e| e.get(2))
                .and_then(|g| g.parse().ok())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unable to find group {group}: no matching entries in group file"
                    ))
                })?,
        };
    }
    if let Some(name) = name {
        for e in &groups {
            let members = e.get(3).map(String::as_str).unwrap_or("");
            if members.split(',').any(|m| m == name)
                && let Some(gid) = e.get(2).and_then(|g| g.parse::<u32>().ok())
                && gid != out.gid
                && !out.additional_gids.contains(&gid)
            {
                out.additional_gids.push(gid);
            }
        }
    }
    Ok(out)
}

/// Every capability this engine holds itself: `--privileged` and `--cap-add ALL` give these
/// (a capability the engine lacks cannot be given; root here has no CAP_SYS_RESOURCE).
fn caps_all() -> Vec<String> {
    caps_known()
        .into_iter()
        .enumerate()
        .filter(|(n, _)| runtime::host::has_capability(*n as u32))
        .map(|(_, c)| c)
        .collect()
}

/// The capabilities Linux knows, in the order of their numbers.
fn caps_known() -> Vec<String> {
    runtime::spec::CAPABILITIES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn cap_name(s: &str) -> String {
    let up = s.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Applies `--cap-add`/`--cap-drop` (with `ALL`) to the default set.
pub fn capabilities(default: Vec<String>, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let known = caps_known();
    let all = caps_all();
    for c in add.iter().chain(drop) {
        if !c.eq_ignore_ascii_case("ALL") && !known.contains(&cap_name(c)) {
            return Err(Error::invalid(format!(
                "unknown capability: \"{}\"",
                cap_name(c)
            )));
        }
    }
    let mut caps = if drop.iter().any(|c| c.eq_ignore_ascii_case("ALL")) {
        Vec::new()
    } else {
        default
            .into_iter()
            .filter(|c| !drop.iter().any(|d| cap_name(d) == *c))
            .collect()
    };
    if add.iter().any(|c| c.eq_ignore_ascii_case("ALL")) {
        caps = all;
    } else {
        for c in add {
            let c = cap_name(c);
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

fn bind(dest: &str, source: &Path, ro: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if ro {
        options.push("ro");
    }
    json!({"destination": dest, "type": "bind", "source": source, "options": options})
}

/// Mounts for volumes, binds and tmpfs, in the order given.
fn user_mounts(mounts: &[MountPoint]) -> Vec<Value> {
    mounts
        .iter()
        .map(|m| {
            if m.kind == "tmpfs" {
                let mut options = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
                options.extend(
                    m.tmpfs_options
                        .split(',')
                        .filter(|o| !o.is_empty())
                        .map(str::to_string),
                );
                if !m.rw {
                    options.push("ro".into());
                }
                json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options})
            } else {
                let mut options = vec!["rbind".to_string()];
                options.push(if m.propagation.is_empty() {
                    "rprivate".to_string()
                } else {
                    m.propagation.clone()
                });
                if !m.rw {
                    options.push("ro".into());
                }
                json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options})
            }
        })
        .collect()
}

/// The whole spec, as JSON ready for `config.json`.
pub fn build(record: &Record, rootfs: &Path, files: &Files<'_>) -> Result<Value> {
    let config: Config = record.config()?;
    let host: HostConfig = record.host_config()?;
    let mut spec = serde_json::to_value(runtime::spec::docker_default())?;
    let user = resolve_user(rootfs, &config.user)?;

    // The process.
    let mut args: Vec<String> = std::iter::once(record.path.clone())
        .chain(record.args.iter().cloned())
        .collect();
    if host.init.unwrap_or(false) {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let mut env: Vec<String> = config.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let hostname = if config.hostname.is_empty() {
        record.id[..12].to_string()
    } else {
        config.hostname.clone()
    };
    env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            user.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    let cwd = if config.working_dir.is_empty() {
        "/".to_string()
    } else {
        config.working_dir.clone()
    };
    let mut caps = spec["process"]["capabilities"]["bounding"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if host.privileged {
        caps = caps_all();
    }
    let caps = capabilities(
        caps,
        host.cap_add.as_deref().unwrap_or_default(),
        host.cap_drop.as_deref().unwrap_or_default(),
    )?;
    let mut additional: Vec<u32> = user.additional_gids.clone();
    for g in host.group_add.as_deref().unwrap_or_default() {
        let gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => resolve_user(rootfs, &format!("0:{g}"))?.gid,
        };
        if !additional.contains(&gid) {
            additional.push(gid);
        }
    }
    let mut rlimits = Vec::new();
    for u in host.ulimits.as_deref().unwrap_or_default() {
        rlimits.push(json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard}));
    }
    let console = record.host_config["ConsoleSize"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>())
        .unwrap_or_default();
    let process = &mut spec["process"];
    process["terminal"] = json!(config.tty);
    // The client's terminal size at create (API 1.42+), so the first output already has
    // the right size; the supervisor sets it on the pty before the process starts.
    if config.tty && console.len() == 2 && console[0] > 0 && console[1] > 0 {
        process["consoleSize"] = json!({"height": console[0], "width": console[1]});
    }
    process["args"] = json!(args);
    process["env"] = json!(env);
    process["cwd"] = json!(cwd);
    process["user"] = json!({"uid": user.uid, "gid": user.gid, "additionalGids": additional});
    for set in ["bounding", "effective", "permitted"] {
        process["capabilities"][set] = json!(caps);
    }
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if host.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(host.oom_score_adj);
    }
    if host
        .security_opt
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| {
            o == "no-new-privileges"
                || o == "no-new-privileges:true"
                || o == "no-new-privileges=true"
        })
    {
        process["noNewPrivileges"] = json!(true);
    }

    spec["hostname"] = json!(hostname);
    if !config.domainname.is_empty() {
        spec["domainname"] = json!(config.domainname);
    }
    spec["root"] = json!({"path": rootfs, "readonly": host.readonly_rootfs});

    // Mounts: the defaults, /dev/shm sized by ShmSize, the engine's files, then the user's.
    let mut mounts: Vec<Value> = spec["mounts"].as_array().cloned().unwrap_or_default();
    let shm = if host.shm_size > 0 {
        host.shm_size
    } else {
        64 << 20
    };
    for m in mounts.iter_mut() {
        if m["destination"] == "/dev/shm" {
            m["options"] = json!([
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                format!("size={}k", shm / 1024)
            ]);
        }
    }
    let user_mounts = user_mounts(&record.mounts);
    let covered = |dest: &str| record.mounts.iter().any(|m| m.destination == dest);
    for (dest, source) in [
        ("/etc/resolv.conf", files.resolv_conf),
        ("/etc/hostname", files.hostname),
        ("/etc/hosts", files.hosts),
    ] {
        if !covered(dest) {
            mounts.push(bind(dest, source, false));
        }
    }
    if host.init.unwrap_or(false) {
        if !Path::new(INIT_HOST_PATH).exists() {
            return Err(Error::internal(format!(
                "--init needs {INIT_HOST_PATH} (Debian's tini package)"
            )));
        }
        mounts.push(bind(INIT_PATH, Path::new(INIT_HOST_PATH), true));
    }
    mounts.extend(user_mounts);
    spec["mounts"] = json!(mounts);

    // Namespaces.
    let shared = |kind: &str| -> bool {
        match kind {
            "network" => host.network_mode == "host",
            "pid" => host.pid_mode == "host",
            "ipc" => host.ipc_mode == "host",
            "uts" => host.uts_mode == "host",
            _ => false,
        }
    };
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| !shared(n["type"].as_str().unwrap_or("")));
        match files.netns {
            Some(path) => {
                for n in ns.iter_mut().filter(|n| n["type"] == "network") {
                    n["path"] = json!(path);
                }
            }
            None => ns.retain(|n| n["type"] != "network"),
        }
    }
    if host.network_mode == "host" {
        // A container on the host's network has the host's name, as with Docker.
        if let Some(obj) = spec.as_object_mut() {
            obj.remove("hostname");
        }
    }

    // Resources.
    let linux = &mut spec["linux"];
    linux["cgroupsPath"] = json!(format!("/wharf/{}", record.id));
    let resources = &mut linux["resources"];
    let mut memory = serde_json::Map::new();
    if host.memory > 0 {
        memory.insert("limit".into(), json!(host.memory));
        // dockerd: without --memory-swap, swap is as much again as memory.
        let swap = match host.memory_swap {
            0 => host.memory * 2,
            s => s,
        };
        memory.insert("swap".into(), json!(swap));
    }
    if host.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(host.memory_reservation));
    }
    if host.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if host.nano_cpus > 0 {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert(
            "quota".into(),
            json!(host.nano_cpus * 100_000 / 1_000_000_000),
        );
    } else {
        if host.cpu_period > 0 {
            cpu.insert("period".into(), json!(host.cpu_period));
        }
        if host.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(host.cpu_quota));
        }
    }
    if host.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(host.cpu_shares));
    }
    if !host.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(host.cpuset_cpus));
    }
    if !host.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(host.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = host.pids_limit
        && p > 0
    {
        resources["pids"] = json!({"limit": p});
    }
    if let Some(sysctls) = &host.sysctls {
        linux["sysctl"] = json!(sysctls);
    }
    if host.privileged {
        if let Some(obj) = linux.as_object_mut() {
            obj.remove("seccomp");
            obj.remove("maskedPaths");
            obj.remove("readonlyPaths");
        }
        linux["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    } else {
        if let Some(paths) = &host.masked_paths {
            linux["maskedPaths"] = json!(paths);
        }
        if let Some(paths) = &host.readonly_paths {
            linux["readonlyPaths"] = json!(paths);
        }
        if host
            .security_opt
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined")
            && let Some(obj) = linux.as_object_mut()
        {
            obj.remove("seccomp");
        }
    }
    Ok(spec)
}

/// What an exec runs, from `POST /containers/{id}/exec`.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    pub cmd: &'a [String],
    pub env: &'a [String],
    pub user: &'a str,
    pub working_dir: &'a str,
    pub tty: bool,
    pub privileged: bool,
}

/// The OCI process of an exec: the container's own process with the exec's command, env,
/// user, working directory and terminal (as dockerd builds it).
pub fn exec_process(
    container_process: &Value,
    rootfs: &Path,
    req: &ExecRequest<'_>,
) -> Result<Value> {
    let ExecRequest {
        cmd,
        env,
        user,
        working_dir,
        tty,
        privileged,
    } = *req;
    let mut p = container_process.clone();
    p["args"] = json!(cmd);
    p["terminal"] = json!(tty);
    if let Some(obj) = p.as_object_mut() {
        obj.remove("consoleSize");
    }
    let mut all_env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for e in env {
        let key = e.split('=').next().unwrap_or("");
        all_env.retain(|x| x.split('=').next() != Some(key));
        all_env.push(e.clone());
    }
    if tty && !all_env.iter().any(|e| e.starts_with("TERM=")) {
        all_env.push("TERM=xterm".into());
    }
    p["env"] = json!(all_env);
    if !user.is_empty() {
        let u = resolve_user(rootfs, user)?;
        p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
    }
    if !working_dir.is_empty() {
        p["cwd"] = json!(working_dir);
    }
    if privileged {
        for set in ["bounding", "effective", "permitted"] {
            p["capabilities"][set] = json!(caps_all());
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_against_the_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("etc");
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nadm:x:4:www\n",
        )
        .expect("group");
        let u = resolve_user(dir.path(), "www").expect("by name");
        assert_eq!((u.uid, u.gid, u.additional_gids.clone()), (33, 33, vec![4]));
        assert_eq!(u.home.as_deref(), Some("/var/www"));
        let u = resolve_user(dir.path(), "1000:adm").expect("numeric");
        assert_eq!((u.uid, u.gid), (1000, 4));
        let e = resolve_user(dir.path(), "nobody").expect_err("unknown");
        assert!(
            e.message.contains("unable to find user nobody"),
            "{}",
            e.message
        );
    }

    #[test]
    fn capability_arithmetic() {
        let base = vec!["CAP_CHOWN".to_string(), "CAP_KILL".to_string()];
        let c = capabilities(base.clone(), &["net_admin".into()], &["KILL".into()]).expect("ok");
        assert_eq!(c, vec!["CAP_CHOWN", "CAP_NET_ADMIN"]);
        let c = capabilities(base.clone(), &[], &["ALL".into()]).expect("ok");
        assert!(c.is_empty());
        assert!(capabilities(base, &["CAP_TELEPORT".into()], &[]).is_err());
    }
}
