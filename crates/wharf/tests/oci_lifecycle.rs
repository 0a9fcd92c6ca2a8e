//! The container lifecycle through `wharf oci`, as runc's users drive it. Needs root.

mod support;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Env, existing_cgroup_dirs};

#[test]
fn echo_exit_codes_and_sigkill() {
    let env = Env::new("basic");
    let (code, out, err) = env.run("echo", "docker", &["echo", "hello"]);
    assert_eq!((code, out.as_str()), (0, "hello\n"), "stderr: {err}");
    let (code, _, err) = env.run("exit7", "docker", &["sh", "-c", "exit 7"]);
    assert_eq!(code, 7, "stderr: {err}");

    // A process killed by SIGKILL from outside reports 137.
    let b = env.bundle("killed", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "60"]);
    });
    let id = env.id("killed");
    let mut child = env
        .oci_cmd(&["run", "--bundle", b.to_str().expect("utf8"), &id])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn run");
    env.wait_status(&id, "running");
    let out = env.oci(&["kill", &id, "KILL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(137));
    env.assert_gone(&id);
}

#[test]
fn create_start_state_exec_kill_delete_leave_nothing() {
    let env = Env::new("life");
    let b = env.bundle("life", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "60"]);
        v["hostname"] = "lifehost".into();
    });
    let id = env.id("life");
    let pidfile = env.dir.path().join("life.pid");
    // runc's flags may come after the id, as containerd and youki's contest pass them.
    let out = env.oci(&[
        "create",
        &id,
        "--bundle",
        b.to_str().expect("utf8"),
        "--pid-file",
        pidfile.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = env.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["bundle"], b.to_str().expect("utf8"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(st["pid"], pid);
    assert!(
        !existing_cgroup_dirs(&id).is_empty(),
        "cgroup exists while created"
    );

    let out = env.oci(&["start", &id]);
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.wait_status(&id, "running");

    // exec joins every namespace of the container.
    let out = env.oci(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done",
    ]);
    assert!(
        out.status.success(),
        "exec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("lifehost"));
    for (ns, line) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
        .iter()
        .zip(lines)
    {
        let host_view = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("ns link");
        assert_eq!(line, host_view.to_string_lossy(), "{ns} namespace");
    }
    // …and its cgroup: the exec'd process shows up among the container's processes.
    let mut sleeper = env
        .oci_cmd(&["exec", &id, "sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .expect("exec sleep");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = env.oci(&["ps", "--format", "json", &id]);
        let pids: Vec<i32> = serde_json::from_slice(&out.stdout).expect("ps json");
        if pids.len() == 2 {
            assert!(pids.contains(&pid));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "exec'd process never joined the cgroup: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = env.oci(&["exec", &id, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "exec exit status");

    // delete refuses a running container without --force.
    let out = env.oci(&["delete", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("running"));

    let out = env.oci(&["kill", &id, "9"]);
    assert!(
        out.status.success(),
        "kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = sleeper.wait();
    env.wait_status(&id, "stopped");
    let out = env.oci(&["delete", &id]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_gone(&id);
    let out = env.oci(&["state", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn pause_resume_list_and_events() {
    let env = Env::new("pause");
    let b = env.bundle("p", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "60"]);
    });
    let id = env.id("p");
    let out = env.oci(&[
        "run",
        "--detach",
        "--bundle",
        b.to_str().expect("utf8"),
        &id,
    ]);
    assert!(
        out.status.success(),
        "run -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.state(&id)["status"], "running");
    let out = env.oci(&["pause", &id]);
    assert!(
        out.status.success(),
        "pause: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.state(&id)["status"], "paused");
    let out = env.oci(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list json");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "paused");
    let out = env.oci(&["resume", &id]);
    assert!(
        out.status.success(),
        "resume: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.state(&id)["status"], "running");

    let out = env.oci(&["events", "--stats", &id]);
    assert!(
        out.status.success(),
        "events: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Field order matters: tools match the start of runc's line.
    let prefix = format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&prefix));
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).expect("events json");
    assert_eq!(ev["type"], "stats");
    assert!(
        ev["data"]["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0)
    );
    assert_eq!(ev["data"]["pids"]["current"], 1);

    let out = env.oci(&["update", "--memory", "64m", "--pids-limit", "30", &id]);
    assert!(
        out.status.success(),
        "update: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mem = std::path::Path::new("/sys/fs/cgroup/memory/wharf").join(&id);
    if mem.exists() {
        let limit = std::fs::read_to_string(mem.join("memory.limit_in_bytes")).expect("limit");
        assert_eq!(limit.trim(), (64u64 << 20).to_string());
    }

    let out = env.oci(&["delete", "--force", &id]);
    assert!(
        out.status.success(),
        "delete -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_gone(&id);
}

#[test]
fn hooks_run_with_the_state_on_stdin() {
    let env = Env::new("hooks");
    let marks = env.dir.path().join("marks");
    std::fs::create_dir(&marks).expect("marks");
    let hook = |name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{name}", marks.display())],
        })
    };
    let (code, out, err) = env.run_with("h", "runc", &["echo", "body"], |v| {
        v["hooks"] = serde_json::json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "createContainer": [hook("createContainer")],
            // startContainer runs inside the container: its path and files are the container's.
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /marks/startContainer"]}],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
        v["mounts"].as_array_mut().expect("mounts").push(serde_json::json!({
            "destination": "/marks", "type": "bind", "source": marks.to_str().expect("utf8"),
            "options": ["rbind", "rw"]
        }));
    });
    assert_eq!((code, out.as_str()), (0, "body\n"), "stderr: {err}");
    let bundle = env.dir.path().join("h");
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let text = std::fs::read_to_string(marks.join(name))
            .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
        let st: serde_json::Value = serde_json::from_str(&text).expect("state json on stdin");
        assert!(
            st["id"]
                .as_str()
                .is_some_and(|i| i.starts_with(&env.prefix)),
            "{name}: {st}"
        );
        if name != "startContainer" {
            // Hooks are told the user's bundle, not Wharf's effective configuration.
            assert_eq!(st["bundle"], bundle.to_str().expect("utf8"), "{name}: {st}");
        }
    }
}

#[test]
fn terminal_through_a_console_socket() {
    let env = Env::new("tty");
    let b = env.bundle("tty", "runc", |v| {
        v["process"]["terminal"] = true.into();
        v["process"]["args"] = serde_json::json!(["sh", "-c", "tty; echo done"]);
    });
    let id = env.id("tty");
    let sock_path = env.dir.path().join("console.sock");
    let receiver = support::fd_receiver(&sock_path);
    let out = env.oci(&[
        "create",
        "--console-socket",
        sock_path.to_str().expect("utf8"),
        "--bundle",
        b.to_str().expect("utf8"),
        &id,
    ]);
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let master = receiver.join().expect("pty master");
    let out = env.oci(&["start", &id]);
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if text.contains("done") {
            break;
        }
    }
    assert!(
        text.contains("/dev/pts/0") || text.contains("/dev/console"),
        "tty said: {text:?}"
    );
    let _ = env.oci(&["delete", "--force", &id]);
}

#[test]
fn twenty_containers_in_parallel_all_succeed_and_clean_up() {
    let env = Env::new("par");
    let bundles: Vec<(String, std::path::PathBuf)> = (0..20)
        .map(|i| {
            let name = format!("p{i}");
            let b = env.bundle(&name, "docker", |v| {
                v["process"]["args"] = serde_json::json!(["sh", "-c", format!("echo {i}")]);
            });
            (env.id(&name), b)
        })
        .collect();
    let children: Vec<_> = bundles
        .iter()
        .map(|(id, b)| {
            env.oci_cmd(&["run", "--bundle", b.to_str().expect("utf8"), id])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "container {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{i}\n"));
    }
    for (id, _) in &bundles {
        env.assert_gone(id);
    }
}

#[test]
fn pidfd_socket_receives_a_pidfd_of_the_init_process() {
    let env = Env::new("pidfd");
    let b = env.bundle("pidfd", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
    });
    let id = env.id("pidfd");
    let sock_path = env.dir.path().join("pidfd.sock");
    let receiver = support::fd_receiver(&sock_path);
    let out = env.oci(&[
        "create",
        "--pidfd-socket",
        sock_path.to_str().expect("utf8"),
        "--bundle",
        b.to_str().expect("utf8"),
        &id,
    ]);
    assert!(
        out.status.success(),
        "create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pidfd = receiver.join().expect("receiver");
    let pid = env.state(&id)["pid"].as_i64().expect("pid");
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
        .expect("fdinfo");
    assert!(info.lines().any(|l| l == format!("Pid:\t{pid}")), "{info}");
    let out = env.oci(&["delete", "--force", &id]);
    assert!(out.status.success());
    env.assert_gone(&id);
}

#[test]
fn foreground_run_with_a_terminal_proxies_it_without_carriage_returns() {
    let env = Env::new("fgtty");
    let (code, out, err) = env.run_with(
        "fgtty",
        "runc",
        &["sh", "-c", "tty; echo one; echo two"],
        |v| {
            v["process"]["terminal"] = true.into();
        },
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(!out.contains('\r'), "ONLCR must be off: {out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("/dev/pts/") || lines[0] == "/dev/console",
        "{out:?}"
    );
    assert_eq!(&lines[1..], ["one", "two"], "{out:?}");
}

#[test]
fn a_failing_poststop_hook_warns_and_the_rest_continue() {
    let env = Env::new("poststop");
    let out_file = env.dir.path().join("poststop.log");
    let hook = |text: &str, code: i32| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {text} >> {}; exit {code}", out_file.display())],
        })
    };
    let (code, out, err) = env.run_with("ps", "runc", &["echo", "ran"], |v| {
        v["hooks"] = serde_json::json!({
            "poststart": [hook("start-1", 3), hook("start-2", 0)],
            "poststop": [hook("stop-1", 0), hook("stop-2", 1), hook("stop-3", 0)],
        });
    });
    assert_eq!((code, out.as_str()), (0, "ran\n"), "stderr: {err}");
    let log = std::fs::read_to_string(&out_file).expect("hooks ran");
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["start-1", "start-2", "stop-1", "stop-2", "stop-3"]
    );
    assert!(
        err.contains("poststop hook exited with status 1"),
        "a warning: {err}"
    );
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    let env = Env::new("pexec");
    let id = env.run_detached("pexec", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
    });
    assert!(env.oci(&["pause", &id]).status.success());
    let out = env.oci(&["exec", "-d", &id, "true"]);
    assert!(
        !out.status.success(),
        "exec into a paused container must be refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("paused"));
    // The exec'd process joins the frozen cgroup and runs once the container resumes.
    let log = env.dir.path().join("pexec.out");
    let mut exec = env
        .oci_cmd(&["exec", "--ignore-paused", &id, "echo", "ran after resume"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("exec");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        exec.try_wait().expect("try_wait").is_none(),
        "exec finished while frozen"
    );
    assert!(env.oci(&["resume", &id]).status.success());
    let status = exec.wait().expect("wait exec");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&log).expect("out"),
        "ran after resume\n"
    );
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    env.assert_gone(&id);
}

#[test]
fn events_stream_stats_and_oom_kills_until_the_container_goes() {
    let env = Env::new("events");
    let id = env.run_detached("ev", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
        v["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 32 << 20, "swap": 32 << 20});
    });
    let log = env.dir.path().join("events.log");
    let mut events = env
        .oci_cmd(&["events", "--interval", "1s", &id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("events");
    let out = env.oci(&[
        "exec",
        &id,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=100M",
        "count=1",
    ]);
    assert_eq!(out.status.code(), Some(137), "the exec'd dd is OOM-killed");
    let oom = format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&oom)
    {
        assert!(
            Instant::now() < deadline,
            "no oom event: {:?}",
            std::fs::read_to_string(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    events.wait().expect("events ends with the container");
    let text = std::fs::read_to_string(&log).expect("log");
    let first = text.lines().next().expect("a first event");
    assert!(
        first.starts_with(&format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":")),
        "{first}"
    );
    env.assert_gone(&id);
}

/// A running container without a pid namespace of its own whose init has two children.
fn sleepers_sharing_the_host_pid_namespace(env: &Env, name: &str) -> String {
    let id = env.run_detached(name, "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sh", "-c", "sleep 30 & sleep 30 & wait"]);
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|ns| ns["type"] != "pid");
    });
    env.wait_until("init and two sleeps", || env.process_count(&id) == 3);
    id
}

#[test]
fn sigkill_without_a_pid_namespace_kills_every_process() {
    let env = Env::new("hostpid");
    let id = sleepers_sharing_the_host_pid_namespace(&env, "hp");
    let out = env.oci(&["kill", &id, "KILL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.wait_until("every process gone", || env.process_count(&id) == 0);
    // A stopped container cannot be signalled one process at a time.
    let out = env.oci(&["kill", &id, "TERM"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("container not running"));
    assert!(env.oci(&["delete", &id]).status.success());
    env.assert_gone(&id);
}

#[test]
fn exec_inherits_the_containers_process_and_applies_its_own_flags() {
    let env = Env::new("execinh");
    let id = env.run_detached("ei", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
        v["process"]["user"]["umask"] = 63.into();
        v["process"]["env"]
            .as_array_mut()
            .expect("env")
            .push("FROM_SPEC=1".into());
    });
    let exec = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        let out = env.oci(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        exec(&[&id, "sh", "-c", "umask"]),
        "0077\n",
        "umask from the spec"
    );
    assert_eq!(
        exec(&[&id, "sh", "-c", "echo $FROM_SPEC"]),
        "1\n",
        "env from the spec"
    );
    assert_eq!(
        exec(&["-e", "FROM_SPEC=2", &id, "sh", "-c", "echo $FROM_SPEC"]),
        "2\n"
    );
    // HOME comes from the rootfs's /etc/passwd, "/" for a uid it does not list.
    assert_eq!(
        exec(&["--user", "65534", &id, "sh", "-c", "echo $HOME"]),
        "/home\n"
    );
    assert_eq!(
        exec(&["--user", "1000:1000", &id, "sh", "-c", "echo $HOME; id -u"]),
        "/\n1000\n"
    );
    // -t gives the process a terminal even though the container's own process has none.
    let out = exec(&["-t", &id, "tty"]);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    // Negative values are values, not flags.
    let out = env.oci(&["update", "--cpu-quota", "-1", "--memory", "-1", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.oci(&["delete", "--force", &id]).status.success());
    env.assert_gone(&id);
}

#[test]
fn runc_details_signal_zero_pid_file_and_piped_process() {
    let env = Env::new("details");
    let b = env.bundle("d", "docker", |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "30"]);
        // CAP_CHOWN is ambient but not inheritable: runc warns and skips it.
        v["process"]["capabilities"]["ambient"] = serde_json::json!(["CAP_CHOWN"]);
    });
    let id = env.id("d");
    let out = env.oci(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        env.oci(&["kill", &id, "0"]).status.success(),
        "signal 0 on a live container"
    );
    assert!(env.oci(&["start", &id]).status.success());
    // A pid file nobody can write is an error, not a warning.
    let out = env.oci(&["exec", "--pid-file", "/nonexistent/dir/pid", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    // --process may be a pipe: it is read once.
    let process = serde_json::json!({"args": ["echo", "from a pipe"], "cwd": "/", "env": ["PATH=/bin:/usr/bin"], "user": {"uid": 0, "gid": 0}});
    let mut child = env
        .oci_cmd(&["exec", "--process", "/dev/stdin", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("exec");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        process.to_string().as_bytes(),
    )
    .expect("write process");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from a pipe\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.oci(&["kill", &id, "KILL"]).status.success());
    env.wait_status(&id, "stopped");
    let out = env.oci(&["kill", &id, "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("container not running"));
    assert!(
        env.oci(&["kill", "--all", &id, "0"]).status.success(),
        "--all may signal a stopped one"
    );
    assert!(env.oci(&["delete", &id]).status.success());
    env.assert_gone(&id);
}

#[test]
fn delete_ends_what_outlives_init_without_a_pid_namespace() {
    let env = Env::new("initgone");
    let id = sleepers_sharing_the_host_pid_namespace(&env, "ig");
    let init = env.wait_status(&id, "running")["pid"]
        .as_i64()
        .expect("pid") as i32;
    // Only init dies; its children live on in the host's pid namespace.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill init");
    env.wait_status(&id, "stopped");
    assert_eq!(env.process_count(&id), 2, "the children outlive init");
    let out = env.oci(&["delete", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The cgroups could not be removed while a live process remained in them.
    env.assert_gone(&id);
}
