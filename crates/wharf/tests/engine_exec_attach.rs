//! exec options, exec -it and attach through a pty, logs -f ending with the container, stop
//! and kill signals, prune, /_ping headers and inspect defaults, through the real docker CLI
//! against `wharf daemon`. Needs root; skips with a message when the docker CLI is missing.

mod engine_support;

use std::time::Duration;

use engine_support::{Daemon, output_within, stderr, stdout};

/// Runs docker `args` on a fresh pty of 30×100 with `input` typed after `delay_ms`; returns
/// (everything the terminal showed with CRs removed, exit code).
fn docker_on_pty(d: &Daemon, args: &[&str], input: &str, delay_ms: u64) -> (String, i32) {
    let script = r#"
import os, sys, fcntl, termios, struct, subprocess, select, time, json
args, data, delay = json.loads(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4]) / 1000
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
def ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen([sys.argv[1]] + args, stdin=slave, stdout=slave, stderr=slave,
                     preexec_fn=ctty)
os.close(slave)
out, sent, start = b"", False, time.time()
deadline = start + 60
while time.time() < deadline:
    if not sent and time.time() - start >= delay:
        os.write(master, data)
        sent = True
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    elif p.poll() is not None and sent:
        break
code = p.wait(timeout=30)
sys.stdout.write(out.decode(errors="replace"))
sys.stdout.write("\nEXIT=%d\n" % code)
"#;
    let out = output_within(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(engine_support::DOCKER)
            .arg(serde_json::to_string(args).expect("json"))
            .arg(input)
            .arg(delay_ms.to_string())
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", &d.docker_config),
        None,
        Duration::from_secs(90),
    );
    let text = stdout(&out).replace('\r', "");
    let code = text
        .rsplit_once("EXIT=")
        .and_then(|(_, c)| c.trim().parse().ok())
        .unwrap_or(-1);
    (text, code)
}

#[test]
fn exec_options_and_exec_it() {
    let d = daemon_or_skip!("exec_opts");
    d.docker_ok(&[
        "run", "-d", "--name", "e", "-e", "BASE=1", "busybox", "sleep", "600",
    ]);
    let out = d.docker_ok(&[
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "e",
        "sh",
        "-c",
        "echo $BASE $EXTRA $(pwd) $(id -u)",
    ]);
    assert_eq!(out, "1 2 /tmp 65534\n");
    let out = d.docker(&["exec", "e", "sh", "-c", "echo to-err >&2; exit 3"]);
    assert_eq!(stderr(&out), "to-err\n");
    assert_eq!(out.status.code(), Some(3));
    // exec -d leaves a process behind that runs on.
    d.docker_ok(&[
        "exec",
        "-d",
        "e",
        "sh",
        "-c",
        "sleep 0.2; touch /tmp/detached",
    ]);
    engine_support::wait_until("exec -d to run", Duration::from_secs(30), || {
        d.docker(&["exec", "e", "test", "-e", "/tmp/detached"])
            .status
            .success()
    });

    let (text, code) = docker_on_pty(
        &d,
        &["exec", "-it", "e", "sh"],
        "tty; stty size; exit 5\n",
        1000,
    );
    assert!(
        text.lines().any(|l| l.starts_with("/dev/pts/")),
        "exec -it tty: {text:?}"
    );
    assert!(
        text.lines().any(|l| l == "30 100"),
        "exec -it size: {text:?}"
    );
    assert_eq!(code, 5, "{text:?}");

    let out = d.docker(&["exec", "e", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn attach_to_a_running_tty_container() {
    let d = daemon_or_skip!("attach");
    d.docker_ok(&["run", "-dit", "--name", "a", "busybox", "sh"]);
    let (text, code) = docker_on_pty(
        &d,
        &["attach", "a"],
        "echo attached-$((40+2)); exit 7\n",
        1000,
    );
    assert!(
        text.lines().any(|l| l.contains("attached-42")),
        "attach output: {text:?}"
    );
    assert_eq!(code, 7, "attach exit: {text:?}");
    let v = d.wait_inspect("a", "exited", |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["ExitCode"], 7);
}

#[test]
fn logs_follow_ends_with_the_container_and_signals() {
    let d = daemon_or_skip!("follow");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "f",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ]);
    let out = output_within(
        d.docker_cmd().args(["logs", "-f", "f"]),
        None,
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "logs -f: {:?} {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stdout(&out), "a\nb\n");

    // stop of a container that handles SIGTERM: its own exit code, no SIGKILL needed.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; touch /tmp/ready; while true; do sleep 0.1; done",
    ]);
    engine_support::wait_until("the trap", Duration::from_secs(30), || {
        d.docker(&["exec", "t", "test", "-e", "/tmp/ready"])
            .status
            .success()
    });
    d.docker_ok(&["stop", "-t", "30", "t"]);
    assert_eq!(d.inspect("t")["State"]["ExitCode"], 0);

    // kill without -s is SIGKILL.
    d.docker_ok(&["run", "-d", "--name", "k", "busybox", "sleep", "600"]);
    d.docker_ok(&["kill", "k"]);
    assert_eq!(d.docker_ok(&["wait", "k"]).trim(), "137");
    let out = d.docker(&["kill", "-s", "NOSUCHSIG", "k"]);
    assert!(!out.status.success());

    // container prune removes the stopped ones.
    d.docker_ok(&["run", "-d", "--name", "keep", "busybox", "sleep", "600"]);
    let out = d.docker_ok(&["container", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let left = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left.trim(), "keep");
}

#[test]
fn ping_headers_and_inspect_defaults() {
    let d = daemon_or_skip!("defaults");
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).expect("connect");
    std::io::Write::write_all(&mut s, b"HEAD /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .expect("send");
    let mut head = String::new();
    std::io::Read::read_to_string(&mut s, &mut head).expect("read");
    let lower = head.to_ascii_lowercase();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(lower.contains("\r\napi-version: 1.50\r\n"), "{head}");
    assert!(lower.contains("\r\nostype: linux\r\n"), "{head}");
    assert!(lower.contains("\r\ndocker-experimental:"), "{head}");

    d.docker_ok(&["create", "--name", "c", "busybox"]);
    let v = d.inspect("c");
    let id = v["Id"].as_str().expect("Id");
    assert_eq!(v["State"]["Status"], "created");
    assert_eq!(v["Path"], "/bin/sh");
    assert_eq!(v["Args"], serde_json::json!([]));
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert_eq!(v["HostConfig"]["AutoRemove"], false);
    assert_eq!(v["HostConfig"]["Memory"], 0);
    assert_eq!(v["Platform"], "linux");
    assert_eq!(v["RestartCount"], 0);
    assert!(
        chrono::DateTime::parse_from_rfc3339(v["Created"].as_str().unwrap_or("")).is_ok(),
        "Created: {}",
        v["Created"]
    );
    assert_eq!(v["Image"], d.inspect("busybox")["Id"]);
    assert!(v["Mounts"].is_array(), "Mounts: {}", v["Mounts"]);
    assert!(v["NetworkSettings"].is_object());
    // --format over the same fields, as scripts use it.
    let out = d.docker_ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.Config.Image}} {{.HostConfig.LogConfig.Type}}",
        "c",
    ]);
    assert_eq!(out.trim(), "created busybox json-file");
    // Both a container and an image resolve by short id prefix.
    assert_eq!(d.inspect(&id[..8])["Id"], id);
    // dockerd's newContainer: "default hostname is the container's short-ID".
    assert_eq!(v["Config"]["Hostname"], &id[..12], "Config.Hostname");
}
