//! Support for tests that drive `wharf server` with real clients (kubectl 1.32 and the
//! dispatcher in front of it, the Python `kubernetes` package).
//!
//! Each [`ApiServer`] has its own data directory and kubeconfig under a temporary base, its own
//! HOME (so kubectl's discovery cache starts empty), listens on a free loopback port and is
//! killed by PID when dropped — also when the test failed. [`Etcd`] is a throwaway etcd on
//! loopback ports with its own data directory, killed by PID on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The wharf binary under test.
pub const WHARF: &str = env!("CARGO_BIN_EXE_wharf");
/// kubectl as installed: the dispatcher that runs the kubectl matching the server's minor.
pub const KUBECTL: &str = "/usr/bin/kubectl";
/// The real kubectl 1.32, without the dispatcher.
pub const KUBECTL_132: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique base directory for one test's state.
pub fn temp_base(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let base = std::env::temp_dir().join(format!("ws-{}-{n}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("creating the test base");
    base
}

/// Runs `cmd` with piped output, feeding `stdin`; kills it after `limit`.
pub fn output_within(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("spawning a client");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("waiting after kill");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t1.join().unwrap_or_default(),
        stderr: t2.join().unwrap_or_default(),
    }
}

/// The lines a child writes to `out`, read on a thread of their own (for a `kubectl get -w`
/// that runs while the test acts).
pub fn lines_of(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A free loopback TCP port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How a server is started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Plain HTTP instead of HTTPS.
    pub http: bool,
    /// etcd endpoints (empty: SQLite).
    pub etcd: Option<String>,
    /// Reuse this data directory (a restart).
    pub data_dir: Option<PathBuf>,
    /// A fixed port (a restart keeps the kubeconfig valid).
    pub port: Option<u16>,
    /// Extra flags.
    pub extra: Vec<String>,
}

/// A running `wharf server`.
#[derive(Debug)]
pub struct ApiServer {
    /// The test's base directory.
    pub base: PathBuf,
    /// The server's data directory.
    pub data_dir: PathBuf,
    /// The kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// The HOME clients run with.
    pub home: PathBuf,
    /// Its port.
    pub port: u16,
    /// Its options.
    pub opts: Options,
    child: Option<Child>,
    log: PathBuf,
}

impl ApiServer {
    /// Starts a server and waits until it serves.
    pub fn start(tag: &str, opts: Options) -> ApiServer {
        let base = temp_base(tag);
        let data_dir = opts.data_dir.clone().unwrap_or_else(|| base.join("data"));
        let home = base.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let mut s = ApiServer {
            kubeconfig: base.join("kubeconfig"),
            data_dir,
            home,
            port: 0,
            opts,
            child: None,
            log: base.join("server.log"),
            base,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let port = self.opts.port.unwrap_or_else(free_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let mut cmd = Command::new(WHARF);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--write-kubeconfig")
            .arg(&self.kubeconfig)
            .args(&self.opts.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.opts.http {
            cmd.arg("--insecure-http");
        }
        if let Some(e) = &self.opts.etcd {
            cmd.arg("--etcd-servers").arg(e);
        }
        // Each server its own key prefix on a shared etcd, unless the test chose one.
        if self.opts.etcd.is_some() && !self.opts.extra.iter().any(|a| a == "--etcd-prefix") {
            cmd.arg("--etcd-prefix").arg(format!(
                "/{}",
                self.base
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("t")
            ));
        }
        let mut child = cmd.spawn().expect("starting wharf server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            let mut told = false;
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let _ = log.write_all(line.as_bytes());
                if !told && line.contains("serving the Kubernetes API") {
                    let _ = tx.send(());
                    told = true;
                }
                line.clear();
            }
        });
        self.child = Some(child);
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("wharf server did not start within 60 s:\n{log}");
        }
        self.port = port;
        self.opts.port = Some(port);
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Kills the server with SIGKILL (a crash) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill9();
        self.opts.data_dir = Some(self.data_dir.clone());
        self.spawn();
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A kubectl command (`bin`: [`KUBECTL`] or [`KUBECTL_132`]) for this server.
    pub fn kubectl_cmd(&self, bin: &str) -> Command {
        let mut c = Command::new(bin);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        c
    }

    /// Runs the dispatcher kubectl with `args`.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(KUBECTL, args, None)
    }

    /// Runs a kubectl with `args` and optional stdin.
    pub fn kubectl_with(&self, bin: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        output_within(
            self.kubectl_cmd(bin).args(args),
            stdin,
            Duration::from_secs(90),
        )
    }

    /// Runs the dispatcher kubectl with extra environment; returns stdout, panicking on
    /// failure.
    pub fn kubectl_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut cmd = self.kubectl_cmd(KUBECTL);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = output_within(&mut cmd, None, Duration::from_secs(90));
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl and returns stdout, panicking (with both outputs and the log tail) on
    /// failure.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(KUBECTL, args, None)
    }

    /// [`ApiServer::ok`] with a chosen kubectl and stdin.
    pub fn ok_with(&self, bin: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.kubectl_with(bin, args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let log = self.log();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "kubectl {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}\nserver log tail:\n{tail}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        stdout
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.kubectl_with(KUBECTL, args, stdin);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded but should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Polls `f` until it returns `Some` or `limit` passes.
    pub fn eventually<T>(
        &self,
        what: &str,
        limit: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if start.elapsed() > limit {
                panic!(
                    "timed out after {limit:?} waiting for {what}\nserver log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}

/// The etcd binary (Debian's etcd-server).
pub const ETCD: &str = "/usr/bin/etcd";

/// A throwaway etcd on loopback.
#[derive(Debug)]
pub struct Etcd {
    /// Its client URL.
    pub url: String,
    dir: PathBuf,
    child: Child,
}

impl Etcd {
    /// Starts one and waits until it answers.
    pub fn start(tag: &str) -> Etcd {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: install Debian's etcd-server (scripts/install-deps.sh does)"
        );
        let dir = temp_base(&format!("etcd-{tag}"));
        let (cp, pp) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{cp}");
        let peer = format!("http://127.0.0.1:{pp}");
        let log = std::fs::File::create(dir.join("etcd.log")).expect("etcd log");
        let child = Command::new(ETCD)
            .arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen-client-urls")
            .arg(&url)
            .arg("--advertise-client-urls")
            .arg(&url)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("default={peer}"))
            .env("ETCD_UNSUPPORTED_ARCH", "")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        let e = Etcd { url, dir, child };
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", cp)).is_ok() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "etcd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
