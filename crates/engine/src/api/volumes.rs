//! `/volumes/…`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::{Req, Resp, empty, json_response};
use crate::engine::{Engine, random_id};
use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

pub async fn create(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    let body = req.json().await?;
    let body: CreateBody = if body.is_null() {
        CreateBody::default()
    } else {
        crate::types::parse("volume config", &body)?
    };
    let name = if body.name.is_empty() {
        random_id()
    } else {
        body.name.clone()
    };
    let existed = engine.volumes.get(&name).is_ok();
    let meta = engine.volumes.create(
        &name,
        &body.driver,
        body.labels.unwrap_or_default(),
        body.driver_opts.unwrap_or_default(),
    )?;
    if !existed {
        engine.events.publish(
            "volume",
            "create",
            &name,
            BTreeMap::from([("driver".into(), "local".into())]),
        );
    }
    Ok(json_response(201, &engine.volumes.to_json(&meta)))
}

pub async fn list(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    let mut out = Vec::new();
    for meta in engine.volumes.list()? {
        let ok = filters.iter().all(|(k, values)| {
            values.iter().all(|v| match k.as_str() {
                "name" => meta.name.contains(v.as_str()),
                "driver" => v == "local",
                "dangling" => {
                    let dangling = engine.volume_users(&meta.name).is_empty();
                    super::parse_bool(v) == Some(dangling)
                }
                "label" => match v.split_once('=') {
                    Some((key, val)) => meta.labels.get(key).map(String::as_str) == Some(val),
                    None => meta.labels.contains_key(v),
                },
                _ => true,
            })
        });
        if ok {
            out.push(engine.volumes.to_json(&meta));
        }
    }
    Ok(json_response(200, &json!({"Volumes": out, "Warnings": []})))
}

pub fn inspect(engine: &Arc<Engine>, name: &str) -> Result<Resp> {
    let meta = engine.volumes.get(name)?;
    Ok(json_response(200, &engine.volumes.to_json(&meta)))
}

pub async fn remove(engine: &Arc<Engine>, req: &Req, name: &str) -> Result<Resp> {
    let force = req.flag("force")?;
    match engine.volumes.get(name) {
        Ok(_) => {}
        Err(e) if force && e.status() == 404 => return Ok(empty(204)),
        Err(e) => return Err(e),
    }
    let users = engine.volume_users(name);
    if !users.is_empty() {
        return Err(Error::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    engine.volumes.remove(name)?;
    engine
        .events
        .publish("volume", "destroy", name, BTreeMap::new());
    Ok(empty(204))
}

pub async fn prune(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    // API ≥ 1.42 prunes only anonymous volumes unless all=true.
    let all = filters
        .get("all")
        .and_then(|v| v.first())
        .and_then(|v| super::parse_bool(v))
        .unwrap_or(false)
        || req.version.is_some_and(|v| v < (1, 42));
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for meta in engine.volumes.list()? {
        if !all && !meta.labels.contains_key(crate::volumes::ANONYMOUS_LABEL) {
            continue;
        }
        let labels_ok = filters.get("label").is_none_or(|ls| {
            ls.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => meta.labels.get(k).map(String::as_str) == Some(v),
                None => meta.labels.contains_key(l),
            })
        });
        if !labels_ok || !engine.volume_users(&meta.name).is_empty() {
            continue;
        }
        let size = engine.volumes.size(&meta.name);
        if engine.volumes.remove(&meta.name).is_ok() {
            reclaimed += size;
            engine
                .events
                .publish("volume", "destroy", &meta.name, BTreeMap::new());
            deleted.push(meta.name);
        }
    }
    Ok(json_response(
        200,
        &json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
