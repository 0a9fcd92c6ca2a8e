//! `/networks/…`: create, list, inspect, remove, prune, connect, disconnect.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Req, Resp, empty, json_response};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::{CreateRequest, NetworkConfig, SubnetRequest};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct IpamConfig {
    subnet: String,
    #[serde(rename = "IPRange")]
    ip_range: String,
    gateway: String,
    aux_address: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Ipam {
    driver: String,
    options: Option<BTreeMap<String, String>>,
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    attachable: bool,
    ingress: bool,
    config_only: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// A network as `GET /networks/{id}` answers it (dockerd 28's shape).
pub fn network_json(engine: &Engine, cfg: &NetworkConfig, with_containers: bool) -> Value {
    let mut containers = serde_json::Map::new();
    if with_containers {
        for (id, name, ep) in engine.networks.attached(&cfg.id) {
            containers.insert(
                id,
                json!({
                    "Name": name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                    "IPv6Address": "",
                }),
            );
        }
    }
    let mut ipam_config = Vec::new();
    if let Some(subnet) = cfg.subnet {
        let mut c = json!({"Subnet": subnet.to_string()});
        if let Some(r) = cfg.ip_range {
            c["IPRange"] = json!(r.to_string());
        }
        if let Some(g) = cfg.gateway {
            c["Gateway"] = json!(g.to_string());
        }
        ipam_config.push(c);
    }
    let mut options: BTreeMap<String, String> = cfg.options.clone();
    if cfg.default_bridge && cfg.mtu > 0 {
        options.insert("com.docker.network.driver.mtu".into(), cfg.mtu.to_string());
    }
    json!({
        "Name": cfg.name,
        "Id": cfg.id,
        "Created": cfg.created,
        "Scope": "local",
        "Driver": cfg.driver,
        "EnableIPv4": cfg.driver == "bridge",
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": if cfg.predefined() && cfg.ipam_options.is_empty() { Value::Null } else { json!(cfg.ipam_options) },
            "Config": ipam_config,
        },
        "Internal": cfg.internal,
        "Attachable": cfg.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": cfg.labels,
    })
}

fn label_matches(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(want),
    }
}

fn filter_ok(
    engine: &Engine,
    cfg: &NetworkConfig,
    filters: &std::collections::HashMap<String, Vec<String>>,
) -> Result<bool> {
    for (k, values) in filters {
        let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
        let ok = match k.as_str() {
            "name" => any(&|v| cfg.name.contains(v)),
            "id" => any(&|v| cfg.id.starts_with(v)),
            "driver" => any(&|v| cfg.driver == v),
            "scope" => any(&|v| v == "local"),
            "label" => values.iter().all(|v| label_matches(&cfg.labels, v)),
            "type" => any(&|v| match v {
                "custom" => !cfg.predefined(),
                "builtin" => cfg.predefined(),
                _ => false,
            }),
            "dangling" => any(&|v| {
                let dangling = !cfg.predefined() && engine.network_users(&cfg.id).is_empty();
                super::parse_bool(v) == Some(dangling)
            }),
            other => {
                return Err(Error::invalid(format!("invalid filter '{other}'")));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn list(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    let mut out = Vec::new();
    for cfg in engine.networks.list() {
        if filter_ok(engine, &cfg, &filters)? {
            out.push(network_json(engine, &cfg, false));
        }
    }
    Ok(json_response(200, &json!(out)))
}

pub fn inspect(engine: &Arc<Engine>, name: &str) -> Result<Resp> {
    let cfg = engine.networks.find(name)?;
    Ok(json_response(200, &network_json(engine, &cfg, true)))
}

pub async fn create(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    let body = req.json().await?;
    let body: CreateBody = crate::types::parse("network config", &body)?;
    if body.config_only || body.ingress {
        return Err(Error::invalid(
            "config-only and ingress networks need swarm mode, which Wharf does not have",
        ));
    }
    let ipam = body.ipam.unwrap_or_default();
    let mut subnets = Vec::new();
    let mut gateway_without_subnet = false;
    for c in ipam.config.unwrap_or_default() {
        if c.aux_address.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(Error::invalid(
                "auxiliary addresses are not supported by Wharf",
            ));
        }
        if c.subnet.is_empty() {
            if !c.gateway.is_empty() || !c.ip_range.is_empty() {
                gateway_without_subnet = true;
            }
            continue;
        }
        subnets.push(SubnetRequest {
            subnet: c.subnet,
            gateway: (!c.gateway.is_empty()).then_some(c.gateway),
            ip_range: (!c.ip_range.is_empty()).then_some(c.ip_range),
        });
    }
    let request = CreateRequest {
        name: body.name,
        driver: body.driver,
        internal: body.internal,
        attachable: body.attachable,
        ipv6: body.enable_ipv6.unwrap_or(false),
        ipam_driver: ipam.driver,
        ipam_options: ipam.options.unwrap_or_default(),
        subnets,
        has_gateway_without_subnet: gateway_without_subnet,
        labels: body.labels.unwrap_or_default(),
        options: body.options.unwrap_or_default(),
    };
    let networks = engine.networks.clone();
    let cfg = crate::engine::blocking(move || networks.create(request)).await?;
    engine.events.publish(
        "network",
        "create",
        &cfg.id,
        BTreeMap::from([
            ("name".to_string(), cfg.name.clone()),
            ("type".to_string(), cfg.driver.clone()),
        ]),
    );
    Ok(json_response(201, &json!({"Id": cfg.id, "Warning": ""})))
}

pub async fn remove(engine: &Arc<Engine>, name: &str) -> Result<Resp> {
    let networks = engine.networks.clone();
    let name = name.to_string();
    let cfg = crate::engine::blocking(move || networks.remove(&name)).await?;
    // Stopped containers that named it forget it, as dockerd's do when they next start.
    for c in engine.network_users(&cfg.id) {
        let _ = c.update(|r| r.network.requested.retain(|q| q.network_id != cfg.id));
    }
    engine.events.publish(
        "network",
        "destroy",
        &cfg.id,
        BTreeMap::from([
            ("name".to_string(), cfg.name.clone()),
            ("type".to_string(), cfg.driver.clone()),
        ]),
    );
    Ok(empty(204))
}

pub async fn prune(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    if let Some(other) = filters
        .keys()
        .find(|k| !["until", "label", "label!"].contains(&k.as_str()))
    {
        return Err(Error::invalid(format!("invalid filter '{other}'")));
    }
    // `until`: only networks created before it (unix seconds or RFC 3339).
    let until = match filters.get("until").and_then(|v| v.first()) {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(v)
                        .ok()
                        .map(|t| t.timestamp())
                })
                .ok_or_else(|| Error::invalid(format!("invalid until filter: {v}")))?,
        ),
    };
    let mut deleted = Vec::new();
    for cfg in engine.networks.list() {
        if cfg.predefined() || !engine.network_users(&cfg.id).is_empty() {
            continue;
        }
        let labels_ok = filters
            .get("label")
            .is_none_or(|ls| ls.iter().all(|l| label_matches(&cfg.labels, l)));
        let labels_not_ok = filters
            .get("label!")
            .is_some_and(|ls| ls.iter().any(|l| label_matches(&cfg.labels, l)));
        let too_new = match &until {
            Some(t) => chrono::DateTime::parse_from_rfc3339(&cfg.created)
                .map(|c| c.timestamp() >= *t)
                .unwrap_or(true),
            None => false,
        };
        if !labels_ok || labels_not_ok || too_new {
            continue;
        }
        if remove(engine, &cfg.id).await.is_ok() {
            deleted.push(cfg.name);
        }
    }
    Ok(json_response(200, &json!({"NetworksDeleted": deleted})))
}

pub async fn connect(engine: &Arc<Engine>, mut req: Req, network: &str) -> Result<Resp> {
    let body = req.json().await?;
    let container = body["Container"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::invalid("no container specified to connect to the network"))?;
    engine
        .network_connect(network, container, &body["EndpointConfig"])
        .await?;
    Ok(empty(200))
}

pub async fn disconnect(engine: &Arc<Engine>, mut req: Req, network: &str) -> Result<Resp> {
    let body = req.json().await?;
    let container = body["Container"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::invalid("no container specified to disconnect from the network"))?;
    let force = body["Force"].as_bool().unwrap_or(false);
    engine.network_disconnect(network, container, force).await?;
    Ok(empty(200))
}
