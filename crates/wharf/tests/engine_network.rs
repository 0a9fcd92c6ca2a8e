//! Container networking through the real docker CLI: user-defined networks with DNS,
//! published ports, egress NAT, restarts of the daemon, and Docker's errors. Needs root.
//!
//! Test traffic stays on loopback and inside namespaces these tests (or the daemon under
//! test) create: each daemon has its own bridge and nftables table names, its networks come
//! from 10.123.0.0/16, names it cannot answer go to 127.0.0.1, and "the outside world" is a
//! network namespace made by the test.

mod engine_support;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use engine_support::{Daemon, link_exists, nft_table_exists, stderr, stdout};

static OUTSIDE: AtomicU32 = AtomicU32::new(0);

/// An HTTP GET of /hostname from inside a container (busybox nc; busybox wget cannot look
/// names up in this rootfs). Prints the response's last line, the server's hostname.
fn fetch_script(host: &str) -> String {
    format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} 80 | tail -n 1")
}

fn short_id(d: &Daemon, name: &str) -> String {
    d.inspect(name)["Id"].as_str().expect("id")[..12].to_string()
}

/// Runs `ip ARGS`, panicking with its error output on failure.
#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace standing for the outside world, joined to the host by a veth pair of
/// the test's own (10.124.N.1 on the host side, 10.124.N.2 inside). Removed on drop.
struct Outside {
    ns: String,
    host_dev: String,
    host_ip: Ipv4Addr,
    ip: Ipv4Addr,
    server: Option<std::process::Child>,
}

impl Outside {
    fn new() -> Outside {
        let n = OUTSIDE.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let third = ((pid as u64 * 7 + u64::from(n)) % 250) as u8 + 1;
        let o = Outside {
            ns: format!("wto{pid}x{n}"),
            host_dev: format!("wto{pid}h{n}"),
            host_ip: Ipv4Addr::new(10, 124, third, 1),
            ip: Ipv4Addr::new(10, 124, third, 2),
            server: None,
        };
        ip(&["netns", "add", &o.ns]);
        ip(&[
            "link",
            "add",
            &o.host_dev,
            "type",
            "veth",
            "peer",
            "name",
            "o0",
            "netns",
            &o.ns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", o.host_ip),
            "dev",
            &o.host_dev,
        ]);
        ip(&["link", "set", &o.host_dev, "up"]);
        ip(&[
            "-n",
            &o.ns,
            "addr",
            "add",
            &format!("{}/24", o.ip),
            "dev",
            "o0",
        ]);
        ip(&["-n", &o.ns, "link", "set", "o0", "up"]);
        ip(&["-n", &o.ns, "link", "set", "lo", "up"]);
        o
    }

    /// A TCP server inside the namespace that answers each connection with the address it
    /// came from.
    fn serve_peer_address(&mut self, port: u16) {
        let script = format!(
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{}',{port}))\ns.listen(8)\nwhile True:\n  c,a=s.accept()\n  c.sendall((a[0]+'\\n').encode())\n  c.close()\n",
            self.ip
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", &script])
            .spawn()
            .expect("start the outside server");
        self.server = Some(child);
        // Wait until it listens.
        for _ in 0..100 {
            let listening = Command::new("ip")
                .args(["netns", "exec", &self.ns, "ss", "-ltn"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(":{port}")))
                .unwrap_or(false);
            if listening {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the outside server never listened");
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_dev])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(port: u16, path: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn user_network_names_aliases_and_isolation() {
    let d = daemon_or_skip!("net-dns");
    d.docker_ok(&["network", "create", "front"]);
    d.docker_ok(&["network", "create", "back"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let web_id = short_id(&d, "web");

    // By container name, by --network-alias and as name.network.
    for host in ["web", "www", "web.front"] {
        let got = d.docker_ok(&[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "sh",
            "-c",
            &fetch_script(host),
        ]);
        assert_eq!(got.trim(), web_id, "fetching http://{host}/ from front");
    }
    // Inspect shows the endpoint with its names.
    let v = d.inspect("web");
    let ep = &v["NetworkSettings"]["Networks"]["front"];
    let web_ip = ep["IPAddress"].as_str().expect("an address").to_string();
    assert!(
        web_ip.starts_with("10.123."),
        "address {web_ip} from the pool"
    );
    assert_eq!(ep["Aliases"], serde_json::json!(["www"]));
    let names = ep["DNSNames"].as_array().expect("DNSNames");
    assert!(names.iter().any(|n| n == "web") && names.iter().any(|n| n == "www"));
    let net: serde_json::Value =
        serde_json::from_str(&d.docker_ok(&["network", "inspect", "front"])).expect("JSON");
    let containers = net[0]["Containers"].as_object().expect("containers");
    assert_eq!(containers.len(), 1);
    let (cid, entry) = containers.iter().next().expect("one");
    assert!(cid.starts_with(&web_id));
    assert_eq!(entry["Name"], "web");
    assert!(
        entry["IPv4Address"]
            .as_str()
            .expect("addr")
            .starts_with(&web_ip)
    );

    // From another network: no name, no route through.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        "nslookup web; nslookup www",
    ]);
    assert!(
        !out.status.success(),
        "web must not resolve from back: {}",
        stdout(&out)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        &fetch_script(&web_ip),
    ]);
    assert!(
        !stdout(&out).contains(&web_id),
        "web must not be reachable from back: {}",
        stdout(&out)
    );

    // connect puts web on back as well (eth1), with an alias; disconnect takes it off.
    d.docker_ok(&["network", "connect", "--alias", "api", "back", "web"]);
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "sh",
        "-c",
        &fetch_script("api"),
    ]);
    assert_eq!(got.trim(), web_id, "through the alias given at connect");
    let addrs = d.docker_ok(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(addrs.contains("eth0") && addrs.contains("eth1"), "{addrs}");
    d.docker_ok(&["network", "disconnect", "back", "web"]);
    let addrs = d.docker_ok(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("eth1"), "{addrs}");

    // A container on both networks at once (NetworkingConfig with two endpoints via create
    // + connect before start).
    d.docker_ok(&[
        "create",
        "--name",
        "both",
        "--network",
        "front",
        "busybox",
        "sleep",
        "600",
    ]);
    d.docker_ok(&["network", "connect", "back", "both"]);
    d.docker_ok(&["start", "both"]);
    let v = d.inspect("both");
    let nets = v["NetworkSettings"]["Networks"]
        .as_object()
        .expect("networks");
    assert!(
        nets.contains_key("front") && nets.contains_key("back"),
        "{nets:?}"
    );
    let got = d.docker_ok(&["exec", "both", "sh", "-c", &fetch_script("web")]);
    assert_eq!(got.trim(), web_id);
}

#[test]
fn published_ports_from_the_host_and_hairpin() {
    let d = daemon_or_skip!("net-ports");
    // The acceptance port, unless something on this machine holds it.
    let port = if TcpListener::bind("127.0.0.1:18080").is_ok() {
        18080
    } else {
        free_port()
    };
    let spec = format!("127.0.0.1:{port}:80");
    d.docker_ok(&[
        "run", "-d", "--name", "web", "-p", &spec, "busybox", "httpd", "-f", "-p", "80", "-h",
        "/etc",
    ]);
    let web_id = short_id(&d, "web");
    assert_eq!(
        http_get(port, "/hostname").expect("curl through the published port"),
        web_id
    );
    assert_eq!(
        d.docker_ok(&["port", "web"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );
    let ps = d.docker_ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web"]);
    assert_eq!(ps.trim(), format!("127.0.0.1:{port}->80/tcp"));

    // -P publishes the image's EXPOSE on a free port.
    d.docker_ok(&[
        "import",
        "-c",
        "EXPOSE 80",
        "-c",
        "CMD [\"/bin/sh\"]",
        d.busybox_tar().to_str().expect("utf-8"),
        "exposed",
    ]);
    d.docker_ok(&[
        "run", "-d", "--name", "auto", "-P", "exposed", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let auto_id = short_id(&d, "auto");
    let mapping = d.docker_ok(&["port", "auto", "80"]);
    let host_port: u16 = mapping
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("docker port printed {mapping:?}"));
    assert!(mapping.starts_with("0.0.0.0:"), "{mapping}");
    assert_eq!(
        http_get(host_port, "/hostname").expect("curl -P port"),
        auto_id
    );

    // Hairpin: a container reaches a published port through a host address (the gateway).
    let gw = d.inspect("web")["NetworkSettings"]["Gateway"]
        .as_str()
        .expect("gateway")
        .to_string();
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!(
            "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {gw} {host_port} | tail -n 1"
        ),
    ]);
    assert_eq!(got.trim(), auto_id, "hairpin through {gw}:{host_port}");

    // A port another container holds: Docker's error, and nothing half-created.
    let out = d.docker(&[
        "run", "-d", "--name", "dup", "-p", &spec, "busybox", "sleep", "60",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{}",
        stderr(&out)
    );
    // A port a host process holds.
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let held = holder.local_addr().expect("addr").port();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "dup2",
        "-p",
        &format!("127.0.0.1:{held}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("address already in use"),
        "{}",
        stderr(&out)
    );
    let v = d.inspect("dup2");
    assert_eq!(v["State"]["Running"], false);
    // The first binding still serves.
    assert_eq!(
        http_get(port, "/hostname").expect("still published"),
        web_id
    );

    // Stopping releases the port: it can be bound again on the host.
    d.docker_ok(&["stop", "-t", "1", "web"]);
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).expect("port released on stop");
    assert!(http_get(port, "/hostname").is_err());
}

#[test]
fn egress_is_masqueraded_and_internal_networks_stay_inside() {
    let d = daemon_or_skip!("net-egress");
    let mut outside = Outside::new();
    outside.serve_peer_address(9000);
    let target = format!("{} 9000", outside.ip);
    // From the default bridge: the server sees the host's address on that link, not the
    // container's.
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("nc -w 5 {target}"),
    ]);
    assert_eq!(
        seen.trim(),
        outside.host_ip.to_string(),
        "masqueraded source"
    );
    // From a user-defined network as well.
    d.docker_ok(&["network", "create", "--subnet", "10.123.200.0/24", "user"]);
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "user",
        "busybox",
        "sh",
        "-c",
        &format!("nc -w 5 {target}"),
    ]);
    assert_eq!(seen.trim(), outside.host_ip.to_string());
    // An internal network has no way out.
    d.docker_ok(&["network", "create", "--internal", "sealed"]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "sh",
        "-c",
        &format!("nc -w 3 {target}"),
    ]);
    assert!(
        !stdout(&out).contains(&outside.host_ip.to_string()),
        "internal network reached out: {}",
        stdout(&out)
    );
    let routes = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "ip",
        "route",
    ]);
    assert!(
        !routes.contains("default"),
        "no default route on internal: {routes}"
    );
}

#[test]
fn daemon_killed_keeps_ports_then_reconciles_and_cleans_up() {
    let mut d = daemon_or_skip!("net-restart");
    let port = free_port();
    d.docker_ok(&["network", "create", "app"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "app",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "app",
        "busybox",
        "sleep",
        "600",
    ]);
    d.docker_ok(&["run", "-d", "--name", "gone", "busybox", "sleep", "600"]);
    let web_id = short_id(&d, "web");
    let web_ip = d.inspect("web")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
        .as_str()
        .expect("ip")
        .to_string();
    let mut veths = Vec::new();
    for c in ["web", "side", "gone"] {
        veths.extend(d.host_veths(c));
    }
    assert_eq!(veths.len(), 3);
    assert!(veths.iter().all(|v| link_exists(v)));
    let rules_before = nft_rules(&d.nft_table);
    let gone_pid = d.inspect("gone")["State"]["Pid"].as_i64().expect("pid") as i32;

    d.kill9();
    // Ports keep working while the daemon is down (the kernel does the forwarding).
    assert_eq!(
        http_get(port, "/hostname").expect("published port with the daemon down"),
        web_id
    );
    // A container that ends while the daemon is down.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gone_pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    std::thread::sleep(Duration::from_millis(300));
    d.restart();

    assert_eq!(
        http_get(port, "/hostname").expect("published port after restart"),
        web_id
    );
    assert_eq!(
        nft_rules(&d.nft_table),
        rules_before,
        "the restarted daemon reconciled the same rules, not duplicates"
    );
    d.wait_inspect("gone", "exited", |v| v["State"]["Running"] == false);
    let gone_veth = &veths[2];
    assert!(
        gone_eventually(gone_veth),
        "the veth of the container that ended is released"
    );
    // Names still resolve (the DNS server is back), and the running addresses stay taken.
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "sh",
        "-c",
        &fetch_script("web"),
    ]);
    assert_eq!(got.trim(), web_id);
    let new_ip = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0 | awk '{print $4}'",
    ]);
    assert!(
        !new_ip.trim().starts_with(&format!("{web_ip}/")),
        "address {web_ip} handed out twice"
    );
    // The port is still reserved: another container cannot take it.
    let out = d.docker(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );

    // Everything removed and the daemon stopped: nothing of Wharf's is left.
    let ids = d.docker_ok(&["ps", "-aq"]);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.split_whitespace());
    d.docker_ok(&args);
    d.docker_ok(&["network", "rm", "app"]);
    let bridges = d.bridges();
    d.stop();
    for v in veths.iter().chain(&bridges) {
        assert!(gone_eventually(v), "{v} left behind");
    }
    assert!(
        !nft_table_exists(&d.nft_table),
        "nftables table {} left behind",
        d.nft_table
    );
    let netns = std::fs::read_dir(d.exec_root.join("netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(netns, 0, "network namespaces left behind");
}

/// Whether a link disappears within 5 s (the kernel removes a namespace's veths
/// asynchronously once the namespace is released).
fn gone_eventually(link: &str) -> bool {
    for _ in 0..100 {
        if !link_exists(link) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The rules of a table, one per line, without handles or counters.
fn nft_rules(table: &str) -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .expect("nft");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// A DNS server on a loopback address of its own (port 53) answering `*.outside.test` with
/// 10.9.9.9 and refusing the rest; it stands for the host's resolver.
struct FakeUpstream {
    addr: Ipv4Addr,
    _rt: tokio::runtime::Runtime,
    _handle: net::dns::ServerHandle,
}

struct OutsideNames;

impl net::dns::Resolver for OutsideNames {
    fn lookup(
        &self,
        _client: std::net::IpAddr,
        _local: SocketAddr,
        name: &str,
        _qtype: u16,
    ) -> net::dns::Lookup {
        if name.ends_with("outside.test") {
            net::dns::Lookup::Found(vec![net::dns::Answer::A(Ipv4Addr::new(10, 9, 9, 9))])
        } else {
            net::dns::Lookup::NxDomain
        }
    }

    fn upstreams(&self, _client: std::net::IpAddr) -> Vec<SocketAddr> {
        Vec::new()
    }
}

impl FakeUpstream {
    fn start() -> FakeUpstream {
        let pid = std::process::id();
        let addr = Ipv4Addr::new(127, 54, ((pid >> 8) & 0xff) as u8, (pid & 0xff) as u8);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(net::dns::serve(
                SocketAddr::from((addr, 53)),
                Arc::new(OutsideNames),
            ))
            .expect("fake upstream DNS");
        FakeUpstream {
            addr,
            _rt: rt,
            _handle: handle,
        }
    }
}

#[test]
fn dns_forwarding_files_and_network_modes() {
    let d = daemon_or_skip!("net-files");
    let upstream = FakeUpstream::start();
    // The daemon forwards names its networks do not know to the resolvers of its resolv.conf.
    std::fs::write(
        &d.resolv_conf,
        format!("nameserver {}\nsearch corp.test\n", upstream.addr),
    )
    .expect("write resolv.conf");
    d.docker_ok(&["network", "create", "n"]);
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "n",
        "busybox",
        "nslookup",
        "www.outside.test",
    ]);
    assert!(
        got.contains("10.9.9.9"),
        "forwarded to the host resolver: {got}"
    );
    // resolv.conf, hosts and hostname as Docker writes them.
    let conf = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "n",
        "--dns-search",
        "a.test",
        "--dns-option",
        "timeout:2",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    let gw = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "n",
    ]);
    assert!(
        conf.contains(&format!("nameserver {}", gw.trim())),
        "{conf}"
    );
    assert!(
        conf.contains("search a.test") && conf.contains("ndots:0") && conf.contains("timeout:2"),
        "{conf}"
    );
    let hosts = d.docker_ok(&[
        "run",
        "--rm",
        "--name",
        "h1",
        "--hostname",
        "box",
        "--add-host",
        "db:10.1.2.3",
        "--add-host",
        "gw:host-gateway",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts; hostname",
    ]);
    assert!(hosts.contains("10.1.2.3\tdb"), "{hosts}");
    let bridge_gw = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    assert!(
        hosts.contains(&format!("{}\tgw", bridge_gw.trim())),
        "{hosts}"
    );
    assert!(
        hosts.contains("\tbox\n") && hosts.trim_end().ends_with("box"),
        "{hosts}"
    );
    // On the default bridge, --dns goes straight into resolv.conf.
    let conf = d.docker_ok(&[
        "run",
        "--rm",
        "--dns",
        "10.8.8.8",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        conf.contains("nameserver 10.8.8.8") && conf.contains("search corp.test"),
        "{conf}"
    );

    // none: only loopback, and it is up.
    let links = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo") && links.contains("UP"), "{links}");
    // container:NAME shares the other's namespace.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "owner",
        "--network",
        "n",
        "busybox",
        "sleep",
        "600",
    ]);
    let owner_ip = d.inspect("owner")["NetworkSettings"]["Networks"]["n"]["IPAddress"]
        .as_str()
        .expect("ip")
        .to_string();
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(seen.contains(&owner_ip), "{seen}");
    // host: the host's own interfaces.
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(seen.contains(&d.bridge), "{seen}");
}

#[test]
fn network_bad_input_gets_dockers_errors() {
    let d = daemon_or_skip!("net-errors");
    d.docker_ok(&[
        "network",
        "create",
        "--subnet",
        "10.123.210.0/24",
        "--ip-range",
        "10.123.210.128/25",
        "a",
    ]);
    let fails = |args: &[&str], want: &str| {
        let out = d.docker(args);
        assert!(
            !out.status.success(),
            "docker {} should fail",
            args.join(" ")
        );
        assert!(
            stderr(&out).contains(want),
            "docker {}: expected {want:?} in {}",
            args.join(" "),
            stderr(&out)
        );
    };
    fails(
        &["network", "create", "--subnet", "10.123.210.0/25", "b"],
        "Pool overlaps with other one on this address space",
    );
    fails(
        &["network", "create", "a"],
        "network with name a already exists",
    );
    fails(
        &["network", "create", "--subnet", "10.123.211.7/24", "c"],
        "invalid subnet 10.123.211.7/24: it should be 10.123.211.0/24",
    );
    fails(
        &[
            "network",
            "create",
            "--subnet",
            "10.123.212.0/24",
            "--gateway",
            "10.9.0.1",
            "c",
        ],
        "no matching subnet for gateway 10.9.0.1",
    );
    fails(
        &["network", "create", "-d", "overlay", "c"],
        "plugin \"overlay\" not found",
    );
    fails(
        &["run", "--rm", "--network", "nope", "busybox", "true"],
        "network nope not found",
    );
    fails(
        &[
            "run",
            "--rm",
            "--network",
            "a",
            "--ip",
            "10.9.9.9",
            "busybox",
            "true",
        ],
        "no configured subnet or ip-range contain the IP address 10.9.9.9",
    );
    fails(
        &["run", "--rm", "--ip", "10.123.0.9", "busybox", "true"],
        "user specified IP address is supported on user defined networks only",
    );
    // A static address outside the ip-range but in the subnet is fine; taken twice is not.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "s1",
        "--network",
        "a",
        "--ip",
        "10.123.210.5",
        "busybox",
        "sleep",
        "600",
    ]);
    let v = d.inspect("s1");
    assert_eq!(
        v["NetworkSettings"]["Networks"]["a"]["IPAddress"],
        "10.123.210.5"
    );
    assert_eq!(
        v["NetworkSettings"]["Networks"]["a"]["IPAMConfig"]["IPv4Address"],
        "10.123.210.5"
    );
    fails(
        &[
            "run",
            "--rm",
            "--network",
            "a",
            "--ip",
            "10.123.210.5",
            "busybox",
            "true",
        ],
        "Address already in use",
    );
    // Dynamic addresses come from the ip-range.
    let dynamic = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "a",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0",
    ]);
    let last_octet: u8 = dynamic
        .split_whitespace()
        .find_map(|w| w.strip_prefix("10.123.210."))
        .and_then(|a| a.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no address in 10.123.210.0/24: {dynamic}"));
    assert!(
        last_octet >= 128,
        "dynamic address outside --ip-range: {dynamic}"
    );
    // In use, predefined, unknown.
    fails(&["network", "rm", "a"], "has active endpoints");
    fails(
        &["network", "rm", "bridge"],
        "bridge is a pre-defined network and cannot be removed",
    );
    fails(&["network", "inspect", "zzz"], "network zzz not found");
    fails(
        &["network", "connect", "a", "nobody"],
        "No such container: nobody",
    );
    fails(
        &["network", "connect", "a", "s1"],
        "already exists in network a",
    );
    fails(
        &["network", "disconnect", "bridge", "s1"],
        "is not connected to network bridge",
    );
    // The failed operations lost nothing: the network and its container are intact.
    let v = d.inspect("s1");
    assert_eq!(v["State"]["Running"], true);
    d.docker_ok(&["rm", "-f", "s1"]);
    d.docker_ok(&["network", "rm", "a"]);
    // prune removes unused user networks only.
    d.docker_ok(&["network", "create", "p1"]);
    d.docker_ok(&["network", "create", "p2"]);
    d.docker_ok(&[
        "create",
        "--name",
        "holder",
        "--network",
        "p2",
        "busybox",
        "true",
    ]);
    let pruned = d.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("p1") && !pruned.contains("p2"), "{pruned}");
    let ls = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    let mut names: Vec<&str> = ls.lines().collect();
    names.sort();
    assert_eq!(names, vec!["bridge", "host", "none", "p2"]);
}
