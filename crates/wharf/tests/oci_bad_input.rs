//! Bad input to `wharf oci`: each gets a clear error naming what was wrong, a non-zero exit,
//! and leaves nothing behind. Needs root.

mod support;

use support::Env;

/// Creates `id` from a bundle edited by `edit`; asserts failure and that nothing is left.
/// Returns stderr.
fn create_fails(env: &Env, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let b = env.bundle(name, "docker", edit);
    let id = env.id(name);
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(!out.status.success(), "{name}: create should fail");
    env.assert_gone(&id);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn malformed_config_json() {
    let env = Env::new("badjson");
    let b = env.bundle("bj", "docker", |_| {});
    std::fs::write(
        b.join("config.json"),
        b"{\"ociVersion\": \"1.0.2\", \"process\": {",
    )
    .expect("write");
    let id = env.id("bj");
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json") && err.contains("line"), "{err}");
    env.assert_gone(&id);
}

#[test]
fn unknown_namespace_type() {
    let env = Env::new("badns");
    let err = create_fails(&env, "ns", |v| {
        v["linux"]["namespaces"][0]["type"] = "teleport".into();
    });
    assert!(
        err.contains("linux.namespaces[0].type") && err.contains("teleport"),
        "{err}"
    );
}

#[test]
fn missing_rootfs() {
    let env = Env::new("norootfs");
    let err = create_fails(&env, "nr", |v| v["root"]["path"] = "no-such-rootfs".into());
    assert!(
        err.contains("root.path") && err.contains("no-such-rootfs"),
        "{err}"
    );
}

#[test]
fn impossible_limits() {
    let env = Env::new("badlim");
    let err = create_fails(&env, "cpus", |v| {
        v["linux"]["resources"]["cpu"] = serde_json::json!({"cpus": "0-4095"});
    });
    assert!(err.contains("linux.resources.cpu.cpus"), "{err}");
    let err = create_fails(&env, "swap", |v| {
        v["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 << 20, "swap": 1 << 20});
    });
    assert!(err.contains("linux.resources.memory.swap"), "{err}");
    let err = create_fails(&env, "types", |v| {
        v["linux"]["resources"]["pids"] = serde_json::json!({"limit": "lots"});
    });
    assert!(err.contains("linux.resources.pids.limit"), "{err}");
}

#[test]
fn a_missing_command_fails_at_create_and_cleans_up() {
    let env = Env::new("nocmd");
    let err = create_fails(&env, "nocmd", |v| {
        v["process"]["args"] = serde_json::json!(["/no/such/binary"]);
    });
    assert!(
        err.contains("/no/such/binary") || err.contains("executable"),
        "{err}"
    );
}

#[test]
fn existing_container_id() {
    let env = Env::new("dup");
    let b = env.bundle("dup", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
    });
    let id = env.id("dup");
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = env.state(&id);
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists") && err.contains(&id), "{err}");
    // The first container is untouched.
    assert_eq!(env.state(&id), before);
    let out = env.oci(&["delete", "--force", &id]);
    assert!(out.status.success());
    env.assert_gone(&id);
}

#[test]
fn bad_ids_and_unknown_containers() {
    let env = Env::new("ids");
    let b = env.bundle("ids", "docker", |_| {});
    for bad in ["../escape", "a/b", ".hidden"] {
        let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid container id"),
            "{bad}"
        );
    }
    for cmd in ["start", "state", "pause", "resume"] {
        let out = env.oci(&[cmd, "nope-not-here"]);
        assert!(!out.status.success(), "{cmd}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not exist"),
            "{cmd}"
        );
    }
    // runc: delete --force of a missing container succeeds.
    assert!(
        env.oci(&["delete", "--force", "nope-not-here"])
            .status
            .success()
    );
    let out = env.oci(&["--systemd-cgroup", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--systemd-cgroup"));
}

#[test]
fn concurrent_creates_of_one_id_leave_the_winner_intact() {
    let env = Env::new("race");
    let id = env.id("race");
    let bundles: Vec<_> = (0..6)
        .map(|i| {
            env.bundle(&format!("race{i}"), "docker", |v| {
                v["process"]["args"] = serde_json::json!(["sleep", "30"]);
            })
        })
        .collect();
    let children: Vec<_> = bundles
        .iter()
        .map(|b| {
            env.oci_cmd(&["create", "--bundle", b.to_str().expect("utf8"), &id])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let won: Vec<bool> = children
        .into_iter()
        .map(|mut c| c.wait().expect("wait").success())
        .collect();
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "exactly one create wins: {won:?}"
    );
    let winner = &bundles[won.iter().position(|w| *w).expect("a winner")];
    let st = env.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(
        st["bundle"],
        winner.to_str().expect("utf8"),
        "the winner's bundle"
    );
    assert!(env.oci(&["start", &id]).status.success());
    let out = env.oci(&["exec", &id, "true"]);
    assert!(
        out.status.success(),
        "exec reads the winner's effective config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    env.assert_gone(&id);
}

#[test]
fn delete_force_clears_what_a_crashed_create_left() {
    let env = Env::new("crashed");
    let b = env.bundle("crashed", "docker", |_| {});
    let id = env.id("crashed");
    // A create killed after claiming the id but before its container existed.
    std::fs::create_dir_all(env.root().join(".bundles").join(&id)).expect("leftover");
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    assert!(!env.root().join(".bundles").join(&id).exists());
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    env.assert_gone(&id);
}

/// A cgroup made by a test (v1 freezer or the v2 tree), thawed and removed on drop.
struct TestCgroup(std::path::PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
        let _ = std::fs::write(self.0.join("cgroup.freeze"), "0");
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_frozen_or_busy_cgroup_is_refused() {
    let env = Env::new("cgbusy");
    let cgroup = format!("/wharf/{}-shared", env.prefix);
    let edit = |v: &mut serde_json::Value| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
        v["linux"]["cgroupsPath"] = cgroup.clone().into();
    };
    // A cgroup that already holds a container's processes.
    let first = env.bundle("first", "docker", edit);
    let first_id = env.id("first");
    let out = env.oci(&[
        "run",
        "-d",
        "--bundle",
        first.to_str().expect("utf8"),
        &first_id,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = env.bundle("second", "docker", edit);
    let second_id = env.id("second");
    let out = env.oci(&[
        "create",
        "--bundle",
        second.to_str().expect("utf8"),
        &second_id,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("container's cgroup is not empty"));
    env.assert_gone(&second_id);
    assert!(env.oci(&["delete", "--force", &first_id]).status.success());
    env.assert_gone(&first_id);

    // A frozen cgroup: the container's init would freeze half-way through its setup.
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = if v2 {
        std::path::PathBuf::from("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'))
    } else {
        std::path::PathBuf::from("/sys/fs/cgroup/freezer").join(cgroup.trim_start_matches('/'))
    };
    std::fs::create_dir_all(&dir).expect("cgroup");
    let frozen = TestCgroup(dir.clone());
    let (file, value) = if v2 {
        ("cgroup.freeze", "1")
    } else {
        ("freezer.state", "FROZEN")
    };
    std::fs::write(dir.join(file), value).expect("freeze");
    let third = env.bundle("third", "docker", edit);
    let third_id = env.id("third");
    let out = env.oci(&[
        "create",
        "--bundle",
        third.to_str().expect("utf8"),
        &third_id,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container's cgroup unexpectedly frozen")
    );
    drop(frozen);
    env.assert_gone(&third_id);
}

#[test]
fn errors_reach_the_json_log_as_runc_writes_it() {
    let env = Env::new("jsonlog");
    let log = env.dir.path().join("log.json");
    let out = env.oci(&[
        "--log",
        log.to_str().expect("utf8"),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).expect("log file");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("json line");
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist")),
        "{line}"
    );
    assert!(
        line["time"].as_str().is_some_and(|t| t.contains('T')),
        "{line}"
    );
}

#[test]
fn delete_succeeds_when_a_poststop_hook_cannot_run() {
    let env = Env::new("hookgone");
    // The hook runner is the binary that created the container; here it is gone by the time
    // of delete (as after an upgrade or a move).
    let old = env.dir.path().join("wharf-old");
    std::fs::copy(support::WHARF, &old).expect("copy wharf");
    let b = env.bundle("hg", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["true"]);
        v["hooks"] = serde_json::json!({"poststop": [{"path": "/bin/true"}]});
    });
    let id = env.id("hg");
    let out = std::process::Command::new(&old)
        .arg("oci")
        .arg("--root")
        .arg(env.root())
        .args(["create", "--bundle", b.to_str().expect("utf8"), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("create");
    assert!(out.success());
    std::fs::remove_file(&old).expect("remove the old binary");
    let out = env.oci(&["delete", "--force", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("poststop"),
        "a warning names the hook"
    );
    env.assert_gone(&id);
}
