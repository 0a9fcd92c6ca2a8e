//! The real docker CLI 28 against `wharf daemon`: run, logs, exec, stop, rm, ps filters,
//! inspect, images, tag/rmi, volumes, a TTY through a pty, and Docker's answers to bad input.
//! Needs root; skips with a message when /usr/local/bin/docker is missing.

mod engine_support;

use std::time::Duration;

use engine_support::{output_within, stderr, stdout};

#[test]
fn run_rm_prints_output_and_passes_exit_codes() {
    let d = daemon_or_skip!("run_rm");
    let out = d.docker_ok(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(out, "hi\n");

    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));

    // --rm: nothing left behind.
    let ps = d.docker_ok(&["ps", "-aq"]);
    assert_eq!(ps.trim(), "", "--rm containers still listed");
}

#[test]
fn detached_logs_exec_stop_rm() {
    let d = daemon_or_skip!("detached");
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "-l",
        "team=blue",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");

    // logs -f follows: stopped by the harness after 2.5 s, it has shown at least two ticks.
    let out = output_within(
        d.docker_cmd().args(["logs", "-f", "w"]),
        None,
        Duration::from_millis(2500),
    );
    let ticks = stdout(&out).lines().filter(|l| *l == "tick").count();
    assert!(
        ticks >= 2,
        "logs -f showed {ticks} ticks: {:?} / {:?}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        out.status.code().is_none(),
        "logs -f ended by itself: {:?}",
        out.status
    );

    let tail = d.docker_ok(&["logs", "--tail", "1", "w"]);
    assert_eq!(tail, "tick\n");

    let hostname = d.docker_ok(&["exec", "w", "cat", "/etc/hostname"]);
    assert_eq!(hostname.trim(), &id[..12]);

    let out = d.docker_in(&["exec", "-i", "w", "sh"], b"echo foo; exit 4\n");
    assert_eq!(stdout(&out), "foo\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(4));

    let v = d.inspect("w");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/w");
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["State"]["Running"], true);
    assert!(
        v["State"]["Pid"].as_i64().unwrap_or(0) > 0,
        "State.Pid: {}",
        v["State"]
    );
    assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(
        v["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "while true; do echo tick; sleep 1; done"])
    );
    assert_eq!(v["Config"]["Image"], "busybox");
    assert_eq!(v["Config"]["Labels"]["team"], "blue");

    // rm of a running container without -f is refused with Docker's words.
    let out = d.docker(&["rm", "w"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container is running")
            && stderr(&out).contains("stop the container before removing or force remove"),
        "rm of a running container: {}",
        stderr(&out)
    );

    // `sh` as PID 1 ignores SIGTERM: stop -t 2 ends it with SIGKILL after the grace period.
    let out = d.docker(&["stop", "-t", "2", "w"]);
    assert_eq!(stdout(&out).trim(), "w", "stderr: {}", stderr(&out));
    let v = d.inspect("w");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 137);
    assert_eq!(v["State"]["Running"], false);

    // ps filters.
    let names = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "name=w",
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(names.trim(), "w");
    let running = d.docker_ok(&["ps", "--filter", "name=w", "--format", "{{.Names}}"]);
    assert_eq!(running.trim(), "", "an exited container is not in plain ps");
    let none = d.docker_ok(&["ps", "-a", "--filter", "status=running", "-q"]);
    assert_eq!(none.trim(), "");
    let by_label = d.docker_ok(&["ps", "-aq", "--filter", "label=team=blue"]);
    assert_eq!(by_label.trim(), &id[..12]);
    let by_other = d.docker_ok(&["ps", "-aq", "--filter", "label=team=red"]);
    assert_eq!(by_other.trim(), "");
    let by_key = d.docker_ok(&["ps", "-aq", "--filter", "label=team"]);
    assert_eq!(by_key.trim(), &id[..12]);

    let out = d.docker_ok(&["rm", "w"]);
    assert_eq!(out.trim(), "w");
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
    let out = d.docker(&["inspect", "w"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such object: w") || stderr(&out).contains("No such container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn images_tag_rmi() {
    let d = daemon_or_skip!("images");
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        images.lines().any(|l| l.starts_with("busybox:latest ")),
        "images: {images}"
    );
    let image_id = d.inspect("busybox")["Id"]
        .as_str()
        .expect("image Id")
        .to_string();
    assert!(image_id.starts_with("sha256:"), "{image_id}");

    d.docker_ok(&["tag", "busybox", "mybox:1"]);
    assert_eq!(d.inspect("mybox:1")["Id"], image_id.as_str());
    let out = d.docker_ok(&["rmi", "mybox:1"]);
    assert!(out.contains("Untagged: mybox:1"), "rmi of a tag: {out}");
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains("mybox"), "{images}");
    assert!(
        images.contains("busybox:latest"),
        "the image stays: {images}"
    );

    // An image a container uses cannot lose its last reference without -f.
    d.docker_ok(&["create", "--name", "user", "busybox", "true"]);
    let out = d.docker(&["rmi", "busybox"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("conflict: unable to remove repository reference"),
        "rmi of an image in use: {}",
        stderr(&out)
    );
    assert_eq!(
        d.inspect("busybox")["Id"],
        image_id.as_str(),
        "image still there"
    );

    // Unknown image and container.
    let out = d.docker(&["rmi", "nosuchimage"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such image: nosuchimage"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["rm", "nosuchcontainer"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such container: nosuchcontainer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn volume_create_ls_inspect_rm() {
    let d = daemon_or_skip!("volumes");
    assert_eq!(d.docker_ok(&["volume", "create", "v1"]).trim(), "v1");
    let ls = d.docker_ok(&["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]);
    assert!(ls.lines().any(|l| l == "local v1"), "volume ls: {ls}");
    let q = d.docker_ok(&["volume", "ls", "-q"]);
    assert_eq!(q.trim(), "v1");
    let v: serde_json::Value =
        serde_json::from_str(&d.docker_ok(&["volume", "inspect", "v1"])).expect("json");
    assert_eq!(v[0]["Name"], "v1");
    assert_eq!(v[0]["Driver"], "local");
    let mountpoint = v[0]["Mountpoint"].as_str().expect("Mountpoint").to_string();
    assert!(
        std::path::Path::new(&mountpoint).starts_with(&d.data_root),
        "volume lives under the data root: {mountpoint}"
    );

    // In use: rm refused.
    d.docker_ok(&["create", "--name", "c", "-v", "v1:/data", "busybox", "true"]);
    let out = d.docker(&["volume", "rm", "v1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("volume is in use"),
        "rm of a volume in use: {}",
        stderr(&out)
    );
    d.docker_ok(&["rm", "c"]);

    assert_eq!(d.docker_ok(&["volume", "rm", "v1"]).trim(), "v1");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]).trim(), "");
    let out = d.docker(&["volume", "inspect", "v1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no such volume"), "{}", stderr(&out));
    let out = d.docker(&["volume", "rm", "v1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no such volume"), "{}", stderr(&out));
}

#[test]
fn bad_input_answers_with_dockers_messages() {
    let d = daemon_or_skip!("bad_input");
    let out = d.docker(&["run", "nosuchimage"]);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Unable to find image 'nosuchimage:latest' locally"),
        "unknown image: {}",
        stderr(&out)
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "", "nothing created");

    d.docker_ok(&["create", "--name", "dup", "busybox", "true"]);
    let out = d.docker(&["create", "--name", "dup", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("The container name \"/dup\" is already in use"),
        "name conflict: {}",
        stderr(&out)
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]).lines().count(), 1);

    let out = d.docker(&["run", "--rm", "-m", "1k", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Minimum memory limit allowed is 6MB"),
        "-m 1k: {}",
        stderr(&out)
    );

    let out = d.docker(&["run", "--rm", "--cpus", "99", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Range of CPUs"),
        "--cpus 99: {}",
        stderr(&out)
    );

    // Unknown container for the verbs that take one.
    for verb in [
        vec!["start", "ghost"],
        vec!["stop", "ghost"],
        vec!["logs", "ghost"],
        vec!["exec", "ghost", "true"],
    ] {
        let out = d.docker(&verb);
        assert!(!out.status.success(), "{verb:?} succeeded");
        assert!(
            stderr(&out).contains("No such container: ghost"),
            "{verb:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        d.docker_ok(&["ps", "-aq"]).lines().count(),
        1,
        "still only dup"
    );

    // A body with wrong types: 400 with a message.
    let (status, body) = d
        .request("POST", "/v1.50/containers/create", Some(r#"{"Image": 5}"#))
        .expect("request");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON error body");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    let (status, _) = d
        .request("GET", "/v1.50/containers/ghost/json", None)
        .expect("request");
    assert_eq!(status, 404);
}

/// `docker run -it` on a pty whose window is 30×100 gets a TTY of that size.
#[test]
fn run_it_through_a_pty() {
    let d = daemon_or_skip!("run_it");
    let script = r#"
import os, sys, fcntl, termios, struct, subprocess, select, time
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
def ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen([sys.argv[1], "run", "-it", "--rm", "busybox", "sh", "-c",
                      "tty; stty size; echo done"],
                     stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty)
os.close(slave)
out = b""
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 1)
    if r:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    elif p.poll() is not None:
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
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", &d.docker_config),
        None,
        Duration::from_secs(90),
    );
    let text = stdout(&out).replace('\r', "");
    assert!(
        text.lines().any(|l| l.starts_with("/dev/pts/")),
        "tty inside: {text:?} / {}",
        stderr(&out)
    );
    assert!(
        text.lines().any(|l| l == "30 100"),
        "stty size inside: {text:?}"
    );
    assert!(text.contains("EXIT=0"), "{text:?}");
}
