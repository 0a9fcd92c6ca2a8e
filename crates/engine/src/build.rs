//! The engine's side of image builds: RUN steps as ordinary containers, and the stores a
//! build uses.

use std::sync::Arc;

use build::exec::{Backend, RunEvent, RunOutcome, RunRequest, Stores};
use build::{BuildError, ErrorKind};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::lifecycle::WaitCondition;

/// Runs build steps through the engine.
#[derive(Debug, Clone)]
pub struct EngineBackend {
    engine: Arc<Engine>,
}

impl EngineBackend {
    /// A backend on this engine.
    pub fn new(engine: Arc<Engine>) -> EngineBackend {
        EngineBackend { engine }
    }
}

impl Engine {
    /// The stores a build reads and writes.
    pub fn build_stores(&self) -> Stores {
        Stores {
            content: self.content.clone(),
            layers: self.layers.clone(),
            images: self.images.clone(),
            cache: self.build_cache.clone(),
            root: self.opts.data_root.join("builder"),
            gc_lock: self.gc_lock.clone(),
        }
    }
}

/// The label that marks a build step's container (removed at daemon start if a build was
/// interrupted).
pub const STEP_LABEL: &str = "com.wharf.build.step";

/// Whether a container is a build step's.
pub fn is_step_container(c: &crate::container::Container) -> bool {
    c.with(|r| r.config["Labels"][STEP_LABEL].is_string())
}

fn internal(e: impl std::fmt::Display) -> BuildError {
    BuildError::internal(e.to_string())
}

/// The create request for a RUN step: the step's command with no entrypoint, no health
/// check, on the build's network.
fn create_body(req: &RunRequest) -> Value {
    let mounts: Vec<Value> = req
        .mounts
        .iter()
        .map(|m| {
            if m.kind == "tmpfs" {
                json!({"Type": "tmpfs", "Target": m.target})
            } else {
                json!({
                    "Type": "bind",
                    "Source": m.source.to_string_lossy(),
                    "Target": m.target,
                    "ReadOnly": m.readonly,
                })
            }
        })
        .collect();
    let network = match req.network.as_str() {
        "" | "default" => "bridge",
        n => n,
    };
    let mut host = json!({
        "NetworkMode": network,
        "Mounts": mounts,
        "ExtraHosts": req.extra_hosts,
    });
    if let Some(shm) = req.shm_size {
        host["ShmSize"] = json!(shm);
    }
    json!({
        "Image": req.state.id.as_str(),
        "Cmd": req.cmd,
        "Entrypoint": [],
        "Env": req.env,
        "WorkingDir": req.workdir,
        "User": req.user,
        "AttachStdout": true,
        "AttachStderr": true,
        "Healthcheck": {"Test": ["NONE"]},
        "Labels": {STEP_LABEL: "true"},
        "HostConfig": host,
    })
}

impl Backend for EngineBackend {
    async fn run(
        &self,
        req: RunRequest,
        events: mpsc::UnboundedSender<RunEvent>,
    ) -> Result<RunOutcome, BuildError> {
        let engine = &self.engine;
        let record = image::store::ImageRecord {
            id: req.state.id.clone(),
            manifest: req.state.id.clone(),
            config: req.state.config.clone(),
            layers: req.state.layers.clone(),
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            created: chrono::Utc::now(),
            size: 0,
        };
        let created = engine
            .create_with(None, create_body(&req), Some(record))
            .await
            .map_err(|e| BuildError::new(ErrorKind::Invalid, e.to_string()))?;
        let _ = events.send(RunEvent::Created(created.id.clone()));
        let c = engine.container(&created.id).map_err(internal)?;
        let exited = engine.wait(&c, WaitCondition::NextExit);
        // Attached before the start, so no output is missed.
        let (tx, rx) = tokio::sync::oneshot::channel();
        c.pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        let starter = {
            let engine = engine.clone();
            let c = c.clone();
            tokio::spawn(async move { engine.start(&c).await })
        };
        let reader = {
            let state_dir = engine.state_dir(&c.id);
            let events = events.clone();
            tokio::spawn(async move {
                let Ok(ack) = rx.await else {
                    return;
                };
                let client = shim::client::ShimClient::new(state_dir);
                let attached = client.attach(false, true, true).await;
                let _ = ack.send(());
                let Ok(attached) = attached else {
                    return;
                };
                let mut stream = attached.stream;
                while let Ok(Some((fd, data))) = shim::client::read_frame(&mut stream).await {
                    if fd == 1 || fd == 2 {
                        let _ = events.send(RunEvent::Output(fd, data));
                    }
                }
            })
        };
        let started = starter.await.map_err(internal)?;
        if let Err(e) = started {
            reader.abort();
            return Err(BuildError::new(
                ErrorKind::StepFailed,
                format!("failed to start the RUN container: {e}"),
            ));
        }
        let exit_code = exited.await;
        let _ = reader.await;
        Ok(RunOutcome {
            container: created.id,
            exit_code,
        })
    }

    async fn remove(&self, container: String) {
        let engine = &self.engine;
        if let Ok(c) = engine.container(&container)
            && let Err(e) = engine.remove(&c, true, true).await
        {
            tracing::warn!("removing build container {container}: {e}");
        }
    }
}
