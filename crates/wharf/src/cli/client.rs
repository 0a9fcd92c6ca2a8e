//! A small Docker Engine API client over a unix socket: one HTTP/1.1 connection per request
//! (hyper's client connection on a tokio `UnixStream`), API version negotiation through
//! `/_ping` as the docker CLI does it, JSON requests and answers, streamed answers (logs, JSON
//! progress messages), streamed request bodies (tar archives), and hijacked connections
//! (`Upgrade: tcp` → `101`) for attach and exec.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::UnixStream;

/// The daemon's socket when neither `-H`, `$WHARF_HOST` nor `$DOCKER_HOST` names one.
pub const DEFAULT_HOST: &str = "unix:///run/wharf/docker.sock";
/// The newest Engine API version this client speaks (docker CLI 28's).
pub const API_VERSION: &str = "1.50";
/// What the docker CLI assumes when `/_ping` carries no `Api-Version` header.
const FALLBACK_API_VERSION: &str = "1.24";

/// A failure to reach the daemon or an error it answered with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `-H`/`$DOCKER_HOST` named something other than a unix socket.
    #[error("invalid host '{0}': only unix:///path sockets are supported")]
    Host(String),
    /// Nothing answered on the socket.
    #[error("Cannot connect to the wharf daemon at {host}. Is the daemon running?")]
    Connect {
        /// The host as given.
        host: String,
        /// Why the connection failed.
        source: io::Error,
    },
    /// The daemon answered with an error status and a `{"message": …}` body.
    #[error("Error response from daemon: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The HTTP exchange itself failed (connection reset, malformed answer).
    #[error("talking to the daemon")]
    Http(#[from] hyper::Error),
    /// Reading or writing local data for the request failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The daemon answered something this client cannot use.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The HTTP status of a daemon error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the daemon answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Picks the daemon address: the first `-H`, else `$WHARF_HOST`, else `$DOCKER_HOST`, else the
/// default; returns the socket path.
pub fn resolve_host(
    hosts: &[String],
    wharf_host: Option<String>,
    docker_host: Option<String>,
) -> Result<(String, PathBuf), ClientError> {
    let host = hosts
        .first()
        .cloned()
        .or(wharf_host.filter(|h| !h.is_empty()))
        .or(docker_host.filter(|h| !h.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let path = host
        .strip_prefix("unix://")
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .ok_or_else(|| ClientError::Host(host.clone()))?;
    Ok((host, path))
}

/// Query parameters, percent-encoded in the order they were added.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`.
    pub fn add(mut self, key: &str, value: impl ToString) -> Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds `key=value` when `condition` holds.
    pub fn add_if(self, condition: bool, key: &str, value: impl ToString) -> Self {
        if condition {
            self.add(key, value)
        } else {
            self
        }
    }

    /// Adds `key=value` when there is a value.
    pub fn add_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    /// `?a=1&b=2`, or "" when empty.
    pub fn encode(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What a request carries.
pub enum RequestBody {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(Value),
    /// Bytes of the given content type.
    Bytes(Vec<u8>, &'static str),
    /// A stream (sent chunked) of the given content type: a tar file, or stdin.
    Reader(Box<dyn AsyncRead + Send + Unpin>, &'static str),
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestBody::Empty => f.write_str("Empty"),
            RequestBody::Json(v) => write!(f, "Json({v})"),
            RequestBody::Bytes(b, t) => write!(f, "Bytes({} bytes of {t})", b.len()),
            RequestBody::Reader(_, t) => write!(f, "Reader({t})"),
        }
    }
}

type BoxedBody = UnsyncBoxBody<Bytes, io::Error>;

/// A request body read from an `AsyncRead` in 64 KiB frames.
struct ReaderBody {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    buffer: Vec<u8>,
    done: bool,
}

impl Body for ReaderBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let mut read = ReadBuf::new(&mut this.buffer);
        match Pin::new(&mut this.reader).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if read.filled().is_empty() => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(())) => {
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(read.filled())))))
            }
        }
    }
}

impl RequestBody {
    fn into_parts(self) -> (BoxedBody, Option<&'static str>) {
        match self {
            RequestBody::Empty => (Empty::new().map_err(|e| match e {}).boxed_unsync(), None),
            RequestBody::Json(value) => (
                Full::new(Bytes::from(value.to_string()))
                    .map_err(|e| match e {})
                    .boxed_unsync(),
                Some("application/json"),
            ),
            RequestBody::Bytes(bytes, kind) => (
                Full::new(Bytes::from(bytes))
                    .map_err(|e| match e {})
                    .boxed_unsync(),
                Some(kind),
            ),
            RequestBody::Reader(reader, kind) => (
                ReaderBody {
                    reader,
                    buffer: vec![0; 64 * 1024],
                    done: false,
                }
                .boxed_unsync(),
                Some(kind),
            ),
        }
    }
}

/// A connected client: the socket and the negotiated API version.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    socket: PathBuf,
    version: String,
}

/// The bidirectional byte stream of a hijacked attach or exec.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

impl Client {
    /// Resolves the host and negotiates the API version through `/_ping`
    /// (`min(1.50, server's Api-Version)`, 1.24 when the server names none).
    pub async fn connect(hosts: &[String]) -> Result<Self, ClientError> {
        let (host, socket) = resolve_host(
            hosts,
            std::env::var("WHARF_HOST").ok(),
            std::env::var("DOCKER_HOST").ok(),
        )?;
        let mut client = Client {
            host,
            socket,
            version: API_VERSION.to_string(),
        };
        let mut response = client
            .send(Method::HEAD, "/_ping".to_string(), RequestBody::Empty, &[])
            .await?;
        if !matches!(response.status().as_u16(), 200 | 500) {
            response = client
                .send(Method::GET, "/_ping".to_string(), RequestBody::Empty, &[])
                .await?;
        }
        let server = response
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(FALLBACK_API_VERSION)
            .to_string();
        client.version = negotiate(&server);
        Ok(client)
    }

    /// The negotiated API version ("1.50", or older for an older daemon).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether the negotiated version is at least `minimum` ("1.42").
    pub fn at_least(&self, minimum: &str) -> bool {
        version_key(&self.version) >= version_key(minimum)
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: String,
        body: RequestBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    host: self.host.clone(),
                    source,
                })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the response (or the upgraded stream) is done; its
            // errors surface through the response.
            let _ = connection.with_upgrades().await;
        });
        let (body, content_type) = body.into_parts();
        let mut builder = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, "api.moby.localhost")
            .header(USER_AGENT, concat!("wharf-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(kind) = content_type {
            builder = builder.header(CONTENT_TYPE, kind);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body)
            .map_err(|e| ClientError::Protocol(format!("building the request: {e}")))?;
        Ok(sender.send_request(request).await?)
    }

    /// Sends a versioned request (`/v1.50/containers/json`) and turns an error status into
    /// [`ClientError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: RequestBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        let uri = format!("/v{}{}{}", self.version, path, query.encode());
        let is_head = method == Method::HEAD;
        let response = self.send(method, uri, body, headers).await?;
        let status = response.status();
        if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(response);
        }
        let bytes = if is_head {
            Bytes::new()
        } else {
            response.into_body().collect().await?.to_bytes()
        };
        Err(api_error(status, &bytes))
    }

    /// A request whose answer is JSON (`Value::Null` when the answer is empty, as for 204).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: RequestBody,
    ) -> Result<Value, ClientError> {
        let response = self.request(method, path, query, body, &[]).await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        parse_json(&bytes)
    }

    /// The raw text of a JSON answer, unparsed (`inspect` keeps the daemon's key order).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        query: &Query,
    ) -> Result<Bytes, ClientError> {
        let response = self
            .request(method, path, query, RequestBody::Empty, &[])
            .await?;
        Ok(response.into_body().collect().await?.to_bytes())
    }

    /// Upgrades the connection (`Connection: Upgrade`, `Upgrade: tcp`) and returns the raw
    /// stream once the daemon answers `101`.
    pub async fn hijack(
        &self,
        path: &str,
        query: &Query,
        body: Option<Value>,
    ) -> Result<Hijacked, ClientError> {
        let (body, extra): (RequestBody, &[(&str, &str)]) = match body {
            Some(json) => (RequestBody::Json(json), &[]),
            None => (RequestBody::Empty, &[("content-type", "text/plain")]),
        };
        let mut headers = vec![(CONNECTION.as_str(), "Upgrade"), (UPGRADE.as_str(), "tcp")];
        headers.extend_from_slice(extra);
        let response = self
            .request(Method::POST, path, query, body, &headers)
            .await?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Protocol(format!(
                "{path} answered {} instead of 101 Switching Protocols",
                response.status()
            )));
        }
        let upgraded = hyper::upgrade::on(response).await?;
        Ok(TokioIo::new(upgraded))
    }
}

/// `min(1.50, server)`.
pub fn negotiate(server: &str) -> String {
    if version_key(server) < version_key(API_VERSION) {
        server.to_string()
    } else {
        API_VERSION.to_string()
    }
}

fn version_key(version: &str) -> (u32, u32) {
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    (major.parse().unwrap_or(0), minor.parse().unwrap_or(0))
}

fn parse_json(bytes: &[u8]) -> Result<Value, ClientError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ClientError::Protocol(format!(
            "invalid JSON ({e}): {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ))
    })
}

/// Docker's error body is `{"message": …}`; anything else is shown as text.
pub fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text
            }
        });
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}

/// The next data chunk of a streamed answer, or `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, ClientError> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
    Ok(None)
}

/// Reads a stream of concatenated JSON documents (progress messages), one at a time.
#[derive(Debug)]
pub struct JsonStream {
    body: Incoming,
    buffer: Vec<u8>,
}

impl JsonStream {
    /// Wraps a streamed answer.
    pub fn new(response: Response<Incoming>) -> Self {
        JsonStream {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// The next document, or `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        loop {
            if let Some(value) = take_json(&mut self.buffer)? {
                return Ok(Some(value));
            }
            match next_chunk(&mut self.body).await? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => {
                    return if self.buffer.iter().all(u8::is_ascii_whitespace) {
                        Ok(None)
                    } else {
                        Err(ClientError::Protocol(format!(
                            "truncated JSON message: {}",
                            String::from_utf8_lossy(&self.buffer)
                        )))
                    };
                }
            }
        }
    }
}

/// Takes the first complete JSON document off the front of `buffer`.
fn take_json(buffer: &mut Vec<u8>) -> Result<Option<Value>, ClientError> {
    let mut stream = serde_json::Deserializer::from_slice(buffer).into_iter::<Value>();
    match stream.next() {
        None => {
            buffer.clear();
            Ok(None)
        }
        Some(Ok(value)) => {
            let used = stream.byte_offset();
            buffer.drain(..used);
            Ok(Some(value))
        }
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(ClientError::Protocol(format!("invalid JSON message: {e}"))),
    }
}

/// Splits docker's multiplexed stream (`[stream, 0, 0, 0, size as u32 BE]` + payload) into
/// `(stream, payload)` frames, across reads that cut frames anywhere.
#[derive(Debug, Default)]
pub struct Demuxer {
    pending: Vec<u8>,
}

impl Demuxer {
    /// Feeds bytes; returns the frames they completed (stream 0 = stdin echo, 1 = stdout,
    /// 2 = stderr).
    pub fn push(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.pending.extend_from_slice(data);
        let mut frames = Vec::new();
        let mut offset = 0;
        while self.pending.len() - offset >= 8 {
            let header = &self.pending[offset..offset + 8];
            let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if self.pending.len() - offset - 8 < size {
                break;
            }
            let stream = header[0];
            frames.push((stream, self.pending[offset + 8..offset + 8 + size].to_vec()));
            offset += 8 + size;
        }
        self.pending.drain(..offset);
        frames
    }

    /// Bytes of an incomplete frame still held.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![stream, 0, 0, 0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn demux_splits_frames_across_reads() {
        let mut data = frame(1, b"hello\n");
        data.extend(frame(2, b"oops\n"));
        data.extend(frame(1, b""));
        let mut demux = Demuxer::default();
        let mut frames = Vec::new();
        for piece in data.chunks(3) {
            frames.extend(demux.push(piece));
        }
        assert_eq!(
            frames,
            vec![
                (1, b"hello\n".to_vec()),
                (2, b"oops\n".to_vec()),
                (1, Vec::new())
            ]
        );
        assert_eq!(demux.pending(), 0);
        assert!(demux.push(&[1, 0, 0]).is_empty());
        assert_eq!(demux.pending(), 3);
    }

    #[test]
    fn hosts_resolve_in_docker_order() {
        let given = vec!["unix:///tmp/a.sock".to_string()];
        let (_, path) = resolve_host(&given, Some("unix:///b".into()), None).expect("resolves");
        assert_eq!(path, PathBuf::from("/tmp/a.sock"));
        let (_, path) = resolve_host(&[], Some("unix:///b".into()), Some("unix:///c".into()))
            .expect("resolves");
        assert_eq!(path, PathBuf::from("/b"));
        let (_, path) = resolve_host(&[], None, Some("unix:///c".into())).expect("resolves");
        assert_eq!(path, PathBuf::from("/c"));
        let (host, path) = resolve_host(&[], Some(String::new()), None).expect("resolves");
        assert_eq!(host, DEFAULT_HOST);
        assert_eq!(path, PathBuf::from("/run/wharf/docker.sock"));
        assert!(matches!(
            resolve_host(&["tcp://1.2.3.4:2375".into()], None, None),
            Err(ClientError::Host(_))
        ));
    }

    #[test]
    fn versions_negotiate_down_only() {
        assert_eq!(negotiate("1.41"), "1.41");
        assert_eq!(negotiate("1.50"), "1.50");
        assert_eq!(negotiate("1.51"), "1.50");
        assert_eq!(negotiate("1.9"), "1.9");
        assert_eq!(negotiate("2.0"), "1.50");
    }

    #[test]
    fn queries_are_percent_encoded() {
        let query = Query::new()
            .add("fromImage", "docker.io/library/busybox")
            .add("tag", "latest")
            .add_if(false, "skip", 1)
            .add_opt("filters", Some(r#"{"a":1}"#));
        assert_eq!(
            query.encode(),
            "?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest&filters=%7B%22a%22%3A1%7D"
        );
        assert_eq!(Query::new().encode(), "");
    }

    #[test]
    fn json_messages_are_taken_one_at_a_time() {
        let mut buffer = b"{\"status\":\"a\"}\r\n{\"status\":\"b\"}\r\n{\"sta".to_vec();
        let first = take_json(&mut buffer).expect("parses");
        assert_eq!(first, Some(serde_json::json!({"status": "a"})));
        let second = take_json(&mut buffer).expect("parses");
        assert_eq!(second, Some(serde_json::json!({"status": "b"})));
        assert_eq!(take_json(&mut buffer).expect("incomplete is fine"), None);
        buffer.extend_from_slice(b"tus\":\"c\"}");
        assert_eq!(
            take_json(&mut buffer).expect("parses"),
            Some(serde_json::json!({"status": "c"}))
        );
        let mut bad = b"{\"a\":1}}".to_vec();
        assert!(take_json(&mut bad).expect("first parses").is_some());
        assert!(take_json(&mut bad).is_err());
    }

    #[test]
    fn api_errors_read_the_message() {
        let error = api_error(
            StatusCode::NOT_FOUND,
            br#"{"message":"No such container: x"}"#,
        );
        assert_eq!(
            error.to_string(),
            "Error response from daemon: No such container: x"
        );
        assert!(error.is_not_found());
        let error = api_error(StatusCode::INTERNAL_SERVER_ERROR, b"boom\n");
        assert_eq!(error.to_string(), "Error response from daemon: boom");
        assert_eq!(error.status(), Some(500));
    }
}
