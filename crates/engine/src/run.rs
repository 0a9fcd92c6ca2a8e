//! Running containers: start through a supervisor, stop, kill, pause, remove, the exit
//! monitor with restart policies and `--rm`, and re-adoption after a daemon restart.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::container::{Container, ZERO_TIME};
use crate::engine::{Engine, blocking, layer_error, remove_tree};
use crate::error::{Error, Result};
use crate::lifecycle::{now, parse_signal, wait_stopped};
use crate::spec;

/// A failed start in dockerd's words, which the docker CLI reads to pick its exit status
/// (127: "executable file not found" or "no such file or directory"; 126: "permission
/// denied"), and the exit code the container records.
fn start_error(e: Error, argv0: &str) -> (Error, i64) {
    let (inner, code) = if e.message.contains("not found in $PATH") {
        if argv0.contains('/') {
            (
                format!("exec: \"{argv0}\": stat {argv0}: no such file or directory"),
                127,
            )
        } else {
            (
                format!("exec: \"{argv0}\": executable file not found in $PATH"),
                127,
            )
        }
    } else if e.message.contains("does not have correct permissions") {
        (format!("exec: \"{argv0}\": permission denied"), 126)
    } else {
        return (e, 128);
    };
    (
        Error::invalid(format!(
            "failed to create task for container: failed to create shim task: OCI runtime create failed: wharf create failed: unable to start container process: {inner}: unknown"
        )),
        code,
    )
}

fn shim_error(e: shim::Error) -> Error {
    Error::internal(e.to_string())
}

/// Creates `wd` inside `rootfs` component by component, never following a symlink out of the
/// root (each existing component is resolved inside it).
fn make_workdir(rootfs: &std::path::Path, wd: &str, uid: u32, gid: u32) -> Result<()> {
    let mut so_far = String::new();
    for comp in wd.split('/').filter(|c| !c.is_empty() && *c != ".") {
        so_far.push('/');
        so_far.push_str(comp);
        let host = snapshot::resolve_in_root(rootfs, &so_far)
            .map_err(|e| Error::invalid(format!("working directory {wd}: {e}")))?;
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "working directory {wd}: {so_far} is not a directory"
                )));
            }
            Err(_) => {
                std::fs::create_dir(&host)
                    .map_err(|e| Error::internal(format!("create working directory {wd}: {e}")))?;
                let _ = std::os::unix::fs::lchown(&host, Some(uid), Some(gid));
            }
        }
    }
    Ok(())
}

/// Docker's restart backoff: 100 ms doubling, reset after 10 s of running.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let op = c.op.lock().await;
        let result = self.start_locked(c, false).await;
        drop(op);
        if let Err(e) = &result
            && e.kind != crate::error::Kind::NotModified
            && c.with(|r| r.host_config["AutoRemove"].as_bool().unwrap_or(false))
        {
            // dockerd removes an --rm container whose start failed; `docker run --rm`
            // waits for exactly that.
            if let Err(e) = self.remove(c, true, true).await {
                tracing::warn!("removing {} after its failed start: {e}", c.id);
            }
        }
        result
    }

    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>, restart: bool) -> Result<()> {
        let (running, paused, removing) =
            c.with(|r| (r.state.running, r.state.paused, r.state.dead));
        if removing {
            return Err(Error::conflict(format!(
                "container {} is marked for removal and cannot be started",
                c.id
            )));
        }
        if paused {
            return Err(Error::conflict(
                "cannot start a paused container, try unpause instead",
            ));
        }
        if running {
            return Err(Error::not_modified());
        }
        match self.launch(c).await {
            Ok(pid) => {
                c.update(|r| {
                    r.state.running = true;
                    r.state.restarting = false;
                    r.state.paused = false;
                    r.state.status = "running".into();
                    r.state.pid = pid;
                    r.state.exit_code = 0;
                    r.state.oom_killed = false;
                    r.state.error.clear();
                    r.state.started_at = now();
                    if !restart {
                        r.manually_stopped = false;
                    }
                    if let Some(h) = r.state.health.as_mut() {
                        h.status = "starting".into();
                        h.failing_streak = 0;
                    }
                })?;
                self.container_event(c, "start", &[]);
                self.monitor(c.clone());
                self.start_health(c.clone());
                Ok(())
            }
            Err(e) => {
                self.teardown_network(c).await;
                let (e, code) = start_error(e, &c.with(|r| r.path.clone()));
                let _ = c.update(|r| {
                    r.state.error = e.message.clone();
                    r.state.exit_code = code;
                    if r.state.status == "created" {
                        // A container that never ran stays "created", as with dockerd.
                    } else {
                        r.state.status = "exited".into();
                    }
                    r.state.restarting = false;
                });
                self.release_waiters_after_failure(c);
                Err(e)
            }
        }
    }

    fn release_waiters_after_failure(&self, c: &Container) {
        // Attach requests made before start end with the failed start.
        c.pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Mounts, writes the bundle, starts the supervisor, connects early attaches and starts
    /// the process. Returns the process's pid.
    async fn launch(self: &Arc<Self>, c: &Arc<Container>) -> Result<i64> {
        let t0 = std::time::Instant::now();
        let record = c.record();
        let rootfs = {
            let layers = self.layers.clone();
            let key = c.id.clone();
            let parent = record.parent_layer.clone();
            blocking(move || layers.prepare(&key, parent.as_deref()).map_err(layer_error)).await?
        };
        // The network namespace, endpoints and ports; hostname, hosts, resolv.conf.
        let config = record.config()?;
        let netns = self.setup_network(c).await?;
        let dir = &c.dir;
        let hostname_path = dir.join("hostname");
        let hosts_path = dir.join("hosts");
        let resolv_path = dir.join("resolv.conf");

        // dockerd creates a missing working directory (owned by the container's user).
        if !config.working_dir.is_empty() {
            let wd = config.working_dir.clone();
            let user = spec::resolve_user(&rootfs, &config.user)?;
            make_workdir(&rootfs, &wd, user.uid, user.gid)?;
        }
        // Named volumes that are still empty get the image's content at their path.
        for m in record
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && m.mode != "nocopy")
        {
            let inside = rootfs.join(m.destination.trim_start_matches('/'));
            let vol = std::path::PathBuf::from(&m.source);
            let empty = std::fs::read_dir(&vol)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            let marker = vol.parent().map(|p| p.join(".initialized"));
            let initialized = marker.as_ref().is_some_and(|m| m.exists());
            if empty && !initialized && inside.is_dir() {
                crate::volumes::copy_tree(&inside, &vol).map_err(|e| {
                    Error::internal(format!("copy image content into volume {}: {e}", m.name))
                })?;
            }
            if let Some(marker) = marker {
                let _ = std::fs::write(marker, b"");
            }
        }

        tracing::debug!(container = %c.id, elapsed = ?t0.elapsed(), "rootfs and files ready");
        let files = spec::Files {
            hostname: &hostname_path,
            hosts: &hosts_path,
            resolv_conf: &resolv_path,
            netns: netns.as_deref(),
        };
        let spec = spec::build(&record, &rootfs, &files)?;
        let state_dir = self.state_dir(&c.id);
        // A supervisor that died leaves its directory; a new start begins clean.
        let _ = remove_tree(&state_dir);
        std::fs::create_dir_all(&state_dir)?;
        std::fs::write(
            state_dir.join("config.json"),
            serde_json::to_vec_pretty(&spec)?,
        )?;
        {
            // Leftovers of a runtime container of the same id (a supervisor killed -9).
            let runtime_root = self.runtime_root();
            let id = c.id.clone();
            let _ = blocking(move || {
                let rt = runtime::Runtime::new(&runtime_root)?;
                let cid = runtime::ContainerId::new(&id)?;
                if let Ok(old) = rt.load(&cid) {
                    old.delete(true)?;
                }
                rt.remove_leftovers(&cid)?;
                Ok(())
            })
            .await;
        }
        tracing::debug!(container = %c.id, elapsed = ?t0.elapsed(), "bundle written");
        let opts = shim::client::SpawnOptions {
            exe: self.opts.wharf_exe.clone(),
            id: c.id.clone(),
            bundle: state_dir.clone(),
            state_dir: state_dir.clone(),
            runtime_root: self.runtime_root(),
            log_path: self.log_path(&c.id),
            stdin: config.open_stdin,
            stdin_once: config.stdin_once,
        };
        let spawned = shim::client::spawn(&opts).await.map_err(|e| {
            Error::new(
                crate::error::Kind::InvalidArgument,
                format!("failed to create task for container: {e}"),
            )
        })?;
        tracing::debug!(container = %c.id, elapsed = ?t0.elapsed(), "supervisor created the container");
        // Attach requests made before start connect now, so they see all output.
        let pending: Vec<_> =
            std::mem::take(&mut *c.pending_attach.lock().unwrap_or_else(|e| e.into_inner()));
        for waiter in pending {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if waiter.send(tx).is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
            }
        }
        let client = shim::client::ShimClient::new(&state_dir);
        if let Err(e) = client.start().await {
            let _ = client.kill(9, true).await;
            return Err(Error::invalid(format!(
                "failed to start container {}: {e}",
                c.id
            )));
        }
        tracing::debug!(container = %c.id, elapsed = ?t0.elapsed(), "started");
        Ok(spawned.pid as i64)
    }

    /// Watches a running container's supervisor and handles its exit.
    pub(crate) fn monitor(self: &Arc<Self>, c: Arc<Container>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let state_dir = engine.state_dir(&c.id);
            let client = shim::client::ShimClient::new(&state_dir);
            let status = match client.wait().await {
                Ok(s) => {
                    tracing::debug!(container = %c.id, "supervisor reported the exit");
                    Some(s)
                }
                Err(_) => {
                    // The supervisor is gone; it leaves its record if it got that far.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    shim::client::read_exit(&state_dir)
                }
            };
            engine.on_exit(&c, status).await;
        });
    }

    async fn on_exit(self: &Arc<Self>, c: &Arc<Container>, status: Option<shim::ExitStatus>) {
        let (exit_code, oom, finished, error) = match &status {
            Some(s) => (
                s.exit_code as i64,
                s.oom_killed,
                s.finished_at.clone(),
                String::new(),
            ),
            None => (
                255,
                false,
                now(),
                "the container's supervisor exited unexpectedly".to_string(),
            ),
        };
        let started_at = c.with(|r| r.state.started_at.clone());
        let ran_for = chrono::DateTime::parse_from_rfc3339(&started_at)
            .ok()
            .map(|t| chrono::Utc::now().signed_duration_since(t))
            .and_then(|d| d.to_std().ok())
            .unwrap_or_default();
        let host = c.with(|r| r.host_config()).ok();
        let policy = host
            .as_ref()
            .map(|h| h.restart_policy.clone())
            .unwrap_or_default();
        let auto_remove = host.as_ref().is_some_and(|h| h.auto_remove);
        let restart = c.with(|r| {
            if r.manually_stopped || r.state.dead {
                return false;
            }
            match policy.name.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => {
                    exit_code != 0
                        && (policy.maximum_retry_count == 0
                            || r.restart_count < policy.maximum_retry_count)
                }
                _ => false,
            }
        });
        let _ = c.update(|r| {
            r.state.running = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.exit_code = exit_code;
            r.state.oom_killed = oom;
            r.state.finished_at = finished.clone();
            r.state.error = error.clone();
            r.state.status = if restart {
                "restarting".into()
            } else {
                "exited".into()
            };
            r.state.restarting = restart;
            if let Some(h) = r.state.health.as_mut() {
                h.status = "unhealthy".into();
            }
        });
        self.teardown_network(c).await;
        if !restart && !auto_remove {
            // As dockerd does, a stopped container's root is unmounted; cp, export and
            // commit mount it again when they need it.
            let layers = self.layers.clone();
            let key = c.id.clone();
            let _ = blocking(move || layers.unmount(&key).map_err(layer_error)).await;
        }
        if oom {
            self.container_event(c, "oom", &[]);
        }
        self.container_event(c, "die", &[("exitCode", exit_code.to_string())]);
        c.notify_stopped(exit_code);
        if restart {
            let count = c.with(|r| r.restart_count);
            let delay = if ran_for >= Duration::from_secs(10) {
                BACKOFF_START
            } else {
                BACKOFF_START
                    .saturating_mul(1u32 << count.clamp(0, 10) as u32)
                    .min(BACKOFF_MAX)
            };
            let engine = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _op = c.op.lock().await;
                let still = c.with(|r| r.state.restarting && !r.manually_stopped && !r.state.dead);
                if !still {
                    return;
                }
                let _ = c.update(|r| r.restart_count += 1);
                if let Err(e) = engine.start_locked(&c, true).await {
                    tracing::warn!("restart of {} failed: {e}", c.id);
                    let _ = c.update(|r| {
                        r.state.restarting = false;
                        r.state.status = "exited".into();
                    });
                    c.notify_stopped(c.with(|r| r.state.exit_code));
                }
            });
        } else if auto_remove {
            let engine = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.remove(&c, true, true).await {
                    tracing::warn!("auto-remove of {} failed: {e}", c.id);
                }
            });
        }
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the grace period.
    pub async fn stop(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        self.stop_locked(c, signal, timeout).await
    }

    async fn stop_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let (running, restarting) = c.with(|r| (r.state.running, r.state.restarting));
        if restarting && !running {
            c.update(|r| {
                r.manually_stopped = true;
                r.state.restarting = false;
                r.state.status = "exited".into();
            })?;
            c.notify_stopped(c.with(|r| r.state.exit_code));
            return Ok(());
        }
        if !running {
            return Err(Error::not_modified());
        }
        let config = c.with(|r| r.config.clone());
        let signal = match signal {
            Some(s) if !s.is_empty() => parse_signal(s)?,
            _ => match config["StopSignal"].as_str() {
                Some(s) => parse_signal(s)?,
                None => 15,
            },
        };
        let timeout = timeout
            .or_else(|| config["StopTimeout"].as_i64())
            .unwrap_or(10);
        c.update(|r| r.manually_stopped = true)?;
        let stops = c.watch().borrow().stops;
        let client = shim::client::ShimClient::new(self.state_dir(&c.id));
        if c.with(|r| r.state.paused) {
            let _ = self.set_paused(c, false).await;
        }
        let _ = client.kill(signal, false).await;
        let grace = if timeout < 0 {
            None
        } else {
            Some(Duration::from_secs(timeout as u64))
        };
        if !wait_stopped(c, stops, grace).await {
            let _ = client.kill(9, true).await;
            if !wait_stopped(c, stops, Some(Duration::from_secs(30))).await {
                return Err(Error::internal(format!(
                    "container {} did not exit after SIGKILL",
                    c.id
                )));
            }
        }
        self.container_event(c, "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(self: &Arc<Self>, c: &Arc<Container>, signal: Option<&str>) -> Result<()> {
        let signal = match signal {
            Some(s) if !s.is_empty() => parse_signal(s)?,
            _ => 9,
        };
        if !c.is_running() {
            return Err(Error::conflict(format!(
                "Cannot kill container: {}: container {} is not running",
                c.with(|r| r.bare_name().to_string()),
                c.id
            )));
        }
        if signal == 9 {
            c.update(|r| r.manually_stopped = true)?;
        }
        let client = shim::client::ShimClient::new(self.state_dir(&c.id));
        client.kill(signal, signal == 9).await.map_err(shim_error)?;
        self.container_event(c, "kill", &[("signal", signal.to_string())]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        match self.stop_locked(c, signal, timeout).await {
            Ok(()) => {}
            Err(e) if e.kind == crate::error::Kind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.start_locked(c, false).await?;
        self.container_event(c, "restart", &[]);
        Ok(())
    }

    /// Pause (`true`) or unpause (`false`) through the cgroup freezer.
    pub async fn set_paused(&self, c: &Arc<Container>, pause: bool) -> Result<()> {
        let (running, paused) = c.with(|r| (r.state.running, r.state.paused));
        let name = c.with(|r| r.bare_name().to_string());
        if !running {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if pause && paused {
            return Err(Error::conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        if !pause && !paused {
            return Err(Error::conflict(format!("Container {name} is not paused")));
        }
        let root = self.runtime_root();
        let id = c.id.clone();
        blocking(move || {
            let rt = runtime::Runtime::new(&root)?;
            let mut ctr = rt.load(&runtime::ContainerId::new(&id)?)?;
            if pause {
                ctr.pause()?
            } else {
                ctr.resume()?
            }
            Ok(())
        })
        .await?;
        c.update(|r| {
            r.state.paused = pause;
            r.state.status = if pause {
                "paused".into()
            } else {
                "running".into()
            };
        })?;
        self.container_event(c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        if c.with(|r| r.state.dead) {
            return Err(Error::conflict(format!(
                "removal of container {} is already in progress",
                c.id
            )));
        }
        if c.is_running() {
            if !force {
                let paused = c.with(|r| r.state.paused);
                let what = if paused {
                    "container is paused and must be unpaused first"
                } else {
                    "container is running: stop the container before removing or force remove"
                };
                return Err(Error::conflict(format!(
                    "cannot remove container \"{}\": {what}",
                    c.with(|r| r.name.clone())
                )));
            }
            c.update(|r| r.manually_stopped = true)?;
            let stops = c.watch().borrow().stops;
            if c.with(|r| r.state.paused) {
                let _ = self.set_paused(c, false).await;
            }
            let client = shim::client::ShimClient::new(self.state_dir(&c.id));
            let _ = client.kill(9, true).await;
            wait_stopped(c, stops, Some(Duration::from_secs(30))).await;
        }
        c.update(|r| {
            r.state.dead = true;
            r.state.restarting = false;
            r.state.status = "removing".into();
        })?;
        let mounts = c.with(|r| r.mounts.clone());
        let t0 = std::time::Instant::now();
        {
            let layers = self.layers.clone();
            let key = c.id.clone();
            blocking(move || layers.remove(&key).map_err(layer_error)).await?;
        }
        let _ = remove_tree(&self.state_dir(&c.id));
        remove_tree(&c.dir)?;
        {
            let mut table = self.table();
            let name = c.with(|r| r.name.clone());
            table.names.remove(&name);
            table.by_id.remove(&c.id);
        }
        {
            let mut execs = self.execs.lock().unwrap_or_else(|e| e.into_inner());
            execs.retain(|_, e| e.container_id != c.id);
        }
        if volumes {
            for m in mounts.iter().filter(|m| m.kind == "volume" && m.anonymous) {
                if self.volume_users(&m.name).is_empty() && self.volumes.remove(&m.name).is_ok() {
                    self.events
                        .publish("volume", "destroy", &m.name, Default::default());
                }
            }
        }
        tracing::debug!(container = %c.id, elapsed = ?t0.elapsed(), "removed");
        self.container_event(c, "destroy", &[]);
        c.notify_removed();
        Ok(())
    }

    /// At daemon start: re-adopt containers whose supervisor survived, record the exits of
    /// those that ended meanwhile, and start the ones a restart policy asks for.
    pub async fn restore(self: &Arc<Self>) {
        // Networks first: addresses and ports of containers still running are theirs again,
        // before any restart policy hands out new ones.
        let running: Vec<_> = self
            .containers()
            .iter()
            .filter(|c| c.is_running() && shim::client::is_alive(&self.state_dir(&c.id)))
            .map(|c| {
                c.with(|r| {
                    let dns = r.host_config["Dns"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
                        .unwrap_or_default();
                    let hostname = r.config["Hostname"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    (
                        r.id.clone(),
                        r.bare_name().to_string(),
                        hostname,
                        r.network.clone(),
                        dns,
                    )
                })
            })
            .collect();
        {
            let networks = self.networks.clone();
            let _ = blocking(move || {
                networks.restore(&running);
                Ok(())
            })
            .await;
        }
        // Steps of builds the daemon's end interrupted, and their scratch snapshots.
        for c in self.containers() {
            if crate::build::is_step_container(&c) {
                tracing::info!("removing {}, a step of an interrupted build", c.id);
                let _ = self.remove(&c, true, true).await;
            }
        }
        {
            let layers = self.layers.clone();
            let _ = blocking(move || {
                for s in layers.snapshots().unwrap_or_default() {
                    if s.key.starts_with(build::exec::SCRATCH_PREFIX) {
                        let _ = layers.remove(&s.key);
                    }
                }
                Ok(())
            })
            .await;
        }
        for c in self.containers() {
            let (running, restarting, dead) =
                c.with(|r| (r.state.running, r.state.restarting, r.state.dead));
            if dead {
                // A removal that was under way: finish it.
                let _ = self.remove(&c, true, false).await;
                continue;
            }
            let state_dir = self.state_dir(&c.id);
            if running && shim::client::is_alive(&state_dir) {
                tracing::info!("re-adopting running container {}", c.id);
                self.monitor(c.clone());
                self.start_health(c.clone());
                continue;
            }
            if running {
                let status = shim::client::read_exit(&state_dir);
                self.on_exit(&c, status).await;
                continue;
            }
            let policy = c
                .with(|r| r.host_config())
                .map(|h| h.restart_policy.name)
                .unwrap_or_default();
            let manually = c.with(|r| r.manually_stopped);
            if restarting
                || (policy == "always" && c.with(|r| r.state.started_at != ZERO_TIME))
                || (policy == "unless-stopped"
                    && !manually
                    && c.with(|r| r.state.started_at != ZERO_TIME))
            {
                let _ = c.update(|r| r.state.restarting = false);
                if let Err(e) = self.start(&c).await {
                    tracing::warn!("restarting {} at daemon start failed: {e}", c.id);
                }
            }
        }
    }

    /// The process list of `docker top`.
    pub async fn top(&self, c: &Arc<Container>, ps_args: &str) -> Result<Value> {
        if !c.is_running() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let root = self.runtime_root();
        let id = c.id.clone();
        let pids: Vec<i32> = blocking(move || {
            let rt = runtime::Runtime::new(&root)?;
            Ok(rt.load(&runtime::ContainerId::new(&id)?)?.processes()?)
        })
        .await?;
        let args = if ps_args.is_empty() { "-ef" } else { ps_args };
        let out = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(|e| Error::internal(format!("ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<&str> = header.split_whitespace().collect();
        let pid_col = titles
            .iter()
            .position(|t| *t == "PID")
            .ok_or_else(|| Error::internal("Couldn't find PID field in ps output"))?;
        let mut processes = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(pid) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&pid) {
                continue;
            }
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            processes.push(row);
        }
        Ok(serde_json::json!({"Titles": titles, "Processes": processes}))
    }
}
