//! `docker run` options through the real docker CLI against `wharf daemon`: environment, working
//! directory, user, entrypoint, hostname, read-only root, tmpfs, pids limit, --init, and the
//! verbs around a container's life (restart, start -a, logs --timestamps/--since, stats,
//! system df, info). Needs root; skips with a message when the docker CLI is missing.

mod engine_support;

use engine_support::{stderr, stdout};

#[test]
fn environment_workdir_user_entrypoint_hostname() {
    let d = daemon_or_skip!("run_opts");
    let env_file = d.work.join("env.list");
    std::fs::write(&env_file, "FROM_FILE=yes\n# a comment\nEMPTY=\n").expect("env file");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "--env-file",
        env_file.to_str().expect("utf-8"),
        "busybox",
        "sh",
        "-c",
        "echo \"$A|$B|$FROM_FILE|${EMPTY-unset}|$PATH|$HOME\"",
    ]);
    assert_eq!(
        out,
        "1|two words|yes||/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root\n"
    );

    let out = d.docker_ok(&["run", "--rm", "-w", "/etc", "busybox", "pwd"]);
    assert_eq!(out, "/etc\n");

    let out = d.docker_ok(&["run", "--rm", "-u", "nobody", "busybox", "id"]);
    assert!(out.starts_with("uid=65534(nobody) gid=65534"), "{out}");
    let out = d.docker_ok(&["run", "--rm", "-u", "1234:5678", "busybox", "id", "-u"]);
    assert_eq!(out, "1234\n");
    // Not --rm: a failed start of an --rm container hangs the CLI (see
    // failed_start_exit_codes_and_autoremove).
    let out = d.docker(&["run", "--name", "nu", "-u", "nosuchuser", "busybox", "id"]);
    assert!(!out.status.success(), "an unknown user was accepted");
    assert!(stderr(&out).contains("nosuchuser"), "{}", stderr(&out));

    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "from",
        "entrypoint",
    ]);
    assert_eq!(out, "from entrypoint\n");

    let out = d.docker_ok(&["run", "--rm", "-h", "myhost", "busybox", "hostname"]);
    assert_eq!(out, "myhost\n");
    let out = d.docker_ok(&["run", "--rm", "busybox", "cat", "/etc/hosts"]);
    assert!(out.contains("127.0.0.1"), "/etc/hosts: {out}");

    // The image's CMD applies when no command is given.
    let out = d.docker_in(&["run", "--rm", "-i", "busybox"], b"echo from-stdin\n");
    assert_eq!(stdout(&out), "from-stdin\n", "stderr: {}", stderr(&out));
}

/// dockerd creates a missing working directory in the container's filesystem.
#[test]
fn missing_workdir_is_created() {
    let d = daemon_or_skip!("workdir");
    // Not --rm: a failed start of an --rm container hangs the CLI (see below).
    let out = d.docker(&["run", "--name", "wd", "-w", "/tmp/made", "busybox", "pwd"]);
    assert!(
        out.status.success(),
        "run -w /tmp/made: {:?} {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(
        stdout(&out),
        "/tmp/made\n",
        "-w creates and enters the directory"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "-w",
        "/home/nb/w",
        "busybox",
        "sh",
        "-c",
        "pwd; touch x",
    ]);
    assert_eq!(out, "/home/nb/w\n");
}

/// A start that fails gets the CLI's exit codes 127/126: the CLI reads them from the daemon's
/// message, which with dockerd says "executable file not found" / "no such file or directory"
/// / "permission denied" / "is a directory".
#[test]
fn failed_start_exit_codes() {
    let d = daemon_or_skip!("failed_start");
    let limit = std::time::Duration::from_secs(30);
    let out = engine_support::output_within(
        d.docker_cmd()
            .args(["run", "--name", "nx", "busybox", "/nonexistent"]),
        None,
        limit,
    );
    assert_eq!(
        out.status.code(),
        Some(127),
        "command not found: {}",
        stderr(&out)
    );
    let out = engine_support::output_within(
        d.docker_cmd()
            .args(["run", "--name", "nx2", "busybox", "nosuchcommand"]),
        None,
        limit,
    );
    assert_eq!(
        out.status.code(),
        Some(127),
        "not in $PATH: {}",
        stderr(&out)
    );
    let out = engine_support::output_within(
        d.docker_cmd()
            .args(["run", "--name", "dir", "busybox", "/etc"]),
        None,
        limit,
    );
    assert_eq!(
        out.status.code(),
        Some(126),
        "a directory as command: {}",
        stderr(&out)
    );
}

/// An `--rm` container whose start fails is removed (as dockerd does), so that
/// `docker run --rm` — which waits for condition=removed — returns.
#[test]
fn failed_start_of_an_rm_container_removes_it() {
    let d = daemon_or_skip!("failed_start_rm");
    let limit = std::time::Duration::from_secs(30);
    let out = engine_support::output_within(
        d.docker_cmd()
            .args(["run", "--rm", "--name", "rmfail", "busybox", "/nonexistent"]),
        None,
        limit,
    );
    assert!(
        out.status.code().is_some(),
        "`docker run --rm` of a container whose start fails never returned: the daemon does not \
         remove it, so wait?condition=removed never answers"
    );
    assert_ne!(out.status.code(), Some(0));
    engine_support::wait_until(
        "the --rm container whose start failed to be removed",
        limit,
        || {
            d.docker_ok(&["ps", "-aq", "--filter", "name=rmfail"])
                .trim()
                .is_empty()
        },
    );
}

#[test]
fn read_only_tmpfs_pids_limit_init() {
    let d = daemon_or_skip!("run_limits");
    let out = d.docker(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "touch /x",
    ]);
    assert!(!out.status.success(), "--read-only root was writable");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "busybox",
        "sh",
        "-c",
        "echo ok > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ok");
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.starts_with("tmpfs /scratch tmpfs")),
        "{out}"
    );

    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pl",
        "--pids-limit",
        "20",
        "busybox",
        "sleep",
        "600",
    ]);
    let v = d.inspect("pl");
    assert_eq!(v["HostConfig"]["PidsLimit"], 20);
    // Forking past the limit fails inside.
    let out = d.docker(&[
        "exec",
        "pl",
        "sh",
        "-c",
        "for i in $(seq 1 40); do sleep 30 & done; wait",
    ]);
    assert!(
        stderr(&out).contains("can't fork") || stderr(&out).contains("Resource temporarily"),
        "40 processes under --pids-limit 20: {:?} {}",
        out.status,
        stderr(&out)
    );

    if std::path::Path::new("/usr/bin/docker-init").exists()
        || std::path::Path::new("/usr/bin/tini").exists()
    {
        let out = d.docker_ok(&["run", "--rm", "--init", "busybox", "ps", "-o", "pid,args"]);
        let first = out
            .lines()
            .nth(1)
            .expect("ps lists pid 1")
            .split_whitespace()
            .collect::<Vec<_>>();
        assert_eq!(first[0], "1");
        assert!(
            first[1].contains("init") || first[1].contains("tini"),
            "pid 1 under --init: {out}"
        );
        // The init forwards signals and reaps: stop is quick, the exit code is the child's.
        let out = d.docker(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 6"]);
        assert_eq!(out.status.code(), Some(6));
    } else {
        eprintln!("SKIP --init part: neither docker-init nor tini is installed");
    }
}

#[test]
fn restart_start_attach_logs_stats_df() {
    let d = daemon_or_skip!("life");
    d.docker_ok(&[
        "create",
        "--name",
        "once",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 2",
    ]);
    assert_eq!(d.inspect("once")["State"]["Status"], "created");
    let out = d.docker(&["start", "-a", "once"]);
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    assert_eq!(out.status.code(), Some(2));
    // stdout and stderr kept apart in the log too.
    let out = d.docker(&["logs", "once"]);
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    let ts = d.docker_ok(&["logs", "-t", "once"]);
    let stamp = ts.split_whitespace().next().unwrap_or("");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "logs -t: {ts}"
    );
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp();
    let out = d.docker(&["logs", "--since", &future.to_string(), "once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out) + &stderr(&out), "", "logs --since the future");

    let out = d.docker_in(&["start", "-ai", "once"], b"");
    assert_eq!(out.status.code(), Some(2), "second start -ai");
    assert_eq!(
        d.docker_ok(&["logs", "once"]).lines().count(),
        2,
        "two runs"
    );

    // restart of a running container gives a new process.
    d.docker_ok(&["run", "-d", "--name", "r", "busybox", "sleep", "600"]);
    let pid1 = d.inspect("r")["State"]["Pid"].as_i64();
    d.docker_ok(&["restart", "-t", "1", "r"]);
    let v = d.inspect("r");
    assert_eq!(v["State"]["Status"], "running");
    assert_ne!(
        v["State"]["Pid"].as_i64(),
        pid1,
        "restart kept the old process"
    );

    let stats = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}}",
    ]);
    let line = stats
        .lines()
        .find(|l| l.starts_with("r "))
        .unwrap_or_else(|| panic!("stats lacks r: {stats}"));
    assert!(line.contains("iB / "), "stats memory: {line}");
    assert!(line.ends_with(" 1"), "stats pids: {line}");

    let df = d.docker_ok(&["system", "df"]);
    assert!(
        df.contains("Images") && df.contains("Containers") && df.contains("Local Volumes"),
        "{df}"
    );
    let info = d.docker_ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.ContainersRunning}} {{.Images}}",
    ]);
    assert_eq!(info.trim(), "2 1 1");
    let version = d.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(version.trim(), "1.50");
}

#[test]
fn privileged_gets_every_capability_the_engine_holds() {
    let d = daemon_or_skip!("privileged");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    let hex = out.split_whitespace().last().expect("a CapEff line");
    let eff = u64::from_str_radix(hex, 16).expect("hex");
    // CAP_SYS_ADMIN (21) and CAP_NET_ADMIN (12), which Docker's default set lacks.
    assert_ne!(eff & (1 << 21), 0, "{out}");
    assert_ne!(eff & (1 << 12), 0, "{out}");
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let own = own
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .expect("own CapEff");
    assert_eq!(eff & !own, 0, "never more than the engine holds: {out}");
}
