//! `/images/…` and `/commit`: list, inspect, history, tag, remove, import, load, save,
//! commit, prune. Pulling from a registry comes with Wharf's registry work.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Response};
use serde_json::{Value, json};

use super::{Body, Req, Resp, json_response};
use crate::engine::{Engine, blocking, image_error, layer_error, top_chain, unpack_layers};
use crate::error::{Error, Kind, Result};
use image::{Digest, ImageRecord, Reference};

/// A JSON message line of a progress stream.
pub(super) fn message(v: Value) -> Bytes {
    let mut line = serde_json::to_vec(&v).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

fn error_message(e: &Error) -> Bytes {
    message(json!({"errorDetail": {"message": e.message}, "error": e.message}))
}

pub(super) fn stream_response(body: Body) -> Resp {
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub(super) fn parse_ref(name: &str) -> Result<Reference> {
    Reference::parse(name).map_err(|e| Error::invalid(e.to_string()))
}

/// `GET /images/json` entries.
/// Every image is listed: Wharf keeps no intermediate images, so `all` changes nothing.
pub async fn list_json(engine: &Arc<Engine>) -> Result<Vec<Value>> {
    let store = engine.images.clone();
    let images = blocking(move || Ok(store.list())).await?;
    let users = image_users(engine);
    let mut out: Vec<Value> = images
        .iter()
        .map(|r| {
            let tags = r.familiar_tags();
            let digests: Vec<String> = r
                .repo_digests
                .iter()
                .filter_map(|d| Reference::parse(d).ok().map(|x| x.familiar()))
                .collect();
            json!({
                "Containers": users.get(&r.id.to_string()).map(|v| v.len() as i64).unwrap_or(0),
                "Created": r.created.timestamp(),
                "Id": r.id,
                "Labels": r.config.config.labels.clone().unwrap_or_default(),
                "ParentId": "",
                "RepoDigests": digests,
                "RepoTags": tags,
                "SharedSize": -1,
                "Size": r.size,
                "VirtualSize": r.size,
            })
        })
        .collect();
    out.sort_by_key(|v| std::cmp::Reverse(v["Created"].as_i64().unwrap_or(0)));
    Ok(out)
}

/// Image id → ids of containers made from it.
fn image_users(engine: &Engine) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for c in engine.containers() {
        let (image, running) = c.with(|r| (r.image.clone(), r.state.running));
        out.entry(image).or_default().push((c.id.clone(), running));
    }
    out
}

pub async fn list(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    let mut images = list_json(engine).await?;
    if let Some(d) = filters.get("dangling").and_then(|v| v.first()) {
        let want = super::parse_bool(d).unwrap_or(false);
        images.retain(|v| v["RepoTags"].as_array().is_none_or(|a| a.is_empty()) == want);
    }
    if let Some(refs) = filters.get("reference") {
        images.retain(|v| {
            v["RepoTags"].as_array().is_some_and(|tags| {
                tags.iter().filter_map(|t| t.as_str()).any(|t| {
                    refs.iter().any(|r| {
                        t == r || t.split(':').next() == Some(r.as_str()) || glob_match(r, t)
                    })
                })
            })
        });
    }
    if let Some(labels) = filters.get("label") {
        images.retain(|v| {
            labels.iter().all(|l| match l.split_once('=') {
                Some((k, val)) => v["Labels"][k].as_str() == Some(val),
                None => v["Labels"].get(l).is_some(),
            })
        });
    }
    Ok(json_response(200, &json!(images)))
}

/// `*` wildcards, as reference filters use them.
fn glob_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return false;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !rest.starts_with(part) {
                return false;
            }
            rest = &rest[part.len()..];
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    parts.last().is_some_and(|l| l.is_empty()) || rest.is_empty()
}

async fn resolve(engine: &Arc<Engine>, name: &str) -> Result<ImageRecord> {
    let store = engine.images.clone();
    let wanted = name.to_string();
    blocking(move || store.resolve(&wanted).map_err(image_error))
        .await
        .map_err(|e| {
            if e.kind == Kind::NotFound {
                Error::no_such_image(name)
            } else {
                e
            }
        })
}

/// `GET /images/{name}/json`.
pub async fn inspect_json(engine: &Arc<Engine>, rec: &ImageRecord) -> Result<Value> {
    let content = engine.content.clone();
    let id = rec.id.clone();
    let raw = blocking(move || content.read(&id).map_err(image_error)).await?;
    let config: Value = serde_json::from_slice(&raw)?;
    let mut cfg = config.get("config").cloned().unwrap_or(json!({}));
    for key in ["Hostname", "Domainname", "User", "WorkingDir"] {
        if cfg.get(key).is_none() {
            cfg[key] = json!("");
        }
    }
    for key in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
    ] {
        if cfg.get(key).is_none() {
            cfg[key] = json!(false);
        }
    }
    for key in ["Env", "Cmd", "Entrypoint", "OnBuild", "Labels", "Volumes"] {
        if cfg.get(key).is_none() {
            cfg[key] = Value::Null;
        }
    }
    if cfg.get("Image").is_none() {
        cfg["Image"] = json!("");
    }
    let lower = engine
        .layers
        .lowerdirs(&top_chain(rec.diff_ids()).unwrap_or_default())
        .map(|l| {
            l.iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default();
    let digests: Vec<String> = rec
        .repo_digests
        .iter()
        .filter_map(|d| Reference::parse(d).ok().map(|x| x.familiar()))
        .collect();
    Ok(json!({
        "Id": rec.id,
        "RepoTags": rec.familiar_tags(),
        "RepoDigests": digests,
        "Parent": "",
        "Comment": config["comment"].as_str().unwrap_or(""),
        "Created": config["created"].as_str().map(str::to_string).unwrap_or_else(|| crate::container::rfc3339(rec.created)),
        "DockerVersion": config["docker_version"].as_str().unwrap_or(""),
        "Author": config["author"].as_str().unwrap_or(""),
        "Config": cfg,
        "Architecture": config["architecture"].as_str().unwrap_or(""),
        "Variant": config.get("variant"),
        "Os": config["os"].as_str().unwrap_or("linux"),
        "Size": rec.size,
        "GraphDriver": {"Data": {"LowerDir": lower}, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": rec.diff_ids()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": rec.manifest,
            "size": engine.content.size(&rec.manifest).unwrap_or(0),
        },
    }))
}

pub async fn route(engine: &Arc<Engine>, req: Req, rest: &[String]) -> Result<Resp> {
    // Image names contain slashes: the action is the last segment.
    let (name, action) = match rest.split_last() {
        Some((last, init))
            if !init.is_empty()
                && ["json", "history", "tag", "push", "get"].contains(&last.as_str()) =>
        {
            (init.join("/"), last.as_str())
        }
        _ => (rest.join("/"), ""),
    };
    match (req.method.clone(), action) {
        (Method::GET, "json") => {
            let rec = resolve(engine, &name).await?;
            Ok(json_response(200, &inspect_json(engine, &rec).await?))
        }
        (Method::GET, "history") => history(engine, &name).await,
        (Method::POST, "tag") => {
            let repo = req.q("repo").unwrap_or("").to_string();
            let tag = req.q("tag").unwrap_or("").to_string();
            tag_image(engine, &name, &repo, &tag).await?;
            Ok(super::empty(201))
        }
        (Method::GET, "get") => save(engine, &req, vec![name]).await,
        (Method::POST, "push") => {
            if resolve(engine, &name).await.is_err() {
                return Err(Error::not_found(format!(
                    "An image does not exist locally with the tag: {name}"
                )));
            }
            Err(Error::internal(format!(
                "pushing {name}: pushing to registries is not available in this daemon yet"
            )))
        }
        (Method::DELETE, "") => {
            let v = remove(engine, &name, req.flag("force")?).await?;
            Ok(json_response(200, &v))
        }
        _ => Err(Error::not_found("page not found")),
    }
}

async fn history(engine: &Arc<Engine>, name: &str) -> Result<Resp> {
    let rec = resolve(engine, name).await?;
    let mut out = Vec::new();
    let layer_sizes: Vec<u64> = rec.layers.iter().map(|l| l.size).collect();
    let mut layer_index = 0;
    let n = rec.config.history.len();
    for (i, h) in rec.config.history.iter().enumerate() {
        let empty = h.empty_layer.unwrap_or(false);
        let size = if empty {
            0
        } else {
            let s = layer_sizes.get(layer_index).copied().unwrap_or(0);
            layer_index += 1;
            s
        };
        let last = i + 1 == n;
        out.push(json!({
            "Id": if last { rec.id.to_string() } else { "<missing>".to_string() },
            "Created": h.created.as_deref().and_then(image::spec::parse_time).map(|t| t.timestamp()).unwrap_or(0),
            "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Tags": if last && !rec.repo_tags.is_empty() { json!(rec.familiar_tags()) } else { Value::Null },
            "Size": size,
            "Comment": h.comment.clone().unwrap_or_default(),
        }));
    }
    if out.is_empty() {
        out.push(json!({
            "Id": rec.id, "Created": rec.created.timestamp(), "CreatedBy": "",
            "Tags": rec.familiar_tags(), "Size": rec.size, "Comment": "",
        }));
    }
    out.reverse();
    Ok(json_response(200, &json!(out)))
}

async fn tag_image(engine: &Arc<Engine>, name: &str, repo: &str, tag: &str) -> Result<()> {
    let rec = resolve(engine, name).await?;
    if repo.is_empty() {
        return Err(Error::invalid(
            "repository name must have at least one component",
        ));
    }
    let full = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    let reference = parse_ref(&full)?;
    if reference.digest().is_some() {
        return Err(Error::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    let reference = reference.with_default_tag();
    let _lock = engine.image_lock.lock().await;
    let store = engine.images.clone();
    let id = rec.id.clone();
    let r2 = reference.clone();
    blocking(move || store.tag(&id, &r2).map_err(image_error)).await?;
    engine.events.publish(
        "image",
        "tag",
        rec.id.as_str(),
        BTreeMap::from([("name".into(), reference.familiar())]),
    );
    Ok(())
}

/// `DELETE /images/{name}` with dockerd's rules on tags, containers and `force`.
/// (`noprune` is not taken: Wharf keeps no untagged parent images that it could prune.)
pub async fn remove(engine: &Arc<Engine>, name: &str, force: bool) -> Result<Value> {
    let _lock = engine.image_lock.lock().await;
    let rec = resolve(engine, name).await?;
    let users = image_users(engine)
        .remove(&rec.id.to_string())
        .unwrap_or_default();
    let mut out = Vec::new();
    // Is `name` a reference (tag) rather than an id?
    let by_ref = Reference::parse(name)
        .ok()
        .map(|r| r.with_default_tag())
        .filter(|r| rec.repo_tags.contains(&r.to_string()));
    if let Some(reference) = &by_ref
        && (rec.repo_tags.len() > 1 || !users.is_empty() && !force)
    {
        if rec.repo_tags.len() > 1 || users.is_empty() {
            // Only the tag goes.
            let store = engine.images.clone();
            let r = reference.clone();
            blocking(move || store.untag(&r).map(|_| ()).map_err(image_error)).await?;
            engine.events.publish(
                "image",
                "untag",
                rec.id.as_str(),
                BTreeMap::from([("name".into(), reference.familiar())]),
            );
            return Ok(json!([{"Untagged": reference.familiar()}]));
        }
        let (cid, _) = &users[0];
        return Err(Error::conflict(format!(
            "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
            &cid[..12],
            rec.id.short()
        )));
    }
    if let Some((cid, _)) = users.iter().find(|(_, running)| *running) {
        return Err(Error::conflict(format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
            rec.id.short(),
            &cid[..12]
        )));
    }
    if !force {
        if by_ref.is_none() && rec.repo_tags.len() > 1 {
            return Err(Error::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                rec.id.short()
            )));
        }
        if let Some((cid, _)) = users.first() {
            return Err(Error::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                rec.id.short(),
                &cid[..12]
            )));
        }
    }
    for t in rec.familiar_tags() {
        out.push(json!({"Untagged": t}));
        engine.events.publish(
            "image",
            "untag",
            rec.id.as_str(),
            BTreeMap::from([("name".into(), t)]),
        );
    }
    if !users.is_empty() {
        // Forced with stopped users: the tags go, the image stays for its containers.
        let store = engine.images.clone();
        let tags = rec.repo_tags.clone();
        blocking(move || {
            for t in &tags {
                if let Ok(r) = Reference::parse(t) {
                    store.untag(&r).map_err(image_error)?;
                }
            }
            Ok(())
        })
        .await?;
        return Ok(json!(out));
    }
    let store = engine.images.clone();
    let id = rec.id.clone();
    blocking(move || store.delete(&id).map(|_| ()).map_err(image_error)).await?;
    out.push(json!({"Deleted": rec.id}));
    engine
        .events
        .publish("image", "delete", rec.id.as_str(), BTreeMap::new());
    gc(engine).await;
    Ok(json!(out))
}

/// Removes blobs and layers no image, container or build cache entry refers to; returns the
/// bytes of blobs removed.
pub async fn gc(engine: &Arc<Engine>) -> u64 {
    let store = engine.images.clone();
    let content = engine.content.clone();
    let layers = engine.layers.clone();
    let cache = engine.build_cache.clone();
    // Builds write blobs before their cache entries: wait for the step in flight.
    let _exclusive = engine.gc_lock.write().await;
    blocking(move || {
        let mut keep = store.referenced_blobs();
        let cached = cache.list();
        for k in &cached {
            keep.insert(k.entry.config.clone());
            keep.extend(k.entry.layers.iter().map(|l| l.digest.clone()));
        }
        let (_, reclaimed) = content.gc(&keep).map_err(image_error)?;
        let mut chains = HashSet::new();
        for rec in store.list() {
            if let Some(top) = top_chain(rec.diff_ids()) {
                chains.insert(top);
            }
        }
        // Cached build states keep their layers unpacked, so a hit needs no unpacking.
        for k in cached {
            if let Ok(bytes) = content.read(&k.entry.config)
                && let Ok(cfg) = image::ImageConfig::parse(&bytes, "build cache state")
                && let Some(top) = top_chain(&cfg.rootfs.diff_ids)
            {
                chains.insert(top);
            }
        }
        layers.gc(&chains).map_err(layer_error)?;
        Ok(reclaimed)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::warn!("garbage collection: {e}");
        0
    })
}

/// Feeds a request body to blocking code as a `Read`.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl BodyReader {
    pub fn new(mut body: hyper::body::Incoming) -> BodyReader {
        use http_body_util::BodyExt;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data()
                            && tx.send(Ok(data)).await.is_err()
                        {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                    None => return,
                }
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyReader")
    }
}

/// Unpacks a loaded or imported image's layers and records it under its tags. Runs
/// blocking. Returns the record and the tags moved away from other images.
fn record_image(
    engine: &Engine,
    config_bytes: &[u8],
    layers_desc: Vec<image::Descriptor>,
    diff_ids: Vec<Digest>,
    manifest: Option<&Digest>,
    tags: &[String],
) -> Result<(ImageRecord, Vec<(String, Digest)>)> {
    let stack: Vec<(Digest, Digest)> = layers_desc
        .iter()
        .map(|d| d.digest.clone())
        .zip(diff_ids.iter().cloned())
        .collect();
    unpack_layers(&engine.content, &engine.layers, &stack)?;
    let rec = match manifest {
        Some(m) => engine.images.create_from_manifest(m).map_err(image_error)?,
        None => engine
            .images
            .create(config_bytes, layers_desc, diff_ids)
            .map_err(image_error)?,
    };
    let mut moved = Vec::new();
    for t in tags {
        let r = parse_ref(t)?.with_default_tag();
        if let Ok(old) = engine.images.resolve(&r.to_string())
            && old.id != rec.id
        {
            moved.push((r.familiar(), old.id.clone()));
        }
        engine.images.tag(&rec.id, &r).map_err(image_error)?;
    }
    Ok((rec, moved))
}

/// `POST /images/load`. (`quiet` only hides progress in dockerd; the result lines are sent
/// either way, and Wharf sends no per-layer progress.)
pub async fn load(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    let Some(body) = req.take_body() else {
        return Err(Error::invalid("no image archive in the request body"));
    };
    let reader = BodyReader::new(body);
    let (tx, out) = Body::channel(16);
    let engine = engine.clone();
    tokio::spawn(async move {
        let _lock = engine.image_lock.lock().await;
        let e2 = engine.clone();
        let result = blocking(move || {
            let mut reader = reader;
            let loaded = match image::archive::load(&mut reader, &e2.content) {
                Ok(l) => l,
                Err(e) => {
                    // Read what the client is still sending, so it hears the error instead
                    // of a broken pipe.
                    let _ = std::io::copy(&mut reader, &mut std::io::sink());
                    return Err(image_error(e));
                }
            };
            let mut lines = Vec::new();
            for img in &loaded {
                let (rec, moved) = record_image(
                    &e2,
                    &img.config_bytes,
                    img.layers.clone(),
                    img.diff_ids.clone(),
                    img.manifest.as_ref(),
                    &img.repo_tags,
                )?;
                for (name, old) in moved {
                    lines.push(format!(
                        "The image {name} already exists, renaming the old one with ID {old} to empty string\n"
                    ));
                }
                if img.repo_tags.is_empty() {
                    lines.push(format!("Loaded image ID: {}\n", rec.id));
                }
                for t in &img.repo_tags {
                    let name = Reference::parse(t).map(|r| r.familiar()).unwrap_or_else(|_| t.clone());
                    lines.push(format!("Loaded image: {name}\n"));
                    e2.events.publish("image", "load", rec.id.as_str(), BTreeMap::from([("name".into(), name)]));
                }
            }
            Ok(lines)
        })
        .await;
        match result {
            Ok(lines) => {
                for l in lines {
                    let _ = tx.send(message(json!({"stream": l}))).await;
                }
            }
            Err(e) => {
                let _ = tx.send(error_message(&e)).await;
            }
        }
    });
    Ok(stream_response(out))
}

/// `GET /images/get` and `GET /images/{name}/get`: a docker-archive tar.
pub async fn save(engine: &Arc<Engine>, req: &Req, names: Vec<String>) -> Result<Resp> {
    if names.is_empty() {
        return Err(Error::invalid("no images given to save"));
    }
    let oci = req.q("format") == Some("oci");
    let mut images: Vec<(ImageRecord, Vec<String>)> = Vec::new();
    for name in &names {
        let rec = resolve(engine, name).await?;
        // Saved by a name: that tag; by id: every tag of the image.
        let tags: Vec<String> = match Reference::parse(name) {
            Ok(r)
                if rec
                    .repo_tags
                    .contains(&r.clone().with_default_tag().to_string()) =>
            {
                vec![r.with_default_tag().to_string()]
            }
            _ => rec.repo_tags.clone(),
        };
        if let Some(existing) = images.iter_mut().find(|(r, _)| r.id == rec.id) {
            for t in tags {
                if !existing.1.contains(&t) {
                    existing.1.push(t);
                }
            }
        } else {
            images.push((rec, tags));
        }
    }
    let content = engine.content.clone();
    Ok(super::containers::tar_stream(move |w| {
        if oci {
            image::archive::save_oci(&images, &content, w).map_err(image_error)
        } else {
            image::archive::save_docker(&images, &content, w).map_err(image_error)
        }
    }))
}

/// Applies `--change` instructions (Dockerfile syntax) to a config in the API's shape.
pub fn apply_changes(config: &mut Value, changes: &[String]) -> Result<()> {
    for change in changes.iter().filter(|c| !c.trim().is_empty()) {
        let change = change.trim();
        let (instr, rest) = change
            .split_once(char::is_whitespace)
            .unwrap_or((change, ""));
        let rest = rest.trim();
        let list = |s: &str| -> Vec<String> {
            if s.starts_with('[')
                && let Ok(v) = serde_json::from_str::<Vec<String>>(s)
            {
                return v;
            }
            vec!["/bin/sh".into(), "-c".into(), s.to_string()]
        };
        let key_values = |s: &str| -> Vec<(String, String)> {
            if !s.contains('=') {
                let (k, v) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
                return vec![(k.to_string(), v.trim().to_string())];
            }
            shell_words(s)
                .into_iter()
                .filter_map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect()
        };
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => config["Cmd"] = json!(list(rest)),
            "ENTRYPOINT" => config["Entrypoint"] = json!(list(rest)),
            "ENV" => {
                let mut env: Vec<String> = config["Env"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                for (k, v) in key_values(rest) {
                    env.retain(|e| e.split('=').next() != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                }
                config["Env"] = json!(env);
            }
            "LABEL" => {
                if !config["Labels"].is_object() {
                    config["Labels"] = json!({});
                }
                for (k, v) in key_values(rest) {
                    config["Labels"][k] = json!(v);
                }
            }
            "EXPOSE" => {
                if !config["ExposedPorts"].is_object() {
                    config["ExposedPorts"] = json!({});
                }
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    config["ExposedPorts"][p] = json!({});
                }
            }
            "USER" => config["User"] = json!(rest),
            "WORKDIR" => config["WorkingDir"] = json!(rest),
            "STOPSIGNAL" => config["StopSignal"] = json!(rest),
            "VOLUME" => {
                if !config["Volumes"].is_object() {
                    config["Volumes"] = json!({});
                }
                let vols: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest).unwrap_or_default()
                } else {
                    rest.split_whitespace().map(str::to_string).collect()
                };
                for v in vols {
                    config["Volumes"][v] = json!({});
                }
            }
            "ONBUILD" => {
                let mut ob: Vec<Value> = config["OnBuild"].as_array().cloned().unwrap_or_default();
                ob.push(json!(rest));
                config["OnBuild"] = json!(ob);
            }
            other => {
                return Err(Error::invalid(format!(
                    "{other} is not a valid change command"
                )));
            }
        }
    }
    Ok(())
}

fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for ch in s.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(ch),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `POST /images/create`: `fromSrc` imports a root file-system tar; `fromImage` pulls.
pub async fn create(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    if let Some(src) = req.q("fromSrc").map(str::to_string) {
        if src != "-" {
            return Err(Error::invalid(format!(
                "importing from a URL is not supported: {src}"
            )));
        }
        let repo = req.q("repo").unwrap_or("").to_string();
        let tag = req.q("tag").unwrap_or("").to_string();
        let comment = req.q("message").unwrap_or("").to_string();
        let changes = req.q_all("changes");
        let reference = if repo.is_empty() {
            None
        } else {
            let full = if tag.is_empty() {
                repo.clone()
            } else {
                format!("{repo}:{tag}")
            };
            Some(parse_ref(&full)?.with_default_tag())
        };
        let mut config = json!({});
        apply_changes(&mut config, &changes)?;
        let container_config: image::spec::ContainerConfig = serde_json::from_value(config)
            .map_err(|e| Error::invalid(format!("invalid change: {e}")))?;
        let Some(body) = req.take_body() else {
            return Err(Error::invalid("no data in the request body"));
        };
        let reader = BodyReader::new(body);
        let (tx, out) = Body::channel(4);
        let engine = engine.clone();
        tokio::spawn(async move {
            let _lock = engine.image_lock.lock().await;
            let e2 = engine.clone();
            let result = blocking(move || {
                let mut reader = reader;
                let (desc, diff_id) = match image::archive::import_layer(&mut reader, &e2.content) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = std::io::copy(&mut reader, &mut std::io::sink());
                        return Err(image_error(e));
                    }
                };
                let mut opts = image::archive::NewImageConfig::new(Some(diff_id.clone()));
                opts.config = container_config;
                opts.comment = Some(if comment.is_empty() {
                    "Imported from -".into()
                } else {
                    comment
                });
                let bytes = image::archive::new_image_config(&opts);
                let tags: Vec<String> = reference.iter().map(|r| r.to_string()).collect();
                let (rec, _) = record_image(&e2, &bytes, vec![desc], vec![diff_id], None, &tags)?;
                e2.events
                    .publish("image", "import", rec.id.as_str(), BTreeMap::new());
                Ok(rec.id)
            })
            .await;
            let line = match result {
                Ok(id) => message(json!({"status": id.to_string()})),
                Err(e) => error_message(&e),
            };
            let _ = tx.send(line).await;
        });
        return Ok(stream_response(out));
    }
    let Some(from) = req.q("fromImage").map(str::to_string) else {
        return Err(Error::invalid(
            "Bad parameters: fromImage or fromSrc must be given",
        ));
    };
    let tag = req.q("tag").unwrap_or("");
    let full = if tag.is_empty() || from.contains('@') {
        from.clone()
    } else {
        format!("{from}:{tag}")
    };
    let reference = parse_ref(&full)?;
    Err(Error::not_found(format!(
        "pull access denied for {}, repository does not exist or may require 'docker login': pulling from registries is not available in this daemon yet",
        reference.familiar_name()
    )))
}

/// `POST /commit`: the container's writable layer as a new image.
pub async fn commit(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    let name = req.q("container").unwrap_or("").to_string();
    let c = engine.container(&name)?;
    let repo = req.q("repo").unwrap_or("").to_string();
    let tag = req.q("tag").unwrap_or("").to_string();
    let comment = req.q("comment").map(str::to_string);
    let author = req.q("author").map(str::to_string);
    let pause = match req.q("pause") {
        None | Some("") => true,
        Some(v) => super::parse_bool(v).unwrap_or(true),
    };
    let changes = req.q_all("changes");
    let overrides = req.json().await?;
    let reference = if repo.is_empty() {
        None
    } else {
        let full = if tag.is_empty() {
            repo.clone()
        } else {
            format!("{repo}:{tag}")
        };
        Some(parse_ref(&full)?.with_default_tag())
    };
    let record = c.record();
    let parent = {
        let store = engine.images.clone();
        let id = Digest::parse(&record.image).map_err(|e| Error::internal(e.to_string()))?;
        blocking(move || store.get(&id).map_err(image_error)).await?
    };
    // The new image's config: the container's, minus what is only the container's.
    let mut cfg = record.config.clone();
    if let Some(obj) = cfg.as_object_mut() {
        for k in [
            "Hostname",
            "Domainname",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "Image",
        ] {
            obj.remove(k);
        }
    }
    if let Value::Object(o) = &overrides {
        for (k, v) in o {
            if !v.is_null() {
                cfg[k] = v.clone();
            }
        }
    }
    apply_changes(&mut cfg, &changes)?;
    let container_config: image::spec::ContainerConfig =
        serde_json::from_value(cfg).map_err(|e| Error::invalid(format!("invalid config: {e}")))?;
    let paused_here = pause && c.is_running() && !c.with(|r| r.state.paused);
    if paused_here {
        engine.set_paused(&c, true).await?;
    }
    let _lock = engine.image_lock.lock().await;
    let e2 = engine.clone();
    let key = c.id.clone();
    let created_by = {
        let mut v = vec![record.path.clone()];
        v.extend(record.args.clone());
        v.join(" ")
    };
    let result = blocking(move || {
        // The diff goes to a temporary file, then into the content store verified.
        let tmp = tempfile::NamedTempFile::new_in(e2.content.root())
            .map_err(|e| Error::internal(format!("commit: {e}")))?;
        let diff_id = e2
            .layers
            .diff(&key, std::io::BufWriter::new(tmp.as_file()))
            .map_err(layer_error)?;
        let diff_id = Digest::parse(&diff_id).map_err(|e| Error::internal(e.to_string()))?;
        let file = std::fs::File::open(tmp.path())?;
        let (digest, size) = e2
            .content
            .ingest(file, Some(&diff_id), None)
            .map_err(image_error)?;
        let desc = image::Descriptor::new("application/vnd.oci.image.layer.v1.tar", digest, size);
        let mut opts = image::archive::NewImageConfig::new(Some(diff_id.clone()));
        opts.parent = Some(&parent.config);
        opts.config = container_config;
        opts.comment = comment;
        opts.author = author;
        opts.created_by = Some(created_by);
        let bytes = image::archive::new_image_config(&opts);
        let mut layers = parent.layers.clone();
        layers.push(desc);
        let mut diff_ids = parent.diff_ids().to_vec();
        diff_ids.push(diff_id);
        let tags: Vec<String> = reference.iter().map(|r| r.to_string()).collect();
        let (rec, _) = record_image(&e2, &bytes, layers, diff_ids, None, &tags)?;
        Ok(rec.id)
    })
    .await;
    if paused_here {
        let _ = engine.set_paused(&c, false).await;
    }
    let id = result?;
    engine.container_event(&c, "commit", &[]);
    Ok(json_response(201, &json!({"Id": id})))
}

/// `POST /images/prune`.
pub async fn prune(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let filters = req.filters()?;
    let dangling_only = filters
        .get("dangling")
        .and_then(|v| v.first())
        .map(|v| super::parse_bool(v).unwrap_or(true))
        .unwrap_or(true);
    let store = engine.images.clone();
    let images = blocking(move || Ok(store.list())).await?;
    let users = image_users(engine);
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for rec in images {
        if users.contains_key(&rec.id.to_string()) {
            continue;
        }
        if dangling_only && !rec.repo_tags.is_empty() {
            continue;
        }
        if let Ok(v) = remove(engine, rec.id.as_str(), true).await {
            reclaimed += rec.size;
            if let Some(a) = v.as_array() {
                deleted.extend(a.iter().cloned());
            }
        }
    }
    gc(engine).await;
    Ok(json_response(
        200,
        &json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_dockerfile_instructions() {
        let mut c = json!({});
        apply_changes(
            &mut c,
            &[
                r#"CMD ["/bin/sh"]"#.into(),
                "ENV A=1 B=\"two words\"".into(),
                "WORKDIR /srv".into(),
                "EXPOSE 80".into(),
                "ENTRYPOINT echo hi".into(),
            ],
        )
        .expect("valid changes");
        assert_eq!(c["Cmd"], json!(["/bin/sh"]));
        assert_eq!(c["Env"], json!(["A=1", "B=two words"]));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["ExposedPorts"]["80/tcp"], json!({}));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert!(apply_changes(&mut c, &["FROB x".into()]).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("busy*", "busybox:latest"));
        assert!(!glob_match("alp*", "busybox:latest"));
    }
}
