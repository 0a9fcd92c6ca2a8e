//! A container's record: what `inspect` shows, kept on disk in
//! `<data-root>/containers/<id>/config.v2.json` so the daemon can restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::types;

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One run of a health check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthLog>,
}

/// `State`, as dockerd reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            health: None,
        }
    }
}

/// A mount as `inspect` lists it under `Mounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
    /// Not shown by dockerd; Wharf's own bookkeeping.
    #[serde(default, skip_serializing)]
    pub anonymous: bool,
    #[serde(default, skip_serializing)]
    pub tmpfs_options: String,
}

/// The persisted record of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// With the leading slash, as dockerd keeps it.
    pub name: String,
    pub created: DateTime<Utc>,
    pub path: String,
    pub args: Vec<String>,
    /// `Config` as answered by inspect (client's request over dockerd's defaults).
    pub config: Value,
    /// `HostConfig` as answered by inspect.
    pub host_config: Value,
    /// The image's id (`sha256:…`).
    pub image: String,
    /// The image's top layer chain id, the parent of the writable layer (None for an image
    /// without layers).
    pub parent_layer: Option<String>,
    pub state: State,
    pub restart_count: i64,
    /// Set by `stop`/`kill` from a user, cleared by `start`: the restart policy does not
    /// bring back a container someone stopped.
    pub manually_stopped: bool,
    pub mounts: Vec<MountPoint>,
    pub exec_ids: Vec<String>,
    /// The networks it joins, and while running its endpoints and published ports.
    #[serde(default)]
    pub network: crate::network::ContainerNet,
}

impl Record {
    pub fn config(&self) -> Result<types::Config> {
        types::parse("Config", &self.config)
    }

    pub fn host_config(&self) -> Result<types::HostConfig> {
        types::parse("HostConfig", &self.host_config)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The name without its slash.
    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}

/// What waiters watch: how many times the container has stopped, and whether it is gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub stops: u64,
    pub exit_code: i64,
    pub running: bool,
    pub removed: bool,
}

/// A container the engine knows: its record and what waiters watch.
#[derive(Debug)]
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    record: Mutex<Record>,
    lifecycle: watch::Sender<Lifecycle>,
    /// Serialises start, stop, restart and remove.
    pub op: tokio::sync::Mutex<()>,
    /// Attach requests made before start, waiting for the supervisor.
    pub pending_attach: Mutex<Vec<tokio::sync::oneshot::Sender<tokio::sync::oneshot::Sender<()>>>>,
}

impl Container {
    pub fn new(dir: PathBuf, record: Record) -> Container {
        let lifecycle = Lifecycle {
            stops: 0,
            exit_code: record.state.exit_code,
            running: record.state.running,
            removed: false,
        };
        Container {
            id: record.id.clone(),
            dir,
            record: Mutex::new(record),
            lifecycle: watch::channel(lifecycle).0,
            op: tokio::sync::Mutex::new(()),
            pending_attach: Mutex::new(Vec::new()),
        }
    }

    /// Reads `config.v2.json` from a container directory.
    pub fn load(dir: &Path) -> Result<Container> {
        let path = dir.join("config.v2.json");
        let data = std::fs::read(&path)
            .map_err(|e| Error::internal(format!("read {}: {e}", path.display())))?;
        let record: Record = serde_json::from_slice(&data)
            .map_err(|e| Error::internal(format!("parse {}: {e}", path.display())))?;
        Ok(Container::new(dir.to_path_buf(), record))
    }

    pub fn record(&self) -> Record {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads a part of the record.
    pub fn with<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&self.lock())
    }

    /// Changes the record and writes it to disk (atomically: a crash leaves the old or the
    /// new record, never half of one).
    pub fn update<T>(&self, f: impl FnOnce(&mut Record) -> T) -> Result<T> {
        let mut record = self.lock();
        let out = f(&mut record);
        let lifecycle = self.lifecycle.borrow().to_owned();
        if lifecycle.running != record.state.running {
            self.lifecycle
                .send_modify(|l| l.running = record.state.running);
        }
        write_atomic(
            &self.dir.join("config.v2.json"),
            &serde_json::to_vec(&*record)?,
        )?;
        Ok(out)
    }

    pub fn save(&self) -> Result<()> {
        self.update(|_| ())
    }

    pub fn is_running(&self) -> bool {
        self.with(|r| r.state.running)
    }

    /// Tells waiters the container stopped with this exit code.
    pub fn notify_stopped(&self, exit_code: i64) {
        self.lifecycle.send_modify(|l| {
            l.stops += 1;
            l.exit_code = exit_code;
            l.running = false;
        });
    }

    pub fn notify_removed(&self) {
        self.lifecycle.send_modify(|l| l.removed = true);
    }

    pub fn watch(&self) -> watch::Receiver<Lifecycle> {
        self.lifecycle.subscribe()
    }
}

/// Writes a file through a temporary name and a rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| Error::internal(format!("create {}: {e}", tmp.display())))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::internal(format!("write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::internal(format!("rename {}: {e}", path.display())))
}

/// RFC 3339 with nanoseconds, as Go's time.RFC3339Nano writes it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Validates a container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`) and adds the slash.
pub fn normalize_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => chars
            .clone()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        _ => false,
    };
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(format!("/{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("web").expect("valid"), "/web");
        assert_eq!(normalize_name("/a.b-c_d").expect("valid"), "/a.b-c_d");
        assert!(normalize_name("-x").is_err());
        assert!(normalize_name("a b").is_err());
        assert!(normalize_name("").is_err());
        // The issue's own acceptance names a container `w`.
        assert_eq!(normalize_name("w").expect("valid"), "/w");
    }
}
