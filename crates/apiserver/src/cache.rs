//! The watch cache: every object of the store in memory, kept current by one store watch, and
//! the recent changes, so LIST and WATCH never touch the store for each request.
//!
//! One task ([`Cache::run`]) lists `/registry/` once, then applies the store's watch stream.
//! Readers take a consistent snapshot under a short read lock. Watchers start from a revision
//! inside the kept history (or from the current state, as synthetic ADDED events) and then
//! follow the broadcast of new events; a watcher that falls behind the broadcast is ended (its
//! client watches again from the last revision it saw).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use store::{EventKind, Revision, Store};
use tokio::sync::{broadcast, watch};

/// The kind of a change, as the watch API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl Change {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "ADDED",
            Change::Modified => "MODIFIED",
            Change::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub change: Change,
    /// The storage key.
    pub key: String,
    /// The revision of the change.
    pub rev: Revision,
    /// The object after the change (for a delete: as it was, with the delete's
    /// resourceVersion).
    pub obj: Arc<Value>,
    /// The object before the change.
    pub prev: Option<Arc<Value>>,
    /// `obj` as JSON, made once for all watchers.
    pub json: std::sync::OnceLock<bytes::Bytes>,
}

impl Event {
    /// The object as JSON (serialized once, shared by every watcher).
    pub fn obj_json(&self) -> &bytes::Bytes {
        self.json
            .get_or_init(|| bytes::Bytes::from(serde_json::to_vec(&*self.obj).unwrap_or_default()))
    }
}

/// An object in the cache.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The object, `metadata.resourceVersion` set.
    pub obj: Arc<Value>,
    /// Its revision.
    pub rev: Revision,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Entry>,
    /// Changes with revisions in `(oldest, rev]`, oldest first.
    history: VecDeque<(Instant, Arc<Event>)>,
    /// Events before this revision are gone from `history`.
    oldest: Revision,
    /// The cache reflects the store up to this revision.
    rev: Revision,
}

/// How much history the cache keeps for watches.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// At least this long…
    pub window: Duration,
    /// …but never more than this many events.
    pub max_events: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            window: Duration::from_secs(300),
            max_events: 200_000,
        }
    }
}

/// The watch cache. See the module documentation.
#[derive(Debug)]
pub struct Cache {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Event>>,
    rev: watch::Sender<Revision>,
    retention: Retention,
}

/// Where a watch starts.
#[derive(Debug)]
pub enum Start {
    /// The current objects as ADDED events (already filtered by nothing), then changes after
    /// `rev`.
    Current {
        /// The current objects.
        objects: Vec<(String, Entry)>,
        /// Their revision.
        rev: Revision,
    },
    /// Changes after a revision: the kept ones, then live ones.
    After(Vec<Arc<Event>>),
}

/// A snapshot read from the cache.
#[derive(Debug)]
pub struct Snapshot {
    /// Objects under the prefix, in key order, after `start_after`.
    pub items: Vec<(String, Entry)>,
    /// The cache's revision when read.
    pub rev: Revision,
}

/// The error of a watch from before the kept history.
#[derive(Debug)]
pub struct TooOld {
    /// The revision asked for.
    pub requested: Revision,
    /// The oldest revision a watch can start after.
    pub oldest: Revision,
}

fn parse(kv: &store::KeyValue) -> Option<Value> {
    let mut v: Value = match serde_json::from_slice(&kv.value) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(key = %kv.key, "undecodable object in the store: {e}");
            return None;
        }
    };
    set_rv(&mut v, kv.mod_revision);
    Some(v)
}

/// Sets `metadata.resourceVersion`.
pub fn set_rv(v: &mut Value, rev: Revision) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

impl Cache {
    /// An empty cache; [`Cache::run`] fills it.
    pub fn new(retention: Retention) -> Arc<Cache> {
        let (events, _) = broadcast::channel(65_536);
        let (rev, _) = watch::channel(0);
        Arc::new(Cache {
            state: RwLock::new(State::default()),
            events,
            rev,
            retention,
        })
    }

    /// Fills the cache from `store` and keeps it current until the process ends. Resolves
    /// `ready` after the first list.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        ready: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut ready = Some(ready);
        loop {
            if let Err(e) = self.sync(&store, &mut ready).await {
                tracing::warn!("watch cache: {e}; listing again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn sync(
        &self,
        store: &Arc<dyn Store>,
        ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<(), store::Error> {
        let list = store
            .list("/registry/", &store::ListOptions::default())
            .await?;
        let mut stream = store.watch("/registry/", list.revision + 1).await?;
        {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let fresh: BTreeMap<String, Entry> = list
                .kvs
                .iter()
                .filter_map(|kv| {
                    parse(kv).map(|v| {
                        (
                            kv.key.clone(),
                            Entry {
                                obj: Arc::new(v),
                                rev: kv.mod_revision,
                            },
                        )
                    })
                })
                .collect();
            if st.rev > 0 {
                // A relist after a broken watch: tell watchers what changed meanwhile.
                let mut diffs = Vec::new();
                for (k, e) in &fresh {
                    match st.objects.get(k) {
                        Some(old) if old.rev == e.rev => {}
                        Some(old) => diffs.push(Event {
                            change: Change::Modified,
                            key: k.clone(),
                            rev: e.rev,
                            obj: e.obj.clone(),
                            prev: Some(old.obj.clone()),
                            json: Default::default(),
                        }),
                        None => diffs.push(Event {
                            change: Change::Added,
                            key: k.clone(),
                            rev: e.rev,
                            obj: e.obj.clone(),
                            prev: None,
                            json: Default::default(),
                        }),
                    }
                }
                for (k, old) in &st.objects {
                    if !fresh.contains_key(k) {
                        let mut gone = (*old.obj).clone();
                        set_rv(&mut gone, list.revision);
                        diffs.push(Event {
                            change: Change::Deleted,
                            key: k.clone(),
                            rev: list.revision,
                            obj: Arc::new(gone),
                            prev: Some(old.obj.clone()),
                            json: Default::default(),
                        });
                    }
                }
                diffs.sort_by_key(|e| e.rev);
                for e in diffs {
                    let e = Arc::new(e);
                    st.history.push_back((Instant::now(), e.clone()));
                    let _ = self.events.send(e);
                }
            } else {
                st.oldest = list.revision;
            }
            st.objects = fresh;
            st.rev = st.rev.max(list.revision);
        }
        self.rev.send_replace(list.revision);
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        use futures_util::StreamExt;
        while let Some(ev) = stream.next().await {
            let ev = ev?;
            self.apply(ev);
        }
        Err(store::Error::Backend("the store's watch ended".into()))
    }

    fn apply(&self, ev: store::WatchEvent) {
        let rev = ev.kv.mod_revision;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if rev <= st.rev {
            return;
        }
        let prev = st.objects.get(&ev.kv.key).map(|e| e.obj.clone());
        let event = match ev.kind {
            EventKind::Put => {
                let Some(v) = parse(&ev.kv) else {
                    st.rev = rev;
                    return;
                };
                let obj = Arc::new(v);
                st.objects.insert(
                    ev.kv.key.clone(),
                    Entry {
                        obj: obj.clone(),
                        rev,
                    },
                );
                Event {
                    change: if prev.is_some() {
                        Change::Modified
                    } else {
                        Change::Added
                    },
                    key: ev.kv.key,
                    rev,
                    obj,
                    prev,
                    json: Default::default(),
                }
            }
            EventKind::Delete => {
                st.objects.remove(&ev.kv.key);
                let Some(last) = prev
                    .as_ref()
                    .map(|p| (**p).clone())
                    .or_else(|| ev.prev_kv.as_ref().and_then(parse))
                else {
                    st.rev = rev;
                    return;
                };
                let mut gone = last;
                set_rv(&mut gone, rev);
                Event {
                    change: Change::Deleted,
                    key: ev.kv.key,
                    rev,
                    obj: Arc::new(gone),
                    prev,
                    json: Default::default(),
                }
            }
        };
        let event = Arc::new(event);
        st.rev = rev;
        let now = Instant::now();
        st.history.push_back((now, event.clone()));
        while let Some((t, e)) = st.history.front() {
            let too_many = st.history.len() > self.retention.max_events;
            if too_many || now.duration_since(*t) > self.retention.window {
                st.oldest = e.rev;
                st.history.pop_front();
            } else {
                break;
            }
        }
        // Send while holding the lock so a watcher that subscribes under the lock sees every
        // event after its snapshot exactly once.
        let _ = self.events.send(event);
        drop(st);
        self.rev.send_replace(rev);
    }

    /// The revision the cache has reached.
    pub fn revision(&self) -> Revision {
        *self.rev.borrow()
    }

    /// Waits until the cache has reached `rev`; `false` after `timeout`.
    pub async fn wait_for(&self, rev: Revision, timeout: Duration) -> bool {
        let mut rx = self.rev.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= rev))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// One object.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.objects.get(key).cloned()
    }

    /// Objects whose keys start with `prefix`, after `start_after`, at most `limit` of those
    /// for which `keep` holds (0: all); also says whether more would follow.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> (Snapshot, bool) {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let lower = match start_after {
            Some(k) => std::ops::Bound::Excluded(k.to_string()),
            None => std::ops::Bound::Included(prefix.to_string()),
        };
        let mut items = Vec::new();
        let mut more = false;
        for (k, e) in st.objects.range((lower, std::ops::Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            if !keep(&e.obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push((k.clone(), e.clone()));
        }
        (Snapshot { items, rev: st.rev }, more)
    }

    /// Counts the objects under `prefix` after `start_after`.
    pub fn count_after(&self, prefix: &str, start_after: &str) -> usize {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.objects
            .range((
                std::ops::Bound::Excluded(start_after.to_string()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .count()
    }

    /// Counts objects per key prefix (for metrics).
    pub fn count(&self, prefix: &str) -> usize {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .count()
    }

    /// Starts a watch: where it begins and the receiver of what follows. `from` = `None`
    /// starts with the current objects.
    pub fn watch(
        &self,
        prefix: &str,
        from: Option<Revision>,
    ) -> Result<(Start, broadcast::Receiver<Arc<Event>>), TooOld> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let rx = self.events.subscribe();
        let start = match from {
            None => Start::Current {
                objects: st
                    .objects
                    .range(prefix.to_string()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect(),
                rev: st.rev,
            },
            Some(rev) => {
                if rev < st.oldest {
                    return Err(TooOld {
                        requested: rev,
                        oldest: st.oldest,
                    });
                }
                Start::After(
                    st.history
                        .iter()
                        .filter(|(_, e)| e.rev > rev && e.key.starts_with(prefix))
                        .map(|(_, e)| e.clone())
                        .collect(),
                )
            }
        };
        Ok((start, rx))
    }

    /// Every object (for the garbage collector and namespace cleanup).
    pub fn all(&self) -> Vec<(String, Entry)> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.objects
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect()
    }

    /// A receiver of every new change.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }
}
