//! A quick throughput figure for the store backends (a command, not a test):
//! `cargo run --release -p store --example store_bench [sqlite|etcd|all]`.
//! Prints sequential and 64-concurrent creates/s, gets/s and the latency of one full list,
//! for SQLite (in a tempdir) and for a throwaway etcd on loopback started for the run.

#[path = "../tests/common/etcd_server.rs"]
mod etcd_server;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use store::etcd::EtcdStore;
use store::sqlite::SqliteStore;
use store::{ListOptions, Store};

const SEQUENTIAL: usize = 1000;
const CLIENTS: usize = 64;
const PER_CLIENT: usize = 150;

/// A pod-sized value (about 2 KiB of JSON-like bytes).
fn value(i: usize) -> Bytes {
    Bytes::from(format!(
        "{{\"kind\":\"Pod\",\"name\":\"pod-{i}\",\"pad\":\"{}\"}}",
        "x".repeat(2000)
    ))
}

async fn bench(name: &str, store: Arc<dyn Store>) {
    let t = Instant::now();
    for i in 0..SEQUENTIAL {
        store
            .create(&format!("/registry/pods/seq/p{i:06}"), value(i))
            .await
            .expect("create");
    }
    let seq = SEQUENTIAL as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT {
                store
                    .create(&format!("/registry/pods/conc/c{c:02}-{i:05}"), value(i))
                    .await
                    .expect("create");
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let conc = (CLIENTS * PER_CLIENT) as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    for i in 0..SEQUENTIAL {
        store
            .get(&format!("/registry/pods/seq/p{i:06}"))
            .await
            .expect("get")
            .expect("present");
    }
    let gets = SEQUENTIAL as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let list = store
        .list("/registry/pods/", &ListOptions::default())
        .await
        .expect("list");
    let list_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{name:7} creates/s sequential {seq:8.0}  {CLIENTS} clients {conc:8.0}  gets/s {gets:8.0}  list of {} keys {list_ms:6.1} ms",
        list.kvs.len()
    );
}

#[tokio::main]
async fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if which == "sqlite" || which == "all" {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("bench.db")).expect("open sqlite");
        bench("sqlite", Arc::new(store)).await;
    }
    if which == "etcd" || which == "all" {
        let server = etcd_server::EtcdServer::start();
        let store = EtcdStore::connect(&[server.endpoint()], "")
            .await
            .expect("connect etcd");
        bench("etcd", Arc::new(store)).await;
    }
}
