//! The conformance suite on the SQLite backend, each property on a fresh store in a tempdir.

use std::sync::Arc;

use store::conformance;
use store::sqlite::SqliteStore;

async fn fresh() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open the store");
    (dir, Arc::new(store))
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_dir, store) = fresh().await;
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
