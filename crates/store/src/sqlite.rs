//! The default backend: one SQLite file holding an append-only log, in the manner of kine.
//!
//! Every write appends one row to the `log` table; the row's id **is** the revision. A row
//! records the key, whether it created or deleted the key, the key's create revision, the
//! revision it supersedes (`prev_revision`), the new value and the old one (so a watch event
//! carries its `prev_kv` even after the older row was compacted away). A unique index on
//! `(name, prev_revision)` makes compare-and-swap safe: two writes can never both supersede
//! the same row.
//!
//! Writes go to one writer thread over a channel. The thread takes every request waiting
//! (up to [`Options::max_batch`]) and commits them in **one** transaction (group commit), so
//! many concurrent clients share one fsync; each caller's future resolves only after that
//! commit, and only then are the batch's events broadcast to watchers, in revision order.
//!
//! Durability: the file is in WAL mode with `synchronous=FULL` by default, so a write whose
//! future resolved `Ok` is in the fsynced WAL; it survives `kill -9` of the process and also a
//! power loss. ([`Synchronous::Normal`] survives `kill -9` — the WAL is written before the
//! commit returns, only its fsync is deferred — but may lose the newest commits on power loss.)
//!
//! Reads run on a small pool of read connections on tokio's blocking threads; each read is
//! one read transaction, so a list sees exactly one revision.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{broadcast, oneshot};

use crate::{
    Error, EventKind, KeyValue, ListOptions, ListResult, MAX_VALUE_BYTES, Revision, Store,
    WatchEvent, WatchStream,
};

/// How hard SQLite syncs the write-ahead log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync the WAL at every commit: acknowledged writes survive `kill -9` and power loss.
    #[default]
    Full,
    /// No fsync at commit: acknowledged writes survive `kill -9` of the process (the WAL is
    /// in the kernel's page cache) but the newest ones may be lost on power loss.
    Normal,
}

/// Tuning for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The WAL sync level (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// The most writes committed in one transaction (default 512).
    pub max_batch: usize,
    /// How many committed batches a watcher may fall behind before its stream ends with an
    /// error (default 8192).
    pub watch_buffer: usize,
    /// How many idle read connections are kept (default 4).
    pub read_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            max_batch: 512,
            watch_buffer: 8192,
            read_connections: 4,
        }
    }
}

/// The SQLite store. Cheap to share behind an `Arc`; dropping the last handle stops the
/// writer thread after it committed everything already acknowledged.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("revision", &self.inner.current.load(Ordering::Acquire))
            .finish()
    }
}

/// A batch of committed events, as broadcast to watchers.
type Batch = Arc<Vec<WatchEvent>>;

struct Inner {
    path: PathBuf,
    opts: Options,
    writer: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    events: broadcast::Sender<Batch>,
    current: Arc<AtomicI64>,
    compacted: Arc<AtomicI64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop once it drained what was queued.
        drop(self.writer.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "SQLite writer thread panicked");
        }
    }
}

enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

enum Outcome {
    Written(KeyValue),
    Deleted(KeyValue, Revision),
    Compacted,
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Outcome, Error>>,
}

fn backend(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("sqlite: {context}: {e}"))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    name BLOB NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS log_name_prev ON log (name, prev_revision);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

const ROW_COLUMNS: &str =
    "l.id, l.name, l.created, l.deleted, l.create_revision, l.prev_revision, l.value, l.old_value";

fn open_connection(path: &Path, sync: Synchronous) -> Result<Connection, Error> {
    let conn =
        Connection::open(path).map_err(|e| backend(&format!("opening {}", path.display()), e))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| backend("setting busy timeout", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| backend("enabling WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Backend(format!(
            "sqlite: {} refused WAL mode (journal mode is {mode})",
            path.display()
        )));
    }
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA foreign_keys=OFF;"
    ))
    .map_err(|e| backend("setting pragmas", e))?;
    Ok(conn)
}

/// One row of the log.
struct Row {
    id: Revision,
    name: String,
    created: bool,
    deleted: bool,
    create_revision: Revision,
    prev_revision: Revision,
    value: Vec<u8>,
    old_value: Option<Vec<u8>>,
}

impl Row {
    fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let name: Vec<u8> = r.get(1)?;
        let name = String::from_utf8(name).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Blob, Box::new(e))
        })?;
        Ok(Row {
            id: r.get(0)?,
            name,
            created: r.get(2)?,
            deleted: r.get(3)?,
            create_revision: r.get(4)?,
            prev_revision: r.get(5)?,
            value: r.get(6)?,
            old_value: r.get(7)?,
        })
    }

    fn kv(self) -> KeyValue {
        KeyValue {
            key: self.name,
            value: Bytes::from(self.value),
            create_revision: self.create_revision,
            mod_revision: self.id,
        }
    }

    fn event(self) -> WatchEvent {
        let prev_kv = if self.created {
            None
        } else {
            Some(KeyValue {
                key: self.name.clone(),
                value: Bytes::from(self.old_value.unwrap_or_default()),
                create_revision: self.create_revision,
                mod_revision: self.prev_revision,
            })
        };
        let kind = if self.deleted {
            EventKind::Delete
        } else {
            EventKind::Put
        };
        WatchEvent {
            kind,
            kv: KeyValue {
                key: self.name,
                value: if self.deleted {
                    Bytes::new()
                } else {
                    Bytes::from(self.value)
                },
                create_revision: self.create_revision,
                mod_revision: self.id,
            },
            prev_kv,
        }
    }
}

/// The byte range `[lower, upper)` holding every key that starts with `prefix`. Keys are UTF-8,
/// which never contains the byte 0xFF, so incrementing the last byte (or 0xFF for an empty
/// prefix) is a bound above every key with the prefix.
fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let lower = prefix.as_bytes().to_vec();
    let mut upper = lower.clone();
    match upper.last_mut() {
        Some(last) => *last += 1,
        None => upper.push(0xFF),
    }
    (lower, upper)
}

/// The current and the compacted revision as one read transaction sees them.
fn snapshot(tx: &Transaction<'_>) -> Result<(Revision, Revision), Error> {
    let current: Revision = tx
        .query_row("SELECT COALESCE(MAX(id), 1) FROM log", [], |r| r.get(0))
        .map_err(|e| backend("reading the current revision", e))?;
    let compacted = read_compacted(tx)?;
    Ok((current.max(1), compacted))
}

fn read_compacted(conn: &Connection) -> Result<Revision, Error> {
    conn.query_row("SELECT value FROM meta WHERE name = 'compacted'", [], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
    .map(|v| v.unwrap_or(0))
    .map_err(|e| backend("reading the compacted revision", e))
}

/// Live keys in `[lower, upper)` as of `rev`: the newest row of each key with id <= `rev` that
/// is not a delete.
const LIVE_AT: &str = "FROM log l JOIN (SELECT MAX(id) AS mid FROM log \
     WHERE name >= ?1 AND name < ?2 AND id <= ?3 GROUP BY name) m ON l.id = m.mid \
     WHERE l.deleted = 0";

fn count_live(tx: &Connection, lower: &[u8], upper: &[u8], rev: Revision) -> Result<u64, Error> {
    let n: i64 = tx
        .prepare_cached(&format!("SELECT COUNT(*) {LIVE_AT}"))
        .and_then(|mut s| s.query_row(params![lower, upper, rev], |r| r.get(0)))
        .map_err(|e| backend("counting keys", e))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path` with default [`Options`].
    /// An existing file continues its revision counter.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_with(path, Options::default())
    }

    /// Opens (creating if needed) the store in the file at `path`.
    pub fn open_with(path: &Path, opts: Options) -> Result<Self, Error> {
        let conn = open_connection(path, opts.synchronous)?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| backend(&format!("creating the schema in {}", path.display()), e))?;
        let current: Revision = conn
            .query_row("SELECT COALESCE(MAX(id), 1) FROM log", [], |r| r.get(0))
            .map_err(|e| backend("reading the current revision", e))?;
        let compacted = read_compacted(&conn)?;
        let current = Arc::new(AtomicI64::new(current.max(1)));
        let compacted = Arc::new(AtomicI64::new(compacted));
        let (events, _) = broadcast::channel(opts.watch_buffer.max(16));
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            conn,
            rx,
            events: events.clone(),
            current: current.clone(),
            compacted: compacted.clone(),
            max_batch: opts.max_batch.max(1),
        };
        let thread = std::thread::Builder::new()
            .name("store-sqlite-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| backend("starting the writer thread", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                opts,
                writer: Some(tx),
                thread: Some(thread),
                readers: Mutex::new(Vec::new()),
                events,
                current,
                compacted,
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write(&self, op: Op) -> Result<Outcome, Error> {
        let (reply, rx) = oneshot::channel();
        let sender = self
            .inner
            .writer
            .as_ref()
            .ok_or_else(|| Error::Backend("sqlite: the store is closed".into()))?;
        sender
            .send(Request { op, reply })
            .map_err(|_| Error::Backend("sqlite: the writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Backend("sqlite: the writer thread dropped the request".into()))?
    }

    /// Runs `f` in a read transaction on a pooled read connection.
    async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Error> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut p| p.pop());
            let mut conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path, inner.opts.synchronous)?,
            };
            let result = {
                let tx = conn
                    .transaction()
                    .map_err(|e| backend("starting a read transaction", e))?;
                f(&tx)
                // Dropping the transaction rolls it back: nothing was written.
            };
            if let Ok(mut pool) = inner.readers.lock()
                && pool.len() < inner.opts.read_connections
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| backend("read task", e))?
    }
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

fn unexpected() -> Error {
    Error::Backend("sqlite: the writer answered with an unexpected outcome".into())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn current_revision(&self) -> Result<Revision, Error> {
        Ok(self.inner.current.load(Ordering::Acquire))
    }

    async fn compacted_revision(&self) -> Result<Revision, Error> {
        Ok(self.inner.compacted.load(Ordering::Acquire))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        let key = key.as_bytes().to_vec();
        self.read(move |tx| {
            let row = tx
                .prepare_cached(&format!(
                    "SELECT {ROW_COLUMNS} FROM log l WHERE l.name = ?1 ORDER BY l.id DESC LIMIT 1"
                ))
                .and_then(|mut s| s.query_row([&key], Row::from_sql).optional())
                .map_err(|e| backend("reading a key", e))?;
            Ok(row.filter(|r| !r.deleted).map(Row::kv))
        })
        .await
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListResult, Error> {
        let (lower, upper) = prefix_range(prefix);
        let prefix = prefix.to_string();
        let opts = opts.clone();
        self.read(move |tx| {
            let (current, compacted) = snapshot(tx)?;
            let rev = match opts.revision {
                Some(r) if r > 0 => r,
                _ => current,
            };
            if rev > current {
                return Err(Error::FutureRevision {
                    requested: rev,
                    current,
                });
            }
            if rev < compacted {
                return Err(Error::Compacted {
                    requested: rev,
                    compacted,
                });
            }
            let mut lower = lower;
            if let Some(after) = opts.start_after.as_deref()
                && after.as_bytes() >= lower.as_slice()
            {
                lower = after.as_bytes().to_vec();
                lower.push(0);
            }
            let limit = opts.limit.filter(|l| *l > 0);
            let fetch = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX - 1) + 1);
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {ROW_COLUMNS} {LIVE_AT} ORDER BY l.name LIMIT ?4"
                ))
                .map_err(|e| backend("preparing a list", e))?;
            let mut kvs = stmt
                .query_map(params![lower, upper, rev, fetch], Row::from_sql)
                .and_then(|rows| rows.map(|r| r.map(Row::kv)).collect::<Result<Vec<_>, _>>())
                .map_err(|e| backend(&format!("listing {prefix}"), e))?;
            let mut remaining = 0;
            if let Some(limit) = limit
                && kvs.len() > limit
            {
                kvs.truncate(limit);
                if let Some(last) = kvs.last() {
                    let mut after = last.key.as_bytes().to_vec();
                    after.push(0);
                    remaining = count_live(tx, &after, &upper, rev)?;
                }
            }
            Ok(ListResult {
                kvs,
                revision: rev,
                remaining,
            })
        })
        .await
    }

    async fn count(&self, prefix: &str) -> Result<u64, Error> {
        let (lower, upper) = prefix_range(prefix);
        self.read(move |tx| count_live(tx, &lower, &upper, Revision::MAX))
            .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, Error> {
        check_size(key, &value)?;
        match self
            .write(Op::Create {
                key: key.to_string(),
                value,
            })
            .await?
        {
            Outcome::Written(kv) => Ok(kv),
            _ => Err(unexpected()),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue, Error> {
        check_size(key, &value)?;
        match self
            .write(Op::Update {
                key: key.to_string(),
                value,
                expected,
            })
            .await?
        {
            Outcome::Written(kv) => Ok(kv),
            _ => Err(unexpected()),
        }
    }

    async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(KeyValue, Revision), Error> {
        match self
            .write(Op::Delete {
                key: key.to_string(),
                expected,
            })
            .await?
        {
            Outcome::Deleted(kv, rev) => Ok((kv, rev)),
            _ => Err(unexpected()),
        }
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream, Error> {
        // Subscribe before reading history: whatever commits after the history read is then
        // in the live feed, and whatever the history already had is skipped by revision.
        let rx = self.inner.events.subscribe();
        let (lower, upper) = prefix_range(prefix);
        let (history, seen) = if start > 0 {
            self.read(move |tx| {
                let (current, compacted) = snapshot(tx)?;
                if start < compacted {
                    return Err(Error::Compacted {
                        requested: start,
                        compacted,
                    });
                }
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {ROW_COLUMNS} FROM log l WHERE l.id >= ?1 AND l.id <= ?2 \
                         AND l.name >= ?3 AND l.name < ?4 ORDER BY l.id"
                    ))
                    .map_err(|e| backend("preparing a history read", e))?;
                let events = stmt
                    .query_map(params![start, current, lower, upper], Row::from_sql)
                    .and_then(|rows| {
                        rows.map(|r| r.map(Row::event))
                            .collect::<Result<std::collections::VecDeque<_>, _>>()
                    })
                    .map_err(|e| backend("reading history", e))?;
                Ok((events, current))
            })
            .await?
        } else {
            (std::collections::VecDeque::new(), 0)
        };
        let state = LiveWatch {
            pending: history,
            rx,
            prefix: prefix.to_string(),
            seen,
            start,
            done: false,
        };
        Ok(futures_util::stream::unfold(state, LiveWatch::next).boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        match self.write(Op::Compact { revision }).await? {
            Outcome::Compacted => Ok(()),
            _ => Err(unexpected()),
        }
    }
}

/// The state of one watch stream: history first, then the live feed.
struct LiveWatch {
    pending: std::collections::VecDeque<WatchEvent>,
    rx: broadcast::Receiver<Batch>,
    prefix: String,
    /// Events at or below this revision came from history.
    seen: Revision,
    start: Revision,
    done: bool,
}

impl LiveWatch {
    async fn next(mut self) -> Option<(Result<WatchEvent, Error>, Self)> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some((Ok(ev), self));
            }
            if self.done {
                return None;
            }
            match self.rx.recv().await {
                Ok(batch) => {
                    let min = self.start.max(self.seen + 1);
                    self.pending.extend(
                        batch
                            .iter()
                            .filter(|e| {
                                e.kv.mod_revision >= min && e.kv.key.starts_with(&self.prefix)
                            })
                            .cloned(),
                    );
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.done = true;
                    return Some((
                        Err(Error::Backend(format!(
                            "sqlite: watch on {} fell behind by {n} commits; list and watch again",
                            self.prefix
                        ))),
                        self,
                    ));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return Some((
                        Err(Error::Backend("sqlite: the store was closed".into())),
                        self,
                    ));
                }
            }
        }
    }
}

/// The writer thread: owns the write connection, commits batches, broadcasts events.
struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Request>,
    events: broadcast::Sender<Batch>,
    current: Arc<AtomicI64>,
    compacted: Arc<AtomicI64>,
    max_batch: usize,
}

/// The newest row of a key, as the writer needs it.
struct Latest {
    id: Revision,
    deleted: bool,
    create_revision: Revision,
    value: Vec<u8>,
}

type Reply = oneshot::Sender<Result<Outcome, Error>>;

impl Writer {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let mut writes = Vec::with_capacity(batch.len());
            for req in batch {
                match req.op {
                    Op::Compact { revision } => {
                        self.commit_writes(std::mem::take(&mut writes));
                        let result = self.compact(revision).map(|()| Outcome::Compacted);
                        let _ = req.reply.send(result);
                    }
                    op => writes.push((op, req.reply)),
                }
            }
            self.commit_writes(writes);
        }
    }

    /// Applies `writes` in one transaction, then answers each caller and broadcasts events.
    fn commit_writes(&mut self, writes: Vec<(Op, Reply)>) {
        if writes.is_empty() {
            return;
        }
        let start = self.current.load(Ordering::Acquire);
        let mut rev = start;
        let mut answers = Vec::with_capacity(writes.len());
        let mut events = Vec::with_capacity(writes.len());
        let result = (|| -> Result<(), Error> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| backend("starting a write transaction", e))?;
            for (op, reply) in writes {
                let outcome = apply(&tx, &op, rev + 1)?;
                if let Ok((_, Some(event))) = &outcome {
                    rev += 1;
                    events.push(event.clone());
                }
                answers.push((reply, outcome.map(|(o, _)| o)));
            }
            tx.commit().map_err(|e| backend("committing", e))
        })();
        match result {
            Ok(()) => {
                self.current.store(rev, Ordering::Release);
                if !events.is_empty() {
                    // No receivers is fine: nobody watches.
                    let _ = self.events.send(Arc::new(events));
                }
                for (reply, outcome) in answers {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "SQLite write batch failed");
                // Nothing of the batch was committed; every caller learns so.
                let msg = e.to_string();
                for (reply, _) in answers {
                    let _ = reply.send(Err(Error::Backend(msg.clone())));
                }
            }
        }
    }

    fn compact(&mut self, revision: Revision) -> Result<(), Error> {
        let current = self.current.load(Ordering::Acquire);
        if revision > current {
            return Err(Error::FutureRevision {
                requested: revision,
                current,
            });
        }
        if revision <= self.compacted.load(Ordering::Acquire) {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend("starting a compaction", e))?;
        // A row older than `revision` goes when a newer row of its key is at or below
        // `revision` (the state at `revision` does not need it), and a delete older than
        // `revision` goes too (the key is absent at `revision`). Rows at or after `revision`
        // stay, so a watch from `revision` sees every event with its prev_kv.
        let removed = tx
            .execute(
                "DELETE FROM log WHERE id < ?1 AND (deleted = 1 OR EXISTS \
                 (SELECT 1 FROM log n WHERE n.name = log.name AND n.id > log.id AND n.id <= ?1))",
                [revision],
            )
            .map_err(|e| backend("compacting", e))?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('compacted', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [revision],
        )
        .map_err(|e| backend("recording the compacted revision", e))?;
        tx.commit()
            .map_err(|e| backend("committing a compaction", e))?;
        self.compacted.store(revision, Ordering::Release);
        tracing::debug!(revision, removed, "compacted the SQLite store");
        Ok(())
    }
}

fn latest(tx: &Transaction<'_>, key: &str) -> Result<Option<Latest>, Error> {
    tx.prepare_cached(
        "SELECT id, deleted, create_revision, value FROM log WHERE name = ?1 ORDER BY id DESC LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row([key.as_bytes()], |r| {
            Ok(Latest {
                id: r.get(0)?,
                deleted: r.get(1)?,
                create_revision: r.get(2)?,
                value: r.get(3)?,
            })
        })
        .optional()
    })
    .map_err(|e| backend(&format!("reading {key}"), e))
}

#[allow(clippy::too_many_arguments)]
fn insert(
    tx: &Transaction<'_>,
    id: Revision,
    key: &str,
    created: bool,
    deleted: bool,
    create_revision: Revision,
    prev_revision: Revision,
    value: &[u8],
    old_value: Option<&[u8]>,
) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, value, old_value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            id,
            key.as_bytes(),
            created,
            deleted,
            create_revision,
            prev_revision,
            value,
            old_value
        ])
    })
    .map_err(|e| backend(&format!("writing {key} at revision {id}"), e))?;
    Ok(())
}

/// Applies one write at revision `rev`. The outer error aborts the batch (SQLite failed);
/// the inner one is this caller's answer (conflict, not found, …), with the event to broadcast
/// when the write happened.
#[allow(clippy::type_complexity)]
fn apply(
    tx: &Transaction<'_>,
    op: &Op,
    rev: Revision,
) -> Result<Result<(Outcome, Option<WatchEvent>), Error>, Error> {
    let live_kv = |key: &str, l: &Latest| KeyValue {
        key: key.to_string(),
        value: Bytes::from(l.value.clone()),
        create_revision: l.create_revision,
        mod_revision: l.id,
    };
    match op {
        Op::Create { key, value } => {
            let prev = latest(tx, key)?;
            if prev.as_ref().is_some_and(|l| !l.deleted) {
                return Ok(Err(Error::AlreadyExists { key: key.clone() }));
            }
            let prev_id = prev.map_or(0, |l| l.id);
            insert(tx, rev, key, true, false, rev, prev_id, value, None)?;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: rev,
                mod_revision: rev,
            };
            let event = WatchEvent {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev_kv: None,
            };
            Ok(Ok((Outcome::Written(kv), Some(event))))
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let Some(prev) = latest(tx, key)?.filter(|l| !l.deleted) else {
                return Ok(Err(Error::NotFound { key: key.clone() }));
            };
            if prev.id != *expected {
                return Ok(Err(Error::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: Some(Box::new(live_kv(key, &prev))),
                }));
            }
            insert(
                tx,
                rev,
                key,
                false,
                false,
                prev.create_revision,
                prev.id,
                value,
                Some(&prev.value),
            )?;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: prev.create_revision,
                mod_revision: rev,
            };
            let event = WatchEvent {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev_kv: Some(live_kv(key, &prev)),
            };
            Ok(Ok((Outcome::Written(kv), Some(event))))
        }
        Op::Delete { key, expected } => {
            let Some(prev) = latest(tx, key)?.filter(|l| !l.deleted) else {
                return Ok(Err(Error::NotFound { key: key.clone() }));
            };
            if let Some(expected) = expected
                && prev.id != *expected
            {
                return Ok(Err(Error::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: Some(Box::new(live_kv(key, &prev))),
                }));
            }
            insert(
                tx,
                rev,
                key,
                false,
                true,
                prev.create_revision,
                prev.id,
                &[],
                Some(&prev.value),
            )?;
            let old = live_kv(key, &prev);
            let event = WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: key.clone(),
                    value: Bytes::new(),
                    create_revision: prev.create_revision,
                    mod_revision: rev,
                },
                prev_kv: Some(old.clone()),
            };
            Ok(Ok((Outcome::Deleted(old, rev), Some(event))))
        }
        Op::Compact { .. } => Ok(Err(Error::Backend(
            "sqlite: compaction is not a batched write".into(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_bounds_every_key_with_the_prefix() {
        let (lo, hi) = prefix_range("/a/");
        assert_eq!(lo, b"/a/".to_vec());
        assert_eq!(hi, b"/a0".to_vec());
        assert!(b"/a/zzz".as_slice() < hi.as_slice());
        assert!(b"/ab/".as_slice() >= hi.as_slice());
        let (lo, hi) = prefix_range("");
        assert!(lo.is_empty());
        assert!("\u{10FFFF}".as_bytes() < hi.as_slice());
    }

    #[tokio::test]
    async fn reopening_continues_the_revision_counter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(store.current_revision().await.expect("rev"), 1);
        let kv = store
            .create("/a", Bytes::from_static(b"1"))
            .await
            .expect("create");
        assert_eq!(kv.mod_revision, 2);
        store.compact(2).await.expect("compact");
        drop(store);
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.current_revision().await.expect("rev"), 2);
        assert_eq!(store.compacted_revision().await.expect("compacted"), 2);
        let kv = store
            .update("/a", Bytes::from_static(b"2"), 2)
            .await
            .expect("update");
        assert_eq!((kv.create_revision, kv.mod_revision), (2, 3));
    }

    #[tokio::test]
    async fn a_failed_write_does_not_consume_a_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("s.db")).expect("open");
        store.create("/k", Bytes::new()).await.expect("create");
        let err = store.create("/k", Bytes::new()).await.expect_err("exists");
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        let kv = store.create("/k2", Bytes::new()).await.expect("create");
        assert_eq!(kv.mod_revision, 3);
    }

    #[tokio::test]
    async fn a_watcher_that_falls_too_far_behind_gets_an_error_and_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            watch_buffer: 16,
            ..Options::default()
        };
        let store = SqliteStore::open_with(&dir.path().join("s.db"), opts).expect("open");
        let mut stream = store.watch("/lag/", 0).await.expect("watch");
        // Sequential writes commit one batch each: 40 batches overflow a buffer of 16.
        for i in 0..40 {
            store
                .create(&format!("/lag/{i}"), Bytes::new())
                .await
                .expect("create");
        }
        let mut events = 0;
        loop {
            match stream.next().await {
                Some(Ok(_)) => events += 1,
                Some(Err(e)) => {
                    assert!(e.to_string().contains("fell behind"), "{e}");
                    break;
                }
                None => panic!("the stream ended without an error"),
            }
        }
        assert!(events < 40, "a lagging watcher got every event");
        assert!(
            stream.next().await.is_none(),
            "the stream goes on after its error"
        );
    }
}
