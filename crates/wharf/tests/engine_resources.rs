//! Volumes, resource limits, restart policies and the container verbs (wait, kill, pause,
//! rename, top, cp, diff, commit, export), health checks and events, through the real docker
//! CLI against `wharf daemon`. Needs root; skips with a message when the docker CLI is missing.

mod engine_support;

use std::io::{Read, Write};
use std::time::Duration;

use engine_support::{Daemon, output_within, stderr, stdout, wait_until};

/// The names of the volumes the daemon lists.
fn volumes(d: &Daemon) -> Vec<String> {
    d.docker_ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn named_volume_data_survives_rm_and_a_new_container() {
    let d = daemon_or_skip!("vol_survives");
    d.docker_ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo keep > /data/f",
    ]);
    assert_eq!(volumes(&d), ["data"], "run -v created the named volume");
    d.docker_ok(&["rm", "-v", "writer"]);
    assert_eq!(volumes(&d), ["data"], "rm -v keeps named volumes");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/other",
        "busybox",
        "cat",
        "/other/f",
    ]);
    assert_eq!(out, "keep\n");
    // --mount syntax reaches the same volume, read-only.
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=data,dst=/ro,readonly",
        "busybox",
        "sh",
        "-c",
        "cat /ro/f; echo x > /ro/g",
    ]);
    assert_eq!(stdout(&out), "keep\n");
    assert!(
        !out.status.success(),
        "write to a read-only volume succeeded"
    );
}

#[test]
fn empty_named_volume_gets_the_image_content() {
    let d = daemon_or_skip!("vol_copy");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "cat",
        "/etc/passwd",
    ]);
    assert!(
        out.starts_with("root:x:0:0:"),
        "/etc over a new volume: {out}"
    );
    // The copy is in the volume itself, seen elsewhere.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/x",
        "busybox",
        "cat",
        "/x/group",
    ]);
    assert!(out.starts_with("root:x:0:"), "{out}");
    // A volume that already has content is not overwritten.
    d.docker_ok(&["volume", "create", "full"]);
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "full:/x",
        "busybox",
        "sh",
        "-c",
        "echo mine > /x/own",
    ]);
    let out = d.docker_ok(&["run", "--rm", "-v", "full:/etc", "busybox", "ls", "/etc"]);
    assert_eq!(
        out.trim(),
        "own",
        "a non-empty volume received the image's /etc"
    );

    // An image's VOLUME: its content is copied into a new named volume and into the
    // anonymous volume a plain run creates.
    d.docker_ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo from-image > /data/x",
    ]);
    d.docker_ok(&["commit", "-c", "VOLUME /data", "src", "withvol"]);
    let v = d.inspect("withvol");
    assert!(
        v["Config"]["Volumes"].get("/data").is_some(),
        "Config.Volumes: {}",
        v["Config"]["Volumes"]
    );
    let out = d.docker_ok(&["run", "--rm", "-v", "nv:/data", "withvol", "cat", "/data/x"]);
    assert_eq!(out, "from-image\n");
    let out = d.docker_ok(&["run", "--name", "anon", "withvol", "cat", "/data/x"]);
    assert_eq!(out, "from-image\n");
    let m = &d.inspect("anon")["Mounts"];
    assert_eq!(m[0]["Type"], "volume", "Mounts: {m}");
    assert_eq!(m[0]["Destination"], "/data");
    let anon = m[0]["Name"]
        .as_str()
        .expect("anonymous volume name")
        .to_string();
    assert_eq!(
        anon.len(),
        64,
        "anonymous volumes have 64-hex names: {anon}"
    );
    assert!(volumes(&d).contains(&anon));
    d.docker_ok(&["rm", "-v", "anon"]);
    assert!(
        !volumes(&d).contains(&anon),
        "rm -v removed the anonymous volume"
    );
}

#[test]
fn anonymous_volume_removed_by_rm_v() {
    let d = daemon_or_skip!("vol_anon");
    d.docker_ok(&[
        "run",
        "--name",
        "a",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo a > /data/a",
    ]);
    d.docker_ok(&["run", "--name", "b", "-v", "/data", "busybox", "true"]);
    let name_a = d.inspect("a")["Mounts"][0]["Name"]
        .as_str()
        .expect("Mounts[0].Name")
        .to_string();
    let name_b = d.inspect("b")["Mounts"][0]["Name"]
        .as_str()
        .expect("Mounts[0].Name")
        .to_string();
    let before = volumes(&d);
    assert!(
        before.contains(&name_a) && before.contains(&name_b),
        "{before:?}"
    );
    d.docker_ok(&["rm", "-v", "a"]);
    assert_eq!(volumes(&d), [name_b.as_str()], "rm -v a");
    d.docker_ok(&["rm", "b"]);
    assert_eq!(
        volumes(&d),
        [name_b],
        "rm without -v keeps the anonymous volume"
    );
    let out = d.docker_ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(
        volumes(&d).is_empty(),
        "prune removed the unused anonymous volume"
    );
}

#[test]
fn memory_limit_oom_is_reported() {
    let d = daemon_or_skip!("oom");
    let out = d.docker(&[
        "run",
        "--name",
        "oom",
        "-m",
        "32m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(out.status.code(), Some(137), "stderr: {}", stderr(&out));
    let v = d.inspect("oom");
    assert_eq!(v["State"]["OOMKilled"], true, "State: {}", v["State"]);
    assert_eq!(v["State"]["ExitCode"], 137);
    assert_eq!(v["HostConfig"]["Memory"], 32 * 1024 * 1024);
}

#[test]
fn restart_policy_on_failure_restarts_exactly_three_times() {
    let d = daemon_or_skip!("on_failure");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "rf",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let v = d.wait_inspect("rf", "RestartCount 3 and exited", |v| {
        v["RestartCount"] == 3 && v["State"]["Status"] == "exited"
    });
    assert_eq!(v["State"]["ExitCode"], 1);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
    // Four runs in all, each logged.
    wait_until("four runs in the log", Duration::from_secs(30), || {
        d.docker_ok(&["logs", "rf"]).lines().count() == 4
    });
    // No fourth restart follows (the backoff before one would be well under this pause).
    std::thread::sleep(Duration::from_secs(3));
    let v = d.inspect("rf");
    assert_eq!(v["RestartCount"], 3);
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(d.docker_ok(&["logs", "rf"]).lines().count(), 4);
}

#[test]
fn run_rm_wait_kill_pause_rename_top() {
    let d = daemon_or_skip!("verbs");
    // --rm: gone after it exits, also when detached.
    d.docker_ok(&["run", "-d", "--rm", "--name", "gone", "busybox", "true"]);
    wait_until(
        "the --rm container to disappear",
        Duration::from_secs(30),
        || {
            d.docker_ok(&["ps", "-aq", "--filter", "name=gone"])
                .trim()
                .is_empty()
        },
    );
    assert_eq!(d.inspect("busybox")["RepoTags"][0], "busybox:latest");

    // A wait for the next exit is callable before start (what `docker run` does): the
    // daemon answers the headers once the wait is registered, the status when it exits.
    let ctl = d.work.join("ctl");
    std::fs::create_dir_all(&ctl).expect("mkdir ctl");
    let bind = format!("{}:/ctl", ctl.display());
    d.docker_ok(&[
        "create",
        "--name",
        "w5",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /ctl/go ]; do sleep 0.1; done; exit 5",
    ]);
    // On a created container, `docker wait` (condition not-running) answers at once, as
    // dockerd does.
    assert_eq!(d.docker_ok(&["wait", "w5"]).trim(), "0");
    let mut conn = std::os::unix::net::UnixStream::connect(&d.sock).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    conn.write_all(
        b"POST /v1.50/containers/w5/wait?condition=next-exit HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .expect("send wait");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = conn.read(&mut byte).expect("read wait headers");
        assert_eq!(
            n,
            1,
            "connection closed in the headers: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    d.docker_ok(&["start", "w5"]);
    std::fs::write(ctl.join("go"), "").expect("write go");
    let mut body = Vec::new();
    conn.read_to_end(&mut body).expect("read wait body");
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("\"StatusCode\":5"),
        "wait before start answered: {body}"
    );
    assert_eq!(d.docker_ok(&["wait", "w5"]).trim(), "5", "wait after exit");

    // kill -s TERM reaches a trap.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "k",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' TERM; touch /tmp/ready; while true; do sleep 0.1; done",
    ]);
    wait_until("the trap to be set", Duration::from_secs(30), || {
        d.docker(&["exec", "k", "test", "-e", "/tmp/ready"])
            .status
            .success()
    });
    d.docker_ok(&["kill", "-s", "TERM", "k"]);
    assert_eq!(d.docker_ok(&["wait", "k"]).trim(), "9");
    let v = d.inspect("k");
    assert_eq!(v["State"]["ExitCode"], 9);
    let out = d.docker(&["kill", "k"]);
    assert!(!out.status.success(), "kill of a stopped container");
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));

    // pause / unpause.
    d.docker_ok(&["run", "-d", "--name", "p", "busybox", "sleep", "600"]);
    d.docker_ok(&["pause", "p"]);
    let v = d.inspect("p");
    assert_eq!(v["State"]["Status"], "paused");
    assert_eq!(v["State"]["Paused"], true);
    let ps = d.docker_ok(&["ps", "--filter", "status=paused", "--format", "{{.Names}}"]);
    assert_eq!(ps.trim(), "p");
    let out = d.docker(&["exec", "p", "true"]);
    assert!(!out.status.success(), "exec in a paused container");
    assert!(stderr(&out).contains("is paused"), "{}", stderr(&out));
    d.docker_ok(&["unpause", "p"]);
    assert_eq!(d.inspect("p")["State"]["Status"], "running");

    // rename.
    d.docker_ok(&["rename", "p", "q"]);
    assert_eq!(d.inspect("q")["Name"], "/q");
    let out = d.docker(&["inspect", "--type", "container", "p"]);
    assert!(!out.status.success(), "old name still resolves");
    let out = d.docker(&["rename", "q", "k"]);
    assert!(!out.status.success(), "rename onto a used name");
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );

    // top lists the container's process by its host PID.
    let pid = d.inspect("q")["State"]["Pid"].as_i64().expect("Pid");
    let top = d.docker_ok(&["top", "q"]);
    let mut lines = top.lines();
    let header = lines.next().unwrap_or("");
    assert!(
        header.contains("PID") && header.contains("CMD"),
        "top: {top}"
    );
    assert!(
        lines
            .any(|l| l.split_whitespace().nth(1) == Some(&pid.to_string())
                && l.contains("sleep 600")),
        "top does not show pid {pid}: {top}"
    );
}

#[test]
fn cp_diff_commit_export() {
    let d = daemon_or_skip!("fs_verbs");
    d.docker_ok(&["run", "-d", "--name", "f", "busybox", "sleep", "600"]);
    d.docker_ok(&[
        "exec",
        "f",
        "sh",
        "-c",
        "echo committed > /tmp/marker && rm /etc/group && mkdir /newdir",
    ]);

    // cp into and out of the container.
    let input = d.work.join("in.txt");
    std::fs::write(&input, "from host\n").expect("write in.txt");
    d.docker_ok(&["cp", input.to_str().expect("utf-8"), "f:/tmp/in.txt"]);
    assert_eq!(
        d.docker_ok(&["exec", "f", "cat", "/tmp/in.txt"]),
        "from host\n"
    );
    let outdir = d.work.join("out");
    std::fs::create_dir_all(&outdir).expect("mkdir out");
    d.docker_ok(&["cp", "f:/etc/passwd", outdir.to_str().expect("utf-8")]);
    let passwd = std::fs::read_to_string(outdir.join("passwd")).expect("copied passwd");
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    d.docker_ok(&[
        "cp",
        "f:/tmp",
        outdir.join("tmpcopy").to_str().expect("utf-8"),
    ]);
    assert_eq!(
        std::fs::read_to_string(outdir.join("tmpcopy/marker")).expect("copied dir"),
        "committed\n"
    );
    let out = d.docker(&["cp", "f:/nonexistent", outdir.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Could not find the file /nonexistent in container f"),
        "{}",
        stderr(&out)
    );

    // diff.
    let diff = d.docker_ok(&["diff", "f"]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in [
        "C /tmp",
        "A /tmp/marker",
        "A /tmp/in.txt",
        "C /etc",
        "D /etc/group",
        "A /newdir",
    ] {
        assert!(lines.contains(&want), "diff lacks {want:?}: {diff}");
    }

    // commit, then run the new image.
    let img = d.docker_ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/tmp/marker\"]",
        "f",
        "snap:1",
    ]);
    assert!(
        img.trim().starts_with("sha256:"),
        "commit prints the image id: {img}"
    );
    assert_eq!(d.docker_ok(&["run", "--rm", "snap:1"]), "committed\n");
    let out = d.docker(&["run", "--rm", "snap:1", "cat", "/etc/group"]);
    assert!(!out.status.success(), "the deletion was committed too");
    let history = d.docker_ok(&["history", "-q", "snap:1"]);
    assert!(history.lines().count() >= 2, "history: {history}");

    // export: a tar of the filesystem.
    let tar = d.work.join("f.tar");
    d.docker_ok(&["export", "-o", tar.to_str().expect("utf-8"), "f"]);
    let out = output_within(
        std::process::Command::new("tar").arg("-tf").arg(&tar),
        None,
        Duration::from_secs(60),
    );
    let list = stdout(&out);
    let has = |p: &str| list.lines().any(|l| l.trim_start_matches("./") == p);
    assert!(has("bin/busybox"), "export lacks bin/busybox");
    assert!(has("tmp/marker"), "export lacks tmp/marker");
    assert!(!has("etc/group"), "export has the deleted etc/group");
}

#[test]
fn health_checks_reach_healthy_and_unhealthy() {
    let d = daemon_or_skip!("health");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "good",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "600",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "false",
        "--health-retries",
        "2",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "600",
    ]);
    let v = d.wait_inspect("good", "healthy", |v| {
        v["State"]["Health"]["Status"] == "healthy"
    });
    assert_eq!(v["State"]["Health"]["FailingStreak"], 0);
    assert_eq!(v["State"]["Health"]["Log"][0]["ExitCode"], 0);
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    let v = d.wait_inspect("bad", "unhealthy", |v| {
        v["State"]["Health"]["Status"] == "unhealthy"
    });
    assert!(
        v["State"]["Health"]["FailingStreak"].as_i64().unwrap_or(0) >= 2,
        "{}",
        v["State"]
    );
    assert_eq!(v["State"]["Health"]["Log"][0]["ExitCode"], 1);
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with("good ") && l.ends_with("(healthy)")),
        "ps: {ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.starts_with("bad ") && l.ends_with("(unhealthy)")),
        "ps: {ps}"
    );
    let ps = d.docker_ok(&[
        "ps",
        "--filter",
        "health=unhealthy",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(ps.trim(), "bad");
}

#[test]
fn events_show_create_start_die() {
    let d = daemon_or_skip!("events");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
    };
    let since = now() - 1;
    d.docker_ok(&["run", "--name", "ev", "busybox", "true"]);
    d.docker_ok(&["rm", "ev"]);
    let until = now() + 1;
    let out = d.docker_ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let actions: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with(" ev"))
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    for want in ["create", "start", "die", "destroy"] {
        assert!(actions.contains(&want), "events lack {want}: {out}");
    }
    let pos = |a: &str| actions.iter().position(|x| *x == a).unwrap_or(usize::MAX);
    assert!(
        pos("create") < pos("start") && pos("start") < pos("die") && pos("die") < pos("destroy"),
        "order: {actions:?}"
    );
}
