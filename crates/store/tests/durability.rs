//! Acknowledged writes survive SIGKILL: a child process (this test binary re-invoked on its
//! ignored `durability_child` test) creates keys from many concurrent tasks and prints each
//! one whose create was acknowledged; the parent kills it mid-stream and checks every printed
//! key is in the store.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::etcd_server::EtcdServer;
use store::Store;
use store::etcd::EtcdStore;
use store::sqlite::SqliteStore;

/// Tells the child which store to write to: `sqlite:<path>` or `etcd:<endpoint>`.
const CHILD_ENV: &str = "WHARF_STORE_DURABILITY_CHILD";
/// Acknowledged creates the parent waits for before it kills.
const KILL_AFTER: usize = 1000;
const PREFIX: &str = "/durable";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The writer: only does something when re-invoked by a parent with [`CHILD_ENV`] set.
#[test]
#[ignore = "the writer half of the durability tests, run by them in a child process"]
fn durability_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by the durability tests only");
    runtime().block_on(async move {
        let store: Arc<dyn Store> = if let Some(path) = spec.strip_prefix("sqlite:") {
            Arc::new(SqliteStore::open(std::path::Path::new(path)).expect("open sqlite"))
        } else if let Some(endpoint) = spec.strip_prefix("etcd:") {
            Arc::new(
                EtcdStore::connect(&[endpoint.to_string()], "")
                    .await
                    .expect("connect to etcd"),
            )
        } else {
            panic!("unknown store spec {spec}");
        };
        let mut tasks = Vec::new();
        for t in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Bounded: the parent kills long before this ends.
                for i in 0..20_000 {
                    let key = format!("{PREFIX}/w{t:02}-{i:05}");
                    match store.create(&key, bytes::Bytes::from(key.clone())).await {
                        Ok(_) => {
                            let mut out = std::io::stdout().lock();
                            writeln!(out, "ACK {key}").expect("stdout");
                            out.flush().expect("flush stdout");
                        }
                        Err(e) => {
                            eprintln!("create {key}: {e}");
                            return;
                        }
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// Runs the writer against `spec`, calls `kill` once `KILL_AFTER` creates were acknowledged
/// (it must SIGKILL the child or make it stop), and returns every acknowledged key.
fn acknowledged_keys(spec: &str, kill: impl FnOnce(&mut std::process::Child)) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "durability_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writer child");
    let mut reader = BufReader::new(child.stdout.take().expect("child stdout"));
    let mut acked = Vec::new();
    let mut kill = Some(kill);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("read the child's output");
        if n == 0 {
            break;
        }
        // A line cut by the kill has no newline: that create was not reported as done.
        if let Some(key) = line.strip_prefix("ACK ").and_then(|l| l.strip_suffix('\n')) {
            acked.push(key.to_string());
        }
        if acked.len() == KILL_AFTER
            && let Some(kill) = kill.take()
        {
            kill(&mut child);
        }
    }
    let status = child.wait().expect("wait for the child");
    assert!(
        kill.is_none(),
        "the writer ended ({status}) after only {} acknowledged creates",
        acked.len()
    );
    acked
}

async fn assert_all_present(store: &dyn Store, acked: &[String]) {
    for key in acked {
        let kv = store
            .get(key)
            .await
            .expect("read after restart")
            .unwrap_or_else(|| panic!("acknowledged key {key} is missing after SIGKILL"));
        assert_eq!(kv.value.as_ref(), key.as_bytes());
    }
    let count = store.count(&format!("{PREFIX}/")).await.expect("count");
    assert!(
        count >= acked.len() as u64,
        "{count} keys < {} acknowledged",
        acked.len()
    );
}

#[test]
fn sqlite_acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let acked = acknowledged_keys(&format!("sqlite:{}", path.display()), |child| {
        child.kill().expect("SIGKILL the writer");
    });
    assert!(acked.len() >= KILL_AFTER);
    runtime().block_on(async {
        let store = SqliteStore::open(&path).expect("reopen after SIGKILL");
        assert_all_present(&store, &acked).await;
        // The revision counter continues after the last committed write.
        let current = store.current_revision().await.expect("current");
        let kv = store
            .create("/after-restart", bytes::Bytes::new())
            .await
            .expect("create after restart");
        assert_eq!(kv.mod_revision, current + 1);
    });
}

#[test]
fn etcd_acknowledged_writes_survive_sigkill_of_etcd() {
    let mut server = EtcdServer::start();
    let acked = acknowledged_keys(&format!("etcd:{}", server.endpoint()), |child| {
        // Kill etcd itself mid-stream, then the writer.
        server.kill();
        child.kill().expect("SIGKILL the writer");
    });
    assert!(acked.len() >= KILL_AFTER);
    server.restart();
    runtime().block_on(async {
        let store = EtcdStore::connect(&[server.endpoint()], "")
            .await
            .expect("connect to the restarted etcd");
        assert_all_present(&store, &acked).await;
    });
}
