//! The etcd backend: the store's operations mapped onto etcd's v3 API.
//!
//! Every key lives under the store's prefix (`prefix + key`), so several Wharf servers or
//! tests can share one etcd. The revision is etcd's own (global to the etcd cluster, so with
//! other users of the same etcd it may advance by more than one between this store's writes).
//!
//! - create: `txn(create_revision(k) == 0 → put)`
//! - update: `txn(create_revision(k) > 0 ∧ mod_revision(k) == expected → put(prev_kv), else get)`
//! - delete: the same compare, `→ delete(prev_kv), else get`
//! - list: one range at a revision with a limit; continuation ranges from `start_after + "\0"`
//! - watch: etcd's watch with `prev_kv` from the start revision; a compacted start becomes
//!   [`Error::Compacted`].

use std::collections::VecDeque;

use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType,
    GetOptions, KvClient, PutOptions, Txn, TxnOp, TxnOpResponse, WatchClient, WatchOptions,
};
use futures_util::StreamExt;

use crate::{
    Error, EventKind, KeyValue, ListOptions, ListResult, MAX_VALUE_BYTES, Revision, Store,
    WatchEvent, WatchStream,
};

/// gRPC responses (lists, watch batches) may be far larger than tonic's 4 MiB default.
const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// The store over an etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
    prefix: String,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn backend(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("etcd: {context}: {e}"))
}

fn grpc_message(e: &etcd_client::Error) -> Option<&str> {
    match e {
        etcd_client::Error::GRpcStatus(s) => Some(s.message()),
        _ => None,
    }
}

fn is_compacted(e: &etcd_client::Error) -> bool {
    grpc_message(e).is_some_and(|m| m.contains("required revision has been compacted"))
}

fn is_future(e: &etcd_client::Error) -> bool {
    grpc_message(e).is_some_and(|m| m.contains("required revision is a future revision"))
}

/// The end of etcd's range holding every key that starts with `prefix` (`"\0"`: every key).
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// etcd refuses an empty key; the smallest key is "\0".
fn nonempty(key: Vec<u8>) -> Vec<u8> {
    if key.is_empty() { vec![0] } else { key }
}

fn check_size(key: &str, value: &Bytes) -> Result<(), Error> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::TooLarge {
            key: key.to_string(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

impl EtcdStore {
    /// Connects to the etcd cluster at `endpoints` (e.g. `http://127.0.0.1:2379`) and keeps
    /// every key under `prefix` (may be empty). Fails if no endpoint answers.
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self, Error> {
        let options = ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_keep_alive(
                std::time::Duration::from_secs(10),
                std::time::Duration::from_secs(10),
            );
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| backend(&format!("connecting to {}", endpoints.join(",")), e))?;
        let store = Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            prefix: prefix.to_string(),
            endpoints: endpoints.to_vec(),
        };
        store.current_revision().await.map_err(|e| {
            Error::Backend(format!("etcd: no answer from {}: {e}", endpoints.join(",")))
        })?;
        Ok(store)
    }

    /// The prefix every key is stored under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(key.as_bytes());
        k
    }

    fn user_key(&self, full: &[u8]) -> Result<String, Error> {
        let key = full.strip_prefix(self.prefix.as_bytes()).ok_or_else(|| {
            Error::Backend(format!(
                "etcd: key {} is outside the prefix {}",
                String::from_utf8_lossy(full),
                self.prefix
            ))
        })?;
        String::from_utf8(key.to_vec())
            .map_err(|e| Error::Backend(format!("etcd: a key is not UTF-8: {e}")))
    }

    fn kv_of(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue, Error> {
        Ok(KeyValue {
            key: self.user_key(kv.key())?,
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    /// A key no user key can equal, for requests that only want a response header.
    fn probe_key(&self) -> Vec<u8> {
        let mut k = self.prefix.as_bytes().to_vec();
        k.push(0);
        k
    }

    /// The error for a read at `requested`, which etcd said was compacted.
    async fn compacted_error(&self, requested: Revision) -> Error {
        match self.compacted_revision().await {
            Ok(compacted) => Error::Compacted {
                requested,
                compacted,
            },
            Err(e) => e,
        }
    }

    /// The error for a read at `requested`, which etcd said is in the future.
    async fn future_error(&self, requested: Revision) -> Error {
        match self.current_revision().await {
            Ok(current) => Error::FutureRevision { requested, current },
            Err(e) => e,
        }
    }

    /// Whether `revision` is not compacted (a range at it works, or it is in the future).
    async fn readable_at(&self, revision: Revision) -> Result<bool, Error> {
        let opts = GetOptions::new().with_revision(revision).with_count_only();
        match self.kv.clone().get(self.probe_key(), Some(opts)).await {
            Ok(_) => Ok(true),
            Err(e) if is_compacted(&e) => Ok(false),
            // Not reached yet, so not compacted either.
            Err(e) if is_future(&e) => Ok(true),
            Err(e) => Err(backend(&format!("reading at revision {revision}"), e)),
        }
    }

    /// The txn's response to a failed compare: the key's current value via the `or_else` get.
    fn current_from(&self, resp: &etcd_client::TxnResponse) -> Result<Option<KeyValue>, Error> {
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                return get.kvs().first().map(|kv| self.kv_of(kv)).transpose();
            }
        }
        Ok(None)
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision, Error> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| Error::Backend("etcd: a response had no header".into()))
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision, Error> {
        let resp = self
            .kv
            .clone()
            .get(self.probe_key(), Some(GetOptions::new().with_count_only()))
            .await
            .map_err(|e| backend("reading the current revision", e))?;
        header_revision(resp.header())
    }

    /// etcd does not report its compacted revision directly; it is found as the oldest
    /// revision a range still answers at (a binary search of cheap count-only ranges).
    async fn compacted_revision(&self) -> Result<Revision, Error> {
        if self.readable_at(1).await? {
            return Ok(0);
        }
        // Revision 1 is compacted, the current one never is: the answer is in (lo, hi].
        let (mut lo, mut hi) = (1, self.current_revision().await?);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.readable_at(mid).await? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        let resp = self
            .kv
            .clone()
            .get(self.full_key(key), None)
            .await
            .map_err(|e| backend(&format!("reading {key}"), e))?;
        resp.kvs().first().map(|kv| self.kv_of(kv)).transpose()
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult, Error> {
        let full_prefix = self.full_key(prefix);
        let end = range_end(&full_prefix);
        let mut start = full_prefix.clone();
        if let Some(after) = opts.start_after.as_deref() {
            let mut after = self.full_key(after);
            after.push(0);
            if after > start {
                start = after;
            }
        }
        let requested = opts.revision.filter(|r| *r > 0);
        let limit = opts.limit.filter(|l| *l > 0);
        let mut get = GetOptions::new()
            .with_range(end)
            .with_revision(requested.unwrap_or(0));
        if let Some(limit) = limit {
            get = get.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let resp = match self.kv.clone().get(nonempty(start), Some(get)).await {
            Ok(resp) => resp,
            Err(e) if is_compacted(&e) => {
                return Err(self.compacted_error(requested.unwrap_or(0)).await);
            }
            Err(e) if is_future(&e) => {
                return Err(self.future_error(requested.unwrap_or(0)).await);
            }
            Err(e) => return Err(backend(&format!("listing {prefix}"), e)),
        };
        let kvs = resp
            .kvs()
            .iter()
            .map(|kv| self.kv_of(kv))
            .collect::<Result<Vec<_>, _>>()?;
        let total = u64::try_from(resp.count()).unwrap_or(0);
        let remaining = total.saturating_sub(kvs.len() as u64);
        let revision = match requested {
            Some(r) => r,
            None => header_revision(resp.header())?,
        };
        Ok(ListResult {
            kvs,
            revision,
            remaining,
        })
    }

    async fn count(&self, prefix: &str) -> Result<u64, Error> {
        let full_prefix = self.full_key(prefix);
        let opts = GetOptions::new()
            .with_range(range_end(&full_prefix))
            .with_count_only();
        let resp = self
            .kv
            .clone()
            .get(nonempty(full_prefix), Some(opts))
            .await
            .map_err(|e| backend(&format!("counting {prefix}"), e))?;
        Ok(u64::try_from(resp.count()).unwrap_or(0))
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, Error> {
        check_size(key, &value)?;
        let k = self.full_key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(k, value.to_vec(), None)]);
        let resp = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| backend(&format!("creating {key}"), e))?;
        if !resp.succeeded() {
            return Err(Error::AlreadyExists {
                key: key.to_string(),
            });
        }
        let rev = header_revision(resp.header())?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue, Error> {
        check_size(key, &value)?;
        let k = self.full_key(key);
        let txn = Txn::new()
            .when([
                Compare::create_revision(k.clone(), CompareOp::Greater, 0),
                Compare::mod_revision(k.clone(), CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(
                k.clone(),
                value.to_vec(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(k, None)]);
        let resp = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| backend(&format!("updating {key}"), e))?;
        if !resp.succeeded() {
            return Err(match self.current_from(&resp)? {
                None => Error::NotFound {
                    key: key.to_string(),
                },
                Some(current) => Error::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Some(Box::new(current)),
                },
            });
        }
        let rev = header_revision(resp.header())?;
        let create_revision = resp
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Put(put) => put.prev_key().map(|kv| kv.create_revision()),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Backend(format!(
                    "etcd: the update of {key} returned no previous value"
                ))
            })?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision: rev,
        })
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), Error> {
        let k = self.full_key(key);
        let mut when = vec![Compare::create_revision(k.clone(), CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            when.push(Compare::mod_revision(k.clone(), CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(when)
            .and_then([TxnOp::delete(
                k.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(k, None)]);
        let resp = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| backend(&format!("deleting {key}"), e))?;
        if !resp.succeeded() {
            return Err(match self.current_from(&resp)? {
                None => Error::NotFound {
                    key: key.to_string(),
                },
                Some(current) => Error::Conflict {
                    key: key.to_string(),
                    expected: expected.unwrap_or(0),
                    current: Some(Box::new(current)),
                },
            });
        }
        let rev = header_revision(resp.header())?;
        let prev = resp
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Delete(del) => del.prev_kvs().first().cloned(),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Backend(format!(
                    "etcd: the delete of {key} returned no previous value"
                ))
            })?;
        Ok((self.kv_of(&prev)?, rev))
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream, Error> {
        // etcd reports a compacted start asynchronously on the stream; a range at the start
        // revision tells it at once in the common case.
        if start > 0 && !self.readable_at(start).await? {
            return Err(self.compacted_error(start).await);
        }
        let full_prefix = self.full_key(prefix);
        let opts = WatchOptions::new()
            .with_range(range_end(&full_prefix))
            .with_prev_key()
            .with_start_revision(start);
        let (watcher, stream) = self
            .watch
            .clone()
            .watch(nonempty(full_prefix), Some(opts))
            .await
            .map_err(|e| backend(&format!("watching {prefix}"), e))?;
        let state = EtcdWatch {
            store: self.clone(),
            _watcher: watcher,
            stream,
            pending: VecDeque::new(),
            prefix: prefix.to_string(),
            start,
            done: false,
        };
        Ok(futures_util::stream::unfold(state, EtcdWatch::next).boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        match self
            .kv
            .clone()
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
        {
            Ok(_) => Ok(()),
            // Already compacted at or past `revision`: nothing to do.
            Err(e) if is_compacted(&e) => Ok(()),
            Err(e) if is_future(&e) => Err(self.future_error(revision).await),
            Err(e) => Err(backend(&format!("compacting to {revision}"), e)),
        }
    }
}

/// One etcd watch as a stream of [`WatchEvent`]s.
struct EtcdWatch {
    store: EtcdStore,
    /// Dropping the watcher closes the request side of the gRPC stream, ending the watch.
    _watcher: etcd_client::Watcher,
    stream: etcd_client::WatchStream,
    pending: VecDeque<Result<WatchEvent, Error>>,
    prefix: String,
    start: Revision,
    done: bool,
}

impl EtcdWatch {
    async fn next(mut self) -> Option<(Result<WatchEvent, Error>, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if item.is_err() {
                    self.pending.clear();
                    self.done = true;
                }
                return Some((item, self));
            }
            if self.done {
                return None;
            }
            let fail = |msg: String| Error::Backend(msg);
            match self.stream.message().await {
                Ok(Some(resp)) => {
                    if resp.compact_revision() > 0 {
                        self.pending.push_back(Err(Error::Compacted {
                            requested: self.start,
                            compacted: resp.compact_revision(),
                        }));
                        continue;
                    }
                    if resp.canceled() {
                        self.pending.push_back(Err(fail(format!(
                            "etcd: the watch on {} was canceled: {}",
                            self.prefix,
                            resp.cancel_reason()
                        ))));
                        continue;
                    }
                    for event in resp.events() {
                        let item = self.event(event);
                        let stop = item.is_err();
                        self.pending.push_back(item);
                        if stop {
                            break;
                        }
                    }
                }
                Ok(None) => {
                    self.pending.push_back(Err(fail(format!(
                        "etcd: the watch stream on {} ended",
                        self.prefix
                    ))));
                }
                Err(e) => {
                    self.pending
                        .push_back(Err(backend(&format!("watching {}", self.prefix), e)));
                }
            }
        }
    }

    fn event(&self, event: &etcd_client::Event) -> Result<WatchEvent, Error> {
        let kv = event
            .kv()
            .ok_or_else(|| Error::Backend("etcd: a watch event had no key-value".into()))?;
        let prev_kv = event.prev_kv().map(|p| self.store.kv_of(p)).transpose()?;
        match event.event_type() {
            EventType::Put => Ok(WatchEvent {
                kind: EventKind::Put,
                kv: self.store.kv_of(kv)?,
                prev_kv,
            }),
            EventType::Delete => Ok(WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: self.store.user_key(kv.key())?,
                    value: Bytes::new(),
                    create_revision: prev_kv.as_ref().map_or(0, |p| p.create_revision),
                    mod_revision: kv.mod_revision(),
                },
                prev_kv,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_covers_the_prefix() {
        assert_eq!(range_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b""), vec![0]);
        assert_eq!(range_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn empty_keys_become_the_smallest_key() {
        assert_eq!(nonempty(Vec::new()), vec![0]);
        assert_eq!(nonempty(b"/x".to_vec()), b"/x".to_vec());
    }
}
