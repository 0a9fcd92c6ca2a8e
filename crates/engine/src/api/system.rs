//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`, and the fixed networks.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Response};
use serde_json::json;

use super::{Body, Req, Resp, json_response};
use crate::engine::{Engine, blocking};
use crate::error::Result;

pub fn ping(req: &Req) -> Resp {
    let body = if req.method == Method::HEAD {
        Body::empty()
    } else {
        Body::full("OK")
    };
    Response::builder()
        .status(200)
        .header("Builder-Version", "1")
        .header("Swarm", "inactive")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn version(_engine: &Arc<Engine>) -> Result<Resp> {
    let version = env!("CARGO_PKG_VERSION");
    Ok(json_response(
        200,
        &json!({
            "Platform": {"Name": "Wharf Engine"},
            "Components": [{
                "Name": "Engine",
                "Version": version,
                "Details": {
                    "ApiVersion": super::API_VERSION,
                    "Arch": arch(),
                    "BuildTime": "",
                    "Experimental": "false",
                    "GitCommit": "",
                    "GoVersion": "",
                    "KernelVersion": kernel(),
                    "MinAPIVersion": super::MIN_API_VERSION,
                    "Os": "linux",
                },
            }],
            "Version": version,
            "ApiVersion": super::API_VERSION,
            "MinAPIVersion": super::MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel(),
            "BuildTime": "",
        }),
    ))
}

pub async fn info(engine: &Arc<Engine>) -> Result<Resp> {
    let containers = engine.containers();
    let mut running = 0;
    let mut paused = 0;
    let mut stopped = 0;
    for c in &containers {
        c.with(|r| {
            if r.state.paused {
                paused += 1;
            } else if r.state.running {
                running += 1;
            } else {
                stopped += 1;
            }
        });
    }
    let images = {
        let store = engine.images.clone();
        blocking(move || Ok(store.list().len())).await?
    };
    let mem = crate::engine::mem_total();
    let hostname = crate::engine::host_name();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_string()
            })
        })
        .unwrap_or_else(|| "Linux".into());
    let cgroup_version = if runtime::host::cgroup_v2_unified() {
        "2"
    } else {
        "1"
    };
    Ok(json_response(
        200,
        &json!({
            "ID": "",
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": stopped,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
            "OomKillDisable": true,
            "NGoroutines": 0,
            "SystemTime": crate::lifecycle::now(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": kernel(),
            "OperatingSystem": os,
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
            "NCPU": crate::lifecycle::online_cpus(),
            "MemTotal": mem,
            "DockerRootDir": engine.opts.data_root,
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"runc": {"path": "wharf"}},
            "DefaultRuntime": "runc",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": [],
        }),
    ))
}

/// `GET /events`: past events since `since`, then live ones until `until` or the client
/// leaves.
pub fn events(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let since = req.q("since").and_then(crate::logs::parse_time);
    let until = req.q("until").and_then(crate::logs::parse_time);
    let filters = req.filters()?;
    let (past, mut rx) = engine.events.subscribe();
    let (tx, body) = Body::channel(64);
    let matches = move |e: &crate::events::Event| -> bool {
        for (key, values) in &filters {
            let ok = match key.as_str() {
                "type" => values.contains(&e.kind),
                "event" => values
                    .iter()
                    .any(|v| e.action == *v || e.action.starts_with(&format!("{v}:"))),
                "container" => {
                    e.kind == "container"
                        && values.iter().any(|v| {
                            e.actor.id.starts_with(v.as_str())
                                || e.actor.attributes.get("name") == Some(v)
                        })
                }
                "image" => values
                    .iter()
                    .any(|v| e.actor.attributes.get("image") == Some(v) || e.actor.id == *v),
                "volume" => e.kind == "volume" && values.contains(&e.actor.id),
                "label" => values.iter().any(|v| match v.split_once('=') {
                    Some((k, val)) => e.actor.attributes.get(k).map(String::as_str) == Some(val),
                    None => e.actor.attributes.contains_key(v),
                }),
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        true
    };
    let in_range = move |e: &crate::events::Event| -> bool {
        let t = chrono::DateTime::from_timestamp_nanos(e.time_nano);
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    tokio::spawn(async move {
        let send = |e: &crate::events::Event| {
            let mut line = serde_json::to_vec(e).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        if since.is_some() {
            for e in past.iter().filter(|e| in_range(e) && matches(e)) {
                if tx.send(send(e)).await.is_err() {
                    return;
                }
            }
        }
        if until.is_some_and(|u| u <= chrono::Utc::now()) {
            return;
        }
        loop {
            let next = match until {
                Some(u) => {
                    let left = (u - chrono::Utc::now()).to_std().unwrap_or_default();
                    match tokio::time::timeout(left, rx.recv()).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
                None => tokio::select! {
                    r = rx.recv() => r,
                    () = tx.closed() => return,
                },
            };
            match next {
                Ok(e) => {
                    if in_range(&e) && matches(&e) && tx.send(send(&e)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty())))
}

pub async fn df(engine: &Arc<Engine>) -> Result<Resp> {
    let images = super::images::list_json(engine).await?;
    let mut containers = Vec::new();
    for c in engine.containers() {
        let mut v = super::containers::summary(engine, &c);
        let key = c.id.clone();
        let layers = engine.layers.clone();
        let size = blocking(move || Ok(layers.usage(&key).unwrap_or(0))).await?;
        v["SizeRw"] = json!(size);
        containers.push(v);
    }
    let mut volumes = Vec::new();
    for meta in engine.volumes.list()? {
        let mut v = engine.volumes.to_json(&meta);
        let users = engine.volume_users(&meta.name).len();
        let vols = &engine.volumes;
        v["UsageData"] = json!({"Size": vols.size(&meta.name), "RefCount": users});
        volumes.push(v);
    }
    let layers_size: u64 = {
        let layers = engine.layers.clone();
        blocking(move || {
            Ok(layers
                .list()
                .map(|l| l.iter().map(|i| i.size).sum())
                .unwrap_or(0))
        })
        .await?
    };
    Ok(json_response(
        200,
        &json!({
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        }),
    ))
}
