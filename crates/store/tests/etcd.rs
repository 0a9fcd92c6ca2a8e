//! The conformance suite on the etcd backend: each test starts its own throwaway etcd on
//! loopback (and fails, not skips, when /usr/bin/etcd is missing).

mod common;

use std::sync::Arc;

use common::etcd_server::EtcdServer;
use store::conformance;
use store::etcd::EtcdStore;

async fn fresh(server: &EtcdServer) -> Arc<EtcdStore> {
    let store = EtcdStore::connect(&[server.endpoint()], "/wharf-test")
        .await
        .expect("connect to the throwaway etcd");
    Arc::new(store)
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let server = EtcdServer::start();
                let store = fresh(&server).await;
                conformance::$name(store).await;
            }
        )*
    };
}

conformance_tests!(
    run_all,
    fresh_store_starts_at_revision_one,
    revisions_increase_by_one_per_write,
    create_of_existing_key_fails,
    update_and_delete_of_missing_key_fail,
    stale_revision_conflicts,
    get_and_list_return_newest,
    list_at_older_revision,
    pagination,
    future_revision_is_refused,
    count,
    watch_from_revision,
    watch_switches_from_history_to_live_without_gap,
    watch_prefix_isolation,
    delete_events_carry_the_deleted_value,
    concurrent_compare_and_swap,
    too_large,
    compaction,
);

/// Two stores with different prefixes on one etcd see only their own keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_separate_stores_on_one_etcd() {
    use store::{ListOptions, Store};
    let server = EtcdServer::start();
    let one = EtcdStore::connect(&[server.endpoint()], "/one")
        .await
        .expect("connect");
    let two = EtcdStore::connect(&[server.endpoint()], "/two")
        .await
        .expect("connect");
    one.create("/k", bytes::Bytes::from_static(b"1"))
        .await
        .expect("create in one");
    assert!(two.get("/k").await.expect("get").is_none());
    two.create("/k", bytes::Bytes::from_static(b"2"))
        .await
        .expect("create in two");
    let listed = one
        .list("", &ListOptions::default())
        .await
        .expect("list one");
    assert_eq!(listed.kvs.len(), 1);
    assert_eq!(listed.kvs[0].key, "/k");
    assert_eq!(one.count("").await.expect("count"), 1);
}
