//! Server tests: real sockets on loopback only. Upstreams are servers these tests run on
//! 127.0.0.1; the host's resolvers are never contacted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::*;

const GUARD: Duration = Duration::from_secs(10);
static NEXT_ID: AtomicU16 = AtomicU16::new(1);

fn next_id() -> u16 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A resolver over a fixed table: owns the `test` zone and `10.88.in-addr.arpa`,
/// forwards the rest to `upstreams`.
struct Table {
    records: HashMap<(String, u16), Vec<Answer>>,
    upstreams: Vec<SocketAddr>,
    seen: Mutex<Vec<(IpAddr, SocketAddr, String)>>,
}

impl Table {
    fn new(upstreams: Vec<SocketAddr>) -> Table {
        let web = Ipv4Addr::new(10, 88, 0, 2);
        let mut records = HashMap::new();
        records.insert(("web.test".to_owned(), rtype::A), vec![Answer::A(web)]);
        records.insert(("web.test".to_owned(), rtype::AAAA), vec![]);
        records.insert(
            (reverse_name(IpAddr::V4(web)), rtype::PTR),
            vec![Answer::Ptr("web.test".into())],
        );
        records.insert(
            ("_http._tcp.web.test".to_owned(), rtype::SRV),
            vec![Answer::Srv {
                priority: 0,
                weight: 5,
                port: 80,
                target: "web.test".into(),
            }],
        );
        records.insert(
            ("alias.test".to_owned(), rtype::A),
            vec![Answer::Cname("web.test".into()), Answer::A(web)],
        );
        Table {
            records,
            upstreams,
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Resolver for Table {
    fn lookup(&self, client: IpAddr, local: SocketAddr, name: &str, qtype: u16) -> Lookup {
        self.seen
            .lock()
            .expect("seen lock")
            .push((client, local, name.to_owned()));
        if let Some(answers) = self.records.get(&(name.to_owned(), qtype)) {
            return Lookup::Found(answers.clone());
        }
        if self.records.keys().any(|(n, _)| n == name) {
            return Lookup::Found(Vec::new());
        }
        if name == "test" || name.ends_with(".test") || name.ends_with("88.10.in-addr.arpa") {
            return Lookup::NxDomain;
        }
        Lookup::Forward
    }

    fn upstreams(&self, _client: IpAddr) -> Vec<SocketAddr> {
        self.upstreams.clone()
    }
}

async fn start(upstreams: Vec<SocketAddr>) -> (ServerHandle, Arc<Table>) {
    let table = Arc::new(Table::new(upstreams));
    let server = serve("127.0.0.1:0".parse().expect("addr"), table.clone())
        .await
        .expect("server starts on loopback");
    (server, table)
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("client socket")
}

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(GUARD, socket.recv(&mut buf))
        .await
        .expect("an answer within the guard time")
        .expect("recv");
    buf.truncate(n);
    buf
}

async fn ask_udp(server: SocketAddr, name: &str, qtype: u16) -> Response {
    let socket = client().await;
    let id = next_id();
    let query = build_query(id, name, qtype, true).expect("valid name");
    socket.send_to(&query, server).await.expect("send");
    let reply = recv(&socket).await;
    let response = Response::parse(&reply).expect("the answer parses");
    assert_eq!(response.header.id, id);
    response
}

async fn ask_tcp(stream: &mut TcpStream, query: &[u8]) -> Response {
    let mut frame = (query.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(query);
    stream.write_all(&frame).await.expect("write");
    read_tcp(stream).await
}

async fn read_tcp(stream: &mut TcpStream) -> Response {
    let read = async {
        let len = stream.read_u16().await.expect("length");
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.expect("message");
        buf
    };
    let buf = tokio::time::timeout(GUARD, read)
        .await
        .expect("a TCP answer in time");
    Response::parse(&buf).expect("the answer parses")
}

fn answers(r: &Response) -> Vec<Answer> {
    r.answers.iter().filter_map(|a| a.answer.clone()).collect()
}

/// A fake upstream on 127.0.0.1 (UDP and TCP on one port) that answers every A query with
/// `addr` and TTL 1234, non-authoritatively. With `truncate_udp` it answers UDP with TC=1
/// and no records, and TCP with the record twice.
struct Upstream {
    addr: SocketAddr,
    queries: Arc<AtomicU32>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn upstream(addr: Ipv4Addr, truncate_udp: bool) -> Upstream {
    let udp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("upstream udp"));
    let at = udp.local_addr().expect("addr");
    let tcp = TcpListener::bind(at)
        .await
        .expect("upstream tcp on the same port");
    let queries = Arc::new(AtomicU32::new(0));
    let count = queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                return;
            };
            count.fetch_add(1, Ordering::Relaxed);
            let query = Query::parse(&buf[..n]).expect("the server relays a valid query");
            let mut out = Vec::new();
            let records = if truncate_udp {
                vec![]
            } else {
                vec![Answer::A(addr)]
            };
            write_response(&mut out, &query, Rcode::NoError, false, &records, 1234, 512)
                .expect("encodes");
            if truncate_udp {
                out[2] |= 0x02;
            }
            let _ = udp.send_to(&out, from).await;
        }
    });
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let len = stream.read_u16().await.expect("length");
            let mut msg = vec![0u8; usize::from(len)];
            stream.read_exact(&mut msg).await.expect("query");
            let query = Query::parse(&msg).expect("valid query");
            let mut out = Vec::new();
            let records = [Answer::A(addr), Answer::A(addr)];
            write_response(
                &mut out,
                &query,
                Rcode::NoError,
                false,
                &records,
                1234,
                65535,
            )
            .expect("encodes");
            let mut frame = (out.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(&out);
            stream.write_all(&frame).await.expect("write");
        }
    });
    Upstream {
        addr: at,
        queries,
        tasks: vec![udp_task, tcp_task],
    }
}

/// A UDP socket on loopback that never answers.
async fn silent_upstream() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("silent upstream")
}

#[tokio::test]
async fn answers_a_for_a_local_name_case_insensitively() {
    let (server, table) = start(vec![]).await;
    let r = ask_udp(server.local_addr(), "WEB.Test.", rtype::A).await;
    assert_eq!(r.rcode, Rcode::NoError as u16);
    assert!(r.header.is_response() && r.header.authoritative());
    assert!(r.header.recursion_desired() && r.header.recursion_available());
    assert_eq!(answers(&r), vec![Answer::A(Ipv4Addr::new(10, 88, 0, 2))]);
    assert_eq!(r.answers[0].ttl, DEFAULT_TTL);
    // The question comes back with the client's case.
    let question = r.question.expect("question echoed");
    assert_eq!(question.name.to_string(), "WEB.Test.");
    let seen = table.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(seen[0].1, server.local_addr());
    assert_eq!(seen[0].2, "web.test");
}

#[tokio::test]
async fn nxdomain_nodata_ptr_srv_cname() {
    let (server, _) = start(vec![]).await;
    let at = server.local_addr();

    let r = ask_udp(at, "nope.test", rtype::A).await;
    assert_eq!(r.rcode, Rcode::NxDomain as u16);
    assert!(r.header.authoritative());
    assert!(r.answers.is_empty());

    let r = ask_udp(at, "web.test", rtype::AAAA).await;
    assert_eq!(r.rcode, Rcode::NoError as u16);
    assert!(r.header.authoritative());
    assert!(r.answers.is_empty());

    let r = ask_udp(at, "2.0.88.10.in-addr.arpa", rtype::PTR).await;
    assert_eq!(answers(&r), vec![Answer::Ptr("web.test".into())]);
    let r = ask_udp(at, "9.0.88.10.in-addr.arpa", rtype::PTR).await;
    assert_eq!(r.rcode, Rcode::NxDomain as u16);

    let r = ask_udp(at, "_http._tcp.web.test", rtype::SRV).await;
    assert_eq!(
        answers(&r),
        vec![Answer::Srv {
            priority: 0,
            weight: 5,
            port: 80,
            target: "web.test".into()
        }]
    );
    let r = ask_udp(at, "alias.test", rtype::A).await;
    assert_eq!(
        answers(&r),
        vec![
            Answer::Cname("web.test".into()),
            Answer::A(Ipv4Addr::new(10, 88, 0, 2))
        ]
    );
}

#[tokio::test]
async fn malformed_queries_get_formerr_or_notimp_or_nothing() {
    let (server, _) = start(vec![]).await;
    let socket = client().await;
    let at = server.local_addr();

    // Garbage after a valid header: FORMERR with the same id.
    let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
    socket.send_to(&msg, at).await.expect("send");
    let r = Response::parse(&recv(&socket).await).expect("parses");
    assert_eq!(
        (r.header.id, r.rcode, r.question),
        (0x1234, Rcode::FormErr as u16, None)
    );

    // NOTIFY (opcode 4): NOTIMP.
    let mut msg = build_query(0x4321, "web.test", rtype::A, false).expect("valid");
    msg[2] = 4 << 3;
    socket.send_to(&msg, at).await.expect("send");
    let r = Response::parse(&recv(&socket).await).expect("parses");
    assert_eq!((r.header.id, r.rcode), (0x4321, Rcode::NotImp as u16));
    assert_eq!(r.header.opcode(), 4);

    // Too short to answer, and a response: ignored; the server keeps serving.
    socket.send_to(&[1, 2, 3], at).await.expect("send");
    let mut response = build_query(1, "web.test", rtype::A, false).expect("valid");
    response[2] |= 0x80;
    socket.send_to(&response, at).await.expect("send");
    let query = build_query(0x5555, "web.test", rtype::A, true).expect("valid");
    socket.send_to(&query, at).await.expect("send");
    let r = Response::parse(&recv(&socket).await).expect("parses");
    assert_eq!(r.header.id, 0x5555);
    assert_eq!(answers(&r).len(), 1);
}

#[tokio::test]
async fn tcp_serves_several_queries_per_connection() {
    let (server, _) = start(vec![]).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");

    let r = ask_tcp(
        &mut stream,
        &build_query(1, "web.test", rtype::A, true).expect("q"),
    )
    .await;
    assert_eq!(answers(&r), vec![Answer::A(Ipv4Addr::new(10, 88, 0, 2))]);

    // Three queries in one write: three answers.
    let mut frames = Vec::new();
    for (id, name) in [(10u16, "web.test"), (11, "nope.test"), (12, "alias.test")] {
        let q = build_query(id, name, rtype::A, true).expect("q");
        frames.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frames.extend_from_slice(&q);
    }
    stream.write_all(&frames).await.expect("write");
    let mut rcodes = HashMap::new();
    for _ in 0..3 {
        let r = read_tcp(&mut stream).await;
        rcodes.insert(r.header.id, r.rcode);
    }
    assert_eq!(rcodes, HashMap::from([(10, 0), (11, 3), (12, 0)]));

    // A query dribbled in byte by byte.
    let q = build_query(20, "web.test", rtype::A, true).expect("q");
    let mut frame = (q.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&q);
    for b in frame {
        stream.write_all(&[b]).await.expect("write");
        stream.flush().await.expect("flush");
    }
    let r = read_tcp(&mut stream).await;
    assert_eq!(r.header.id, 20);
    assert_eq!(answers(&r).len(), 1);

    // Large answers are not truncated over TCP, and the client's EOF ends the connection.
    stream.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.expect("server closes");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn forwards_unknown_names_and_relays_the_answer_unchanged() {
    let up = upstream(Ipv4Addr::new(192, 0, 2, 7), false).await;
    let (server, _) = start(vec![up.addr]).await;
    let r = ask_udp(server.local_addr(), "example.org", rtype::A).await;
    assert_eq!(r.rcode, 0);
    assert!(!r.header.authoritative());
    assert_eq!(answers(&r), vec![Answer::A(Ipv4Addr::new(192, 0, 2, 7))]);
    assert_eq!(r.answers[0].ttl, 1234);
    assert_eq!(up.queries.load(Ordering::Relaxed), 1);

    // Over TCP as well (the upstream is asked over UDP).
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let q = build_query(77, "example.org", rtype::A, true).expect("q");
    let r = ask_tcp(&mut stream, &q).await;
    assert_eq!(r.header.id, 77);
    assert_eq!(answers(&r), vec![Answer::A(Ipv4Addr::new(192, 0, 2, 7))]);
}

#[tokio::test]
async fn truncated_upstream_answers_are_retried_over_tcp_for_tcp_clients() {
    let up = upstream(Ipv4Addr::new(192, 0, 2, 8), true).await;
    let (server, _) = start(vec![up.addr]).await;

    // A UDP client gets the truncated answer as is, and would retry over TCP.
    let r = ask_udp(server.local_addr(), "big.example", rtype::A).await;
    assert!(r.header.truncated());
    assert!(r.answers.is_empty());

    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let q = build_query(5, "big.example", rtype::A, true).expect("q");
    let r = ask_tcp(&mut stream, &q).await;
    assert!(!r.header.truncated());
    assert_eq!(answers(&r).len(), 2);
}

#[tokio::test]
async fn servfail_without_upstreams_or_when_they_do_not_answer() {
    let (server, _) = start(vec![]).await;
    let r = ask_udp(server.local_addr(), "example.org", rtype::A).await;
    assert_eq!(r.rcode, Rcode::ServFail as u16);
    drop(server);

    let silent = silent_upstream().await;
    let (server, _) = start(vec![silent.local_addr().expect("addr")]).await;
    let started = Instant::now();
    let r = ask_udp(server.local_addr(), "example.org", rtype::A).await;
    assert_eq!(r.rcode, Rcode::ServFail as u16);
    assert_eq!(r.question.map(|q| q.qtype), Some(rtype::A));
    assert!(
        started.elapsed() >= UPSTREAM_TIMEOUT,
        "SERVFAIL only after the timeout"
    );
}

#[tokio::test]
async fn the_next_upstream_is_tried_after_a_silent_or_refusing_one() {
    let silent = silent_upstream().await;
    // A port nobody listens on: the ICMP error fails fast.
    let closed = {
        let s = silent_upstream().await;
        s.local_addr().expect("addr")
    };
    let good = upstream(Ipv4Addr::new(192, 0, 2, 9), false).await;
    let (server, _) = start(vec![closed, silent.local_addr().expect("addr"), good.addr]).await;
    let r = ask_udp(server.local_addr(), "example.org", rtype::A).await;
    assert_eq!(answers(&r), vec![Answer::A(Ipv4Addr::new(192, 0, 2, 9))]);
}

#[tokio::test]
async fn a_slow_upstream_does_not_block_local_answers() {
    let silent = silent_upstream().await;
    let (server, _) = start(vec![silent.local_addr().expect("addr")]).await;
    let socket = client().await;
    let at = server.local_addr();
    let slow = build_query(1, "example.org", rtype::A, true).expect("q");
    let fast = build_query(2, "web.test", rtype::A, true).expect("q");
    socket.send_to(&slow, at).await.expect("send");
    socket.send_to(&fast, at).await.expect("send");
    let first = Response::parse(&recv(&socket).await).expect("parses");
    assert_eq!(first.header.id, 2, "the local answer comes first");
    let second = Response::parse(&recv(&socket).await).expect("parses");
    assert_eq!(
        (second.header.id, second.rcode),
        (1, Rcode::ServFail as u16)
    );

    // The same on one TCP connection: answers come back out of order.
    let mut stream = TcpStream::connect(at).await.expect("connect");
    let mut frames = Vec::new();
    for q in [&slow, &fast] {
        frames.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frames.extend_from_slice(q);
    }
    stream.write_all(&frames).await.expect("write");
    assert_eq!(read_tcp(&mut stream).await.header.id, 2);
    assert_eq!(read_tcp(&mut stream).await.header.id, 1);
}

#[tokio::test]
async fn the_server_never_forwards_to_itself() {
    let table = Arc::new(Table::new(vec![]));
    let server = serve("127.0.0.1:0".parse().expect("addr"), table)
        .await
        .expect("serve");
    // A resolver that names the server as its own upstream.
    struct Loop(SocketAddr);
    impl Resolver for Loop {
        fn lookup(&self, _: IpAddr, _: SocketAddr, _: &str, _: u16) -> Lookup {
            Lookup::Forward
        }
        fn upstreams(&self, _: IpAddr) -> Vec<SocketAddr> {
            vec![self.0]
        }
    }
    let at = server.local_addr();
    server.shutdown().await;
    let looped = serve(at, Arc::new(Loop(at)))
        .await
        .expect("rebinds after shutdown");
    let r = ask_udp(looped.local_addr(), "example.org", rtype::A).await;
    assert_eq!(r.rcode, Rcode::ServFail as u16);
}

#[tokio::test]
async fn a_taken_address_is_reported_and_freed_on_shutdown() {
    let (server, _) = start(vec![]).await;
    let at = server.local_addr();
    let err = serve(at, Arc::new(Table::new(vec![])))
        .await
        .expect_err("the address is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&at.to_string()), "{err}");
    server.shutdown().await;
    let again = serve(at, Arc::new(Table::new(vec![])))
        .await
        .expect("free again");
    assert_eq!(again.local_addr(), at);
}

#[tokio::test]
async fn dropping_the_handle_closes_the_sockets() {
    let (server, _) = start(vec![]).await;
    let at = server.local_addr();
    drop(server);
    // Abort is processed at the tasks' next poll; give the runtime a moment.
    let deadline = Instant::now() + GUARD;
    loop {
        match serve(at, Arc::new(Table::new(vec![]))).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("the address stayed bound after drop: {e}"),
        }
    }
}

#[tokio::test]
async fn serves_ipv6_loopback() {
    let table = Arc::new(Table::new(vec![]));
    let server = match serve((Ipv6Addr::LOCALHOST, 0).into(), table).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => return, // no IPv6 here
        Err(e) => panic!("{e}"),
    };
    let socket = UdpSocket::bind("[::1]:0").await.expect("client");
    let q = build_query(3, "web.test", rtype::A, true).expect("q");
    socket.send_to(&q, server.local_addr()).await.expect("send");
    let r = Response::parse(&recv(&socket).await).expect("parses");
    assert_eq!(answers(&r).len(), 1);
}

/// A unique loopback address for a port-53 server: 127.53.<pid bits>.<counter>.
fn unique_loopback() -> Ipv4Addr {
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    let pid = std::process::id();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ipv4Addr::new(
        127,
        53,
        (pid & 0xFF) as u8,
        ((pid >> 8) as u8).wrapping_add(n as u8),
    )
}

#[tokio::test]
async fn busybox_nslookup_accepts_the_answers() {
    if !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipped: no /bin/busybox");
        return;
    }
    let table = Arc::new(Table::new(vec![]));
    let mut server = None;
    for _ in 0..16 {
        match serve((unique_loopback(), 53).into(), table.clone()).await {
            Ok(s) => {
                server = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => panic!("binding port 53 on loopback (needs root): {e}"),
        }
    }
    let server = server.expect("a free 127.53.x.y:53");
    let ip = server.local_addr().ip().to_string();
    let run = |args: Vec<String>| async move {
        let out = tokio::time::timeout(
            GUARD,
            tokio::process::Command::new("/bin/busybox")
                .arg("nslookup")
                .args(args)
                .output(),
        )
        .await
        .expect("nslookup finishes")
        .expect("nslookup runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, stdout) = run(vec!["web.test".into(), ip.clone()]).await;
    assert!(ok, "nslookup failed:\n{stdout}");
    assert!(stdout.contains("10.88.0.2"), "{stdout}");

    let (ok, stdout) = run(vec!["10.88.0.2".into(), ip.clone()]).await;
    assert!(ok, "reverse nslookup failed:\n{stdout}");
    assert!(stdout.contains("web.test"), "{stdout}");

    let (ok, stdout) = run(vec!["nope.test".into(), ip.clone()]).await;
    assert!(!ok, "NXDOMAIN must fail:\n{stdout}");
    assert!(stdout.contains("NXDOMAIN"), "{stdout}");
    server.shutdown().await;
}

/// Prints the round-trip time of local answers over UDP (no assertion on it).
/// `cargo test -p net --release -- --ignored --nocapture dns_latency`
#[test]
#[ignore = "a measurement, not a test"]
fn dns_latency() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(start(vec![])).0;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
    socket.connect(server.local_addr()).expect("connect");
    socket.set_read_timeout(Some(GUARD)).expect("timeout");
    let query = build_query(1, "web.test", rtype::A, true).expect("q");
    let mut buf = [0u8; 512];
    let mut round = |n: u32| {
        let start = Instant::now();
        for _ in 0..n {
            socket.send(&query).expect("send");
            socket.recv(&mut buf).expect("answer");
        }
        start.elapsed() / n
    };
    round(1000);
    let per_query = round(10_000);
    // The codec alone: parse the query and write the answer.
    let q = Query::parse(&query).expect("parses");
    let answers = [Answer::A(Ipv4Addr::new(10, 88, 0, 2))];
    let mut out = Vec::with_capacity(512);
    let start = Instant::now();
    for _ in 0..100_000 {
        let q = Query::parse(std::hint::black_box(&query)).unwrap_or(q);
        write_response(&mut out, &q, Rcode::NoError, true, &answers, 60, 512).expect("ok");
    }
    let codec = start.elapsed() / 100_000;
    println!("local A over UDP loopback: {per_query:?} per query (10k sequential round trips)");
    println!("codec (parse + write answer): {codec:?} per query");
    drop(server);
}
