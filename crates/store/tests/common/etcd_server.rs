//! A throwaway etcd server on loopback for tests and the benchmark: random free ports, a
//! temporary data directory, killed (by PID) when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's etcd-server puts the binary; CI installs it.
pub const ETCD: &str = "/usr/bin/etcd";

/// One etcd process and its data directory.
pub struct EtcdServer {
    child: Option<Child>,
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

impl EtcdServer {
    /// Starts a fresh etcd in a new temporary data directory. Panics with a clear message when
    /// etcd is not installed: the etcd tests must fail, not skip, without it.
    pub fn start() -> EtcdServer {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: install Debian's etcd-server package (apt-get install etcd-server) \
             to run the etcd backend tests"
        );
        let dir = tempfile::tempdir().expect("temporary etcd data directory");
        let data = dir.path().join("etcd");
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = EtcdServer {
                child: None,
                client_port: free_port(),
                peer_port: free_port(),
                data: data.clone(),
                _dir: None,
            };
            match server.spawn() {
                Ok(()) => {
                    server._dir = Some(dir);
                    return server;
                }
                Err(e) => {
                    last_error = e;
                    let _ = std::fs::remove_dir_all(&data);
                }
            }
        }
        panic!("etcd did not start: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut child = Command::new(ETCD)
            .arg("--name=default")
            .arg(format!("--data-dir={}", self.data.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--initial-cluster-state=new")
            // Room for a value of exactly the store's limit plus the request around it.
            .arg("--max-request-bytes=2097152")
            .arg("--log-level=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning {ETCD}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("etcd exited with {status} (port taken?)"));
            }
            if TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("etcd did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Kills etcd with SIGKILL (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same data directory and ports.
    #[allow(dead_code)] // used by the durability test, not by every includer
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("restart etcd on its data directory");
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}
