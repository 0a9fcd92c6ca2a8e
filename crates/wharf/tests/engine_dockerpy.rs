//! The Python `docker` package (7.1) against `wharf daemon`. Needs root; skips with a message
//! when the docker CLI (used to import busybox) or the Python package is missing.

mod engine_support;

use engine_support::{Daemon, stderr, stdout};

/// Starts a daemon, or `None` (after a message) when `import docker` fails.
fn daemon_with_dockerpy(tag: &str) -> Option<Daemon> {
    let probe = engine_support::output_within(
        std::process::Command::new("python3").args(["-c", "import docker"]),
        None,
        std::time::Duration::from_secs(30),
    );
    if !probe.status.success() {
        eprintln!(
            "SKIP {tag}: the Python docker package is not importable: {}",
            stderr(&probe)
        );
        return None;
    }
    Daemon::start(tag)
}

/// Runs `script` (after `import docker; c = docker.from_env()`), asserting it succeeded; returns
/// its stdout.
#[track_caller]
fn py(d: &Daemon, script: &str) -> String {
    let full = format!("import docker, sys, json\nc = docker.from_env()\n{script}");
    let out = d.python(&full);
    assert!(
        out.status.success(),
        "python failed ({:?})\n{script}\nstdout: {}\nstderr: {}\n{}",
        out.status,
        stdout(&out),
        stderr(&out),
        d.log()
    );
    stdout(&out)
}

#[test]
fn containers_run_returns_output() {
    let Some(d) = daemon_with_dockerpy("py_run") else {
        return;
    };
    let out = py(
        &d,
        r#"
out = c.containers.run("busybox", ["echo", "hello from py"], remove=True)
print(repr(out))
print(c.ping())
print(c.version()["ApiVersion"])
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "b'hello from py\\n'");
    assert_eq!(lines[1], "True");
    assert_eq!(lines[2], "1.50");
    assert_eq!(
        d.docker_ok(&["ps", "-aq"]).trim(),
        "",
        "remove=True removed it"
    );

    // A failing command raises ContainerError carrying the exit status.
    let out = py(
        &d,
        r#"
try:
    c.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 7"], remove=True)
    print("no error")
except docker.errors.ContainerError as e:
    print(e.exit_status)
"#,
    );
    assert_eq!(out.trim(), "7");
    // An unknown image raises ImageNotFound (a pull is attempted and fails).
    let out = py(
        &d,
        r#"
try:
    c.images.get("nosuchimage")
    print("found")
except docker.errors.ImageNotFound as e:
    print("ImageNotFound", e.status_code)
"#,
    );
    assert_eq!(out.trim(), "ImageNotFound 404");
}

#[test]
fn detached_logs_exec_stop_remove() {
    let Some(d) = daemon_with_dockerpy("py_detached") else {
        return;
    };
    let out = py(
        &d,
        r#"
import time
ct = c.containers.run("busybox", ["sh", "-c", "echo started; while true; do sleep 1; done"],
                      detach=True, name="pyw", labels={"k": "v"})
ct.reload()
print(ct.status)
deadline = time.time() + 30
while b"started" not in ct.logs() and time.time() < deadline:
    time.sleep(0.1)
print(repr(ct.logs()))
r = ct.exec_run(["sh", "-c", "echo out; exit 5"])
print(r.exit_code, repr(r.output))
r = ct.exec_run("cat /etc/hostname")
print(r.exit_code, r.output.decode().strip() == ct.id[:12])
print([x.name for x in c.containers.list(filters={"label": "k=v"})])
ct.stop(timeout=1)
ct.reload()
print(ct.status, ct.attrs["State"]["ExitCode"])
ct.remove()
print(len(c.containers.list(all=True)))
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "running",
            "b'started\\n'",
            "5 b'out\\n'",
            "0 True",
            "['pyw']",
            "exited 137",
            "0",
        ]
    );
}

#[test]
fn images_and_volumes() {
    let Some(d) = daemon_with_dockerpy("py_images") else {
        return;
    };
    let out = py(
        &d,
        r#"
tags = sorted(t for i in c.images.list() for t in i.tags)
print(tags)
img = c.images.get("busybox")
print(img.id.startswith("sha256:"), img.tags)
img.tag("pybox", "v1")
print(sorted(c.images.get("pybox:v1").tags))
c.images.remove("pybox:v1")
print(sorted(t for i in c.images.list() for t in i.tags))
v = c.volumes.create(name="pyvol", labels={"a": "b"})
print(v.name, v.attrs["Driver"], v.attrs["Labels"])
print([x.name for x in c.volumes.list()])
out = c.containers.run("busybox", ["sh", "-c", "echo kept > /v/f"], volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, remove=True)
out = c.containers.run("busybox", ["cat", "/v/f"], volumes=["pyvol:/v"], remove=True)
print(repr(out))
v.remove()
print([x.name for x in c.volumes.list()])
try:
    c.volumes.get("pyvol")
except docker.errors.NotFound as e:
    print("NotFound", e.status_code)
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "['busybox:latest']",
            "True ['busybox:latest']",
            "['busybox:latest', 'pybox:v1']",
            "['busybox:latest']",
            "pyvol local {'a': 'b'}",
            "['pyvol']",
            "b'kept\\n'",
            "[]",
            "NotFound 404",
        ]
    );
}
