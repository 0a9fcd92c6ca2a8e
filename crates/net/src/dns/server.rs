//! The DNS server: answers names a [`Resolver`] owns, relays everything else upstream.
//!
//! One task receives UDP queries and one accepts TCP connections. Local answers are computed
//! inline in those tasks (a parse on the stack, one resolver call, a write into a reused
//! buffer); only forwarded queries get their own task, so a slow upstream never delays
//! anyone else.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, warn};

use super::message::{
    Answer, CLASS_IN, HEADER_LEN, Header, MessageError, Query, Rcode, write_error, write_response,
};

/// TTL of the records Wharf serves unless the resolver says otherwise. Short, because a
/// container name can move to a new address when the container is recreated.
pub const DEFAULT_TTL: u32 = 60;
/// How long one upstream gets to answer before the next is tried.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// A TCP connection with no query and nothing in flight for this long is closed.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Forwarded UDP queries in flight at once; beyond this, queries get SERVFAIL.
const MAX_UDP_FORWARDS: usize = 1024;
/// TCP connections served at once; beyond this, new ones are closed at once.
const MAX_TCP_CONNECTIONS: usize = 256;
/// Queries in flight on one TCP connection; beyond this, reading pauses.
const MAX_TCP_INFLIGHT: usize = 32;
/// Largest DNS message (the TCP length prefix is 16 bits; UDP cannot carry more).
const MAX_MESSAGE: usize = 65535;

/// What a [`Resolver`] says about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// We own the name: these answers (may be empty = NODATA for this qtype).
    Found(Vec<Answer>),
    /// We own the zone and the name does not exist: NXDOMAIN.
    NxDomain,
    /// Not ours: forward to the upstreams.
    Forward,
}

/// The names one server answers for, and where the rest go.
///
/// The server calls these from its receive loops, so they must return quickly (no I/O, no
/// blocking locks held for long): a lookup in an in-memory table is the intended use.
pub trait Resolver: Send + Sync + 'static {
    /// Answers `name` (ASCII-lowercased, no trailing dot, `\DDD` escapes for odd bytes) for
    /// record type `qtype` (see [`super::rtype`]). `client` is the querying address, `local`
    /// the address the query arrived on. Only class IN queries are asked; others are
    /// forwarded.
    fn lookup(&self, client: IpAddr, local: SocketAddr, name: &str, qtype: u16) -> Lookup;

    /// Upstream servers for forwarded queries from this client (host resolvers, or the
    /// container's `--dns`), tried in order.
    fn upstreams(&self, client: IpAddr) -> Vec<SocketAddr>;

    /// TTL for the records of local answers.
    fn ttl(&self) -> u32 {
        DEFAULT_TTL
    }
}

/// A running server. Dropping it aborts the server's tasks, which closes its sockets;
/// [`ServerHandle::shutdown`] does the same and waits until they are closed.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address served (UDP and TCP use the same one; the port is the real one when 0
    /// was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and returns once both sockets and all in-flight work are gone.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(());
        for task in std::mem::take(&mut self.tasks) {
            // A task that panicked has already released its socket; nothing to report.
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Serves DNS on UDP and TCP at `addr` until the handle is dropped (or
/// [`ServerHandle::shutdown`] is called).
///
/// The UDP socket is bound without `SO_REUSEADDR`, so a second server (ours or anyone's) on
/// the same address fails with `AddrInUse` instead of silently sharing the packets; the TCP
/// listener uses `SO_REUSEADDR`, which on Linux only allows rebinding over connections left
/// in TIME_WAIT by a previous run, never two listeners. Errors name the address and protocol.
/// With port 0, UDP picks a free port and TCP binds the same one.
pub async fn serve(addr: SocketAddr, resolver: Arc<dyn Resolver>) -> io::Result<ServerHandle> {
    let (udp, tcp) = bind_pair(addr)?;
    let local_addr = udp.local_addr()?;
    let (stop, stopped) = watch::channel(());
    let shared = Arc::new(Shared {
        resolver,
        local: local_addr,
    });
    let tasks = vec![
        tokio::spawn(udp_loop(Arc::new(udp), shared.clone(), stopped.clone())),
        tokio::spawn(tcp_loop(tcp, shared, stopped)),
    ];
    Ok(ServerHandle {
        local_addr,
        stop,
        tasks,
    })
}

fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let context = |proto: &str, at: SocketAddr, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("binding the DNS server to {proto} {at}: {e}"),
        )
    };
    // With port 0 the UDP port might be taken for TCP by someone else: try a few.
    let attempts = if addr.port() == 0 { 8 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = std::net::UdpSocket::bind(addr).map_err(|e| context("UDP", addr, e))?;
        let at = udp.local_addr()?;
        match bind_tcp(at) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                return Ok((UdpSocket::from_std(udp)?, tcp));
            }
            Err(e) => last = Some(context("TCP", at, e)),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no bind attempt was made")))
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

struct Shared {
    resolver: Arc<dyn Resolver>,
    local: SocketAddr,
}

/// What to do with one received message.
enum Decision {
    /// `out` holds the response.
    Reply,
    /// Relay the message to these upstreams; answer SERVFAIL to `query` if none answers.
    Forward {
        query: Box<Query>,
        upstreams: Vec<SocketAddr>,
    },
    /// Say nothing (not a query, or too short to answer).
    Ignore,
}

impl Shared {
    /// Decides how to answer `msg`; writes local answers into `out` (at most `limit` bytes,
    /// or the client's UDP limit when `limit` is `None`).
    fn decide(
        &self,
        msg: &[u8],
        client: IpAddr,
        local: SocketAddr,
        limit: Option<usize>,
        out: &mut Vec<u8>,
        name: &mut String,
    ) -> Decision {
        let query = match Query::parse(msg) {
            Ok(query) => query,
            Err(e) => return error_reply(msg, &e, client, out),
        };
        let max_len = limit.unwrap_or_else(|| query.udp_limit());
        if query.edns.is_some_and(|e| e.version > 0) {
            return self.reply(out, &query, Rcode::BadVers, false, &[], max_len);
        }
        if query.question.qclass != CLASS_IN {
            return self.forward(client, query);
        }
        name.clear();
        query.question.name.write_lowercase(name);
        match self
            .resolver
            .lookup(client, local, name, query.question.qtype)
        {
            Lookup::Found(answers) => {
                self.reply(out, &query, Rcode::NoError, true, &answers, max_len)
            }
            Lookup::NxDomain => self.reply(out, &query, Rcode::NxDomain, true, &[], max_len),
            Lookup::Forward => self.forward(client, query),
        }
    }

    fn reply(
        &self,
        out: &mut Vec<u8>,
        query: &Query,
        rcode: Rcode,
        authoritative: bool,
        answers: &[Answer],
        max_len: usize,
    ) -> Decision {
        let ttl = self.resolver.ttl();
        if let Err(e) = write_response(out, query, rcode, authoritative, answers, ttl, max_len) {
            warn!(name = %query.question.name, error = %e, "resolver gave an answer that cannot be encoded; answering SERVFAIL");
            servfail(out, query);
        }
        Decision::Reply
    }

    fn forward(&self, client: IpAddr, query: Query) -> Decision {
        Decision::Forward {
            query: Box::new(query),
            upstreams: self.resolver.upstreams(client),
        }
    }
}

fn servfail(out: &mut Vec<u8>, query: &Query) {
    // Without answers the response always fits and always encodes.
    if write_response(out, query, Rcode::ServFail, false, &[], 0, MAX_MESSAGE).is_err() {
        write_error(out, &query.header, Rcode::ServFail);
    }
}

fn error_reply(msg: &[u8], error: &MessageError, client: IpAddr, out: &mut Vec<u8>) -> Decision {
    let Ok(header) = Header::parse(msg) else {
        debug!(%client, %error, "ignoring a message too short to answer");
        return Decision::Ignore;
    };
    let rcode = match error {
        MessageError::NotAQuery => {
            debug!(%client, "ignoring a DNS response sent to the server");
            return Decision::Ignore;
        }
        MessageError::UnsupportedOpcode(_) => Rcode::NotImp,
        _ => Rcode::FormErr,
    };
    debug!(%client, %error, ?rcode, "rejecting a malformed query");
    write_error(out, &header, rcode);
    Decision::Reply
}

async fn udp_loop(socket: Arc<UdpSocket>, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut out = Vec::with_capacity(crate::dns::EDNS_UDP_LEN.into());
    let mut name = String::with_capacity(256);
    let mut forwards = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
            received = socket.recv_from(&mut buf) => {
                let (len, client) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        // ICMP errors from earlier sends surface here on Linux; keep serving.
                        debug!(error = %e, "receiving a DNS query over UDP");
                        continue;
                    }
                };
                let msg = &buf[..len];
                match shared.decide(msg, client.ip(), shared.local, None, &mut out, &mut name) {
                    Decision::Ignore => {}
                    Decision::Reply => send_udp(&socket, &out, client).await,
                    Decision::Forward { query, upstreams } => {
                        if forwards.len() >= MAX_UDP_FORWARDS {
                            warn!(%client, "too many forwarded queries in flight; answering SERVFAIL");
                            servfail(&mut out, &query);
                            send_udp(&socket, &out, client).await;
                            continue;
                        }
                        let msg = msg.to_vec();
                        let socket = socket.clone();
                        let own = shared.local;
                        forwards.spawn(async move {
                            let reply = match forward(&msg, &upstreams, own, false).await {
                                Some(reply) => reply,
                                None => {
                                    let mut out = Vec::new();
                                    servfail(&mut out, &query);
                                    out
                                }
                            };
                            send_udp(&socket, &reply, client).await;
                        });
                    }
                }
            }
        }
    }
    forwards.shutdown().await;
}

async fn send_udp(socket: &UdpSocket, msg: &[u8], client: SocketAddr) {
    if let Err(e) = socket.send_to(msg, client).await {
        debug!(%client, error = %e, "sending a DNS answer over UDP");
    }
}

async fn tcp_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if connections.len() >= MAX_TCP_CONNECTIONS {
                        warn!(%peer, "too many DNS TCP connections; closing a new one");
                        continue;
                    }
                    connections.spawn(tcp_connection(stream, peer, shared.clone()));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    warn!(error = %e, "accepting a DNS TCP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

/// Serves one TCP connection: length-prefixed queries, answered in any order (RFC 7766),
/// forwarded ones concurrently.
async fn tcp_connection(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    if let Err(e) = serve_tcp_connection(&mut stream, peer, &shared).await {
        debug!(%peer, error = %e, "DNS TCP connection ended");
    }
}

async fn serve_tcp_connection(
    stream: &mut TcpStream,
    peer: SocketAddr,
    shared: &Shared,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    let (mut reader, mut writer) = stream.split();
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut out = Vec::with_capacity(512);
    let mut frame = Vec::with_capacity(514);
    let mut name = String::with_capacity(256);
    let mut inflight: JoinSet<Vec<u8>> = JoinSet::new();
    let mut eof = false;
    let mut idle_deadline = Instant::now() + TCP_IDLE_TIMEOUT;
    loop {
        // Answer every complete query already buffered.
        while inflight.len() < MAX_TCP_INFLIGHT {
            let Some(len) = complete_frame(&pending) else {
                break;
            };
            let msg = &pending[2..2 + len];
            match shared.decide(
                msg,
                peer.ip(),
                local,
                Some(MAX_MESSAGE),
                &mut out,
                &mut name,
            ) {
                Decision::Ignore => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "received a message that is not a DNS query",
                    ));
                }
                Decision::Reply => write_frame(&mut writer, &out, &mut frame).await?,
                Decision::Forward { query, upstreams } => {
                    let msg = msg.to_vec();
                    let own = shared.local;
                    inflight.spawn(async move {
                        match forward(&msg, &upstreams, own, true).await {
                            Some(reply) => reply,
                            None => {
                                let mut out = Vec::new();
                                servfail(&mut out, &query);
                                out
                            }
                        }
                    });
                }
            }
            pending.drain(..2 + len);
            idle_deadline = Instant::now() + TCP_IDLE_TIMEOUT;
        }
        if eof && inflight.is_empty() {
            return Ok(());
        }
        let can_read = !eof && inflight.len() < MAX_TCP_INFLIGHT;
        tokio::select! {
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                let reply = done.map_err(io::Error::other)?;
                write_frame(&mut writer, &reply, &mut frame).await?;
                idle_deadline = Instant::now() + TCP_IDLE_TIMEOUT;
            }
            read = timeout_at(idle_deadline, reader.read(&mut chunk)), if can_read => match read {
                Err(_) if inflight.is_empty() => return Ok(()),
                Err(_) => idle_deadline = Instant::now() + TCP_IDLE_TIMEOUT,
                Ok(Ok(0)) => eof = true,
                Ok(Ok(n)) => pending.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e),
            },
        }
    }
}

/// The length of the first complete length-prefixed message in `buf`, if there is one.
fn complete_frame(buf: &[u8]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    (buf.len() >= 2 + len).then_some(len)
}

async fn write_frame<W: AsyncWriteExt + Unpin>(
    writer: &mut W,
    msg: &[u8],
    frame: &mut Vec<u8>,
) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "DNS answer over 65535 bytes"))?;
    frame.clear();
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    writer.write_all(frame).await
}

/// Relays `msg` to each upstream in turn until one answers; returns that answer unchanged.
/// When the client came over TCP and a UDP answer is truncated, the same upstream is asked
/// again over TCP.
async fn forward(
    msg: &[u8],
    upstreams: &[SocketAddr],
    own: SocketAddr,
    client_tcp: bool,
) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        if is_self(upstream, own) {
            warn!(%upstream, "skipping an upstream that is this DNS server itself");
            continue;
        }
        match forward_udp(msg, upstream).await {
            Ok(reply) => {
                let truncated = Header::parse(&reply).is_ok_and(|h| h.truncated());
                if client_tcp && truncated {
                    match forward_tcp(msg, upstream).await {
                        Ok(full) => return Some(full),
                        Err(e) => {
                            debug!(%upstream, error = %e, "retrying a truncated answer over TCP; relaying the truncated one");
                        }
                    }
                }
                return Some(reply);
            }
            Err(e) => debug!(%upstream, error = %e, "upstream DNS server did not answer"),
        }
    }
    None
}

fn is_self(upstream: SocketAddr, own: SocketAddr) -> bool {
    upstream == own
        || (upstream.port() == own.port()
            && own.ip().is_unspecified()
            && (upstream.ip().is_loopback() || upstream.ip().is_unspecified()))
}

async fn forward_udp(msg: &[u8], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let any: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // A fresh socket per query: a random source port, and `connect` filters out packets
    // from anyone but the upstream.
    let socket = UdpSocket::bind(any).await?;
    socket.connect(upstream).await?;
    socket.send(msg).await?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    let wait = async {
        loop {
            let n = socket.recv(&mut buf).await?;
            if n >= HEADER_LEN && buf[..2] == msg[..2] && buf[2] & 0x80 != 0 {
                return Ok::<usize, io::Error>(n);
            }
        }
    };
    let n = timeout(UPSTREAM_TIMEOUT, wait)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 2 s over UDP"))??;
    buf.truncate(n);
    Ok(buf)
}

async fn forward_tcp(msg: &[u8], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await?;
        stream.set_nodelay(true)?;
        let len = u16::try_from(msg.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "query over 65535 bytes"))?;
        let mut frame = Vec::with_capacity(2 + msg.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(msg);
        stream.write_all(&frame).await?;
        loop {
            let len = usize::from(stream.read_u16().await?);
            let mut reply = vec![0u8; len];
            stream.read_exact(&mut reply).await?;
            if len >= HEADER_LEN && reply[..2] == msg[..2] {
                return Ok::<Vec<u8>, io::Error>(reply);
            }
        }
    };
    timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within 2 s over TCP"))?
}
