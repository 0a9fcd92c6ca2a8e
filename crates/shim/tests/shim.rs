//! The shim for real: busybox containers created, fed, watched and reaped by `wharf shim`.
//!
//! Needs root, Debian's busybox-static and a built `wharf`: the binary named by `WHARF_BIN`,
//! or `<target>/debug/wharf` beside this test's own executable (`cargo build -p wharf` with
//! the same `CARGO_TARGET_DIR` first). Every test uses its own ids, state directories and
//! runtime root, and a guard that removes its container and kills its shim even when it
//! fails.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use shim::client::{self, ShimClient, SpawnOptions};
use shim::proto::{STREAM_EXIT, STREAM_STDERR, STREAM_STDOUT};
use tokio::io::AsyncWriteExt;

const LIMIT: Duration = Duration::from_secs(30);

fn wharf() -> PathBuf {
    if let Some(p) = std::env::var_os("WHARF_BIN") {
        return PathBuf::from(p);
    }
    // <target>/debug/deps/shim-<hash> → <target>/debug/wharf
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in <target>/<profile>/deps")
        .join("wharf");
    assert!(
        bin.exists(),
        "{} not found: build it (cargo build -p wharf) or set WHARF_BIN",
        bin.display()
    );
    bin
}

/// A busybox rootfs and the spec `wharf oci spec` writes, made once per test process.
struct Image {
    _dir: tempfile::TempDir,
    rootfs: PathBuf,
    spec: serde_json::Value,
}

fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = dir.path().join("bundle");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-rootfs.sh");
        let out = std::process::Command::new("sh")
            .arg(&script)
            .arg("-b")
            .arg(&bundle)
            .env("WHARF", wharf())
            .output()
            .expect("run busybox-rootfs.sh");
        assert!(
            out.status.success(),
            "busybox-rootfs.sh failed (is busybox-static installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let spec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(bundle.join("config.json")).expect("read config.json"),
        )
        .expect("config.json is JSON");
        Image {
            rootfs: bundle.join("rootfs"),
            spec,
            _dir: dir,
        }
    })
}

/// One container under test; dropping it removes whatever is left of it.
struct Case {
    dir: tempfile::TempDir,
    id: String,
    shim_pid: Option<i32>,
    init_pid: Option<i32>,
}

impl Case {
    fn new(name: &str, args: &[&str], terminal: bool) -> Case {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "shimtest-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let img = image();
        let mut spec = img.spec.clone();
        spec["root"]["path"] = serde_json::json!(img.rootfs);
        spec["process"]["args"] = serde_json::json!(args);
        spec["process"]["terminal"] = serde_json::json!(terminal);
        std::fs::create_dir(dir.path().join("bundle")).expect("mkdir bundle");
        std::fs::write(
            dir.path().join("bundle/config.json"),
            serde_json::to_vec_pretty(&spec).expect("encode spec"),
        )
        .expect("write config.json");
        Case {
            dir,
            id,
            shim_pid: None,
            init_pid: None,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("runtime")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("container.log")
    }

    fn options(&self) -> SpawnOptions {
        let mut o = SpawnOptions::new(
            &self.id,
            self.dir.path().join("bundle"),
            self.state_dir(),
            self.runtime_root(),
            self.log(),
        );
        o.exe = wharf();
        o
    }

    async fn spawn_with(&mut self, opts: SpawnOptions) -> ShimClient {
        let spawned = tokio::time::timeout(LIMIT, client::spawn(&opts))
            .await
            .expect("spawn in time")
            .expect("shim creates the container");
        self.shim_pid = Some(spawned.shim_pid);
        self.init_pid = Some(spawned.pid);
        ShimClient::new(self.state_dir())
    }

    async fn spawn(&mut self) -> ShimClient {
        let opts = self.options();
        self.spawn_with(opts).await
    }

    /// The json-file records: (log, stream).
    fn log_records(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON log line");
                assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
                (
                    v["log"].as_str().expect("log").to_string(),
                    v["stream"].as_str().expect("stream").to_string(),
                )
            })
            .collect()
    }

    /// Waits until the shim process is gone, then checks nothing of the container is left.
    async fn assert_cleaned_up(&self) {
        let shim_pid = self.shim_pid.expect("spawned");
        for _ in 0..200 {
            if !client::is_alive(&self.state_dir()) && !alive(shim_pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(!client::is_alive(&self.state_dir()), "the shim has exited");
        assert!(!alive(shim_pid), "the shim process is gone");
        if let Some(pid) = self.init_pid {
            assert!(!alive(pid), "the container's init is gone");
        }
        let state = self.state_dir();
        assert!(!state.join("shim.sock").exists(), "shim.sock removed");
        assert!(!state.join("shim.pid").exists(), "shim.pid removed");
        assert!(state.join("exit.json").exists(), "exit.json written");
        assert!(
            !self.runtime_root().join(&self.id).exists(),
            "no runtime state left"
        );
        let left = cgroups_of(&self.id);
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if let Ok(rt) = runtime::Runtime::new(self.runtime_root()) {
            if let Ok(id) = runtime::ContainerId::new(&self.id) {
                if let Ok(c) = rt.load(&id) {
                    let _ = c.delete(true);
                }
            }
        }
        if let Some(pid) = self.shim_pid {
            if client::is_alive(&self.state_dir()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// The cgroup directories of container `id` that exist (default path `/wharf/<id>`).
fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.flatten().map(|e| e.path()));
    }
    for root in roots {
        let p = root.join("wharf").join(id);
        if p.exists() {
            found.push(p);
        }
    }
    found
}

/// Reads frames until the shim closes the stream: (stdout, stderr, exit frame payloads).
async fn collect(stream: &mut tokio::net::UnixStream) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut exits = Vec::new();
    let read = async {
        while let Some((s, payload)) = client::read_frame(stream).await.expect("a frame") {
            match s {
                STREAM_STDOUT => out.extend_from_slice(&payload),
                STREAM_STDERR => err.extend_from_slice(&payload),
                STREAM_EXIT => exits.push(payload),
                other => panic!("unexpected stream {other}"),
            }
        }
    };
    tokio::time::timeout(LIMIT, read)
        .await
        .expect("the stream ends in time");
    (out, err, exits)
}

async fn timed<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_reaches_the_log_and_every_attached_client_and_exit_is_recorded() {
    let mut case = Case::new(
        "echo",
        &["sh", "-c", "echo hi; echo oops >&2; printf partial; exit 3"],
        false,
    );
    let shim = case.spawn().await;
    assert_eq!(timed(shim.state()).await.expect("state").status, "created");
    let mut a = timed(shim.attach(false, true, true)).await.expect("attach");
    let mut b = timed(shim.attach(false, true, false))
        .await
        .expect("attach");
    assert!(!a.tty);
    timed(shim.start()).await.expect("start");
    let err = timed(shim.start()).await.expect_err("only one start");
    // The container may already have exited and its shim with it: that refuses too.
    assert!(
        err.is_gone() || err.kind() == Some(shim::proto::ErrorKind::FailedPrecondition),
        "{err}"
    );
    let (out, errout, _) = collect(&mut a.stream).await;
    assert_eq!(out, b"hi\npartial");
    assert_eq!(errout, b"oops\n");
    let (out, errout, _) = collect(&mut b.stream).await;
    assert_eq!(out, b"hi\npartial");
    assert!(errout.is_empty(), "b did not ask for stderr");

    let exit = timed(shim.wait()).await.expect("wait");
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    assert!(chrono::DateTime::parse_from_rfc3339(&exit.finished_at).is_ok());
    let recorded = client::read_exit(&case.state_dir()).expect("exit.json");
    assert_eq!(recorded, exit);

    let mut records = case.log_records();
    records.sort();
    assert_eq!(
        records,
        vec![
            ("hi\n".to_string(), "stdout".to_string()),
            ("oops\n".to_string(), "stderr".to_string()),
            ("partial".to_string(), "stdout".to_string()),
        ]
    );
    case.assert_cleaned_up().await;

    // After the end: a wait is answered from exit.json, an attach finds nobody.
    assert_eq!(timed(shim.wait()).await.expect("wait again").exit_code, 3);
    let state = timed(shim.state()).await.expect("state after exit");
    assert_eq!(state.status, "stopped");
    assert!(
        timed(shim.attach(false, true, true))
            .await
            .expect_err("gone")
            .is_gone()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_sends_the_signal_and_wait_reports_it() {
    let mut case = Case::new(
        "kill",
        &[
            "sh",
            "-c",
            "trap 'echo term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        ],
        false,
    );
    let shim = case.spawn().await;
    let waiter = {
        let shim = shim.clone();
        tokio::spawn(async move { shim.wait().await })
    };
    timed(shim.start()).await.expect("start");
    // Let the trap be installed.
    for _ in 0..200 {
        if case.log_records().iter().any(|(l, _)| l == "ready\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = timed(shim.state()).await.expect("state");
    assert_eq!(state.status, "running");
    assert_eq!(Some(state.pid), case.init_pid);
    timed(shim.kill(libc::SIGTERM, false)).await.expect("kill");
    let exit = timed(waiter)
        .await
        .expect("waiter task")
        .expect("wait reply");
    assert_eq!(exit.exit_code, 7);
    assert!(case.log_records().iter().any(|(l, _)| l == "term\n"));
    case.assert_cleaned_up().await;
    let err = timed(shim.kill(libc::SIGKILL, false))
        .await
        .expect_err("nothing to kill");
    assert!(err.is_gone(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_gives_137_and_a_bad_signal_is_refused() {
    let mut case = Case::new("kill9", &["sleep", "1000"], false);
    let shim = case.spawn().await;
    timed(shim.start()).await.expect("start");
    let err = timed(shim.kill(999, false))
        .await
        .expect_err("no signal 999");
    assert_eq!(err.kind(), Some(shim::proto::ErrorKind::InvalidArgument));
    timed(shim.kill(libc::SIGKILL, true)).await.expect("kill");
    let exit = timed(shim.wait()).await.expect("wait");
    assert_eq!(exit.exit_code, 137);
    assert!(!exit.oom_killed, "no OOM was recorded");
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_goes_through_attach_and_stdin_once_closes_it() {
    let mut case = Case::new("stdin", &["sh", "-c", "cat; echo done"], false);
    let mut opts = case.options();
    opts.stdin = true;
    opts.stdin_once = true;
    let shim = case.spawn_with(opts).await;
    let mut a = timed(shim.attach(true, true, true)).await.expect("attach");
    timed(shim.start()).await.expect("start");
    timed(a.stream.write_all(b"hello\nworld\n"))
        .await
        .expect("write stdin");
    timed(a.stream.shutdown()).await.expect("end of input");
    let (out, _, _) = collect(&mut a.stream).await;
    assert_eq!(out, b"hello\nworld\ndone\n");
    assert_eq!(timed(shim.wait()).await.expect("wait").exit_code, 0);
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_processes_with_output_input_and_exit_codes() {
    let mut case = Case::new("exec", &["sleep", "1000"], false);
    let shim = case.spawn().await;
    timed(shim.start()).await.expect("start");
    let mut process = runtime::oci::Process::default();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo out; echo err >&2; exit 4".into(),
    ]));
    process.set_env(Some(vec!["PATH=/bin:/usr/bin".into()]));
    process.set_cwd("/".into());
    process.set_terminal(Some(false));
    let mut e = timed(shim.exec("one", &process, false))
        .await
        .expect("exec");
    assert!(e.pid > 0);
    let (out, err, exits) = collect(&mut e.stream).await;
    assert_eq!(out, b"out\n");
    assert_eq!(err, b"err\n");
    assert_eq!(exits.len(), 1);
    assert_eq!(client::exec_exit_code(&exits[0]).expect("exit frame"), 4);

    // Input through the exec's stream.
    process.set_args(Some(vec!["cat".into()]));
    let mut e = timed(shim.exec("two", &process, true)).await.expect("exec");
    timed(e.stream.write_all(b"piped\n")).await.expect("write");
    timed(e.stream.shutdown()).await.expect("shutdown");
    let (out, _, exits) = collect(&mut e.stream).await;
    assert_eq!(out, b"piped\n");
    assert_eq!(client::exec_exit_code(&exits[0]).expect("exit frame"), 0);

    // A terminal for the exec, sized by resize.
    process.set_terminal(Some(true));
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "read x; stty size; echo $x".into(),
    ]));
    let mut e = timed(shim.exec("three", &process, true))
        .await
        .expect("exec tty");
    timed(shim.resize(30, 100, Some("three")))
        .await
        .expect("resize");
    timed(e.stream.write_all(b"typed\n")).await.expect("write");
    let (out, err, exits) = collect(&mut e.stream).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("30 100\r\n"), "{out:?}");
    assert!(out.contains("typed\r\n"), "{out:?}");
    assert!(err.is_empty(), "a terminal has one stream");
    assert_eq!(client::exec_exit_code(&exits[0]).expect("exit frame"), 0);

    // A missing executable is the runtime's error.
    process.set_terminal(Some(false));
    process.set_args(Some(vec!["/no/such/program".into()]));
    let err = timed(shim.exec("four", &process, false))
        .await
        .expect_err("no such program");
    assert!(
        err.to_string().contains("/no/such/program") || err.to_string().contains("not found"),
        "{err}"
    );
    let err = timed(shim.resize(1, 1, Some("nope")))
        .await
        .expect_err("no such exec");
    assert_eq!(err.kind(), Some(shim::proto::ErrorKind::NotFound));

    // The exec's output is not the container's log.
    assert!(case.log_records().is_empty());
    timed(shim.kill(libc::SIGKILL, false)).await.expect("kill");
    assert_eq!(timed(shim.wait()).await.expect("wait").exit_code, 137);
    let err = timed(shim.exec("five", &process, false))
        .await
        .expect_err("stopped");
    assert!(err.is_gone() || err.kind() == Some(shim::proto::ErrorKind::FailedPrecondition));
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_still_running_ends_with_the_container() {
    let mut case = Case::new("execend", &["sleep", "1000"], false);
    let shim = case.spawn().await;
    timed(shim.start()).await.expect("start");
    let mut process = runtime::oci::Process::default();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "echo up; sleep 1000".into(),
    ]));
    process.set_env(Some(vec!["PATH=/bin:/usr/bin".into()]));
    process.set_cwd("/".into());
    let mut e = timed(shim.exec("long", &process, false))
        .await
        .expect("exec");
    let first = timed(client::read_frame(&mut e.stream))
        .await
        .expect("frame")
        .expect("some");
    assert_eq!(first, (STREAM_STDOUT, b"up\n".to_vec()));
    timed(shim.kill(libc::SIGKILL, false)).await.expect("kill");
    let (_, _, exits) = collect(&mut e.stream).await;
    assert_eq!(client::exec_exit_code(&exits[0]).expect("exit frame"), 137);
    assert_eq!(timed(shim.wait()).await.expect("wait").exit_code, 137);
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_container_is_attached_through_its_pty() {
    let mut case = Case::new(
        "tty",
        &["sh", "-c", "tty; stty size; read x; echo got $x"],
        true,
    );
    let mut opts = case.options();
    opts.stdin = true;
    let shim = case.spawn_with(opts).await;
    let mut a = timed(shim.attach(true, true, true)).await.expect("attach");
    assert!(a.tty);
    timed(shim.resize(40, 120, None)).await.expect("resize");
    timed(shim.start()).await.expect("start");
    timed(a.stream.write_all(b"line\n")).await.expect("write");
    let (out, err, _) = collect(&mut a.stream).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("40 120\r\n"), "{out:?}");
    assert!(out.contains("got line\r\n"), "{out:?}");
    assert!(err.is_empty());
    assert_eq!(timed(shim.wait()).await.expect("wait").exit_code, 0);
    let records = case.log_records();
    assert!(records.iter().all(|(_, s)| s == "stdout"));
    assert!(
        records.iter().any(|(l, _)| l == "got line\r\n"),
        "{records:?}"
    );
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_outlives_the_process_that_started_it() {
    let mut case = Case::new(
        "orphan",
        &["sh", "-c", "sleep 0.5; echo late; exit 9"],
        false,
    );
    let state = case.state_dir();
    // A shell starts the shim in the background and exits at once: the shim is orphaned.
    let status_file = case.dir.path().join("status");
    let opts = case.options();
    let script = format!(
        "\"$0\" shim --id {} --bundle {} --state-dir {} --runtime-root {} --log {} > {} &",
        opts.id,
        opts.bundle.display(),
        opts.state_dir.display(),
        opts.runtime_root.display(),
        opts.log_path.display(),
        status_file.display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(wharf())
        .status()
        .expect("run sh");
    assert!(out.success());
    let mut line = String::new();
    for _ in 0..400 {
        line = std::fs::read_to_string(&status_file).unwrap_or_default();
        if line.ends_with('\n') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let reply: serde_json::Value = serde_json::from_str(&line).expect("status line");
    assert_eq!(reply["ok"], true, "{line}");
    let shim_pid = reply["shim_pid"].as_i64().expect("shim_pid") as i32;
    case.shim_pid = Some(shim_pid);
    case.init_pid = reply["pid"].as_i64().map(|p| p as i32);
    assert!(client::is_alive(&state), "the orphaned shim runs on");
    // Its own session and process group.
    let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .expect("stat format")
        .1
        .split(' ')
        .collect();
    assert_eq!(fields[2], shim_pid.to_string(), "process group leader");
    assert_eq!(fields[3], shim_pid.to_string(), "session leader");

    let shim = ShimClient::new(&state);
    timed(shim.start()).await.expect("start");
    assert_eq!(timed(shim.wait()).await.expect("wait").exit_code, 9);
    assert_eq!(
        case.log_records(),
        vec![("late\n".to_string(), "stdout".to_string())]
    );
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_is_reported_and_leaves_nothing() {
    let mut case = Case::new("bad", &["true"], false);
    let mut spec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(case.dir.path().join("bundle/config.json")).expect("read"),
    )
    .expect("json");
    spec["root"]["path"] = serde_json::json!("/no/such/rootfs");
    std::fs::write(
        case.dir.path().join("bundle/config.json"),
        serde_json::to_vec(&spec).expect("encode"),
    )
    .expect("write");
    let err = timed(client::spawn(&case.options()))
        .await
        .expect_err("no rootfs");
    assert!(err.to_string().contains("/no/such/rootfs"), "{err}");
    assert!(!case.state_dir().join("shim.sock").exists());
    assert!(!case.runtime_root().join(&case.id).exists());
    assert!(cgroups_of(&case.id).is_empty());
    case.shim_pid = None;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_stays_small() {
    let mut case = Case::new(
        "rss",
        &["sh", "-c", "while true; do echo tick; sleep 0.1; done"],
        false,
    );
    let shim = case.spawn().await;
    let mut a = timed(shim.attach(false, true, true)).await.expect("attach");
    timed(shim.start()).await.expect("start");
    for _ in 0..5 {
        let frame = timed(client::read_frame(&mut a.stream))
            .await
            .expect("frame")
            .expect("output");
        assert_eq!(frame, (STREAM_STDOUT, b"tick\n".to_vec()));
    }
    let pid = case.shim_pid.expect("spawned");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("a VmRSS-style line")
    };
    let (rss, anon) = (kib("VmRSS:"), kib("RssAnon:"));
    eprintln!("shim RSS with a running, attached container: {rss} KiB ({anon} KiB anonymous)");
    assert!(status.contains("Threads:\t1\n"), "single-threaded");
    // containerd-shim: 13 MB. A debug build maps more code than a release one.
    assert!(rss < 10 * 1024, "shim RSS {rss} KiB");
    assert!(anon < 4 * 1024, "shim anonymous memory {anon} KiB");
    timed(shim.kill(libc::SIGKILL, false)).await.expect("kill");
    assert_eq!(timed(shim.wait()).await.expect("wait").exit_code, 137);
    case.assert_cleaned_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_never_holds_up_the_container() {
    let mut case = Case::new(
        "slow",
        &[
            "sh",
            "-c",
            "yes $(printf '%0100d' 0) | head -n 40000; echo end",
        ],
        false,
    );
    let shim = case.spawn().await;
    // Attached, but never read: about 4 MB go past it.
    let idle = timed(shim.attach(false, true, true)).await.expect("attach");
    timed(shim.start()).await.expect("start");
    let exit = timed(shim.wait())
        .await
        .expect("wait despite the idle client");
    assert_eq!(exit.exit_code, 0);
    let records = case.log_records();
    assert_eq!(records.len(), 40001, "every line is in the log");
    assert_eq!(records.last().map(|r| r.0.as_str()), Some("end\n"));
    drop(idle);
    case.assert_cleaned_up().await;
}
