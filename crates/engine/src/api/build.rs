//! `POST /build` (the legacy builder endpoint the docker CLI 28 and docker-py use) and
//! `POST /build/prune`.
//!
//! The body is the context as a tar; it is received into `<data-root>/builder/contexts/<id>`
//! (hashing every file on the way) and removed when the build ends. The answer is a JSON
//! message stream: `stream` lines as dockerd's legacy builder prints them, `aux.ID`, and
//! `errorDetail` on failure. With `wharf-progress=1` (the `wharf build` client) the stream
//! carries structured step events (`{"wharf":{…}}`) instead of the `stream` lines.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use build::exec::{Event, Options};
use serde_json::{Value, json};

use super::images::{BodyReader, gc, message, parse_ref, stream_response};
use super::{Body, Req, Resp, json_response};
use crate::build::EngineBackend;
use crate::engine::{Engine, blocking, random_id, remove_tree};
use crate::error::{Error, Result};

fn json_query<T: serde::de::DeserializeOwned + Default>(req: &Req, key: &str) -> Result<T> {
    match req.q(key) {
        None | Some("") => Ok(T::default()),
        Some(v) => {
            serde_json::from_str(v).map_err(|e| Error::invalid(format!("invalid {key} JSON: {e}")))
        }
    }
}

/// The build options from the query, as the docker CLI and docker-py send them.
fn options(req: &Req) -> Result<Options> {
    if let Some(remote) = req.q("remote").filter(|r| !r.is_empty()) {
        return Err(Error::invalid(format!(
            "remote build contexts are not supported by Wharf (no network to fetch {remote}); send the context as a tar"
        )));
    }
    let build_args: BTreeMap<String, Option<String>> = json_query(req, "buildargs")?;
    let labels: BTreeMap<String, String> = json_query(req, "labels")?;
    let cache_from: Vec<String> = json_query(req, "cachefrom")?;
    let extra_hosts = req
        .q("extrahosts")
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let shm_size = req.int("shmsize")?.filter(|v| *v > 0);
    Ok(Options {
        dockerfile: req.q("dockerfile").unwrap_or("").to_string(),
        build_args,
        labels,
        target: req
            .q("target")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        no_cache: req.flag("nocache")?,
        cache_from,
        network: req.q("networkmode").unwrap_or("").to_string(),
        extra_hosts,
        shm_size,
    })
}

/// One event as the legacy builder's stream lines.
fn legacy_lines(e: &Event) -> Vec<Value> {
    match e {
        Event::Step {
            id, total, text, ..
        } => vec![json!({"stream": format!("Step {id}/{total} : {text}\n")})],
        Event::Info { text, .. } => vec![json!({"stream": format!("{text}\n")})],
        Event::Output { data, .. } => {
            vec![json!({"stream": String::from_utf8_lossy(data)})]
        }
        Event::Warning(w) => vec![json!({"stream": format!("{w}\n")})],
        Event::Done { .. } => Vec::new(),
    }
}

/// One event as a `wharf build` progress message; `t` is seconds since the build began.
fn wharf_line(e: &Event, t: f64, names: &mut BTreeMap<usize, (String, f64)>) -> Option<Value> {
    match e {
        Event::Step {
            id, label, text, ..
        } => {
            let name = format!("{label} {text}");
            names.insert(*id, (name.clone(), t));
            Some(json!({"wharf": {"id": id, "name": name, "status": "started", "t": t}}))
        }
        Event::Output { id, data } => Some(json!({"wharf": {
            "id": id,
            "status": "output",
            "t": t,
            "text": String::from_utf8_lossy(data),
        }})),
        Event::Done { id, cached, .. } => {
            let (name, began) = names.get(id).cloned().unwrap_or_default();
            Some(json!({"wharf": {
                "id": id,
                "name": name,
                "status": if *cached { "cached" } else { "done" },
                "t": t,
                "elapsed": t - began,
            }}))
        }
        Event::Warning(w) => Some(json!({"stream": format!("{w}\n")})),
        Event::Info { .. } => None,
    }
}

/// `POST /build`.
pub async fn build(engine: &Arc<Engine>, mut req: Req) -> Result<Resp> {
    let opts = options(&req)?;
    let tags: Vec<String> = req
        .q_all("t")
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect();
    let mut refs = Vec::new();
    for t in &tags {
        refs.push(parse_ref(t)?.with_default_tag());
    }
    let quiet = req.flag("q")?;
    let wharf_progress = req.flag("wharf-progress")?;
    let Some(body) = req.take_body() else {
        return Err(Error::invalid("no build context in the request body"));
    };
    let reader = BodyReader::new(body);
    let (tx, out) = Body::channel(64);
    let engine = engine.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        let dir = engine
            .opts
            .data_root
            .join("builder")
            .join("contexts")
            .join(random_id());
        let result = run_build(
            &engine,
            reader,
            &dir,
            opts,
            quiet,
            wharf_progress,
            &tx,
            start,
        )
        .await;
        let d2 = dir.clone();
        let _ = blocking(move || remove_tree(&d2).map_err(Error::from)).await;
        match result {
            Ok(rec) => {
                let mut lines = vec![json!({"aux": {"ID": rec.id.as_str()}})];
                if !quiet && !wharf_progress {
                    lines.push(
                        json!({"stream": format!("Successfully built {}\n", &rec.id.hex()[..12])}),
                    );
                }
                for r in &refs {
                    let store = engine.images.clone();
                    let id = rec.id.clone();
                    let r2 = r.clone();
                    match blocking(move || {
                        store
                            .tag(&id, &r2)
                            .map_err(|e| Error::internal(e.to_string()))
                    })
                    .await
                    {
                        Ok(()) => {
                            engine.events.publish(
                                "image",
                                "tag",
                                rec.id.as_str(),
                                BTreeMap::from([("name".to_string(), r.familiar())]),
                            );
                            if !quiet && !wharf_progress {
                                lines.push(json!({"stream": format!("Successfully tagged {}\n", r.familiar())}));
                            }
                        }
                        Err(e) => lines.push(
                            json!({"errorDetail": {"message": e.message}, "error": e.message}),
                        ),
                    }
                }
                for l in lines {
                    let _ = tx.send(message(l)).await;
                }
            }
            Err(e) => {
                let mut detail = json!({"message": e.message});
                if let Some(code) = e.code {
                    detail["code"] = json!(code);
                }
                let _ = tx
                    .send(message(json!({"errorDetail": detail, "error": e.message})))
                    .await;
            }
        }
    });
    Ok(stream_response(out))
}

#[allow(clippy::too_many_arguments)]
async fn run_build(
    engine: &Arc<Engine>,
    reader: BodyReader,
    dir: &std::path::Path,
    opts: Options,
    quiet: bool,
    wharf_progress: bool,
    tx: &tokio::sync::mpsc::Sender<bytes::Bytes>,
    start: Instant,
) -> std::result::Result<image::ImageRecord, build::BuildError> {
    let d = dir.to_path_buf();
    let dockerfile = opts.dockerfile.clone();
    let received = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        if let Some(parent) = d.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| build::BuildError::internal(format!("build context: {e}")))?;
        }
        let ctx = build::context::Context::receive(&mut reader, &d);
        // Read what the client is still sending, so it hears the error, not a broken pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        let mut ctx = ctx.map_err(|e| build::BuildError::invalid(format!("build context: {e}")))?;
        let df = build::exec::load_dockerfile(&mut ctx, &dockerfile)?;
        Ok::<_, build::BuildError>((ctx, df))
    })
    .await
    .map_err(|e| build::BuildError::internal(e.to_string()))?;
    let (ctx, df) = received?;
    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
    let backend = Arc::new(EngineBackend::new(engine.clone()));
    let stores = engine.build_stores();
    let task = tokio::spawn(build::exec::build(backend, stores, ctx, df, opts, etx));
    let mut names = BTreeMap::new();
    let mut client_gone = false;
    while let Some(ev) = erx.recv().await {
        if quiet || client_gone {
            continue;
        }
        let lines = if wharf_progress {
            wharf_line(&ev, start.elapsed().as_secs_f64(), &mut names)
                .into_iter()
                .collect()
        } else {
            legacy_lines(&ev)
        };
        for l in lines {
            if tx.send(message(l)).await.is_err() {
                client_gone = true;
            }
        }
    }
    let built = task
        .await
        .map_err(|e| build::BuildError::internal(e.to_string()))??;
    tracing::info!(
        image = %built.image.id,
        cached = built.cached,
        ran = built.ran,
        elapsed = ?start.elapsed(),
        "build finished"
    );
    Ok(built.image)
}

/// `POST /build/prune`: removes build cache entries (`all`: every one; else those no image
/// uses), honours the `until` filter, then collects the blobs and layers nothing uses.
pub async fn prune(engine: &Arc<Engine>, req: &Req) -> Result<Resp> {
    let all = req.flag("all")?;
    let filters = req.filters()?;
    let mut until = None;
    for (k, vals) in &filters {
        match k.as_str() {
            "until" => {
                for v in vals {
                    until = Some(parse_until(v)?);
                }
            }
            other => {
                return Err(Error::invalid(format!("invalid filter '{other}'")));
            }
        }
    }
    let cache = engine.build_cache.clone();
    let images = engine.images.clone();
    let mounts = engine.opts.data_root.join("builder").join("mounts");
    let removed = blocking(move || {
        let mut used: HashSet<image::Digest> = HashSet::new();
        for rec in images.list() {
            used.extend(rec.layers.iter().map(|l| l.digest.clone()));
        }
        let removed = cache
            .prune(all, until, &|e| {
                e.layers.last().is_none_or(|l| used.contains(&l.digest))
            })
            .map_err(|e| Error::internal(e.to_string()))?;
        if all {
            let _ = remove_tree(&mounts);
        }
        Ok(removed)
    })
    .await?;
    let reclaimed = gc(engine).await;
    let ids: Vec<String> = removed
        .iter()
        .map(|k| k.key[..25.min(k.key.len())].to_string())
        .collect();
    Ok(json_response(
        200,
        &json!({
            "CachesDeleted": ids,
            "SpaceReclaimed": reclaimed,
        }),
    ))
}

/// `until` as `docker builder prune` takes it: a duration ago (`24h`, `90m`, `1h30m`), or a
/// timestamp.
fn parse_until(v: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Some(t) = crate::logs::parse_time(v) {
        return Ok(t);
    }
    let nanos = build::dockerfile::parse_go_duration(v)
        .map_err(|e| Error::invalid(format!("invalid until filter: {v}: {e}")))?;
    Ok(chrono::Utc::now() - chrono::Duration::nanoseconds(nanos))
}
