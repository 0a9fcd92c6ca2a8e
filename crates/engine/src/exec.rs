//! Exec instances (`docker exec`) and health checks, both run by the container's supervisor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::container::{Container, Health, HealthLog};
use crate::engine::{Engine, random_id};
use crate::error::{Error, Result};
use crate::lifecycle::now;
use crate::types::{self, StrSlice};

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub cmd: Option<StrSlice>,
    pub env: Option<Vec<String>>,
    pub user: String,
    pub working_dir: String,
    pub privileged: bool,
    pub detach_keys: String,
}

#[derive(Debug, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// An exec instance.
#[derive(Debug)]
pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
}

impl Exec {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect(&self) -> Value {
        let s = self.lock();
        let cmd = self.config.cmd.clone().map(|c| c.0).unwrap_or_default();
        json!({
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.detach_keys,
            "ExitCode": s.exit_code,
            "ID": self.id,
            "OpenStderr": self.config.attach_stderr,
            "OpenStdin": self.config.attach_stdin,
            "OpenStdout": self.config.attach_stdout,
            "ProcessConfig": {
                "arguments": cmd.get(1..).unwrap_or_default(),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "privileged": self.config.privileged,
                "tty": self.config.tty,
                "user": self.config.user,
            },
            "Running": s.running,
            "Pid": s.pid,
        })
    }
}

/// A started exec: the supervisor's stream of frames, and the instance to record into.
#[derive(Debug)]
pub struct Started {
    pub exec: Arc<Exec>,
    pub stream: tokio::net::UnixStream,
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, c: &Arc<Container>, body: &Value) -> Result<String> {
        let config: ExecConfig = types::parse("exec config", body)?;
        if !c.is_running() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.with(|r| r.state.paused) {
            return Err(Error::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if config.cmd.as_ref().is_none_or(|c| c.0.is_empty()) {
            return Err(Error::invalid("No exec command specified"));
        }
        let id = random_id();
        let exec = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
        });
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), exec);
        let _ = c.update(|r| r.exec_ids.push(id.clone()));
        self.container_event(c, "exec_create", &[("execID", id.clone())]);
        Ok(id)
    }

    pub fn exec(&self, id: &str) -> Result<Arc<Exec>> {
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    /// Starts an exec through the supervisor. The caller reads the frames (1 stdout, 2 stderr,
    /// 3 the exit) and calls [`Engine::exec_finished`].
    pub async fn exec_start(&self, exec: &Arc<Exec>, stdin: bool) -> Result<Started> {
        {
            let mut s = exec.lock();
            if s.started {
                return Err(Error::conflict(format!(
                    "Error: Exec command {} has already run",
                    exec.id
                )));
            }
            s.started = true;
            s.running = true;
        }
        let c = self.container(&exec.container_id)?;
        if !c.is_running() {
            exec.lock().running = false;
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let state_dir = self.state_dir(&c.id);
        let spec: Value = serde_json::from_slice(&std::fs::read(state_dir.join("config.json"))?)?;
        let rootfs = self.layers.merged(&c.id);
        let cfg = &exec.config;
        let cmd = cfg.cmd.clone().map(|c| c.0).unwrap_or_default();
        let process = crate::spec::exec_process(
            &spec["process"],
            &rootfs,
            &crate::spec::ExecRequest {
                cmd: &cmd,
                env: cfg.env.as_deref().unwrap_or_default(),
                user: &cfg.user,
                working_dir: &cfg.working_dir,
                tty: cfg.tty,
                privileged: cfg.privileged,
            },
        )?;
        let process: runtime::oci::Process = serde_json::from_value(process)
            .map_err(|e| Error::internal(format!("exec process: {e}")))?;
        let client = shim::client::ShimClient::new(&state_dir);
        self.container_event(&c, "exec_start", &[("execID", exec.id.clone())]);
        match client.exec(&exec.id, &process, stdin).await {
            Ok(started) => {
                exec.lock().pid = started.pid as i64;
                Ok(Started {
                    exec: exec.clone(),
                    stream: started.stream,
                })
            }
            Err(e) => {
                let message = e.to_string();
                let code = if message.contains("not found") || message.contains("no such file") {
                    127
                } else {
                    126
                };
                self.exec_finished(exec, code);
                Err(Error::new(
                    crate::error::Kind::Internal,
                    format!("OCI runtime exec failed: {message}"),
                ))
            }
        }
    }

    pub fn exec_finished(&self, exec: &Exec, code: i64) {
        let mut s = exec.lock();
        s.running = false;
        s.exit_code = Some(code);
        drop(s);
        if let Ok(c) = self.container(&exec.container_id) {
            self.container_event(
                &c,
                "exec_die",
                &[("execID", exec.id.clone()), ("exitCode", code.to_string())],
            );
        }
    }

    /// Runs a command in the container and collects its output (health checks).
    pub async fn exec_collect(
        &self,
        c: &Arc<Container>,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<(i64, String)> {
        let exec = Arc::new(Exec {
            id: random_id(),
            container_id: c.id.clone(),
            config: ExecConfig {
                attach_stdout: true,
                attach_stderr: true,
                cmd: Some(StrSlice(cmd)),
                ..Default::default()
            },
            state: Mutex::new(ExecState::default()),
        });
        let mut started = self.exec_start(&exec, false).await?;
        let mut output = Vec::new();
        let read = async {
            loop {
                match shim::client::read_frame(&mut started.stream).await {
                    Ok(Some((3, payload))) => {
                        let v: Value = serde_json::from_slice(&payload).unwrap_or_default();
                        return v["exit_code"].as_i64().unwrap_or(-1);
                    }
                    Ok(Some((_, payload))) => {
                        if output.len() < 4096 {
                            output.extend_from_slice(&payload);
                        }
                    }
                    Ok(None) | Err(_) => return -1,
                }
            }
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(code) => {
                self.exec_finished(&exec, code);
                output.truncate(4096);
                Ok((code, String::from_utf8_lossy(&output).into_owned()))
            }
            Err(_) => {
                let pid = exec.lock().pid;
                if pid > 0 {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                self.exec_finished(&exec, -1);
                Err(Error::internal(format!(
                    "Health check exceeded timeout ({}s)",
                    timeout.as_secs_f64()
                )))
            }
        }
    }

    /// Starts the health checker of a running container, if its config has one.
    pub(crate) fn start_health(self: &Arc<Self>, c: Arc<Container>) {
        let Ok(config) = c.with(|r| r.config()) else {
            return;
        };
        let Some(hc) = config.healthcheck else { return };
        let test = hc.test.clone().map(|t| t.0).unwrap_or_default();
        let cmd: Vec<String> = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => return,
        };
        if cmd.is_empty() {
            return;
        }
        let secs = |ns: i64, default: u64| {
            if ns > 0 {
                Duration::from_nanos(ns as u64)
            } else {
                Duration::from_secs(default)
            }
        };
        let interval = secs(hc.interval, 30);
        let timeout = secs(hc.timeout, 30);
        let start_period = secs(hc.start_period, 0);
        let start_interval = secs(hc.start_interval, 5);
        let retries = if hc.retries > 0 { hc.retries } else { 3 };
        let run = c.with(|r| r.state.started_at.clone());
        let _ = c.update(|r| {
            let log = r.state.health.take().map(|h| h.log).unwrap_or_default();
            r.state.health = Some(Health {
                status: "starting".into(),
                failing_streak: 0,
                log,
            });
        });
        let engine = self.clone();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            loop {
                let in_start = began.elapsed() < start_period;
                let healthy_yet = c.with(|r| {
                    r.state
                        .health
                        .as_ref()
                        .is_some_and(|h| h.status == "healthy")
                });
                let wait = if in_start && !healthy_yet && hc.start_interval > 0 {
                    start_interval
                } else {
                    interval
                };
                tokio::time::sleep(wait).await;
                let alive =
                    c.with(|r| r.state.running && r.state.started_at == run && !r.state.dead);
                if !alive {
                    return;
                }
                if c.with(|r| r.state.paused) {
                    continue;
                }
                let start = now();
                let (code, output) = match engine.exec_collect(&c, cmd.clone(), timeout).await {
                    Ok(r) => r,
                    Err(e) => (-1, e.message),
                };
                let in_start = began.elapsed() < start_period;
                let end = now();
                let status = c
                    .update(|r| {
                        let h = r.state.health.get_or_insert_with(|| Health {
                            status: "starting".into(),
                            failing_streak: 0,
                            log: Vec::new(),
                        });
                        h.log.push(HealthLog {
                            start,
                            end,
                            exit_code: code,
                            output,
                        });
                        if h.log.len() > 5 {
                            h.log.remove(0);
                        }
                        if code == 0 {
                            h.failing_streak = 0;
                            h.status = "healthy".into();
                        } else if !(in_start && h.status == "starting") {
                            h.failing_streak += 1;
                            if h.failing_streak >= retries {
                                h.status = "unhealthy".into();
                            }
                        }
                        h.status.clone()
                    })
                    .unwrap_or_default();
                engine.container_event(&c, &format!("health_status: {status}"), &[]);
            }
        });
    }
}
