//! `/containers/…`: create, inspect, list, lifecycle, logs, top, stats, archive, changes,
//! export, prune.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Response};
use serde_json::{Value, json};

use super::{Body, Req, Resp, empty, json_response};
use crate::container::{Container, Record};
use crate::engine::{Engine, blocking, layer_error};
use crate::error::{Error, Result};
use crate::lifecycle::WaitCondition;

pub async fn create(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    let name = req.q("name").map(str::to_string);
    let body = req.json().await?;
    let created = engine.create(name.as_deref(), body).await?;
    Ok(json_response(
        201,
        &json!({"Id": created.id, "Warnings": created.warnings}),
    ))
}

/// Go's units.HumanDuration, which `docker ps` statuses use.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    let minutes = d.num_minutes();
    let hours = ((d.num_seconds() as f64) / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

fn since(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(t) => human_duration(chrono::Utc::now().signed_duration_since(t)),
        Err(_) => "Less than a second".into(),
    }
}

/// The `Status` column of `docker ps`.
pub fn status_text(r: &Record) -> String {
    let s = &r.state;
    if s.restarting {
        return format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at));
    }
    if s.running {
        let mut text = format!("Up {}", since(&s.started_at));
        if s.paused {
            text.push_str(" (Paused)");
        } else if let Some(h) = &s.health {
            let word = match h.status.as_str() {
                "starting" => "health: starting",
                other => other,
            };
            text.push_str(&format!(" ({word})"));
        }
        return text;
    }
    if s.dead && s.status == "removing" {
        return "Removal In Progress".into();
    }
    if s.started_at == crate::container::ZERO_TIME {
        return "Created".into();
    }
    format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at))
}

fn command(r: &Record) -> String {
    if r.args.is_empty() {
        return r.path.clone();
    }
    let args: Vec<String> = r
        .args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect();
    format!("{} {}", r.path, args.join(" "))
}

fn mounts_json(r: &Record) -> Value {
    json!(r.mounts)
}

/// One entry of `GET /containers/json`.
pub fn summary(engine: &Engine, c: &Container) -> Value {
    c.with(|r| {
        json!({
            "Id": r.id,
            "Names": [r.name],
            "Image": r.config["Image"],
            "ImageID": r.image,
            "Command": command(r),
            "Created": r.created.timestamp(),
            "Ports": ports_summary(r),
            "Labels": r.config["Labels"].as_object().cloned().unwrap_or_default(),
            "State": r.state.status,
            "Status": status_text(r),
            "HostConfig": {"NetworkMode": r.host_config["NetworkMode"]},
            "NetworkSettings": {"Networks": networks_json(engine, r)},
            "Mounts": mounts_json(r),
        })
    })
}

/// One entry of `NetworkSettings.Networks`: the configured endpoint, with its live
/// addresses while the container runs.
fn endpoint_json(r: &Record, q: &crate::network::EndpointRequest) -> Value {
    let live = r
        .network
        .endpoints
        .iter()
        .find(|e| e.network_id == q.network_id);
    let ipam = q
        .ipv4_address
        .map(|ip| json!({"IPv4Address": ip.to_string()}))
        .unwrap_or(Value::Null);
    json!({
        "IPAMConfig": ipam,
        "Links": if q.links.is_empty() { Value::Null } else { json!(q.links) },
        "Aliases": if q.aliases.is_empty() { Value::Null } else { json!(q.aliases) },
        "MacAddress": live.map(|e| e.mac.clone()).or_else(|| q.mac_address.clone()).unwrap_or_default(),
        "DriverOpts": if q.driver_opts.is_empty() { Value::Null } else { json!(q.driver_opts) },
        "GwPriority": 0,
        "NetworkID": q.network_id,
        "EndpointID": live.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": live.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
        "IPAddress": live.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": live.map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": live.filter(|e| !e.dns_names.is_empty()).map(|e| json!(e.dns_names)).unwrap_or(Value::Null),
    })
}

/// `NetworkSettings.Networks`: the configured networks (or the mode: host, none).
fn networks_json(engine: &Engine, r: &Record) -> Value {
    let mode = r.host_config["NetworkMode"].as_str().unwrap_or("bridge");
    let mut nets = serde_json::Map::new();
    if r.network.requested.is_empty() && !mode.starts_with("container:") {
        if let Ok(cfg) = engine.networks.find(mode) {
            let q = crate::network::EndpointRequest {
                network_id: cfg.id.clone(),
                network_name: cfg.name.clone(),
                ..Default::default()
            };
            nets.insert(cfg.name, endpoint_json(r, &q));
        }
    }
    for q in &r.network.requested {
        nets.insert(q.network_name.clone(), endpoint_json(r, q));
    }
    Value::Object(nets)
}

/// `NetworkSettings.Ports`: every exposed or published port, with its bindings while running.
fn ports_json(r: &Record) -> Value {
    let mut ports = serde_json::Map::new();
    if !r.state.running {
        return Value::Object(ports);
    }
    if let Some(exposed) = r.config["ExposedPorts"].as_object() {
        for k in exposed.keys() {
            let key = if k.contains('/') {
                k.clone()
            } else {
                format!("{k}/tcp")
            };
            ports.insert(key, Value::Null);
        }
    }
    for p in &r.network.ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let entry = ports.entry(key).or_insert(Value::Null);
        if !entry.is_array() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({
                "HostIp": p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED).to_string(),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    Value::Object(ports)
}

/// The `Ports` of a container list entry.
fn ports_summary(r: &Record) -> Value {
    let mut out = Vec::new();
    let mut published = std::collections::HashSet::new();
    if r.state.running {
        for p in &r.network.ports {
            published.insert((p.container_port, p.proto.as_str()));
            out.push(json!({
                "IP": p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED).to_string(),
                "PrivatePort": p.container_port,
                "PublicPort": p.host_port,
                "Type": p.proto.as_str(),
            }));
        }
    }
    if let Some(exposed) = r.config["ExposedPorts"].as_object() {
        for k in exposed.keys() {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            if let Ok(port) = port.parse::<u16>()
                && !published.contains(&(port, proto))
            {
                out.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    json!(out)
}

fn network_settings(engine: &Engine, r: &Record) -> Value {
    // The deprecated top-level fields describe the default bridge endpoint only.
    let bridge = r
        .network
        .endpoints
        .iter()
        .find(|e| e.network_name == "bridge");
    json!({
        "Bridge": "",
        "SandboxID": if r.network.sandbox_key.is_empty() { String::new() } else { crate::engine::hex_encode(&sha256(r.network.sandbox_key.as_bytes())) },
        "SandboxKey": r.network.sandbox_key,
        "Ports": ports_json(r),
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": bridge.and_then(|e| e.gateway).map(|g| g.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": bridge.map(|e| e.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "MacAddress": bridge.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks_json(engine, r),
    })
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// `GET /containers/{id}/json`, every field as dockerd answers it.
pub fn inspect(engine: &Engine, c: &Container, size: bool) -> Value {
    let r = c.record();
    let mut state = serde_json::to_value(&r.state).unwrap_or_default();
    if let Some(obj) = state.as_object_mut()
        && r.state.status == "removing"
    {
        obj.insert("Status".into(), json!("removing"));
    }
    let upper = engine.layers.upper(&r.id);
    let merged = engine.layers.merged(&r.id);
    let lower = r
        .parent_layer
        .as_deref()
        .and_then(|p| engine.layers.lowerdirs(p).ok())
        .map(|l| {
            l.iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default();
    let mut v = json!({
        "Id": r.id,
        "Created": crate::container::rfc3339(r.created),
        "Path": r.path,
        "Args": r.args,
        "State": state,
        "Image": r.image,
        "ResolvConfPath": c.dir.join("resolv.conf"),
        "HostnamePath": c.dir.join("hostname"),
        "HostsPath": c.dir.join("hosts"),
        "LogPath": engine.log_path(&r.id),
        "Name": r.name,
        "RestartCount": r.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": if r.exec_ids.is_empty() { Value::Null } else { json!(r.exec_ids) },
        "HostConfig": r.host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": lower,
                "MergedDir": merged,
                "UpperDir": upper,
                "WorkDir": upper.with_file_name("work"),
            },
            "Name": "overlay2",
        },
        "Mounts": mounts_json(&r),
        "Config": r.config,
        "NetworkSettings": network_settings(engine, &r),
    });
    if size {
        v["SizeRw"] = json!(engine.layers.usage(&r.id).unwrap_or(0));
        v["SizeRootFs"] = json!(0);
    }
    v
}

pub async fn list(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let all = req.flag("all")?;
    let limit = req.int("limit")?.filter(|l| *l > 0);
    let filters = req.filters()?;
    for key in filters.keys() {
        if ![
            "ancestor",
            "before",
            "expose",
            "exited",
            "health",
            "id",
            "isolation",
            "is-task",
            "label",
            "name",
            "network",
            "publish",
            "since",
            "status",
            "volume",
        ]
        .contains(&key.as_str())
        {
            return Err(Error::invalid(format!("invalid filter '{key}'")));
        }
    }
    if let Some(statuses) = filters.get("status") {
        for s in statuses {
            if ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&s.as_str())
            {
                return Err(Error::invalid(format!("invalid filter 'status={s}'")));
            }
        }
    }
    let mut containers = engine.containers();
    containers.sort_by_key(|c| std::cmp::Reverse(c.with(|r| r.created)));
    let mut ancestors = Vec::new();
    for a in filters.get("ancestor").cloned().unwrap_or_default() {
        let store = engine.images.clone();
        if let Ok(img) =
            blocking(move || store.resolve(&a).map_err(crate::engine::image_error)).await
        {
            ancestors.push(img.id.to_string());
        }
    }
    let before = filters
        .get("before")
        .and_then(|v| v.first())
        .map(|b| engine.container(b))
        .transpose()?;
    let since_c = filters
        .get("since")
        .and_then(|v| v.first())
        .map(|b| engine.container(b))
        .transpose()?;
    let mut out = Vec::new();
    for c in containers {
        let r = c.record();
        let explicit_status = filters.contains_key("status");
        if !all && !r.state.running && !explicit_status && before.is_none() && since_c.is_none() {
            continue;
        }
        let ok = filters.iter().all(|(key, values)| {
            values.is_empty()
                || values.iter().any(|v| match key.as_str() {
                    "status" => {
                        r.state.status == *v || (v == "exited" && r.state.status == "exited")
                    }
                    "name" => r.bare_name().contains(v.trim_start_matches('/')),
                    "id" => r.id.starts_with(v.as_str()),
                    "label" => {
                        let labels = &r.config["Labels"];
                        match v.split_once('=') {
                            Some((k, val)) => labels[k].as_str() == Some(val),
                            None => labels.get(v).is_some(),
                        }
                    }
                    "exited" => {
                        !r.state.running
                            && r.state.started_at != crate::container::ZERO_TIME
                            && v.parse::<i64>().ok() == Some(r.state.exit_code)
                    }
                    "ancestor" => {
                        ancestors.contains(&r.image) || r.config["Image"].as_str() == Some(v)
                    }
                    "volume" => r.mounts.iter().any(|m| m.name == *v || m.destination == *v),
                    "health" => {
                        let h = r
                            .state
                            .health
                            .as_ref()
                            .map(|h| h.status.as_str())
                            .unwrap_or("none");
                        h == v
                    }
                    "before" => before
                        .as_ref()
                        .is_some_and(|b| r.created < b.with(|x| x.created)),
                    "since" => since_c
                        .as_ref()
                        .is_some_and(|s| r.created > s.with(|x| x.created)),
                    "network" => {
                        r.host_config["NetworkMode"].as_str() == Some(v)
                            || r.network.requested.iter().any(|q| {
                                q.network_name == *v || q.network_id.starts_with(v.as_str())
                            })
                    }
                    "is-task" => v == "false",
                    _ => true,
                })
        });
        if !ok {
            continue;
        }
        out.push(summary(engine, &c));
        if limit.is_some_and(|l| out.len() as i64 >= l) {
            break;
        }
    }
    if req.flag("size")? {
        for v in out.iter_mut() {
            let id = v["Id"].as_str().unwrap_or_default().to_string();
            v["SizeRw"] = json!(engine.layers.usage(&id).unwrap_or(0));
            v["SizeRootFs"] = json!(0);
        }
    }
    Ok(json_response(200, &json!(out)))
}

pub async fn route(engine: &Arc<Engine>, mut req: Req, id: &str, rest: &[String]) -> Result<Resp> {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let c = engine.container(id)?;
    match (req.method.clone(), rest.as_slice()) {
        (Method::GET, ["json"]) => Ok(json_response(200, &inspect(engine, &c, req.flag("size")?))),
        (Method::DELETE, []) => {
            if req.flag("link")? {
                return Err(Error::invalid("links are not supported"));
            }
            engine
                .remove(&c, req.flag("force")?, req.flag("v")?)
                .await?;
            Ok(empty(204))
        }
        (Method::POST, ["start"]) => {
            // `detachKeys` is the client's business: the CLI detaches itself.
            engine.start(&c).await?;
            Ok(empty(204))
        }
        (Method::POST, ["stop"]) => {
            let t = req.int("t")?.or(req.int("timeout")?);
            engine.stop(&c, req.q("signal"), t).await?;
            Ok(empty(204))
        }
        (Method::POST, ["restart"]) => {
            let t = req.int("t")?.or(req.int("timeout")?);
            engine.restart(&c, req.q("signal"), t).await?;
            Ok(empty(204))
        }
        (Method::POST, ["kill"]) => {
            engine.kill(&c, req.q("signal")).await?;
            Ok(empty(204))
        }
        (Method::POST, ["pause"]) => {
            engine.set_paused(&c, true).await?;
            Ok(empty(204))
        }
        (Method::POST, ["unpause"]) => {
            engine.set_paused(&c, false).await?;
            Ok(empty(204))
        }
        (Method::POST, ["rename"]) => {
            let name = req.q("name").unwrap_or_default().to_string();
            engine.rename(&c, &name)?;
            Ok(empty(204))
        }
        (Method::POST, ["wait"]) => {
            let condition = WaitCondition::parse(req.q("condition").unwrap_or(""))?;
            wait(engine, c, condition)
        }
        (Method::POST, ["attach"]) => super::stream::attach(engine, req, c).await,
        (Method::POST, ["resize"]) => {
            let h = req.int("h")?.unwrap_or(0);
            let w = req.int("w")?.unwrap_or(0);
            if !c.is_running() {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
            let client = shim::client::ShimClient::new(engine.state_dir(&c.id));
            client
                .resize(h as u16, w as u16, None)
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
            Ok(empty(200))
        }
        (Method::POST, ["exec"]) => {
            let body = req.json().await?;
            let id = engine.exec_create(&c, &body)?;
            Ok(json_response(201, &json!({"Id": id})))
        }
        (Method::GET, ["logs"]) => logs(engine, &req, c),
        (Method::GET, ["top"]) => {
            let v = engine.top(&c, req.q("ps_args").unwrap_or("")).await?;
            Ok(json_response(200, &v))
        }
        (Method::GET, ["stats"]) => stats(engine, &req, c).await,
        (Method::GET, ["changes"]) => {
            let layers = engine.layers.clone();
            let key = c.id.clone();
            let changes = blocking(move || layers.changes(&key).map_err(layer_error)).await?;
            let v: Vec<Value> = changes
                .iter()
                .map(|ch| {
                    let kind = match ch.kind {
                        snapshot::ChangeKind::Modified => 0,
                        snapshot::ChangeKind::Added => 1,
                        snapshot::ChangeKind::Deleted => 2,
                    };
                    json!({"Path": ch.path, "Kind": kind})
                })
                .collect();
            Ok(json_response(
                200,
                &if v.is_empty() { Value::Null } else { json!(v) },
            ))
        }
        (Method::GET, ["export"]) => {
            let layers = engine.layers.clone();
            let key = c.id.clone();
            Ok(tar_stream(move |w| {
                layers.export(&key, w).map_err(layer_error)
            }))
        }
        (Method::GET | Method::HEAD, ["archive"]) => archive_get(engine, &req, c).await,
        (Method::PUT, ["archive"]) => archive_put(engine, req, c).await,
        (Method::POST, ["update"]) => {
            let _ = req.json().await?;
            Err(Error::invalid(
                "updating a container's resources is not supported yet",
            ))
        }
        _ => Err(Error::not_found("page not found")),
    }
}

fn wait(engine: &Arc<Engine>, c: Arc<Container>, condition: WaitCondition) -> Result<Resp> {
    // dockerd sends the headers at once, so the client knows the wait is registered before
    // it starts the container; the body follows at the exit.
    let (tx, body) = Body::channel(1);
    let exited = engine.wait(&c, condition);
    tokio::spawn(async move {
        let code = exited.await;
        let error = c.with(|r| r.state.error.clone());
        let v = json!({
            "StatusCode": code,
            "Error": if error.is_empty() { Value::Null } else { json!({"Message": error}) },
        });
        let mut line = serde_json::to_vec(&v).unwrap_or_default();
        line.push(b'\n');
        let _ = tx.send(Bytes::from(line)).await;
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty())))
}

fn logs(engine: &Arc<Engine>, req: &Req, c: Arc<Container>) -> Result<Resp> {
    let stdout = req.flag("stdout")?;
    let stderr = req.flag("stderr")?;
    if !stdout && !stderr {
        return Err(Error::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tty = c.with(|r| r.config["Tty"].as_bool().unwrap_or(false));
    let tail = match req.q("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| Error::invalid(format!("invalid value for tail: {n:?}")))?,
        )
        .map(|n| n.max(0) as usize),
    };
    let opts = crate::logs::Options {
        stdout,
        stderr,
        follow: req.flag("follow")?,
        timestamps: req.flag("timestamps")?,
        tail,
        since: req.q("since").and_then(crate::logs::parse_time),
        until: req.q("until").and_then(crate::logs::parse_time),
        multiplexed: !tty,
    };
    let path = engine.log_path(&c.id);
    let (tx, body) = Body::channel(64);
    let c2 = c.clone();
    tokio::spawn(async move {
        crate::logs::stream(&path, opts, tx, move || {
            c2.with(|r| r.state.running || r.state.restarting)
        })
        .await;
    });
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", ct)
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty())))
}

async fn stats_once(engine: &Arc<Engine>, c: &Arc<Container>) -> Value {
    let read = crate::lifecycle::now();
    let name = c.with(|r| r.name.clone());
    let mut v = json!({
        "read": read,
        "preread": crate::container::ZERO_TIME,
        "name": name,
        "id": c.id,
        "num_procs": 0,
        "pids_stats": {},
        "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null, "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null, "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
        "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {},
    });
    if !c.is_running() {
        return v;
    }
    let root = engine.runtime_root();
    let id = c.id.clone();
    let stats = blocking(move || {
        let rt = runtime::Runtime::new(&root)?;
        Ok(rt.load(&runtime::ContainerId::new(&id)?)?.stats()?)
    })
    .await;
    if let Ok(s) = stats {
        let system = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| {
                t.lines().next().map(|l| {
                    l.split_whitespace()
                        .skip(1)
                        .filter_map(|x| x.parse::<u64>().ok())
                        .sum::<u64>()
                        * 10_000_000
                })
            })
            .unwrap_or(0);
        let cpus = crate::lifecycle::online_cpus();
        v["cpu_stats"] = json!({
            "cpu_usage": {
                "total_usage": s.cpu.usage.usage_total,
                "usage_in_kernelmode": s.cpu.usage.usage_kernel,
                "usage_in_usermode": s.cpu.usage.usage_user,
                "percpu_usage": s.cpu.usage.per_core_usage_total,
            },
            "system_cpu_usage": system,
            "online_cpus": cpus,
            "throttling_data": {
                "periods": s.cpu.throttling.periods,
                "throttled_periods": s.cpu.throttling.throttled_periods,
                "throttled_time": s.cpu.throttling.throttled_time,
            },
        });
        v["memory_stats"] = json!({
            "usage": s.memory.memory.usage,
            "max_usage": s.memory.memory.max_usage,
            "failcnt": s.memory.memory.fail_count,
            "limit": if s.memory.memory.limit == 0 || s.memory.memory.limit >= i64::MAX as u64 / 2 {
                crate::engine::mem_total()
            } else { s.memory.memory.limit },
            "stats": s.memory.stats,
        });
        v["pids_stats"] = json!({"current": s.pids.current, "limit": s.pids.limit});
    }
    v
}

async fn stats(engine: &Arc<Engine>, req: &Req, c: Arc<Container>) -> Result<Resp> {
    let stream = match req.q("stream") {
        None | Some("") => true,
        Some(v) => super::parse_bool(v).unwrap_or(true),
    } && !req.flag("one-shot")?;
    if !stream {
        let mut first = stats_once(engine, &c).await;
        if !req.flag("one-shot")? {
            // precpu from a sample a moment earlier, as dockerd's non-stream answer has it.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let second = stats_once(engine, &c).await;
            let pre = first["cpu_stats"].take();
            let preread = first["read"].take();
            first = second;
            first["precpu_stats"] = pre;
            first["preread"] = preread;
        }
        return Ok(json_response(200, &first));
    }
    let (tx, body) = Body::channel(4);
    let engine = engine.clone();
    tokio::spawn(async move {
        let mut prev: Option<Value> = None;
        loop {
            let mut v = stats_once(&engine, &c).await;
            if let Some(p) = prev.take() {
                v["precpu_stats"] = p["cpu_stats"].clone();
                v["preread"] = p["read"].clone();
            }
            let mut line = serde_json::to_vec(&v).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() || !c.is_running() {
                return;
            }
            prev = Some(v);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty())))
}

/// A tar written by blocking code, streamed as the response body.
pub fn tar_stream(
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<()> + Send + 'static,
) -> Resp {
    let (tx, body) = Body::channel(16);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::new(),
        };
        if let Err(e) = write(&mut w) {
            tracing::warn!("streaming a tar: {e}");
            return;
        }
        let _ = std::io::Write::flush(&mut w);
    });
    Response::builder()
        .status(200)
        .header("Content-Type", "application/x-tar")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Blocking writes into a response body channel.
pub struct ChannelWriter {
    pub tx: tokio::sync::mpsc::Sender<Bytes>,
    pub buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

impl std::fmt::Debug for ChannelWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelWriter")
    }
}

/// Maps a path in the container to the host directory that holds it: a volume or bind
/// mount's source, or the container's merged root.
fn host_root_for(engine: &Engine, c: &Container, path: &str) -> (std::path::PathBuf, String) {
    let mounts = c.with(|r| r.mounts.clone());
    let mut best: Option<&crate::container::MountPoint> = None;
    for m in mounts.iter().filter(|m| m.kind != "tmpfs") {
        let d = m.destination.trim_end_matches('/');
        if (path == d || path.starts_with(&format!("{d}/")))
            && best.is_none_or(|b| b.destination.len() < m.destination.len())
        {
            best = Some(m);
        }
    }
    match best {
        Some(m) => {
            let rel = path[m.destination.trim_end_matches('/').len()..].to_string();
            (
                std::path::PathBuf::from(&m.source),
                if rel.is_empty() { "/".into() } else { rel },
            )
        }
        None => (engine.layers.merged(&c.id), path.to_string()),
    }
}

async fn ensure_mounted(engine: &Arc<Engine>, c: &Container) -> Result<()> {
    let layers = engine.layers.clone();
    let key = c.id.clone();
    let parent = c.with(|r| r.parent_layer.clone());
    blocking(move || {
        layers
            .prepare(&key, parent.as_deref())
            .map(|_| ())
            .map_err(layer_error)
    })
    .await
}

async fn archive_get(engine: &Arc<Engine>, req: &Req, c: Arc<Container>) -> Result<Resp> {
    let path = req.q("path").unwrap_or("").to_string();
    if path.is_empty() {
        return Err(Error::invalid("Bad parameters: path cannot be empty"));
    }
    ensure_mounted(engine, &c).await?;
    let (root, inner) = host_root_for(engine, &c, &path);
    let resolved = snapshot::resolve_in_root(&root, &inner).map_err(|_| {
        Error::not_found(format!(
            "Could not find the file {path} in container {}",
            c.with(|r| r.bare_name().to_string())
        ))
    })?;
    let meta = std::fs::symlink_metadata(&resolved).map_err(|_| {
        Error::not_found(format!(
            "Could not find the file {path} in container {}",
            c.with(|r| r.bare_name().to_string())
        ))
    })?;
    use std::os::unix::fs::MetadataExt;
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let mode = go_file_mode(&meta);
    let stat = json!({
        "name": name,
        "size": meta.len(),
        "mode": mode,
        "mtime": chrono::DateTime::from_timestamp(meta.mtime(), meta.mtime_nsec() as u32)
            .map(crate::container::rfc3339)
            .unwrap_or_default(),
        "linkTarget": std::fs::read_link(&resolved).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
    });
    use base64::Engine as _;
    let header = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&stat)?);
    let mut resp = if req.method == Method::HEAD {
        empty(200)
    } else {
        tar_stream(move |w| snapshot::archive_path(&root, &inner, w).map_err(layer_error))
    };
    if let Ok(v) = hyper::header::HeaderValue::from_str(&header) {
        resp.headers_mut().insert("X-Docker-Container-Path-Stat", v);
    }
    Ok(resp)
}

/// Go's os.FileMode bits, which the docker CLI decodes from the path stat header.
fn go_file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let perm = meta.permissions().mode() & 0o777;
    let ft = meta.file_type();
    let mut mode = perm;
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    } else if ft.is_fifo() {
        mode |= 1 << 25;
    } else if ft.is_socket() {
        mode |= 1 << 24;
    } else if ft.is_char_device() {
        mode |= (1 << 26) | (1 << 21);
    } else if ft.is_block_device() {
        mode |= 1 << 26;
    }
    let raw = meta.permissions().mode();
    if raw & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if raw & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if raw & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    mode
}

async fn archive_put(engine: &Arc<Engine>, mut req: Req, c: Arc<Container>) -> Result<Resp> {
    let path = req.q("path").unwrap_or("").to_string();
    if path.is_empty() {
        return Err(Error::invalid("Bad parameters: path cannot be empty"));
    }
    ensure_mounted(engine, &c).await?;
    let (root, inner) = host_root_for(engine, &c, &path);
    let dest = snapshot::resolve_in_root(&root, &inner).map_err(|_| {
        Error::not_found(format!(
            "Could not find the file {path} in container {}",
            c.with(|r| r.bare_name().to_string())
        ))
    })?;
    let dest_in_root = inner.clone();
    if !dest.is_dir() {
        return Err(Error::invalid(format!(
            "extraction point is not a directory: {path}"
        )));
    }
    let body = req.bytes().await?;
    blocking(move || {
        snapshot::extract_into(&root, &dest_in_root, std::io::Cursor::new(body))
            .map_err(layer_error)
    })
    .await?;
    Ok(empty(200))
}

pub async fn exec_resize(engine: &Arc<Engine>, req: &Req, id: &str) -> Result<Resp> {
    let exec = engine.exec(id)?;
    let h = req.int("h")?.unwrap_or(0);
    let w = req.int("w")?.unwrap_or(0);
    let client = shim::client::ShimClient::new(engine.state_dir(&exec.container_id));
    client
        .resize(h as u16, w as u16, Some(&exec.id))
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(empty(201))
}

pub async fn prune(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in engine.containers() {
        let r = c.record();
        if r.state.running || r.state.restarting {
            continue;
        }
        let labels_ok = filters.get("label").is_none_or(|ls| {
            ls.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => r.config["Labels"][k].as_str() == Some(v),
                None => r.config["Labels"].get(l).is_some(),
            })
        });
        if !labels_ok {
            continue;
        }
        reclaimed += engine.layers.usage(&c.id).unwrap_or(0);
        if engine.remove(&c, false, false).await.is_ok() {
            deleted.push(c.id.clone());
        }
    }
    Ok(json_response(
        200,
        &json!({"ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_go() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(59)), "59 seconds");
        assert_eq!(human_duration(d(61)), "About a minute");
        assert_eq!(human_duration(d(300)), "5 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(3 * 3600)), "3 hours");
        assert_eq!(human_duration(d(3 * 86400)), "3 days");
    }
}
