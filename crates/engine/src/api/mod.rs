//! The Docker Engine API over HTTP/1.1: routing (`/v1.24`…`/v1.50` and un-prefixed paths),
//! query parsing, errors as `{"message": …}`, and the handlers.

mod body;
mod build;
mod containers;
mod images;
mod networks;
mod stream;
mod system;
mod volumes;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::Value;

pub use body::Body;

use crate::engine::Engine;
use crate::error::{Error, Result};

pub const API_VERSION: &str = "1.50";
pub const MIN_API_VERSION: &str = "1.24";

/// A parsed request: method, path segments after the version, query, headers, body.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: Vec<String>,
    pub query: HashMap<String, Vec<String>>,
    pub version: Option<(u32, u32)>,
    pub headers: hyper::HeaderMap,
    body: Option<Incoming>,
    /// The connection, for handlers that take it over (attach, exec start).
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Req {
    /// The body as a stream of chunks (load, import).
    pub fn take_body(&mut self) -> Option<Incoming> {
        self.body.take()
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn q_all(&self, key: &str) -> Vec<String> {
        self.query.get(key).cloned().unwrap_or_default()
    }

    /// A boolean as Go's strconv.ParseBool reads it; docker-py sends `True`/`False`.
    pub fn flag(&self, key: &str) -> Result<bool> {
        match self.q(key) {
            None | Some("") => Ok(false),
            Some(v) => parse_bool(v)
                .ok_or_else(|| Error::invalid(format!("invalid value for {key}: {v:?}"))),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.q(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::invalid(format!("invalid value for {key}: {v:?}"))),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the client asked to take over the connection (attach, exec start).
    pub fn wants_upgrade(&self) -> bool {
        self.header("upgrade").is_some()
    }

    /// The whole body.
    pub async fn bytes(&mut self) -> Result<Bytes> {
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        body.collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| Error::invalid(format!("reading the request body: {e}")))
    }

    /// The body as JSON; an empty body is `null`.
    pub async fn json(&mut self) -> Result<Value> {
        let bytes = self.bytes().await?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
    }

    /// Filters (`filters={"status":["running"]}` or the old `{"status":{"running":true}}`).
    pub fn filters(&self) -> Result<HashMap<String, Vec<String>>> {
        let Some(raw) = self.q("filters").filter(|s| !s.is_empty()) else {
            return Ok(HashMap::new());
        };
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| Error::invalid(format!("invalid filter: {e}")))?;
        let mut out = HashMap::new();
        let Value::Object(m) = v else {
            return Err(Error::invalid("invalid filter: not an object"));
        };
        for (k, v) in m {
            let values = match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                Value::Object(o) => o
                    .into_iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(k, _)| k)
                    .collect(),
                _ => return Err(Error::invalid(format!("invalid filter: {k}"))),
            };
            out.insert(k, values);
        }
        Ok(out)
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    out
}

/// Splits `/v1.41/containers/x/json` into the version and the segments.
/// An API version in a path prefix (`/v1.41/…`).
type Version = Option<(u32, u32)>;

fn split_path(path: &str) -> Result<(Version, Vec<String>)> {
    let mut segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let mut version = None;
    if let Some(first) = segs.first()
        && let Some(v) = first.strip_prefix('v')
        && let Some((maj, min)) = v.split_once('.')
        && let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>())
    {
        version = Some((maj, min));
        segs.remove(0);
    }
    if let Some((maj, min)) = version {
        let v = format!("{maj}.{min}");
        if (maj, min) > (1, 50) {
            return Err(Error::invalid(format!(
                "client version {v} is too new. Maximum supported API version is {API_VERSION}"
            )));
        }
        if (maj, min) < (1, 24) {
            return Err(Error::invalid(format!(
                "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            )));
        }
    }
    Ok((version, segs))
}

pub type Resp = Response<Body>;

pub fn json_response(status: u16, v: &Value) -> Resp {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Body::full(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub fn empty(status: u16) -> Resp {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub fn error_response(e: &Error) -> Resp {
    if e.status() == 304 {
        return empty(304);
    }
    json_response(e.status(), &serde_json::json!({"message": e.message}))
}

fn with_common_headers(mut resp: Resp) -> Resp {
    let h = resp.headers_mut();
    h.insert(
        "Api-Version",
        hyper::header::HeaderValue::from_static(API_VERSION),
    );
    h.insert(
        "Docker-Experimental",
        hyper::header::HeaderValue::from_static("false"),
    );
    h.insert("Ostype", hyper::header::HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        hyper::header::HeaderValue::from_static(concat!(
            "Wharf/",
            env!("CARGO_PKG_VERSION"),
            " (linux)"
        )),
    );
    resp
}

/// Handles one request.
pub async fn handle(
    engine: Arc<Engine>,
    req: Request<Incoming>,
) -> std::result::Result<Resp, std::convert::Infallible> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let started = std::time::Instant::now();
    let resp = match split_path(uri.path()) {
        Err(e) => error_response(&e),
        Ok((version, path)) => {
            let query = parse_query(uri.query().unwrap_or(""));
            let (mut parts, body) = req.into_parts();
            let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
            let req = Req {
                method: method.clone(),
                path,
                query,
                version,
                headers: parts.headers,
                body: Some(body),
                upgrade,
            };
            match route(engine, req).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        }
    };
    tracing::debug!(
        "{} {} -> {} ({:?})",
        method,
        uri,
        resp.status().as_u16(),
        started.elapsed()
    );
    Ok(with_common_headers(resp))
}

async fn route(engine: Arc<Engine>, req: Req) -> Result<Resp> {
    let segs: Vec<&str> = req.path.iter().map(String::as_str).collect();
    let m = req.method.clone();
    match (m, segs.as_slice()) {
        (Method::GET | Method::HEAD, ["_ping"]) => Ok(system::ping(&req)),
        (Method::GET, ["version"]) => system::version(&engine),
        (Method::GET, ["info"]) => system::info(&engine).await,
        (Method::GET, ["events"]) => system::events(&engine, &req),
        (Method::GET, ["system", "df"]) => system::df(&engine).await,

        (Method::GET, ["containers", "json"]) => containers::list(&engine, &req).await,
        (Method::POST, ["containers", "create"]) => containers::create(&engine, req).await,
        (Method::POST, ["containers", "prune"]) => containers::prune(&engine, &req).await,
        (_, ["containers", id, rest @ ..]) => {
            let id = id.to_string();
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            containers::route(&engine, req, &id, &rest).await
        }
        (Method::POST, ["exec", id, "start"]) => {
            let id = id.to_string();
            stream::exec_start(&engine, req, &id).await
        }
        (Method::POST, ["exec", id, "resize"]) => containers::exec_resize(&engine, &req, id).await,
        (Method::GET, ["exec", id, "json"]) => Ok(json_response(200, &engine.exec(id)?.inspect())),

        (Method::GET, ["images", "json"]) => images::list(&engine, &req).await,
        (Method::POST, ["images", "create"]) => images::create(&engine, req).await,
        (Method::POST, ["images", "load"]) => images::load(&engine, req).await,
        (Method::GET, ["images", "get"]) => images::save(&engine, &req, req.q_all("names")).await,
        (Method::POST, ["images", "prune"]) => images::prune(&engine, &req).await,
        (Method::POST, ["commit"]) => images::commit(&engine, req).await,
        (Method::POST, ["build"]) => build::build(&engine, req).await,
        (Method::POST, ["build", "prune"]) => build::prune(&engine, &req).await,
        (_, ["images", rest @ ..]) if !rest.is_empty() => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            images::route(&engine, req, &rest).await
        }
        (Method::GET, ["volumes"]) => volumes::list(&engine, &req).await,
        (Method::POST, ["volumes", "create"]) => volumes::create(&engine, req).await,
        (Method::POST, ["volumes", "prune"]) => volumes::prune(&engine, &req).await,
        (Method::GET, ["volumes", name]) => volumes::inspect(&engine, name),
        (Method::DELETE, ["volumes", name]) => volumes::remove(&engine, &req, name).await,
        (Method::GET, ["networks"]) => networks::list(&engine, &req).await,
        (Method::POST, ["networks", "create"]) => networks::create(&engine, req).await,
        (Method::POST, ["networks", "prune"]) => networks::prune(&engine, &req).await,
        (Method::GET, ["networks", name]) => networks::inspect(&engine, name),
        (Method::DELETE, ["networks", name]) => networks::remove(&engine, name).await,
        (Method::POST, ["networks", name, "connect"]) => {
            let name = name.to_string();
            networks::connect(&engine, req, &name).await
        }
        (Method::POST, ["networks", name, "disconnect"]) => {
            let name = name.to_string();
            networks::disconnect(&engine, req, &name).await
        }
        (Method::GET, ["plugins", name, "json"]) => {
            Err(Error::not_found(format!("plugin \"{name}\" not found")))
        }
        (Method::GET, ["plugins"]) => Ok(json_response(200, &serde_json::json!([]))),
        (_, _) => Err(Error::not_found("page not found")),
    }
}

/// Serves the API on a unix socket until the process ends.
pub async fn serve_unix(engine: Arc<Engine>, listener: tokio::net::UnixListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| handle(engine.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
        });
    }
}

/// Serves the API on a TCP listener (loopback only unless the user says otherwise).
pub async fn serve_tcp(engine: Arc<Engine>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper::service::service_fn(move |req| handle(engine.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades()
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_route_or_refuse() {
        let (v, segs) = split_path("/v1.41/containers/json").expect("ok");
        assert_eq!(v, Some((1, 41)));
        assert_eq!(segs, vec!["containers", "json"]);
        let (v, segs) = split_path("/_ping").expect("ok");
        assert_eq!(v, None);
        assert_eq!(segs, vec!["_ping"]);
        assert_eq!(
            split_path("/v1.51/info").expect_err("too new").status(),
            400
        );
        assert_eq!(
            split_path("/v1.12/info").expect_err("too old").status(),
            400
        );
    }

    #[test]
    fn queries_and_bools() {
        let q = parse_query("fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest&v=True&a=1&a=2");
        assert_eq!(q["fromImage"], vec!["docker.io/library/busybox"]);
        assert_eq!(q["a"], vec!["1", "2"]);
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
