//! HTTP → API: routes a request to discovery, OpenAPI, health, metrics or a resource verb,
//! and renders results (objects, lists, Tables, watch streams, Status errors).

use std::sync::Arc;
use std::time::Duration;

use api::error::ApiError;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::body::Body;
use crate::cache::{Change, Event, Start};
use crate::metrics::Metrics;
use crate::object;
use crate::registry::Served;
use crate::request::{Output, Query, ResourcePath, Target, negotiate, parse_path};
use crate::rest::{Api, WriteOpts, parse_body, store_error};

/// The response type.
pub type Resp = Response<Body>;

/// The Kubernetes version this server speaks.
pub const MAJOR: &str = "1";
/// See [`MAJOR`].
pub const MINOR: &str = "33";
/// `gitVersion` of `/version`.
pub const GIT_VERSION: &str = "v1.33.0-wharf";

/// OpenAPI v3 documents by (group, version), for one registry generation.
pub type OpenApiDocs = (u64, std::collections::HashMap<(String, String), Bytes>);

/// The server state handlers share.
#[derive(Debug)]
pub struct Server {
    /// The API.
    pub api: Api,
    /// Request counters.
    pub metrics: Metrics,
    /// `host:port` clients reach the server on.
    pub address: String,
    /// Set once the watch cache is filled.
    pub ready: std::sync::atomic::AtomicBool,
    /// `/openapi/v2` as protobuf, for the registry generation it was built for.
    pub openapi_v2: std::sync::Mutex<Option<(u64, Bytes)>>,
    /// `/openapi/v3/<group-version>` documents of one registry generation.
    pub openapi_v3: std::sync::Mutex<OpenApiDocs>,
}

/// JSON response with a status code.
pub fn json_response(code: u16, v: &Value) -> Resp {
    json_typed(code, v, "application/json")
}

fn json_typed(code: u16, v: &Value, content_type: &str) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .body(Body::full(body))
        .unwrap_or_else(|_| Response::new(Body::full("")))
}

fn bytes_typed(code: u16, body: Vec<u8>, content_type: &str) -> Resp {
    Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .body(Body::full(body))
        .unwrap_or_else(|_| Response::new(Body::full("")))
}

fn render(code: u16, v: &Value, out: Output) -> Resp {
    match out {
        Output::Yaml => {
            let text = serde_yaml::to_string(v).unwrap_or_default();
            Response::builder()
                .status(code)
                .header("Content-Type", "application/yaml")
                .body(Body::full(text))
                .unwrap_or_else(|_| Response::new(Body::full("")))
        }
        _ => json_response(code, v),
    }
}

/// The Status response of an error.
pub fn error_response(e: &ApiError) -> Resp {
    json_response(e.code, &e.to_status())
}

fn text(code: u16, t: &str) -> Resp {
    Response::builder()
        .status(code)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::full(t.to_string()))
        .unwrap_or_else(|_| Response::new(Body::full("")))
}

/// Handles one request.
pub async fn handle(server: Arc<Server>, req: Request<Incoming>) -> Resp {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (resp, verb, resource) = route(&server, req).await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    server
        .metrics
        .observe(&verb, &resource, resp.status().as_u16(), started.elapsed());
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

async fn route(
    server: &Arc<Server>,
    req: Request<Incoming>,
) -> (Result<Resp, ApiError>, String, String) {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let simple = |r: Result<Resp, ApiError>| (r, method.as_str().to_lowercase(), String::new());
    match path.as_str() {
        "/version" | "/version/" => {
            let v = json!({
                "major": MAJOR, "minor": MINOR, "gitVersion": GIT_VERSION,
                "gitCommit": env!("CARGO_PKG_VERSION"), "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "rust",
                "compiler": "rustc", "platform": format!("linux/{}", go_arch()),
            });
            let mut r = json_response(200, &v);
            r.headers_mut().insert(
                "Cache-Control",
                hyper::header::HeaderValue::from_static("no-cache, private"),
            );
            return simple(Ok(r));
        }
        "/healthz" | "/livez" | "/readyz" | "/healthz/" | "/livez/" | "/readyz/" => {
            let ready = server.ready.load(std::sync::atomic::Ordering::Acquire);
            if path.starts_with("/readyz") && !ready {
                return simple(Ok(text(
                    500,
                    "[-]informer-sync failed: not synced\nreadyz check failed",
                )));
            }
            return simple(Ok(text(200, "ok")));
        }
        "/metrics" => return simple(Ok(text(200, &server.metrics.render(&server.api)))),
        "/openapi/v3" | "/openapi/v3/" => return simple(Ok(openapi_index(server))),
        _ => {}
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        return simple(openapi_document(server, gv));
    }
    if path == "/openapi/v2" || path == "/openapi/v2/" {
        return simple(Ok(openapi_v2(server)));
    }
    let Some(target) = parse_path(&path) else {
        return simple(Err(ApiError::no_such_path()));
    };
    let accept = req
        .headers()
        .get("Accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match target {
        Target::Root { core } => simple(discovery_root(server, core, accept.as_deref())),
        Target::Group(g) => simple(
            server
                .api
                .registry
                .legacy_group(&g)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_such_path),
        ),
        Target::GroupVersion(g, v) => simple(
            server
                .api
                .registry
                .legacy_resources(&g, &v)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_such_path),
        ),
        Target::Resource(rp) => {
            let resource = rp.plural.clone();
            let q = Query::parse(req.uri().query());
            let (r, verb) = resource_request(server, req, rp, q, accept.as_deref()).await;
            (r, verb, resource)
        }
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn discovery_root(server: &Server, core: bool, accept: Option<&str>) -> Result<Resp, ApiError> {
    let accept = accept.unwrap_or("");
    for item in accept.split(',') {
        let item = item.trim();
        if item.contains("as=APIGroupDiscoveryList") && item.contains("g=apidiscovery.k8s.io") {
            let version = if item.contains("v=v2beta1") {
                "v2beta1"
            } else if item.contains("v=v2") {
                "v2"
            } else {
                continue;
            };
            let doc = server.api.registry.aggregated(core, version);
            return Ok(json_typed(
                200,
                &doc,
                &format!(
                    "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
                ),
            ));
        }
        if item.starts_with("application/json") && !item.contains("as=") || item == "*/*" {
            break;
        }
    }
    let doc = if core {
        server.api.registry.legacy_core(&server.address)
    } else {
        server.api.registry.legacy_groups()
    };
    Ok(json_response(200, &doc))
}

fn openapi_hash(server: &Server) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(GIT_VERSION.as_bytes());
    h.update(server.api.registry.generation().to_le_bytes());
    for s in server.api.registry.all() {
        if let Some(c) = &s.custom {
            h.update(c.schema.to_string().as_bytes());
        }
    }
    hex::encode(&h.finalize()[..16]).to_uppercase()
}

/// The Swagger 2.0 document as gnostic protobuf (what kubectl's client-side validation
/// reads for a `v1/List`), built once per set of served resources.
fn openapi_v2(server: &Server) -> Resp {
    let generation = server.api.registry.generation();
    let cached = server
        .openapi_v2
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .filter(|(g, _)| *g == generation)
        .map(|(_, b)| b.clone());
    let bytes = match cached {
        Some(b) => b,
        None => {
            let resources: Vec<api::resource::Resource> = server
                .api
                .registry
                .all()
                .iter()
                .map(|s| s.resource.clone())
                .collect();
            let doc =
                api::schema::openapi_v2::document_json(&server.api.registry.schemas(), &resources);
            let b = Bytes::from(api::schema::openapi_v2::document_protobuf(&doc));
            *server.openapi_v2.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((generation, b.clone()));
            b
        }
    };
    Response::builder()
        .status(200)
        .header(
            "Content-Type",
            api::schema::openapi_v2::PROTOBUF_CONTENT_TYPE,
        )
        .body(Body::full(bytes))
        .unwrap_or_else(|_| Response::new(Body::full("")))
}

fn openapi_index(server: &Server) -> Resp {
    let gvs = server.api.registry.group_versions();
    json_response(
        200,
        &api::schema::openapi::index(&gvs, &openapi_hash(server)),
    )
}

fn openapi_document(server: &Server, gv: &str) -> Result<Resp, ApiError> {
    let gv = gv.trim_end_matches('/');
    let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => {
            return Err(ApiError::no_such_path());
        }
    };
    let served = server.api.registry.resources_of(&group, &version);
    if served.is_empty() {
        return Err(ApiError::no_such_path());
    }
    let generation = server.api.registry.generation();
    let key = (group.clone(), version.clone());
    let cached = {
        let mut docs = server.openapi_v3.lock().unwrap_or_else(|e| e.into_inner());
        if docs.0 != generation {
            *docs = (generation, Default::default());
        }
        docs.1.get(&key).cloned()
    };
    let bytes = match cached {
        Some(b) => b,
        None => {
            let resources: Vec<api::resource::Resource> =
                served.iter().map(|s| s.resource.clone()).collect();
            let doc = api::schema::openapi::document(
                &server.api.registry.schemas(),
                &group,
                &version,
                &resources,
            );
            let b = Bytes::from(serde_json::to_vec(&doc).map_err(ApiError::internal)?);
            let mut docs = server.openapi_v3.lock().unwrap_or_else(|e| e.into_inner());
            if docs.0 == generation {
                docs.1.insert(key, b.clone());
            }
            b
        }
    };
    let mut r = bytes_typed(200, bytes.to_vec(), "application/json");
    r.headers_mut().insert(
        "Cache-Control",
        hyper::header::HeaderValue::from_static("public, immutable"),
    );
    Ok(r)
}

async fn read_body(req: Request<Incoming>) -> Result<(Bytes, String), ApiError> {
    let ct = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let limited = http_body_util::Limited::new(req.into_body(), crate::rest::MAX_BODY_BYTES);
    let body = limited
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::too_large(crate::rest::MAX_BODY_BYTES)
            } else {
                ApiError::bad_request(format!("reading the request body: {e}"))
            }
        })?
        .to_bytes();
    Ok((body, ct))
}

fn with_warnings(mut resp: Resp, opts: &WriteOpts) -> Resp {
    for w in opts
        .warnings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let v = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(h) = hyper::header::HeaderValue::from_str(&v) {
            resp.headers_mut().append("Warning", h);
        }
    }
    resp
}

async fn resource_request(
    server: &Arc<Server>,
    req: Request<Incoming>,
    rp: ResourcePath,
    q: Query,
    accept: Option<&str>,
) -> (Result<Resp, ApiError>, String) {
    let method = req.method().clone();
    let watch = match q.flag("watch") {
        Ok(w) => w,
        Err(e) => return (Err(e), "watch".into()),
    };
    let verb = match (&method, rp.name.is_some(), watch) {
        (&Method::GET, _, true) => "watch",
        (&Method::GET, true, _) => "get",
        (&Method::GET, false, _) => "list",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, true, _) => "delete",
        (&Method::DELETE, false, _) => "deletecollection",
        _ => "unknown",
    }
    .to_string();
    let r = resource_verb(server, req, rp, q, accept, &verb).await;
    (r, verb)
}

async fn resource_verb(
    server: &Arc<Server>,
    req: Request<Incoming>,
    rp: ResourcePath,
    q: Query,
    accept: Option<&str>,
    verb: &str,
) -> Result<Resp, ApiError> {
    let api = &server.api;
    let Some(served) = api.registry.find(&rp.group, &rp.version, &rp.plural) else {
        return Err(ApiError::no_such_path());
    };
    let r = &served.resource;
    if rp.namespace.is_some() && !r.namespaced {
        return Err(ApiError::no_such_path());
    }
    let ns = rp.namespace.as_deref();
    let out = negotiate(accept)?;
    let agent = req
        .headers()
        .get("User-Agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(sub) = rp.sub.as_deref() {
        let Some(name) = rp.name.as_deref() else {
            return Err(ApiError::no_such_path());
        };
        if r.subresource(sub).is_none() && !(sub == "finalize" && r.kind == "Namespace") {
            return Err(ApiError::no_such_path());
        }
        return subresource(server, req, &served, ns, name, sub, q, out, verb, &agent).await;
    }
    match (verb, rp.name.as_deref()) {
        ("get", Some(name)) => {
            let obj = api.get(&served, ns, name, &q).await?;
            Ok(render_object(&served, &obj, out))
        }
        ("list", None) => list(server, &served, ns, &q, out).await,
        ("watch", _) => {
            let mut q = q;
            if let Some(name) = rp.name.as_deref() {
                // `GET …/pods/p?watch=1` watches one object.
                let fs = match q.non_empty("fieldSelector") {
                    Some(f) => format!("{f},metadata.name={name}"),
                    None => format!("metadata.name={name}"),
                };
                q = Query::parse(Some(&format!(
                    "{}&fieldSelector={}",
                    req.uri().query().unwrap_or(""),
                    fs.replace('=', "%3D").replace(',', "%2C")
                )));
            }
            watch(server, &served, ns, &q, out).await
        }
        ("create", None) => {
            let opts = WriteOpts::from_query(&q, &agent)?;
            let (body, ct) = read_body(req).await?;
            let obj = parse_body(&body, &ct)?;
            let created = api.create(&served, ns, obj, &opts).await?;
            Ok(with_warnings(render_object(&served, &created, out_json(out)), &opts).map(|b| b))
                .map(|mut r| {
                    *r.status_mut() = StatusCode::CREATED;
                    r
                })
        }
        ("update", Some(name)) => {
            let opts = WriteOpts::from_query(&q, &agent)?;
            let (body, ct) = read_body(req).await?;
            let obj = parse_body(&body, &ct)?;
            let (v, created) = api
                .update_with(&served, ns, name, None, &opts, |cur| match cur {
                    Some(_) => Ok(obj.clone()),
                    None => Err(ApiError::not_found(
                        &served.resource.group,
                        &served.resource.plural,
                        name,
                    )),
                })
                .await?;
            let mut resp = with_warnings(render_object(&served, &v, out_json(out)), &opts);
            if created {
                *resp.status_mut() = StatusCode::CREATED;
            }
            Ok(resp)
        }
        ("patch", Some(name)) => {
            let mut opts = WriteOpts::from_query(&q, &agent)?;
            let (body, ct) = read_body(req).await?;
            let (v, created) =
                crate::patch::patch(api, &served, ns, name, None, &body, &ct, &q, &mut opts)
                    .await?;
            let mut resp = with_warnings(render_object(&served, &v, out_json(out)), &opts);
            if created {
                *resp.status_mut() = StatusCode::CREATED;
            }
            Ok(resp)
        }
        ("delete", Some(name)) => {
            let opts = WriteOpts::from_query(&q, &agent)?;
            let (body, ct) = read_body(req).await?;
            let options = delete_options(&body, &ct, &q)?;
            let (v, gone) = api.delete(&served, ns, name, &options, &opts).await?;
            let code = if gone { 200 } else { 202 };
            Ok(render(code, &v, out_json(out)))
        }
        ("deletecollection", None) => {
            let opts = WriteOpts::from_query(&q, &agent)?;
            let (body, ct) = read_body(req).await?;
            let options = delete_options(&body, &ct, &q)?;
            let (label, field) = selectors(&served, &q)?;
            let prefix = collection_prefix(&served, ns);
            let (snap, _) = api
                .cache
                .list(&prefix, None, 0, |o| keep(&served, &label, &field, o));
            let mut items = Vec::new();
            for (_, e) in snap.items {
                let name = object::name(&e.obj).to_string();
                let ons = object::namespace(&e.obj).map(str::to_string);
                match api
                    .delete(&served, ons.as_deref(), &name, &options, &opts)
                    .await
                {
                    Ok((v, _)) if v.get("kind").and_then(Value::as_str) != Some("Status") => {
                        items.push(v)
                    }
                    Ok(_) => items.push((*e.obj).clone()),
                    Err(err) if err.code == 404 => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(json_response(
                200,
                &json!({"kind": served.resource.list_kind, "apiVersion": served.resource.api_version(),
                        "metadata": {"resourceVersion": api.cache.revision().to_string()}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_supported(&r.group, &r.plural, verb)),
    }
}

fn out_json(out: Output) -> Output {
    match out {
        Output::Yaml => Output::Yaml,
        _ => Output::Json,
    }
}

fn delete_options(body: &[u8], ct: &str, q: &Query) -> Result<Value, ApiError> {
    let mut options = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_body(body, ct)?
    };
    if let Some(p) = q.non_empty("propagationPolicy") {
        options["propagationPolicy"] = json!(p);
    }
    if let Some(g) = q.int("gracePeriodSeconds")? {
        options["gracePeriodSeconds"] = json!(g);
    }
    if q.get("orphanDependents").is_some() {
        options["orphanDependents"] = json!(q.flag("orphanDependents")?);
    }
    Ok(options)
}

/// The key prefix of a collection (all namespaces, or one).
pub fn collection_prefix(s: &Served, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if s.resource.namespaced => format!("{}{ns}/", s.resource.key_prefix()),
        _ => s.resource.key_prefix(),
    }
}

type Selectors = (
    Option<api::selector::LabelSelector>,
    Option<api::selector::FieldSelector>,
);

fn selectors(s: &Served, q: &Query) -> Result<Selectors, ApiError> {
    let label = match q.non_empty("labelSelector") {
        Some(l) => Some(api::selector::LabelSelector::parse(l).map_err(ApiError::bad_request)?),
        None => None,
    };
    let field = match q.non_empty("fieldSelector") {
        Some(f) => {
            let fs = api::selector::FieldSelector::parse(f).map_err(ApiError::bad_request)?;
            let probe = json!({"metadata": {}});
            for name in fs.fields() {
                if api::selector::field_value(&s.resource.group, &s.resource.kind, &probe, name)
                    .is_none()
                {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {name}"
                    )));
                }
            }
            Some(fs)
        }
        None => None,
    };
    Ok((label, field))
}

fn keep(
    s: &Served,
    label: &Option<api::selector::LabelSelector>,
    field: &Option<api::selector::FieldSelector>,
    obj: &Value,
) -> bool {
    if let Some(l) = label
        && !l.matches(
            obj.get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_object),
        )
    {
        return false;
    }
    if let Some(f) = field
        && !f.matches(|name| {
            api::selector::field_value(&s.resource.group, &s.resource.kind, obj, name)
        })
    {
        return false;
    }
    true
}

/// An object as the client asked for it (JSON, YAML, a one-row Table, metadata only).
fn render_object(s: &Served, obj: &Value, out: Output) -> Resp {
    match out {
        Output::Table => {
            let t = table(s, &[obj], true, "Metadata", None, None);
            bytes_typed(200, t, "application/json;as=Table;v=v1;g=meta.k8s.io")
        }
        Output::Metadata => json_response(200, &partial(obj)),
        other => render(200, obj, other),
    }
}

fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// A `meta.k8s.io/v1` Table of `objs`, written straight to bytes (the row objects are the
/// cache's shared objects, never copied).
fn table(
    s: &Served,
    objs: &[&Value],
    with_columns: bool,
    include: &str,
    rv: Option<String>,
    cont: Option<String>,
) -> Vec<u8> {
    let now = chrono::Utc::now();
    let columns = match &s.custom {
        Some(c) => api::table::custom_columns(&c.printer_columns),
        None => api::table::column_definitions(&s.resource.group, &s.resource.kind),
    };
    let mut meta = json!({});
    if let Some(rv) = rv {
        meta["resourceVersion"] = json!(rv);
    }
    if let Some(c) = cont.filter(|c| !c.is_empty()) {
        meta["continue"] = json!(c);
    }
    let mut out = Vec::with_capacity(512 + objs.len() * 512);
    let head = json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
        "columnDefinitions": if with_columns { json!(columns) } else { json!([]) },
    });
    let head = serde_json::to_vec(&head).unwrap_or_default();
    out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
    out.extend_from_slice(b",\"rows\":[");
    for (i, o) in objs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let cells = match &s.custom {
            Some(c) => api::table::custom_cells(&c.printer_columns, o, now),
            None => api::table::row_cells(&s.resource.group, &s.resource.kind, o, now),
        };
        out.extend_from_slice(b"{\"cells\":");
        let _ = serde_json::to_writer(&mut out, &cells);
        out.extend_from_slice(b",\"object\":");
        match include {
            "None" => out.extend_from_slice(b"null"),
            "Object" => {
                let _ = serde_json::to_writer(&mut out, o);
            }
            _ => {
                out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
                let _ = serde_json::to_writer(&mut out, o.get("metadata").unwrap_or(&Value::Null));
                out.push(b'}');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    v: String,
    rv: i64,
    start: String,
}

async fn list(
    server: &Arc<Server>,
    s: &Served,
    ns: Option<&str>,
    q: &Query,
    out: Output,
) -> Result<Resp, ApiError> {
    let api = &server.api;
    let (label, field) = selectors(s, q)?;
    let prefix = collection_prefix(s, ns);
    let limit = q.int("limit")?.unwrap_or(0).max(0) as usize;
    let token = match q.non_empty("continue") {
        Some(c) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(c)
                .ok()
                .and_then(|b| serde_json::from_slice::<Continue>(&b).ok())
                .filter(|t| t.v == "meta.k8s.io/v1" && t.start.starts_with(&prefix))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "continue key is not valid: the continue token is malformed",
                    )
                })?;
            Some(raw)
        }
        None => None,
    };
    let rv_param = q.non_empty("resourceVersion");
    let exact = q.get("resourceVersionMatch") == Some("Exact");
    let want_rev: Option<i64> = match (&token, rv_param) {
        (Some(t), _) => Some(t.rv),
        (None, Some("0")) => None,
        (None, Some(v)) => {
            let r: i64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?;
            if exact {
                Some(r)
            } else {
                if !api.cache.wait_for(r, Duration::from_secs(3)).await {
                    return Err(ApiError::new(
                        504,
                        "Timeout",
                        format!(
                            "Too large resource version: {r}, current: {}",
                            api.cache.revision()
                        ),
                    ));
                }
                None
            }
        }
        (None, None) => {
            let rev = api.store.current_revision().await.map_err(store_error)?;
            api.cache.wait_for(rev, Duration::from_secs(5)).await;
            None
        }
    };
    let start_after = token.as_ref().map(|t| t.start.clone());
    let keep_fn = |o: &Value| keep(s, &label, &field, o);
    let (items, rev, more, last_key) = match want_rev {
        Some(r) if r != api.cache.revision() => {
            // A consistent page at an older revision comes from the store.
            let mut items = Vec::new();
            let mut after = start_after.clone();
            let mut more = false;
            let mut last = None;
            loop {
                let page = api
                    .store
                    .list(&prefix, &store::ListOptions { revision: Some(r), start_after: after.clone(), limit: Some(500) })
                    .await
                    .map_err(|e| match e {
                        store::Error::Compacted { .. } if token.is_some() => ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."),
                        other => store_error(other),
                    })?;
                let n = page.kvs.len();
                for kv in &page.kvs {
                    let Ok(mut v) = serde_json::from_slice::<Value>(&kv.value) else {
                        continue;
                    };
                    crate::cache::set_rv(&mut v, kv.mod_revision);
                    if !keep_fn(&v) {
                        after = Some(kv.key.clone());
                        continue;
                    }
                    if limit > 0 && items.len() == limit {
                        more = true;
                        break;
                    }
                    items.push(Arc::new(v));
                    last = Some(kv.key.clone());
                    after = Some(kv.key.clone());
                }
                if more || page.remaining == 0 || n == 0 {
                    break;
                }
            }
            (items, r, more, last)
        }
        _ => {
            let (snap, more) = api
                .cache
                .list(&prefix, start_after.as_deref(), limit, keep_fn);
            let last = snap.items.last().map(|(k, _)| k.clone());
            let items: Vec<Arc<Value>> = snap.items.into_iter().map(|(_, e)| e.obj).collect();
            (items, snap.rev, more, last)
        }
    };
    let remaining_from = if more { last_key.clone() } else { None };
    let cont = if more {
        let t = Continue {
            v: "meta.k8s.io/v1".into(),
            rv: rev,
            start: last_key.unwrap_or_default(),
        };
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&t).unwrap_or_default()),
        )
    } else {
        None
    };
    match out {
        Output::Table => {
            let include = q.get("includeObject").unwrap_or("Metadata");
            let refs: Vec<&Value> = items.iter().map(|v| &**v).collect();
            let t = table(s, &refs, true, include, Some(rev.to_string()), cont);
            Ok(bytes_typed(
                200,
                t,
                "application/json;as=Table;v=v1;g=meta.k8s.io",
            ))
        }
        Output::Metadata => {
            let items: Vec<Value> = items.iter().map(|v| partial(v)).collect();
            let mut meta = json!({"resourceVersion": rev.to_string()});
            if let Some(c) = cont {
                meta["continue"] = json!(c);
            }
            Ok(json_response(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
            ))
        }
        other => {
            let mut meta = json!({"resourceVersion": rev.to_string()});
            if let Some(c) = &cont {
                meta["continue"] = json!(c);
                if label.is_none()
                    && field.is_none()
                    && let Some(last) = &remaining_from
                {
                    meta["remainingItemCount"] = json!(api.cache.count_after(&prefix, last));
                }
            }
            if other == Output::Yaml {
                let items: Vec<&Value> = items.iter().map(|v| &**v).collect();
                let list = json!({"kind": s.resource.list_kind, "apiVersion": s.resource.api_version(), "metadata": meta, "items": items});
                return Ok(render(200, &list, other));
            }
            // Written item by item from the cache's shared objects: no copies of 10,000 pods.
            let mut out = Vec::with_capacity(256 + items.len() * 1024);
            let head = json!({"kind": s.resource.list_kind, "apiVersion": s.resource.api_version(), "metadata": meta});
            let head = serde_json::to_vec(&head).map_err(ApiError::internal)?;
            out.extend_from_slice(&head[..head.len() - 1]);
            out.extend_from_slice(b",\"items\":[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if s.is_custom() {
                    serde_json::to_writer(&mut out, &**v).map_err(ApiError::internal)?;
                } else {
                    // Items of a built-in list carry no apiVersion/kind, as kube-apiserver
                    // writes them (the list's kind says it).
                    write_without_type(&mut out, v).map_err(ApiError::internal)?;
                }
            }
            out.extend_from_slice(b"]}");
            Ok(Response::builder()
                .status(200)
                .header("Content-Type", "application/json")
                .body(Body::full(out))
                .unwrap_or_else(|_| Response::new(Body::full(""))))
        }
    }
}

/// Writes an object without its top-level `apiVersion` and `kind`.
fn write_without_type(out: &mut Vec<u8>, v: &Value) -> serde_json::Result<()> {
    let Some(map) = v.as_object() else {
        return serde_json::to_writer(out, v);
    };
    out.push(b'{');
    let mut first = true;
    for (k, val) in map {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, k)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, val)?;
    }
    out.push(b'}');
    Ok(())
}

fn event_json(kind: &str, obj: Value) -> Bytes {
    event_raw(kind, &serde_json::to_vec(&obj).unwrap_or_default())
}

/// A watch event line around an already serialized object.
fn event_raw(kind: &str, obj: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(obj.len() + 32);
    b.extend_from_slice(b"{\"type\":\"");
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(b"\",\"object\":");
    b.extend_from_slice(obj);
    b.extend_from_slice(b"}\n");
    Bytes::from(b)
}

async fn watch(
    server: &Arc<Server>,
    s: &Served,
    ns: Option<&str>,
    q: &Query,
    out: Output,
) -> Result<Resp, ApiError> {
    let api = &server.api;
    let (label, field) = selectors(s, q)?;
    let prefix = collection_prefix(s, ns);
    let rv = q.non_empty("resourceVersion");
    let bookmarks = q.flag("allowWatchBookmarks")?;
    let send_initial = match q.get("sendInitialEvents") {
        Some(v) if !v.is_empty() => Some(q.flag("sendInitialEvents")?),
        _ => None,
    };
    let timeout = q
        .int("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64))
        .unwrap_or(Duration::from_secs(1800 + rand::random::<u64>() % 1800));
    let from = match (rv, send_initial) {
        (_, Some(true)) => None,
        (None | Some("0"), _) => None,
        (Some(v), _) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
        ),
    };
    let (start, mut rx) = api.cache.watch(&prefix, from).map_err(|t| {
        ApiError::expired(format!(
            "too old resource version: {} ({})",
            t.requested, t.oldest
        ))
    })?;
    let (tx, body) = Body::channel(64);
    let served = Arc::new(s.clone());
    let include = q.get("includeObject").unwrap_or("Metadata").to_string();
    tokio::spawn(async move {
        let s = served;
        let mut first_table = true;
        let mut render_ev = |kind: &str, obj: &Value| -> Bytes {
            match out {
                Output::Table => {
                    let t = table(&s, &[obj], first_table, &include, None, None);
                    first_table = false;
                    event_raw(kind, &t)
                }
                Output::Metadata => event_json(kind, partial(obj)),
                _ => event_raw(kind, &serde_json::to_vec(obj).unwrap_or_default()),
            }
        };
        let keep_fn = |o: &Value| keep(&s, &label, &field, o);
        let mut seen_rev;
        match start {
            Start::Current { objects, rev } => {
                seen_rev = rev;
                for (_, e) in objects {
                    if keep_fn(&e.obj) && tx.send(render_ev("ADDED", &e.obj)).await.is_err() {
                        return;
                    }
                }
                if send_initial == Some(true) && bookmarks {
                    let b = json!({"kind": s.resource.kind, "apiVersion": s.resource.api_version(),
                        "metadata": {"resourceVersion": rev.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                    if tx.send(event_json("BOOKMARK", b)).await.is_err() {
                        return;
                    }
                }
            }
            Start::After(events) => {
                seen_rev = from.unwrap_or(0);
                for e in events {
                    seen_rev = e.rev;
                    if let Some(kind) = filter_event(&e, &keep_fn) {
                        let line = if out == Output::Json {
                            event_raw(kind, e.obj_json())
                        } else {
                            render_ev(kind, &e.obj)
                        };
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = tick.tick(), if bookmarks => {
                    let b = json!({"kind": s.resource.kind, "apiVersion": s.resource.api_version(), "metadata": {"resourceVersion": seen_rev.to_string()}});
                    if tx.send(event_json("BOOKMARK", b)).await.is_err() { return; }
                }
                ev = rx.recv() => {
                    // Take whatever else is already queued too, and send it as one chunk.
                    let mut batch = Vec::new();
                    let mut next = ev;
                    loop {
                        let e = match next {
                            Ok(e) => e,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                tracing::debug!("a watcher fell behind; ending its watch");
                                return;
                            }
                            Err(_) => return,
                        };
                        if e.rev > seen_rev && e.key.starts_with(&prefix) {
                            seen_rev = e.rev;
                            if let Some(kind) = filter_event(&e, &keep_fn) {
                                let line = if out == Output::Json { event_raw(kind, e.obj_json()) } else { render_ev(kind, &e.obj) };
                                batch.extend_from_slice(&line);
                            }
                        }
                        if batch.len() > 1 << 20 {
                            break;
                        }
                        next = match rx.try_recv() {
                            Ok(e) => Ok(e),
                            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Err(tokio::sync::broadcast::error::RecvError::Lagged(n)),
                            Err(tokio::sync::broadcast::error::TryRecvError::Closed) => Err(tokio::sync::broadcast::error::RecvError::Closed),
                        };
                    }
                    if !batch.is_empty() && tx.send(Bytes::from(batch)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let ct = if out == Output::Table {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", ct)
        .header("Cache-Control", "no-cache, private")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::full(""))))
}

/// What a watcher with a selector sees of an event: objects entering the selection are
/// ADDED, leaving it DELETED.
fn filter_event(e: &Event, keep: &dyn Fn(&Value) -> bool) -> Option<&'static str> {
    let now = keep(&e.obj);
    let before = e.prev.as_ref().is_some_and(|p| keep(p));
    match e.change {
        Change::Added => now.then_some("ADDED"),
        Change::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
        Change::Deleted => (now || before).then_some("DELETED"),
    }
}

#[allow(clippy::too_many_arguments)]
async fn subresource(
    server: &Arc<Server>,
    req: Request<Incoming>,
    s: &Served,
    ns: Option<&str>,
    name: &str,
    sub: &str,
    q: Query,
    out: Output,
    verb: &str,
    agent: &str,
) -> Result<Resp, ApiError> {
    let api = &server.api;
    let r = &s.resource;
    match (sub, verb) {
        ("status" | "finalize", "get") => {
            let obj = api.get(s, ns, name, &q).await?;
            Ok(render_object(s, &obj, out))
        }
        ("status" | "finalize", "update") => {
            let opts = WriteOpts::from_query(&q, agent)?;
            let (body, ct) = read_body(req).await?;
            let obj = parse_body(&body, &ct)?;
            let (v, _) = api
                .update_with(s, ns, name, Some(sub), &opts, |cur| match cur {
                    Some(_) => Ok(obj.clone()),
                    None => Err(ApiError::not_found(&r.group, &r.plural, name)),
                })
                .await?;
            Ok(with_warnings(render(200, &v, out_json(out)), &opts))
        }
        ("status", "patch") => {
            let mut opts = WriteOpts::from_query(&q, agent)?;
            let (body, ct) = read_body(req).await?;
            let (v, _) =
                crate::patch::patch(api, s, ns, name, Some("status"), &body, &ct, &q, &mut opts)
                    .await?;
            Ok(with_warnings(render(200, &v, out_json(out)), &opts))
        }
        ("scale", "get") => {
            let obj = api.get(s, ns, name, &q).await?;
            Ok(render(
                200,
                &crate::patch::to_scale(s, &obj)?,
                out_json(out),
            ))
        }
        ("scale", "update" | "patch") => {
            let mut opts = WriteOpts::from_query(&q, agent)?;
            let (body, ct) = read_body(req).await?;
            let v =
                crate::patch::scale(api, s, ns, name, verb == "patch", &body, &ct, &q, &mut opts)
                    .await?;
            Ok(with_warnings(render(200, &v, out_json(out)), &opts))
        }
        ("log" | "exec" | "attach" | "portforward" | "proxy", _) => Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!(
                "{sub} needs the node agent running the pod, and this cluster has no node agent for {name} yet"
            ),
        )),
        ("eviction", "create") => {
            let opts = WriteOpts::from_query(&q, agent)?;
            let (body, ct) = read_body(req).await?;
            let eviction = parse_body(&body, &ct)?;
            let pod = api.get(s, ns, name, &q).await?;
            // A disruption budget that allows no disruption refuses the eviction.
            if let Some(pdbs) = api.registry.find("policy", "v1", "poddisruptionbudgets") {
                let prefix = collection_prefix(&pdbs, ns);
                let (snap, _) = api.cache.list(&prefix, None, 0, |_| true);
                for (_, e) in snap.items {
                    let sel = api::selector::LabelSelector::from_api(&e.obj["spec"]["selector"]);
                    let labels = pod["metadata"].get("labels").and_then(Value::as_object);
                    if sel.is_ok_and(|sel| sel.matches(labels))
                        && e.obj["status"]["disruptionsAllowed"].as_i64().unwrap_or(0) < 1
                    {
                        return Err(ApiError {
                            code: 429,
                            reason: "TooManyRequests",
                            message:
                                "Cannot evict pod as it would violate the pod's disruption budget."
                                    .into(),
                            details: Some(
                                json!({"causes": [{"reason": "DisruptionBudget", "message": format!("The disruption budget {} needs {} healthy pods and has {} currently", object::name(&e.obj), e.obj["status"]["desiredHealthy"].as_i64().unwrap_or(0), e.obj["status"]["currentHealthy"].as_i64().unwrap_or(0))}]}),
                            ),
                        });
                    }
                }
            }
            let options = eviction.get("deleteOptions").cloned().unwrap_or(json!({}));
            api.delete(s, ns, name, &options, &opts).await?;
            Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        ("binding", "create") => {
            let opts = WriteOpts::from_query(&q, agent)?;
            let (body, ct) = read_body(req).await?;
            let binding = parse_body(&body, &ct)?;
            let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
            if node.is_empty() {
                return Err(ApiError::invalid(
                    "",
                    "Binding",
                    name,
                    &[api::error::FieldError::required("target.name", "")],
                ));
            }
            api.update_with(s, ns, name, None, &opts, |cur| {
                let Some(pod) = cur else {
                    return Err(ApiError::not_found("", "pods", name));
                };
                if pod["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
                {
                    return Err(ApiError::conflict(
                        "",
                        "pods",
                        name,
                        &format!(
                            "pod {name} is already assigned to node {:?}",
                            pod["spec"]["nodeName"].as_str().unwrap_or("")
                        ),
                    ));
                }
                let mut p = pod.clone();
                p["spec"]["nodeName"] = json!(node);
                Ok(p)
            })
            .await?;
            Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        _ => Err(ApiError::method_not_supported(
            &r.group,
            &format!("{}/{sub}", r.plural),
            verb,
        )),
    }
}
