//! The conformance suite every backend passes: etcd's semantics, property by property.
//!
//! Each `pub async fn` checks one property on the store it is given and panics (with a message
//! naming what was wrong) when the store breaks it; the integration tests of each backend call
//! them one by one, each on a fresh store. Every function works under its own key prefix and
//! counts revisions relative to the store's current one, so they can also run one after the
//! other on one store ([`run_all`]), as long as nothing else writes to it meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::{
    Error, EventKind, KeyValue, ListOptions, MAX_VALUE_BYTES, Revision, Store, WatchEvent,
    WatchStream,
};

/// How long a test waits for an expected watch event before failing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(stream: &mut WatchStream, what: &str) -> WatchEvent {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("{what}: the watch failed: {e}"),
        Ok(None) => panic!("{what}: the watch ended"),
        Err(_) => panic!("{what}: no event within {EVENT_TIMEOUT:?}"),
    }
}

async fn no_event_within(stream: &mut WatchStream, wait: Duration, what: &str) {
    if let Ok(item) = tokio::time::timeout(wait, stream.next()).await {
        panic!("{what}: expected no event, got {item:?}");
    }
}

async fn list_all(store: &dyn Store, prefix: &str) -> Vec<KeyValue> {
    store
        .list(prefix, &ListOptions::default())
        .await
        .expect("list")
        .kvs
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

/// Runs every property on one store, which must be fresh (nothing written yet) and have no
/// other writer.
pub async fn run_all(store: Arc<dyn Store>) {
    fresh_store_starts_at_revision_one(store.clone()).await;
    revisions_increase_by_one_per_write(store.clone()).await;
    create_of_existing_key_fails(store.clone()).await;
    update_and_delete_of_missing_key_fail(store.clone()).await;
    stale_revision_conflicts(store.clone()).await;
    get_and_list_return_newest(store.clone()).await;
    list_at_older_revision(store.clone()).await;
    pagination(store.clone()).await;
    future_revision_is_refused(store.clone()).await;
    count(store.clone()).await;
    watch_from_revision(store.clone()).await;
    watch_switches_from_history_to_live_without_gap(store.clone()).await;
    watch_prefix_isolation(store.clone()).await;
    delete_events_carry_the_deleted_value(store.clone()).await;
    concurrent_compare_and_swap(store.clone()).await;
    too_large(store.clone()).await;
    compaction(store.clone()).await;
}

/// An empty store is at revision 1 (as etcd is), and nothing was compacted.
pub async fn fresh_store_starts_at_revision_one(store: Arc<dyn Store>) {
    assert_eq!(store.current_revision().await.expect("current revision"), 1);
    assert_eq!(
        store
            .compacted_revision()
            .await
            .expect("compacted revision"),
        0
    );
    let list = store
        .list("", &ListOptions::default())
        .await
        .expect("list everything");
    assert!(
        list.kvs.is_empty(),
        "a fresh store has keys: {:?}",
        list.kvs
    );
    assert_eq!(list.revision, 1);
}

/// Every create, update and delete increments the revision by exactly one, and the written
/// key-value carries it.
pub async fn revisions_increase_by_one_per_write(store: Arc<dyn Store>) {
    let r0 = store.current_revision().await.expect("current revision");
    let kv = store.create("/rev/a", b("1")).await.expect("create");
    assert_eq!((kv.create_revision, kv.mod_revision), (r0 + 1, r0 + 1));
    let kv = store
        .update("/rev/a", b("2"), kv.mod_revision)
        .await
        .expect("update");
    assert_eq!((kv.create_revision, kv.mod_revision), (r0 + 1, r0 + 2));
    assert_eq!(kv.value, b("2"));
    let kv2 = store.create("/rev/b", b("x")).await.expect("create b");
    assert_eq!(kv2.mod_revision, r0 + 3);
    let (old, rev) = store.delete("/rev/a", Some(r0 + 2)).await.expect("delete");
    assert_eq!(rev, r0 + 4);
    assert_eq!(old.value, b("2"));
    assert_eq!((old.create_revision, old.mod_revision), (r0 + 1, r0 + 2));
    let (_, rev) = store
        .delete("/rev/b", None)
        .await
        .expect("unconditional delete");
    assert_eq!(rev, r0 + 5);
    assert_eq!(store.current_revision().await.expect("current"), r0 + 5);
    // Create again after delete: a new create revision.
    let kv = store.create("/rev/a", b("3")).await.expect("re-create");
    assert_eq!((kv.create_revision, kv.mod_revision), (r0 + 6, r0 + 6));
}

/// Creating a key that exists fails with `AlreadyExists` and writes nothing.
pub async fn create_of_existing_key_fails(store: Arc<dyn Store>) {
    store.create("/exists/k", b("1")).await.expect("create");
    let r = store.current_revision().await.expect("current");
    match store.create("/exists/k", b("2")).await {
        Err(Error::AlreadyExists { key }) => assert_eq!(key, "/exists/k"),
        other => panic!("second create: expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.current_revision().await.expect("current"), r);
    let kv = store.get("/exists/k").await.expect("get").expect("present");
    assert_eq!(kv.value, b("1"), "a failed create changed the value");
}

/// Updating or deleting a key that does not exist (or was deleted) is `NotFound`.
pub async fn update_and_delete_of_missing_key_fail(store: Arc<dyn Store>) {
    match store.update("/missing/k", b("1"), 1).await {
        Err(Error::NotFound { key }) => assert_eq!(key, "/missing/k"),
        other => panic!("update of a missing key: expected NotFound, got {other:?}"),
    }
    match store.update("/missing/k", b("1"), 0).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("update of a missing key at 0: expected NotFound, got {other:?}"),
    }
    match store.delete("/missing/k", None).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("delete of a missing key: expected NotFound, got {other:?}"),
    }
    let kv = store.create("/missing/gone", b("1")).await.expect("create");
    store
        .delete("/missing/gone", Some(kv.mod_revision))
        .await
        .expect("delete");
    match store.delete("/missing/gone", Some(kv.mod_revision)).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("second delete: expected NotFound, got {other:?}"),
    }
    assert!(store.get("/missing/gone").await.expect("get").is_none());
}

/// Update and delete with a stale `mod_revision` fail with `Conflict` carrying the current
/// key-value, and change nothing.
pub async fn stale_revision_conflicts(store: Arc<dyn Store>) {
    let v1 = store.create("/cas/k", b("1")).await.expect("create");
    let v2 = store
        .update("/cas/k", b("2"), v1.mod_revision)
        .await
        .expect("update");
    let r = store.current_revision().await.expect("current");
    match store.update("/cas/k", b("3"), v1.mod_revision).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, "/cas/k");
            assert_eq!(expected, v1.mod_revision);
            assert_eq!(
                current.as_deref(),
                Some(&v2),
                "conflict must carry the current value"
            );
        }
        other => panic!("stale update: expected Conflict, got {other:?}"),
    }
    match store.delete("/cas/k", Some(v1.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => {
            assert_eq!(current.as_deref(), Some(&v2));
        }
        other => panic!("stale delete: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.current_revision().await.expect("current"),
        r,
        "a failed compare-and-swap wrote something"
    );
    assert_eq!(store.get("/cas/k").await.expect("get"), Some(v2));
}

/// `get` and `list` return each key's newest value, in ascending key order, without deleted
/// keys.
pub async fn get_and_list_return_newest(store: Arc<dyn Store>) {
    let c = store.create("/newest/c", b("c1")).await.expect("create c");
    let a = store.create("/newest/a", b("a1")).await.expect("create a");
    let bb = store.create("/newest/b", b("b1")).await.expect("create b");
    let a2 = store
        .update("/newest/a", b("a2"), a.mod_revision)
        .await
        .expect("update a");
    store
        .delete("/newest/b", Some(bb.mod_revision))
        .await
        .expect("delete b");
    assert_eq!(
        store.get("/newest/a").await.expect("get a"),
        Some(a2.clone())
    );
    assert_eq!(store.get("/newest/b").await.expect("get b"), None);
    assert_eq!(store.get("/newest/none").await.expect("get none"), None);
    let list = store
        .list("/newest/", &ListOptions::default())
        .await
        .expect("list");
    assert_eq!(list.kvs, vec![a2, c]);
    assert_eq!(list.remaining, 0);
    assert_eq!(
        list.revision,
        store.current_revision().await.expect("current")
    );
}

/// `list` at an older revision returns the state as it was then.
pub async fn list_at_older_revision(store: Arc<dyn Store>) {
    let a = store.create("/old/a", b("a1")).await.expect("create a");
    let bb = store.create("/old/b", b("b1")).await.expect("create b");
    let at = bb.mod_revision;
    store
        .update("/old/a", b("a2"), a.mod_revision)
        .await
        .expect("update a");
    store.delete("/old/b", None).await.expect("delete b");
    store.create("/old/c", b("c1")).await.expect("create c");
    let then = store
        .list(
            "/old/",
            &ListOptions {
                revision: Some(at),
                ..Default::default()
            },
        )
        .await
        .expect("list at an older revision");
    assert_eq!(then.revision, at);
    assert_eq!(then.kvs, vec![a.clone(), bb]);
    let before = store
        .list(
            "/old/",
            &ListOptions {
                revision: Some(a.mod_revision),
                ..Default::default()
            },
        )
        .await
        .expect("list at the first create");
    assert_eq!(before.kvs, vec![a]);
    let now = list_all(store.as_ref(), "/old/").await;
    assert_eq!(keys(&now), vec!["/old/a", "/old/c"]);
    assert_eq!(now[0].value, b("a2"));
}

/// Pages of `limit` keys continue after `start_after`, report how many remain, and at a
/// fixed revision see one consistent state while writes go on.
pub async fn pagination(store: Arc<dyn Store>) {
    for i in 0..10 {
        store
            .create(&format!("/page/k{i:02}"), b(&i.to_string()))
            .await
            .expect("create");
    }
    store
        .create("/page0", b("outside"))
        .await
        .expect("create outside");
    store
        .create("/pagez/x", b("outside"))
        .await
        .expect("create outside");
    let first = store
        .list(
            "/page/",
            &ListOptions {
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .expect("first page");
    assert_eq!(
        keys(&first.kvs),
        vec!["/page/k00", "/page/k01", "/page/k02"]
    );
    assert_eq!(first.remaining, 7);
    // Writes after the first page do not show in later pages at its revision.
    store
        .create("/page/k10", b("late"))
        .await
        .expect("create late");
    store.delete("/page/k05", None).await.expect("delete k05");
    let mut seen = keys(&first.kvs)
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    let mut after = first.kvs.last().map(|kv| kv.key.clone());
    let mut remaining = first.remaining;
    while remaining > 0 {
        let page = store
            .list(
                "/page/",
                &ListOptions {
                    revision: Some(first.revision),
                    start_after: after.clone(),
                    limit: Some(3),
                },
            )
            .await
            .expect("next page");
        assert_eq!(page.revision, first.revision);
        assert!(
            !page.kvs.is_empty(),
            "a page with {remaining} remaining was empty"
        );
        assert_eq!(page.remaining, remaining - page.kvs.len() as u64);
        remaining = page.remaining;
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        after = page.kvs.last().map(|kv| kv.key.clone());
    }
    let expected: Vec<String> = (0..10).map(|i| format!("/page/k{i:02}")).collect();
    assert_eq!(seen, expected);
    // A limit larger than what is left, and limit 0 meaning "all".
    let rest = store
        .list(
            "/page/",
            &ListOptions {
                start_after: Some("/page/k07".into()),
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
        .expect("last page");
    assert_eq!(keys(&rest.kvs), vec!["/page/k08", "/page/k09", "/page/k10"]);
    assert_eq!(rest.remaining, 0);
    let all = store
        .list(
            "/page/",
            &ListOptions {
                limit: Some(0),
                ..Default::default()
            },
        )
        .await
        .expect("limit 0");
    assert_eq!(all.kvs.len(), 10);
    assert_eq!(all.remaining, 0);
}

/// A list at a revision the store has not reached is `FutureRevision`.
pub async fn future_revision_is_refused(store: Arc<dyn Store>) {
    let current = store.current_revision().await.expect("current");
    match store
        .list(
            "/future/",
            &ListOptions {
                revision: Some(current + 100),
                ..Default::default()
            },
        )
        .await
    {
        Err(Error::FutureRevision {
            requested,
            current: c,
        }) => {
            assert_eq!(requested, current + 100);
            assert!(c >= current);
        }
        other => panic!("list in the future: expected FutureRevision, got {other:?}"),
    }
}

/// `count` counts the live keys under a prefix, not those under a longer sibling prefix.
pub async fn count(store: Arc<dyn Store>) {
    assert_eq!(store.count("/count/").await.expect("count"), 0);
    for i in 0..5 {
        store
            .create(&format!("/count/{i}"), b("v"))
            .await
            .expect("create");
    }
    store
        .create("/countx/1", b("v"))
        .await
        .expect("create sibling");
    store.delete("/count/3", None).await.expect("delete");
    let kv = store.get("/count/1").await.expect("get").expect("present");
    store
        .update("/count/1", b("w"), kv.mod_revision)
        .await
        .expect("update");
    assert_eq!(store.count("/count/").await.expect("count"), 4);
    assert_eq!(store.count("/countx/").await.expect("count sibling"), 1);
}

/// A watch from revision R gets exactly the changes with revision >= R under its prefix, in
/// order, with `prev_kv` on updates and deletes; `start` = 0 gets only later changes.
pub async fn watch_from_revision(store: Arc<dyn Store>) {
    let a = store.create("/wr/a", b("1")).await.expect("create");
    let a2 = store
        .update("/wr/a", b("2"), a.mod_revision)
        .await
        .expect("update");
    let (old, del) = store.delete("/wr/a", None).await.expect("delete");
    let mut from_update = store.watch("/wr/", a2.mod_revision).await.expect("watch");
    let ev = next_event(&mut from_update, "update event").await;
    assert_eq!(ev.kind, EventKind::Put);
    assert_eq!(ev.kv, a2);
    assert_eq!(ev.prev_kv, Some(a.clone()));
    let ev = next_event(&mut from_update, "delete event").await;
    assert_eq!(ev.kind, EventKind::Delete);
    assert_eq!(ev.kv.mod_revision, del);
    assert_eq!(ev.prev_kv, Some(old));

    let mut from_now = store.watch("/wr/", 0).await.expect("watch from now");
    no_event_within(&mut from_now, Duration::from_millis(200), "watch from now").await;
    let c = store.create("/wr/c", b("c")).await.expect("create c");
    let ev = next_event(&mut from_now, "live create").await;
    assert_eq!(ev.kind, EventKind::Put);
    assert_eq!(ev.kv, c);
    assert_eq!(ev.prev_kv, None, "a create has no prev_kv");
    let ev = next_event(&mut from_update, "live create on the older watch").await;
    assert_eq!(ev.kv, c);

    // A watch from a future revision waits for it.
    let mut future = store
        .watch("/wr/", c.mod_revision + 2)
        .await
        .expect("watch from the future");
    store.create("/wr/d", b("d")).await.expect("create d");
    let e = store.create("/wr/e", b("e")).await.expect("create e");
    let ev = next_event(&mut future, "first event at the future start").await;
    assert_eq!(ev.kv, e);
}

/// A watch started from an old revision while writes go on concurrently delivers every event
/// from its start exactly once, in revision order, across the switch from history to live.
pub async fn watch_switches_from_history_to_live_without_gap(store: Arc<dyn Store>) {
    const BEFORE: usize = 200;
    const DURING: usize = 300;
    let start = store.current_revision().await.expect("current") + 1;
    for i in 0..BEFORE {
        store
            .create(&format!("/switch/before-{i:04}"), b("v"))
            .await
            .expect("create");
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut last = None;
            for i in 0..DURING {
                let key = format!("/switch/during-{i:04}");
                let kv = match last.take() {
                    // Alternate creates and updates so both kinds cross the switch.
                    Some(prev) if i % 3 == 0 => {
                        let prev: KeyValue = prev;
                        store
                            .update(&prev.key, b("u"), prev.mod_revision)
                            .await
                            .expect("update during watch")
                    }
                    _ => store
                        .create(&key, b("v"))
                        .await
                        .expect("create during watch"),
                };
                last = Some(kv);
            }
        })
    };
    let mut stream = store.watch("/switch/", start).await.expect("watch");
    let mut revs = Vec::with_capacity(BEFORE + DURING);
    while revs.len() < BEFORE + DURING {
        let ev = next_event(&mut stream, "history then live").await;
        revs.push(ev.kv.mod_revision);
    }
    writer.await.expect("writer task");
    let expected: Vec<Revision> = (start..start + (BEFORE + DURING) as i64).collect();
    assert_eq!(revs, expected, "events missing, duplicated or out of order");
    no_event_within(
        &mut stream,
        Duration::from_millis(200),
        "after the last write",
    )
    .await;
}

/// A watch on `/a/` never sees `/ab/` or `/a` itself, and vice versa.
pub async fn watch_prefix_isolation(store: Arc<dyn Store>) {
    let start = store.current_revision().await.expect("current") + 1;
    let mut a = store.watch("/iso/a/", start).await.expect("watch /a/");
    let mut ab = store.watch("/iso/ab/", start).await.expect("watch /ab/");
    store.create("/iso/ab/1", b("x")).await.expect("create ab");
    store.create("/iso/a", b("x")).await.expect("create a");
    let a1 = store.create("/iso/a/1", b("x")).await.expect("create a/1");
    let ab2 = store
        .create("/iso/ab/2", b("x"))
        .await
        .expect("create ab/2");
    let ev = next_event(&mut a, "/a/ event").await;
    assert_eq!(ev.kv, a1);
    no_event_within(&mut a, Duration::from_millis(200), "/a/ watch").await;
    let ev = next_event(&mut ab, "/ab/ first").await;
    assert_eq!(ev.kv.key, "/iso/ab/1");
    let ev = next_event(&mut ab, "/ab/ second").await;
    assert_eq!(ev.kv, ab2);
    no_event_within(&mut ab, Duration::from_millis(200), "/ab/ watch").await;
    let listed = list_all(store.as_ref(), "/iso/a/").await;
    assert_eq!(keys(&listed), vec!["/iso/a/1"]);
}

/// A delete event carries the key, an empty value, the delete's revision and the key's create
/// revision, and the deleted value in `prev_kv`.
pub async fn delete_events_carry_the_deleted_value(store: Arc<dyn Store>) {
    let kv = store.create("/del/k", b("first")).await.expect("create");
    let kv = store
        .update("/del/k", b("last"), kv.mod_revision)
        .await
        .expect("update");
    let mut stream = store.watch("/del/", 0).await.expect("watch");
    let (old, rev) = store
        .delete("/del/k", Some(kv.mod_revision))
        .await
        .expect("delete");
    assert_eq!(old, kv);
    let ev = next_event(&mut stream, "delete event").await;
    assert_eq!(ev.kind, EventKind::Delete);
    assert_eq!(
        ev.kv,
        KeyValue {
            key: "/del/k".into(),
            value: Bytes::new(),
            create_revision: kv.create_revision,
            mod_revision: rev,
        }
    );
    assert_eq!(ev.prev_kv, Some(kv));
}

/// N tasks each add one to a counter with compare-and-swap, retrying on `Conflict`: the
/// counter ends at N and every successful write has its own revision.
pub async fn concurrent_compare_and_swap(store: Arc<dyn Store>) {
    const TASKS: u64 = 24;
    store
        .create("/counter/n", b("0"))
        .await
        .expect("create counter");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let kv = store
                    .get("/counter/n")
                    .await
                    .expect("get counter")
                    .expect("counter exists");
                let n: u64 = std::str::from_utf8(&kv.value)
                    .expect("utf-8")
                    .parse()
                    .expect("number");
                match store
                    .update("/counter/n", b(&(n + 1).to_string()), kv.mod_revision)
                    .await
                {
                    Ok(new) => return new.mod_revision,
                    Err(Error::Conflict { current, .. }) => {
                        assert!(current.is_some(), "the counter was not deleted");
                    }
                    Err(e) => panic!("increment failed: {e}"),
                }
            }
        }));
    }
    let mut revisions = BTreeSet::new();
    for task in tasks {
        let rev = task.await.expect("increment task");
        assert!(revisions.insert(rev), "revision {rev} was given twice");
    }
    let kv = store
        .get("/counter/n")
        .await
        .expect("get")
        .expect("counter");
    assert_eq!(kv.value, b(&TASKS.to_string()));
    // Concurrent creates of distinct keys get distinct revisions too.
    let mut creates = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        creates.push(tokio::spawn(async move {
            store
                .create(&format!("/counter/c{i}"), b("v"))
                .await
                .expect("concurrent create")
                .mod_revision
        }));
    }
    let mut by_rev = BTreeMap::new();
    for (i, task) in creates.into_iter().enumerate() {
        let rev = task.await.expect("create task");
        assert!(
            by_rev.insert(rev, i).is_none(),
            "revision {rev} was given twice"
        );
    }
    // Exactly one of many concurrent creates of the same key wins.
    let mut racers = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store.create("/counter/race", b(&i.to_string())).await
        }));
    }
    let mut winners = 0;
    for task in racers {
        match task.await.expect("racer") {
            Ok(_) => winners += 1,
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("racing create: {e}"),
        }
    }
    assert_eq!(winners, 1, "concurrent creates of one key");
}

/// A value over [`MAX_VALUE_BYTES`] is `TooLarge` for create and update; one of exactly that
/// size is stored.
pub async fn too_large(store: Arc<dyn Store>) {
    let big = Bytes::from(vec![b'x'; MAX_VALUE_BYTES + 1]);
    match store.create("/big/k", big.clone()).await {
        Err(Error::TooLarge { key, size, limit }) => {
            assert_eq!(key, "/big/k");
            assert_eq!(size, MAX_VALUE_BYTES + 1);
            assert_eq!(limit, MAX_VALUE_BYTES);
        }
        other => panic!("create too large: expected TooLarge, got {other:?}"),
    }
    assert!(store.get("/big/k").await.expect("get").is_none());
    let max = Bytes::from(vec![b'y'; MAX_VALUE_BYTES]);
    let kv = store
        .create("/big/k", max.clone())
        .await
        .expect("a value of exactly the limit");
    match store.update("/big/k", big, kv.mod_revision).await {
        Err(Error::TooLarge { .. }) => {}
        other => panic!("update too large: expected TooLarge, got {other:?}"),
    }
    let kv = store.get("/big/k").await.expect("get").expect("present");
    assert_eq!(kv.value.len(), MAX_VALUE_BYTES);
}

async fn expect_compacted_watch(
    store: &dyn Store,
    prefix: &str,
    start: Revision,
    compacted: Revision,
) {
    match store.watch(prefix, start).await {
        Err(Error::Compacted {
            requested,
            compacted: c,
        }) => {
            assert_eq!(requested, start);
            assert_eq!(c, compacted);
        }
        Err(e) => panic!("watch from a compacted revision: expected Compacted, got {e}"),
        Ok(mut stream) => match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
            Ok(Some(Err(Error::Compacted { compacted: c, .. }))) => assert_eq!(c, compacted),
            other => panic!("watch from a compacted revision: expected Compacted, got {other:?}"),
        },
    }
}

/// After `compact(R)`, reads and watches below R are `Compacted`, while R and later revisions
/// are still served in full (including watch events' `prev_kv`).
pub async fn compaction(store: Arc<dyn Store>) {
    let a1 = store.create("/compact/a", b("a1")).await.expect("create a");
    let a2 = store
        .update("/compact/a", b("a2"), a1.mod_revision)
        .await
        .expect("update a");
    let bb = store.create("/compact/b", b("b1")).await.expect("create b");
    let (_, b_deleted) = store.delete("/compact/b", None).await.expect("delete b");
    let c = store.create("/compact/c", b("c1")).await.expect("create c");
    let d1 = store.create("/compact/d", b("d1")).await.expect("create d");
    let d2 = store
        .update("/compact/d", b("d2"), d1.mod_revision)
        .await
        .expect("update d");
    let at = bb.mod_revision;
    store.compact(at).await.expect("compact");
    assert_eq!(store.compacted_revision().await.expect("compacted"), at);

    let below = ListOptions {
        revision: Some(a2.mod_revision),
        ..Default::default()
    };
    match store.list("/compact/", &below).await {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, a2.mod_revision);
            assert_eq!(compacted, at);
        }
        other => panic!("list below the compacted revision: expected Compacted, got {other:?}"),
    }
    expect_compacted_watch(store.as_ref(), "/compact/", a1.mod_revision, at).await;

    // The compacted revision itself and everything after it are still there.
    let then = store
        .list(
            "/compact/",
            &ListOptions {
                revision: Some(at),
                ..Default::default()
            },
        )
        .await
        .expect("list at the compacted revision");
    assert_eq!(then.kvs, vec![a2.clone(), bb.clone()]);
    let after_delete = store
        .list(
            "/compact/",
            &ListOptions {
                revision: Some(b_deleted),
                ..Default::default()
            },
        )
        .await
        .expect("list after the delete");
    assert_eq!(after_delete.kvs, vec![a2.clone()]);
    let mut stream = store
        .watch("/compact/", at)
        .await
        .expect("watch from compacted");
    let ev = next_event(&mut stream, "event at the compacted revision").await;
    assert_eq!(ev.kv, bb);
    let ev = next_event(&mut stream, "delete after compaction").await;
    assert_eq!(ev.kind, EventKind::Delete);
    assert_eq!(ev.prev_kv, Some(bb.clone()));
    assert_eq!(next_event(&mut stream, "create c").await.kv, c);
    assert_eq!(next_event(&mut stream, "create d").await.kv, d1);
    let ev = next_event(&mut stream, "update d").await;
    assert_eq!(ev.kv, d2);
    assert_eq!(ev.prev_kv, Some(d1.clone()));

    // Compacting to an older revision is a no-op; compacting further still works and keeps
    // each key's newest value.
    store
        .compact(a1.mod_revision)
        .await
        .expect("compact backwards");
    assert_eq!(store.compacted_revision().await.expect("compacted"), at);
    store
        .compact(d2.mod_revision)
        .await
        .expect("compact to the newest");
    assert_eq!(
        store.compacted_revision().await.expect("compacted"),
        d2.mod_revision
    );
    assert_eq!(
        list_all(store.as_ref(), "/compact/").await,
        vec![a2.clone(), c, d2.clone()]
    );
    assert_eq!(store.get("/compact/a").await.expect("get"), Some(a2));
    let after = store
        .update("/compact/d", b("d3"), d2.mod_revision)
        .await
        .expect("update after compaction");
    let mut stream = store
        .watch("/compact/", d2.mod_revision)
        .await
        .expect("watch at the newest compacted revision");
    assert_eq!(next_event(&mut stream, "newest compacted").await.kv, d2);
    let ev = next_event(&mut stream, "after compaction").await;
    assert_eq!(ev.kv, after);
    assert_eq!(ev.prev_kv, Some(d2));
}
