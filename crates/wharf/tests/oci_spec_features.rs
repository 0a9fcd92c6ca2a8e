//! Parts of the runtime spec beyond the defaults: joining namespaces by path, an overlay
//! rootfs, /dev, bind-mount options, the process's identity, cgroup settings. Needs root.

mod support;

use support::Env;

#[test]
fn a_container_joins_another_ones_namespaces_by_path() {
    let env = Env::new("join");
    let a_id = env.run_detached("a", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
    });
    let pid = env.wait_status(&a_id, "running")["pid"]
        .as_i64()
        .expect("pid");
    // Like a pod's containers: the second shares the first's network, ipc and uts namespaces.
    let (code, out, err) = env.run_with(
        "b",
        "docker",
        &[
            "sh",
            "-c",
            "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname",
        ],
        |v| {
            for ns in v["linux"]["namespaces"].as_array_mut().expect("namespaces") {
                let typ = ns["type"].as_str().expect("type").to_string();
                let proc_name = match typ.as_str() {
                    "network" => "net",
                    "ipc" => "ipc",
                    "uts" => "uts",
                    _ => continue,
                };
                ns["path"] = format!("/proc/{pid}/ns/{proc_name}").into();
            }
            v["hostname"] = serde_json::Value::Null;
        },
    );
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    for (i, ns) in ["net", "ipc", "uts"].iter().enumerate() {
        let want = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("ns");
        assert_eq!(lines[i], want.to_string_lossy(), "{ns}");
    }
    assert_eq!(
        lines[3], "wharf",
        "the uts namespace (and hostname) is shared"
    );
    assert!(env.oci(&["delete", "--force", &a_id]).status.success());
    env.assert_gone(&a_id);
}

/// An overlay mounted by the test over a busybox lower dir; unmounted on drop.
struct Overlay(std::path::PathBuf);

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn an_overlayfs_rootfs_keeps_writes_in_the_upper_dir() {
    let env = Env::new("ovl");
    let b = env.bundle("ovl", "docker", |v| {
        v["process"]["args"] =
            serde_json::json!(["sh", "-c", "echo data > /written; cat /written"]);
    });
    let lower = env.dir.path().join("lower");
    std::fs::rename(b.join("rootfs"), &lower).expect("move rootfs");
    let (upper, work, merged) = (
        env.dir.path().join("upper"),
        env.dir.path().join("work"),
        b.join("rootfs"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).expect("dir");
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .expect("mount overlay");
    let _overlay = Overlay(merged.clone());
    let id = env.id("ovl");
    let out = env.oci(&["run", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "data\n");
    assert_eq!(
        std::fs::read_to_string(upper.join("written")).expect("upper"),
        "data\n"
    );
    assert!(
        !lower.join("written").exists(),
        "the lower dir is untouched"
    );
}

#[test]
fn dev_has_the_standard_nodes_and_mounts() {
    let env = Env::new("dev");
    let script = "for n in null zero full random urandom tty; do [ -c /dev/$n ] && echo $n=c; done; \
                  for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; \
                  grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/self/mounts | cut -d' ' -f2,3; \
                  echo x > /dev/null && head -c 4 /dev/zero | wc -c";
    let (code, out, err) = env.run("dev", "docker", &["sh", "-c", script]);
    assert_eq!(code, 0, "stderr: {err}");
    for n in ["null", "zero", "full", "random", "urandom", "tty"] {
        assert!(out.contains(&format!("{n}=c")), "/dev/{n} missing: {out}");
    }
    for link in [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ] {
        assert!(out.lines().any(|l| l == link), "{link} missing: {out}");
    }
    for m in [
        "/dev tmpfs",
        "/dev/pts devpts",
        "/dev/shm tmpfs",
        "/dev/mqueue mqueue",
    ] {
        assert!(out.lines().any(|l| l == m), "{m} missing: {out}");
    }
    assert!(out.trim_end().ends_with('4'), "{out}");
}

#[test]
fn bind_mount_options_are_applied() {
    let env = Env::new("bind");
    let src = env.dir.path().join("shared");
    std::fs::create_dir(&src).expect("src");
    std::fs::write(src.join("f"), "host\n").expect("f");
    let script = "cat /ro/f; (echo y > /ro/g) 2>&1; echo rw > /rw/g && echo wrote; \
                  grep -E ' /(ro|rw) ' /proc/self/mounts | cut -d' ' -f2,4";
    let (code, out, err) = env.run_with("bind", "docker", &["sh", "-c", script], |v| {
        let mounts = v["mounts"].as_array_mut().expect("mounts");
        let src = src.to_str().expect("utf8");
        mounts.push(
            serde_json::json!({"destination": "/ro", "type": "bind", "source": src,
            "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}),
        );
        mounts.push(
            serde_json::json!({"destination": "/rw", "type": "bind", "source": src,
            "options": ["rbind", "rw"]}),
        );
    });
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.starts_with("host\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("wrote"), "{out}");
    let ro = out
        .lines()
        .find(|l| l.starts_with("/ro "))
        .expect("ro mount");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(ro.split([' ', ',']).any(|x| x == o), "{o} missing: {ro}");
    }
    assert_eq!(std::fs::read_to_string(src.join("g")).expect("g"), "rw\n");
}

#[test]
fn process_identity_env_cwd_and_umask() {
    let env = Env::new("ident");
    let (code, out, err) = env.run_with(
        "ident",
        "docker",
        &["sh", "-c", "id -u; id -g; id -G; pwd; echo $GREETING; umask"],
        |v| {
            v["process"]["user"] =
                serde_json::json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001], "umask": 63});
            v["process"]["cwd"] = "/tmp".into();
            v["process"]["env"]
                .as_array_mut()
                .expect("env")
                .push("GREETING=hello".into());
        },
    );
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1001");
    let groups: Vec<&str> = lines[2].split_whitespace().collect();
    for g in ["1001", "2000", "2001"] {
        assert!(groups.contains(&g), "{g} missing from {groups:?}");
    }
    assert_eq!(&lines[3..], ["/tmp", "hello", "0077"], "{out}");
}

#[test]
fn cpu_and_memory_settings_reach_the_cgroup() {
    let env = Env::new("cgset");
    let id = env.run_detached("cg", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
        v["linux"]["resources"]["cpu"] =
            serde_json::json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"});
        v["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 64 << 20, "reservation": 32 << 20});
    });
    let read = |p: String| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let dir = format!("/sys/fs/cgroup/wharf/{id}");
        assert_eq!(read(format!("{dir}/cpu.max")).trim(), "50000 100000");
        assert_eq!(read(format!("{dir}/cpuset.cpus")).trim(), "0");
        assert_eq!(
            read(format!("{dir}/memory.max")).trim(),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            read(format!("{dir}/memory.low")).trim(),
            (32u64 << 20).to_string()
        );
    } else {
        let cg = |ctrl: &str, file: &str| read(format!("/sys/fs/cgroup/{ctrl}/wharf/{id}/{file}"));
        assert_eq!(cg("cpu", "cpu.shares").trim(), "512");
        assert_eq!(cg("cpu", "cpu.cfs_quota_us").trim(), "50000");
        assert_eq!(cg("cpu", "cpu.cfs_period_us").trim(), "100000");
        assert_eq!(cg("cpuset", "cpuset.cpus").trim(), "0");
        assert_eq!(
            cg("memory", "memory.limit_in_bytes").trim(),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            cg("memory", "memory.soft_limit_in_bytes").trim(),
            (32u64 << 20).to_string()
        );
    }
    let out = env.oci(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).expect("events json");
    assert!(
        ev["data"]["cpu"]["usage"]["total"]
            .as_u64()
            .is_some_and(|t| t > 0),
        "{ev}"
    );
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 64u64 << 20);
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    env.assert_gone(&id);
}

#[test]
fn a_tmpfs_keeps_the_mode_of_the_directory_it_covers() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("tmpfsmode");
    let b = env.bundle("tm", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sh", "-c", "stat -c %a /tmp; stat -c %a /srv"]);
        let mounts = v["mounts"].as_array_mut().expect("mounts");
        mounts.push(
            serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev"]}),
        );
        mounts.push(
            serde_json::json!({"destination": "/srv", "type": "tmpfs", "source": "tmpfs",
            "options": ["mode=0444"]}),
        );
    });
    std::fs::set_permissions(b.join("rootfs/tmp"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    let id = env.id("tm");
    let out = env.oci(&["run", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "750\n444\n");
}
