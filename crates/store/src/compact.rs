//! Periodic compaction that keeps a time window of history, as kube-apiserver does.
//!
//! Every `interval` the [`Compactor`] notes `(now, current revision)`. It then compacts the
//! store to the newest noted revision that is at least `window` old: every revision written in
//! the last `window` stays readable and watchable, and older history is forgotten.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Revision, Store};

/// How much history is kept by default (kube-apiserver compacts every five minutes).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// How often the compactor looks at the store by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// A background task compacting a store; dropping it (or [`Compactor::stop`]) stops it.
#[derive(Debug)]
pub struct Compactor {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Compactor {
    /// Starts compacting `store` every `interval`, keeping at least `window` of history.
    /// Must be called inside a tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, window: Duration, interval: Duration) -> Compactor {
        let task = tokio::spawn(async move {
            let mut marks = Marks::default();
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let now = Instant::now();
                let current = match store.current_revision().await {
                    Ok(rev) => rev,
                    Err(e) => {
                        tracing::warn!(error = %e, "compactor: reading the current revision failed");
                        continue;
                    }
                };
                marks.note(now, current);
                if let Some(target) = marks.due(now, window) {
                    match store.compact(target).await {
                        Ok(()) => tracing::debug!(revision = target, "compactor: compacted"),
                        Err(e) => {
                            tracing::warn!(error = %e, revision = target, "compactor: compaction failed")
                        }
                    }
                }
            }
        });
        Compactor { task: Some(task) }
    }

    /// Stops the compactor and waits until it stopped (a compaction under way is abandoned;
    /// the backends apply a compaction atomically, so nothing is half done).
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The `(time, revision)` marks the compactor noted, oldest first.
#[derive(Debug, Default)]
struct Marks {
    marks: VecDeque<(Instant, Revision)>,
}

impl Marks {
    fn note(&mut self, at: Instant, revision: Revision) {
        self.marks.push_back((at, revision));
    }

    /// The newest noted revision at least `window` old at `now`, if any; marks older than it
    /// are forgotten (it stays, so the next call can still pick it).
    fn due(&mut self, now: Instant, window: Duration) -> Option<Revision> {
        let old_enough = self
            .marks
            .iter()
            .rposition(|(at, _)| now.saturating_duration_since(*at) >= window)?;
        self.marks.drain(..old_enough);
        self.marks.front().map(|(_, rev)| *rev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_mark_that_is_old_enough() {
        let t0 = Instant::now();
        let mut m = Marks::default();
        m.note(t0, 5);
        m.note(t0 + Duration::from_secs(30), 9);
        m.note(t0 + Duration::from_secs(60), 20);
        assert_eq!(
            m.due(t0 + Duration::from_secs(20), Duration::from_secs(60)),
            None
        );
        assert_eq!(
            m.due(t0 + Duration::from_secs(60), Duration::from_secs(60)),
            Some(5)
        );
        assert_eq!(
            m.due(t0 + Duration::from_secs(95), Duration::from_secs(60)),
            Some(9)
        );
        assert_eq!(m.marks.len(), 2, "older marks are forgotten");
        assert_eq!(
            m.due(t0 + Duration::from_secs(200), Duration::from_secs(60)),
            Some(20)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keeps_the_window_and_compacts_what_is_older() {
        use crate::sqlite::SqliteStore;
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("s.db")).expect("open"));
        let first = store
            .create("/c/a", bytes::Bytes::from_static(b"1"))
            .await
            .expect("create");
        let window = Duration::from_secs(2);
        let compactor = Compactor::spawn(store.clone(), window, Duration::from_millis(50));
        // Let the compactor note `first` as current, then write more.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = store
            .update("/c/a", bytes::Bytes::from_static(b"2"), first.mod_revision)
            .await
            .expect("update");
        // Within the window nothing is compacted.
        assert_eq!(store.compacted_revision().await.expect("compacted"), 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let compacted = store.compacted_revision().await.expect("compacted");
            if compacted >= first.mod_revision {
                assert!(
                    compacted <= second.mod_revision,
                    "compacted past what was written within the window"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the compactor never compacted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        compactor.stop().await;
        let stopped_at = store.compacted_revision().await.expect("compacted");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            store.compacted_revision().await.expect("compacted"),
            stopped_at
        );
    }
}
