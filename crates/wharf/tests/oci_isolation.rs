//! What a process sees inside a container: namespaces, masked paths, capabilities, seccomp,
//! limits. Needs root.

mod support;

use support::Env;

/// Runs a shell script in a fresh container of `profile`; returns (code, stdout, stderr).
fn sh(env: &Env, name: &str, profile: &str, script: &str) -> (i32, String, String) {
    env.run(name, profile, &["sh", "-c", script])
}

#[test]
fn pid1_hostname_and_masked_paths() {
    let env = Env::new("iso");
    // Masking covers what the host has: this kernel may be built without /proc/kcore.
    let masked: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    assert!(!masked.is_empty(), "the host has none of the masked files");
    let reads: String = masked
        .iter()
        .map(|p| format!("echo {p}=$(cat {p} | wc -c); "))
        .collect();
    let script = format!(
        "echo pid=$$; hostname; echo firmware=$(ls -A /sys/firmware | wc -l); {reads} echo end"
    );
    let (code, out, err) = env.run_with("iso", "docker", &["sh", "-c", &script], |v| {
        v["hostname"] = "isohost".into()
    });
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        &lines[..3],
        ["pid=1", "isohost", "firmware=0"],
        "stderr: {err}"
    );
    for p in &masked {
        assert!(
            lines.contains(&format!("{p}=0").as_str()),
            "{p} not masked: {out}"
        );
    }
    assert_eq!(lines.last(), Some(&"end"));
}

#[test]
fn privileged_operations_fail() {
    let env = Env::new("priv");
    let script = "mount -o remount,rw /sys 2>/dev/null && echo remount-ok || echo remount-denied; \
                  echo b > /proc/sysrq-trigger 2>/dev/null && echo sysrq-ok || echo sysrq-denied; \
                  unshare -n true 2>&1; echo unshare=$?";
    let (code, out, err) = sh(&env, "priv", "docker", script);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("remount-denied"), "{out}");
    assert!(out.contains("sysrq-denied"), "{out}");
    // unshare is outside Docker's seccomp allow-list (no CAP_SYS_ADMIN): EPERM.
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(!out.contains("unshare=0"), "{out}");

    // Docker grants CAP_MKNOD but its device rules let no new device be opened;
    // runc's default (no CAP_MKNOD, every device denied) refuses mknod itself.
    let (_, out, err) = env.run_with(
        "mknod",
        "runc",
        &["sh", "-c", "mknod /tmp/sda b 8 0 2>&1; echo mknod=$?"],
        |v| v["root"]["readonly"] = false.into(),
    );
    assert!(out.contains("mknod=1"), "mknod must fail: {out} {err}");
    assert!(out.contains("Operation not permitted"), "{out}");
    let (_, out, err) = sh(
        &env,
        "mknod-docker",
        "docker",
        "mknod /tmp/sda b 8 0 && (head -c1 /tmp/sda >/dev/null 2>&1; echo open=$?)",
    );
    assert!(
        out.contains("open=1"),
        "opening a new device must fail: {out} {err}"
    );
}

#[test]
fn cgroup_mounts_are_read_only() {
    let env = Env::new("cgro");
    let script = "grep -E ' /sys/fs/cgroup' /proc/self/mounts; \
                  mkdir /sys/fs/cgroup/x 2>&1; mkdir /sys/fs/cgroup/memory/x 2>&1; \
                  mkdir /sys/fs/cgroup/pids/x 2>&1; echo done";
    let (code, out, err) = sh(&env, "cgro", "docker", script);
    assert_eq!(code, 0, "stderr: {err}");
    // What a path resolves to is the last mount listed on it; libcontainer leaves its own
    // writable cgroup mounts underneath Wharf's read-only ones.
    let mut top = std::collections::BTreeMap::new();
    for line in out.lines().filter(|l| l.contains(" /sys/fs/cgroup")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        top.insert(f[1].to_string(), f[3].to_string());
    }
    assert!(
        top.contains_key("/sys/fs/cgroup"),
        "no cgroup mounts: {out}"
    );
    for (point, opts) in &top {
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "{point} is writable: {opts}"
        );
    }
    assert!(!out.contains("mkdir: can't create directory '/sys/fs/cgroup/x': File exists"));
    let denied = out.matches("Read-only file system").count();
    let missing = ["memory", "pids"]
        .iter()
        .filter(|h| !top.contains_key(&format!("/sys/fs/cgroup/{h}")))
        .count();
    assert_eq!(
        denied,
        3 - missing,
        "every mkdir must fail read-only: {out}"
    );
}

#[test]
fn capabilities_and_seccomp_are_dockers() {
    let env = Env::new("caps");
    let (code, out, err) = sh(
        &env,
        "caps",
        "docker",
        "grep -E '^(CapEff|CapBnd|CapPrm|CapInh|CapAmb|Seccomp):' /proc/self/status",
    );
    assert_eq!(code, 0, "stderr: {err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{name} missing in {out}"))
            .to_string()
    };
    assert_eq!(field("CapEff:"), "00000000a80425fb");
    assert_eq!(field("CapBnd:"), "00000000a80425fb");
    assert_eq!(field("CapPrm:"), "00000000a80425fb");
    assert_eq!(field("CapInh:"), "0000000000000000");
    assert_eq!(field("CapAmb:"), "0000000000000000");
    assert_eq!(field("Seccomp:"), "2", "seccomp filter mode");
}

#[test]
fn memory_limit_ends_in_an_oom_kill() {
    let env = Env::new("oom");
    let (code, out, err) = env.run_with(
        "oom",
        "docker",
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
        |v| {
            v["linux"]["resources"]["memory"] =
                serde_json::json!({"limit": 32 << 20, "swap": 32 << 20});
        },
    );
    assert_eq!(code, 137, "expected an OOM kill; stdout {out} stderr {err}");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let env = Env::new("pids");
    // Bounded: 60 attempts, each child sleeps 3 s. With pids.max 20 (the shell is one of them)
    // the 20th fork fails, and busybox sh gives up there (exit 2). `echo` is a builtin, so the
    // last number printed is the attempt that failed.
    let script = "for i in $(seq 60); do echo $i; sleep 3 & done; wait";
    let (code, out, err) = env.run_with("pids", "docker", &["sh", "-c", script], |v| {
        v["linux"]["resources"]["pids"] = serde_json::json!({"limit": 20});
    });
    assert!(err.contains("can't fork"), "a fork must fail: {err}");
    assert_ne!(code, 0);
    let last: u32 = out
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no progress printed: {out}"));
    assert!(last <= 20, "{last} forks attempted despite pids.max 20");
}

#[test]
fn read_only_rootfs_refuses_writes() {
    let env = Env::new("ro");
    let (code, out, err) = env.run_with(
        "ro",
        "docker",
        &[
            "sh",
            "-c",
            "touch /x 2>&1; echo touch=$?; touch /tmp/y 2>&1; echo tmp=$?",
        ],
        |v| {
            v["root"]["readonly"] = true.into();
        },
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains("Read-only file system") && out.contains("touch=1"),
        "{out}"
    );
    assert!(
        out.contains("tmp=1"),
        "the whole rootfs is read-only: {out}"
    );
}

#[test]
fn user_namespace_maps_root_to_the_configured_host_uid() {
    let env = Env::new("userns");
    let b = env.bundle("userns", "docker", |v| {
        v["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; sleep 30"
        ]);
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(serde_json::json!({"type": "user"}));
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // cgroupfs cannot be mounted from a user namespace on a v1 host.
        let mounts = v["mounts"].as_array_mut().expect("mounts");
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
    });
    let id = env.id("userns");
    let log = env.dir.path().join("userns.out");
    let mut child = env
        .oci_cmd(&["run", "--bundle", b.to_str().expect("utf8"), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("run");
    let pid = env.wait_status(&id, "running")["pid"]
        .as_i64()
        .expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "100000"),
        "{uid_line}"
    );
    let _ = env.oci(&["kill", &id, "KILL"]);
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).expect("log");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&words[..3], ["0", "100000", "65536"], "{out}");
    assert_eq!(words.last(), Some(&"0"), "root inside: {out}");
    env.assert_gone(&id);
}

#[test]
fn rlimits_above_the_host_are_clamped_not_fatal() {
    let env = Env::new("rlim");
    let host_hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit")
        .1;
    let (code, out, err) = env.run_with("rlim", "docker", &["sh", "-c", "ulimit -Hn"], |v| {
        v["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1048576u64, "hard": 1048576u64}]);
    });
    assert_eq!(code, 0, "stderr: {err}");
    let got: u64 = out.trim().parse().expect("a number");
    let can_raise = std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|m| m & (1 << 24) != 0);
    if can_raise {
        assert_eq!(got, 1048576);
    } else {
        assert_eq!(got, host_hard, "clamped to the host's hard limit");
    }
}

#[test]
fn a_seccomp_profile_applies_without_no_new_privileges() {
    let env = Env::new("seccompnnp");
    // Loading a filter without no_new_privs needs CAP_SYS_ADMIN, which the process no longer
    // has once its capabilities are dropped: the runtime must load it before that.
    let (code, out, err) = env.run_with(
        "nnp",
        "runc",
        &[
            "sh",
            "-c",
            "mkdir /dev/shm/foo 2>&1; grep NoNewPrivs /proc/self/status",
        ],
        |v| {
            v["process"]["noNewPrivileges"] = false.into();
            v["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
            });
        },
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
}
