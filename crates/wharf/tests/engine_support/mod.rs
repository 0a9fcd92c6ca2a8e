//! Support for tests that drive `wharf daemon` with real clients (the docker CLI 28, the Python
//! `docker` package). They need root.
//!
//! Each [`Daemon`] has its own data root, exec root and socket under a short temporary base
//! (`/tmp/we-<pid>-<n>`: unix socket paths are limited to 108 bytes), its own empty
//! `DOCKER_CONFIG`, and the busybox test image imported once through `docker import`. Dropping
//! it — also when the test failed — removes every container through the API, stops the daemon
//! by PID, kills (by PID) the supervisors whose state lies under this daemon's exec root and
//! whatever is left in its containers' cgroups, removes those cgroups, lazily unmounts
//! everything under its base and deletes the base.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The wharf binary under test.
pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");
/// The real docker CLI 28.
pub const DOCKER: &str = "/usr/local/bin/docker";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long one client command may take before the harness kills it and reports a hang.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(90);

/// Returns `Some(reason)` when the docker CLI is missing, so a test can skip with a message.
pub fn docker_missing() -> Option<String> {
    if Path::new(DOCKER).exists() {
        None
    } else {
        Some(format!("{DOCKER} (docker CLI 28) is not installed"))
    }
}

/// Skips the test (returns from it) with a message when the docker CLI is missing; otherwise
/// starts a daemon for it.
#[macro_export]
macro_rules! daemon_or_skip {
    ($tag:expr) => {
        match engine_support::Daemon::start($tag) {
            Some(d) => d,
            None => return,
        }
    };
}

/// Runs `cmd` with piped stdout and stderr; kills it after `limit` (the returned status is
/// then the kill's). `stdin` is written to the child and closed, or the child gets /dev/null.
pub fn output_within(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                eprintln!("killing {cmd:?}: still running after {limit:?}");
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
        }
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Polls `cond` every 50 ms until it holds; fails with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stdout of `out` as a string.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of `out` as a string.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `out` succeeded, naming `what` and showing both streams otherwise; returns stdout.
#[track_caller]
pub fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Whether process `pid` exists (and is not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state is the field after the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The argv of process `pid`.
pub fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Every `wharf shim` process whose `--state-dir` lies under `exec_root`: (pid, container id).
pub fn shims_under(exec_root: &Path) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let argv = cmdline(pid);
        if argv.get(1).map(String::as_str) != Some("shim") {
            continue;
        }
        let value = |flag: &str| {
            argv.iter()
                .position(|a| a == flag)
                .and_then(|i| argv.get(i + 1))
                .cloned()
        };
        let under = value("--state-dir")
            .map(|s| Path::new(&s).starts_with(exec_root))
            .unwrap_or(false);
        if under {
            found.push((pid, value("--id").unwrap_or_default()));
        }
    }
    found
}

/// The cgroup directories (v1 controllers, the unified mount) where container `id` may appear.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            dirs.push(e.path().join("wharf").join(id));
        }
    }
    dirs.push(PathBuf::from("/sys/fs/cgroup/wharf").join(id));
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// Mount points under `base` (from /proc/self/mountinfo), deepest first.
pub fn mounts_under(base: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(base))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

fn unescape_mountinfo(s: &str) -> String {
    // Spaces, tabs, newlines and backslashes appear as `\ooo` octal escapes.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `wharf daemon` of one test, with the busybox image imported.
#[derive(Debug)]
pub struct Daemon {
    /// The test's tag (used in messages).
    pub tag: String,
    /// Short base directory holding everything of this daemon.
    pub base: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub sock: PathBuf,
    pub pidfile: PathBuf,
    /// An empty DOCKER_CONFIG of this daemon's clients.
    pub docker_config: PathBuf,
    /// Scratch space for the test (archives, files to copy).
    pub work: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// The default bridge device of this daemon (unique per test daemon).
    pub bridge: String,
    /// This daemon's nftables table (`ip <name>`).
    pub nft_table: String,
    /// The resolv.conf the daemon forwards names to (loopback only).
    pub resolv_conf: PathBuf,
}

impl Daemon {
    /// Starts a daemon for test `tag` and imports busybox into it; `None` (after a message)
    /// when the docker CLI is missing.
    pub fn start(tag: &str) -> Option<Daemon> {
        if let Some(why) = docker_missing() {
            eprintln!("SKIP {tag}: {why}");
            return None;
        }
        let d = Daemon::start_bare(tag);
        d.import_busybox("busybox");
        Some(d)
    }

    /// Starts a daemon with no image.
    pub fn start_bare(tag: &str) -> Daemon {
        assert!(
            nix::unistd::geteuid().is_root(),
            "these tests run a container engine and need root"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = PathBuf::from(format!("/tmp/we-{}-{n}", std::process::id()));
        // A base left by an earlier run with the same pid: clear it the same way.
        if base.exists() {
            for m in mounts_under(&base) {
                let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
            }
            let _ = fs::remove_dir_all(&base);
        }
        let work = base.join("work");
        let docker_config = base.join("docker-config");
        fs::create_dir_all(&work).expect("create work dir");
        fs::create_dir_all(&docker_config).expect("create docker config dir");
        let pid = std::process::id();
        let resolv_conf = base.join("resolv.conf");
        // Forwarded names go to loopback, where nothing answers: tests never reach the
        // host's resolvers.
        fs::write(&resolv_conf, "nameserver 127.0.0.1\n").expect("write resolv.conf");
        let mut d = Daemon {
            bridge: format!("wt{pid}x{n}"),
            nft_table: format!("wt{pid}_{n}"),
            resolv_conf,
            tag: tag.to_string(),
            data_root: base.join("data"),
            exec_root: base.join("exec"),
            sock: base.join("docker.sock"),
            pidfile: base.join("wharf.pid"),
            log: base.join("daemon.log"),
            docker_config,
            work,
            base,
            child: None,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open daemon log");
        let child = Command::new(WHARF)
            .arg("daemon")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(self.host())
            .arg("--pidfile")
            .arg(&self.pidfile)
            .args(["--log-level", "debug"])
            .args(["--bridge", &self.bridge, "--nft-table", &self.nft_table])
            .arg("--resolv-conf")
            .arg(&self.resolv_conf)
            // Test networks come from a range of their own, away from real networks.
            .args(["--default-address-pool", "base=10.123.0.0/16,size=24"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn wharf daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ping() {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "daemon exited ({status}) before answering /_ping\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "daemon never answered /_ping on {}\n{}",
                self.sock.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `unix://<socket>`, the DOCKER_HOST of this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// The daemon's PID while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(60);
        format!(
            "--- daemon log (last lines) ---\n{}",
            lines[from..].join("\n")
        )
    }

    /// `GET /_ping` answered `OK`.
    pub fn ping(&self) -> bool {
        let (status, body) = match self.request("GET", "/_ping", None) {
            Ok(r) => r,
            Err(_) => return false,
        };
        status == 200 && body == b"OK"
    }

    /// One HTTP/1.0 request on the daemon's socket: (status code, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = std::os::unix::net::UnixStream::connect(&self.sock)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut req = format!("{method} {path} HTTP/1.0\r\nHost: docker\r\n");
        if let Some(body) = json {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        s.write_all(req.as_bytes())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("no end of headers"))?;
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
        let mut body = resp[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        Ok((status, body))
    }

    /// A `docker` command aimed at this daemon (DOCKER_HOST, empty DOCKER_CONFIG).
    pub fn docker_cmd(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_API_VERSION")
            .current_dir(&self.work);
        c
    }

    /// `docker ARGS`, stdin from /dev/null.
    pub fn docker(&self, args: &[&str]) -> Output {
        output_within(self.docker_cmd().args(args), None, COMMAND_LIMIT)
    }

    /// `docker ARGS` with `input` on stdin.
    pub fn docker_in(&self, args: &[&str], input: &[u8]) -> Output {
        output_within(self.docker_cmd().args(args), Some(input), COMMAND_LIMIT)
    }

    /// `docker ARGS`, asserting success; returns stdout.
    #[track_caller]
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        if !out.status.success() {
            panic!(
                "docker {} failed ({:?})\nstdout: {}\nstderr: {}\n{}",
                args.join(" "),
                out.status,
                stdout(&out),
                stderr(&out),
                self.log()
            );
        }
        stdout(&out)
    }

    /// `docker inspect NAME` (a container or image), the first object.
    #[track_caller]
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.docker_ok(&["inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
        v.get(0).cloned().expect("inspect prints one object")
    }

    /// Polls `docker inspect` until `cond` holds on it (60 s at most); returns the last one.
    #[track_caller]
    pub fn wait_inspect(
        &self,
        name: &str,
        what: &str,
        mut cond: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.inspect(name);
            if cond(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never reached: {what}; last State: {}\n{}",
                v["State"],
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A python3 script run with DOCKER_HOST pointing here.
    pub fn python(&self, script: &str) -> Output {
        output_within(
            Command::new("python3")
                .arg("-c")
                .arg(script)
                .env("DOCKER_HOST", self.host())
                .env("DOCKER_CONFIG", &self.docker_config)
                .current_dir(&self.work),
            None,
            COMMAND_LIMIT,
        )
    }

    /// Builds the busybox rootfs tar (scripts/busybox-rootfs.sh) in the work dir; returns it.
    pub fn busybox_tar(&self) -> PathBuf {
        let tar = self.work.join("busybox.tar");
        if tar.exists() {
            return tar;
        }
        let root = self.work.join("busybox-rootfs");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/busybox-rootfs.sh"
        );
        let out = output_within(
            Command::new("sh").arg(script).arg(&root),
            None,
            COMMAND_LIMIT,
        );
        ok("busybox-rootfs.sh", &out);
        let out = output_within(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            None,
            COMMAND_LIMIT,
        );
        ok("tar of the busybox rootfs", &out);
        let _ = fs::remove_dir_all(&root);
        tar
    }

    /// `docker import -c 'CMD ["/bin/sh"]' busybox.tar NAME`.
    pub fn import_busybox(&self, name: &str) {
        let tar = self.busybox_tar();
        let tar = tar.to_str().expect("utf-8 path");
        self.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", tar, name]);
    }

    /// SIGKILLs the daemon (its containers' supervisors stay).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again on the same roots and socket (after [`Daemon::kill9`] or
    /// [`Daemon::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a daemon still running");
        self.spawn();
    }

    /// Stops the daemon by PID: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match c.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    return;
                }
            }
        }
    }

    /// The bridge devices of this daemon's networks (default bridge first).
    pub fn bridges(&self) -> Vec<String> {
        let mut out = vec![self.bridge.clone()];
        let stored = fs::read(self.data_root.join("network/networks.json")).unwrap_or_default();
        if let Ok(serde_json::Value::Array(nets)) = serde_json::from_slice(&stored) {
            for n in nets {
                if let Some(b) = n["bridge"].as_str()
                    && !out.iter().any(|o| o == b)
                {
                    out.push(b.to_string());
                }
            }
        }
        out
    }

    /// The host-side veth names of a running container's endpoints (from its record).
    pub fn host_veths(&self, container: &str) -> Vec<String> {
        let id = self.inspect(container)["Id"]
            .as_str()
            .expect("container id")
            .to_string();
        let rec = fs::read(
            self.data_root
                .join("containers")
                .join(&id)
                .join("config.v2.json"),
        )
        .expect("container record");
        let rec: serde_json::Value = serde_json::from_slice(&rec).expect("record is JSON");
        rec["network"]["endpoints"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["host_veth"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ids of every container this daemon has state for (data root, exec root, supervisors).
    fn container_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for dir in [
            self.data_root.join("containers"),
            self.exec_root.join("containers"),
        ] {
            if let Ok(entries) = fs::read_dir(dir) {
                for e in entries.flatten() {
                    ids.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        for (_, id) in shims_under(&self.exec_root) {
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        ids.retain(|id| !id.is_empty() && !id.contains('/') && !id.starts_with('.'));
        ids
    }
}

/// Whether a network device of this name exists in the host namespace.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether `nft` lists table `ip NAME`.
pub fn nft_table_exists(name: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { break };
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        // Every container, through the API, while the daemon is still there.
        if self.child.is_some() && self.ping() {
            let ids = output_within(
                self.docker_cmd().args(["ps", "-aq", "--no-trunc"]),
                None,
                Duration::from_secs(30),
            );
            let ids: Vec<String> = stdout(&ids).split_whitespace().map(String::from).collect();
            if !ids.is_empty() {
                let mut args = vec!["rm".to_string(), "-f".into(), "-v".into()];
                args.extend(ids);
                let _ = output_within(self.docker_cmd().args(&args), None, Duration::from_secs(60));
            }
        }
        let ids = self.container_ids();
        self.stop();
        // Supervisors of this daemon's containers (and only those), by PID.
        for (pid, _) in shims_under(&self.exec_root) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Whatever is left in the containers' cgroups, then the cgroups themselves.
        for id in &ids {
            for dir in cgroup_dirs(id) {
                let _ = fs::write(dir.join("freezer.state"), "THAWED");
                if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                    for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
            for dir in cgroup_dirs(id) {
                for _ in 0..100 {
                    if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        for m in mounts_under(&self.base) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        // The daemon removes its bridges and table when it stops with nothing running; after a
        // failure (or a kill) they may remain: remove this daemon's own, by name.
        for dev in self.bridges() {
            if link_exists(&dev) {
                let _ = Command::new("ip").args(["link", "del", &dev]).output();
            }
        }
        if nft_table_exists(&self.nft_table) {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &self.nft_table])
                .output();
        }
        if let Err(e) = fs::remove_dir_all(&self.base) {
            eprintln!("could not remove {}: {e}", self.base.display());
        }
    }
}
