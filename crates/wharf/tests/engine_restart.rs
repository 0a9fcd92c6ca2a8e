//! Containers outlive their daemon: after SIGKILL (or SIGTERM) of `wharf daemon` they keep
//! running under their supervisors, and the restarted daemon re-adopts them (live-restore).
//! Needs root; skips with a message when /usr/local/bin/docker is missing.

mod engine_support;

use std::time::Duration;

use engine_support::{Daemon, pid_alive, shims_under, stderr, wait_until};

/// The largest counter value in `docker logs NAME`.
fn last_count(d: &Daemon, name: &str) -> u64 {
    d.docker_ok(&["logs", name])
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

fn shim_of(d: &Daemon, id: &str) -> i32 {
    let shims = shims_under(&d.exec_root);
    shims
        .iter()
        .find(|(_, sid)| sid == id)
        .map(|(pid, _)| *pid)
        .unwrap_or_else(|| panic!("no `wharf shim` for {id} among {shims:?}"))
}

#[test]
fn sigkilled_daemon_leaves_containers_running_and_readopts_them() {
    let mut d = daemon_or_skip!("restart_kill9");
    let id = d
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "cnt",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done",
        ])
        .trim()
        .to_string();
    wait_until("two counter lines", Duration::from_secs(30), || {
        last_count(&d, "cnt") >= 2
    });
    let v = d.inspect("cnt");
    let pid = v["State"]["Pid"].as_i64().expect("State.Pid") as i32;
    assert!(pid > 0);
    let shim = shim_of(&d, &id);

    d.kill9();
    assert!(
        !d.sock.exists() || !d.ping(),
        "daemon still answers after SIGKILL"
    );
    assert!(
        pid_alive(pid),
        "container process {pid} died with the daemon"
    );
    assert!(pid_alive(shim), "supervisor {shim} died with the daemon");
    // The container keeps working while nobody watches: its log grows (read from the file).
    let log_path = v["LogPath"].as_str().expect("LogPath").to_string();
    let size = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    wait_until(
        "the log to grow while the daemon is down",
        Duration::from_secs(30),
        || std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0) > size,
    );

    d.restart();
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "cnt running", "after restart");
    let v = d.inspect("cnt");
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["State"]["Pid"].as_i64(), Some(pid as i64), "same process");

    // Logs continue: new lines appear after the restart.
    let seen = last_count(&d, "cnt");
    wait_until(
        "new log lines after the restart",
        Duration::from_secs(30),
        || last_count(&d, "cnt") > seen + 2,
    );
    // exec still works on the re-adopted container.
    assert_eq!(d.docker_ok(&["exec", "cnt", "echo", "in"]), "in\n");

    // A second time, with SIGTERM: the same.
    d.stop();
    assert!(
        pid_alive(pid),
        "container process {pid} died with a SIGTERMed daemon"
    );
    d.restart();
    assert_eq!(d.inspect("cnt")["State"]["Status"], "running");

    let out = d.docker(&["stop", "-t", "1", "cnt"]);
    assert!(out.status.success(), "stop after restart: {}", stderr(&out));
    let v = d.inspect("cnt");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 137);
    wait_until(
        "the container process to go",
        Duration::from_secs(30),
        || !pid_alive(pid),
    );
    wait_until("the supervisor to go", Duration::from_secs(30), || {
        !pid_alive(shim)
    });
    d.docker_ok(&["rm", "cnt"]);
}

#[test]
fn exit_while_daemon_is_down_is_recorded() {
    let mut d = daemon_or_skip!("restart_exit");
    let ctl = d.work.join("ctl");
    std::fs::create_dir_all(&ctl).expect("mkdir ctl");
    let bind = format!("{}:/ctl", ctl.display());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ex",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "touch /ctl/up; while [ ! -e /ctl/go ]; do sleep 0.1; done; echo bye; exit 42",
    ]);
    wait_until("the container to start", Duration::from_secs(30), || {
        ctl.join("up").exists()
    });
    let pid = d.inspect("ex")["State"]["Pid"].as_i64().expect("State.Pid") as i32;

    d.kill9();
    std::fs::write(ctl.join("go"), "").expect("write go");
    wait_until(
        "the container to exit while the daemon is down",
        Duration::from_secs(30),
        || !pid_alive(pid),
    );
    d.restart();
    let v = d.wait_inspect("ex", "exited", |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["ExitCode"], 42, "State: {}", v["State"]);
    assert_eq!(v["State"]["Running"], false);
    assert_eq!(d.docker_ok(&["logs", "ex"]), "bye\n");
    let waited = d.docker_ok(&["wait", "ex"]);
    assert_eq!(waited.trim(), "42");
    let ps = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(ps.trim(), "ex");
    // It starts again.
    std::fs::remove_file(ctl.join("go")).expect("rm go");
    std::fs::remove_file(ctl.join("up")).expect("rm up");
    d.docker_ok(&["start", "ex"]);
    wait_until(
        "the restarted container to run",
        Duration::from_secs(30),
        || ctl.join("up").exists(),
    );
    assert_eq!(d.inspect("ex")["State"]["Status"], "running");
}
