//! A container's network namespace and its endpoints: veth pairs on the networks' bridges,
//! addresses, routes, and published ports.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use net::netlink::Netlink;
use net::netns::NetNs;
use net::nft::Proto;

use super::{Live, Networks, net_error};
use crate::error::{Error, Result};
use crate::network::types::{ContainerNet, Endpoint, EndpointRequest, PublishedPort};

/// What a container needs from the network at start.
#[derive(Debug, Clone, Default)]
pub struct SandboxRequest {
    pub container_id: String,
    /// Without the slash.
    pub name: String,
    pub hostname: String,
    /// Networks to join, the primary one first; empty for `--network none`.
    pub requested: Vec<EndpointRequest>,
    /// `HostConfig.PortBindings`: "80/tcp" → [(HostIp, HostPort)].
    pub port_bindings: BTreeMap<String, Vec<(String, String)>>,
    /// `Config.ExposedPorts` keys, for `-P`.
    pub exposed: Vec<String>,
    pub publish_all: bool,
    /// `--dns` servers, for names the networks do not know.
    pub dns: Vec<Ipv4Addr>,
}

/// A MAC address from an IPv4 address, as dockerd made them (02:42 and the address).
fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || Error::invalid(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

fn veth_name() -> String {
    use rand::RngCore;
    let mut b = [0u8; 5];
    rand::rng().fill_bytes(&mut b);
    format!("wv{}", crate::engine::hex_encode(&b))
}

/// Parses "80/tcp" (protocol defaults to tcp).
pub fn parse_port_key(key: &str) -> Result<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => {
            return Err(Error::invalid(format!(
                "invalid proto '{other}' in port {key}: Wharf publishes tcp and udp"
            )));
        }
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::invalid(format!("invalid containerPort: {port}")))?;
    Ok((port, proto))
}

/// The host ports to try for a `HostPort` ("" or "0" = any free one).
fn host_port_candidates(spec: &str) -> Result<Vec<u16>> {
    let bad = || Error::invalid(format!("invalid hostPort: {spec}"));
    if spec.is_empty() {
        return Ok(vec![0]);
    }
    if let Some((a, b)) = spec.split_once('-') {
        let a: u16 = a.parse().map_err(|_| bad())?;
        let b: u16 = b.parse().map_err(|_| bad())?;
        if a == 0 || b < a {
            return Err(bad());
        }
        return Ok((a..=b).collect());
    }
    spec.parse::<u16>().map(|p| vec![p]).map_err(|_| bad())
}

/// Binds (without listening) the host port so nobody else takes it while it is published.
fn bind_port(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<(OwnedFd, u16)> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket,
    };
    let kind = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None)
        .map_err(std::io::Error::from)?;
    let addr = SockaddrIn::from(std::net::SocketAddrV4::new(ip, port));
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(std::io::Error::from)?;
    let bound: SockaddrIn =
        getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(std::io::Error::from)?;
    Ok((fd, bound.port()))
}

/// Re-binds a port a running container held before a daemon restart.
pub(super) fn reserve_exact(p: &PublishedPort) -> std::io::Result<OwnedFd> {
    bind_port(
        p.proto,
        p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        p.host_port,
    )
    .map(|(fd, _)| fd)
}

fn overlaps(a: Option<Ipv4Addr>, b: Option<Ipv4Addr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

impl Networks {
    /// Creates the container's namespace, joins its networks and publishes its ports.
    pub fn setup(&self, req: &SandboxRequest) -> Result<ContainerNet> {
        let path = self.sandbox_path(&req.container_id);
        // A namespace left by a crash of this same container.
        let _ = net::netns::remove(&path);
        let (ns, inside) = NetNs::create_with_netlink(&path).map_err(|e| {
            net_error(
                format_args!("create network namespace {}", path.display()),
                e,
            )
        })?;
        let mut out = ContainerNet {
            requested: req.requested.clone(),
            sandbox_key: path.to_string_lossy().into_owned(),
            endpoints: Vec::new(),
            ports: Vec::new(),
        };
        self.lock().live.insert(
            req.container_id.clone(),
            Live {
                name: req.name.clone(),
                hostname: req.hostname.clone(),
                endpoints: Vec::new(),
                ports: Vec::new(),
                reservations: Vec::new(),
                dns: req.dns.clone(),
            },
        );
        match self.join_all(&ns, inside, req, &mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.teardown(&req.container_id, &out);
                Err(e)
            }
        }
    }

    fn join_all(
        &self,
        ns: &NetNs,
        mut inside: Netlink,
        req: &SandboxRequest,
        out: &mut ContainerNet,
    ) -> Result<()> {
        if req.requested.is_empty() {
            return Ok(());
        }
        let mut host = Netlink::open().map_err(|e| net_error("netlink", e))?;
        for r in &req.requested {
            let ep = self.attach(&mut host, &mut inside, ns, req, r, &out.endpoints)?;
            out.endpoints.push(ep.clone());
            if let Some(l) = self.lock().live.get_mut(&req.container_id) {
                l.endpoints.push(ep);
            }
        }
        self.publish(req, out)?;
        Ok(())
    }

    /// Creates one endpoint: an address, a veth pair with `ethN` inside, the default route
    /// for the first network that routes.
    fn attach(
        &self,
        host: &mut Netlink,
        inside: &mut Netlink,
        ns: &NetNs,
        req: &SandboxRequest,
        r: &EndpointRequest,
        existing: &[Endpoint],
    ) -> Result<Endpoint> {
        let needs_bring_up = {
            let inner = self.lock();
            let net = inner
                .nets
                .get(&r.network_id)
                .ok_or_else(|| Error::not_found(format!("network {} not found", r.network_name)))?;
            net.pool.is_none()
        };
        if needs_bring_up {
            self.bring_up(&r.network_id)?;
        }
        let (cfg, ip, prefix, gateway) = {
            let mut inner = self.lock();
            let net = inner
                .nets
                .get_mut(&r.network_id)
                .ok_or_else(|| Error::not_found(format!("network {} not found", r.network_name)))?;
            let cfg = net.cfg.clone();
            let pool = net.pool.as_mut().ok_or_else(|| {
                Error::internal(format!("network {} has no address pool", cfg.name))
            })?;
            let ip = pool.allocate(r.ipv4_address).map_err(|e| match e {
                net::ipam::Error::InUse(_) => Error::forbidden(e.to_string()),
                net::ipam::Error::OutOfRange(_) => {
                    Error::invalid(format!("invalid endpoint settings:\n{e}"))
                }
                _ => Error::forbidden(e.to_string()),
            })?;
            let gateway = cfg.gateway;
            (cfg, ip, pool.subnet().prefix(), gateway)
        };
        let release = |this: &Networks| {
            if let Some(p) = this
                .lock()
                .nets
                .get_mut(&r.network_id)
                .and_then(|n| n.pool.as_mut())
            {
                p.release(ip);
            }
        };
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !existing.iter().any(|e| &e.ifname == n))
            .unwrap_or_else(|| "eth0".into());
        let veth = veth_name();
        let mac = match &r.mac_address {
            Some(m) if !m.is_empty() => parse_mac(m)?,
            _ => mac_for(ip),
        };
        let bridge = cfg.bridge.clone().unwrap_or_default();
        let result = (|| -> Result<()> {
            let br = host
                .link_by_name(&bridge)
                .map_err(|e| net_error("netlink", e))?
                .ok_or_else(|| {
                    Error::internal(format!(
                        "bridge {bridge} of network {} is missing",
                        cfg.name
                    ))
                })?;
            let mtu = (cfg.mtu > 0).then_some(cfg.mtu);
            let index = host
                .add_veth(&veth, &ifname, Some(ns), mtu)
                .map_err(|e| net_error(format_args!("create veth {veth}"), e))?;
            host.set_master(index, br.index)
                .map_err(|e| net_error(format_args!("attach {veth} to {bridge}"), e))?;
            host.set_up(index)
                .map_err(|e| net_error(format_args!("bring up {veth}"), e))?;
            let inner_link = inside
                .link_by_name(&ifname)
                .map_err(|e| net_error("netlink in the container's namespace", e))?
                .ok_or_else(|| {
                    Error::internal(format!("{ifname} did not appear in the container"))
                })?;
            inside
                .set_mac(inner_link.index, mac)
                .map_err(|e| net_error(format_args!("MAC address of {ifname}"), e))?;
            inside
                .add_address(inner_link.index, ip, prefix)
                .map_err(|e| net_error(format_args!("address {ip}/{prefix} on {ifname}"), e))?;
            inside
                .set_up(inner_link.index)
                .map_err(|e| net_error(format_args!("bring up {ifname}"), e))?;
            let has_default = existing.iter().any(|e| e.gateway.is_some());
            if !cfg.internal
                && !has_default
                && let Some(gw) = gateway
            {
                inside
                    .add_route(Ipv4Addr::UNSPECIFIED, 0, Some(gw), Some(inner_link.index))
                    .map_err(|e| net_error(format_args!("default route via {gw}"), e))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            delete_link(host, &veth);
            release(self);
            return Err(e);
        }
        if !cfg.internal {
            self.ensure_forwarding();
        }
        let user = cfg.user_defined();
        let mut dns_names = Vec::new();
        if user {
            dns_names.push(req.name.clone());
            dns_names.push(req.container_id[..12.min(req.container_id.len())].to_string());
            for a in &r.aliases {
                if !dns_names.contains(a) {
                    dns_names.push(a.clone());
                }
            }
        }
        Ok(Endpoint {
            network_id: cfg.id.clone(),
            network_name: cfg.name.clone(),
            endpoint_id: crate::engine::random_id(),
            ip,
            prefix,
            gateway: if cfg.internal { None } else { gateway },
            dns_server: if user { gateway } else { None },
            mac: mac_string(mac),
            host_veth: veth,
            ifname,
            aliases: r.aliases.clone(),
            dns_names,
        })
    }

    /// Reserves the host ports and adds the DNAT rules, on the primary endpoint's address.
    fn publish(&self, req: &SandboxRequest, out: &mut ContainerNet) -> Result<()> {
        let mut wanted: BTreeMap<String, Vec<(String, String)>> = req.port_bindings.clone();
        if req.publish_all {
            for key in &req.exposed {
                wanted
                    .entry(key.clone())
                    .or_insert_with(|| vec![(String::new(), String::new())]);
            }
        }
        if wanted.values().all(|v| v.is_empty()) {
            return Ok(());
        }
        let Some(primary) = out
            .endpoints
            .iter()
            .find(|e| e.gateway.is_some() || e.dns_server.is_some())
            .or(out.endpoints.first())
        else {
            return Ok(());
        };
        let container_ip = primary.ip;
        let mut fds = Vec::new();
        let mut ports = Vec::new();
        for (key, bindings) in &wanted {
            let (cport, proto) = parse_port_key(key)?;
            for (hip, hport) in bindings {
                let host_ip: Option<Ipv4Addr> = match hip.as_str() {
                    "" | "0.0.0.0" => None,
                    s => Some(s.parse().map_err(|_| {
                        if s.contains(':') {
                            Error::invalid(format!(
                                "invalid host IP {s}: Wharf publishes ports on IPv4 addresses only"
                            ))
                        } else {
                            Error::invalid(format!("invalid IP address: {s}"))
                        }
                    })?),
                };
                let shown_ip = host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
                let candidates = host_port_candidates(hport)?;
                let mut last_err = None;
                let mut bound = None;
                for port in &candidates {
                    if *port != 0 {
                        let taken = {
                            let inner = self.lock();
                            inner
                                .live
                                .values()
                                .flat_map(|l| l.ports.iter())
                                .chain(ports.iter())
                                .any(|p: &PublishedPort| {
                                    p.proto == proto
                                        && p.host_port == *port
                                        && overlaps(p.host_ip, host_ip)
                                })
                        };
                        if taken {
                            last_err = Some(Error::internal(format!(
                                "driver failed programming external connectivity on endpoint {} ({}): Bind for {shown_ip}:{port} failed: port is already allocated",
                                req.name, primary.endpoint_id
                            )));
                            continue;
                        }
                    }
                    match bind_port(proto, shown_ip, *port) {
                        Ok(b) => {
                            bound = Some(b);
                            break;
                        }
                        Err(e) => {
                            let reason = if e.raw_os_error() == Some(libc::EADDRINUSE) {
                                "address already in use".to_string()
                            } else if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
                                "cannot assign requested address".to_string()
                            } else {
                                e.to_string()
                            };
                            last_err = Some(Error::internal(format!(
                                "driver failed programming external connectivity on endpoint {} ({}): failed to bind host port for {shown_ip}:{port}:{container_ip}:{cport}/{}: {reason}",
                                req.name,
                                primary.endpoint_id,
                                proto.as_str()
                            )));
                        }
                    }
                }
                let Some((fd, port)) = bound else {
                    return Err(last_err.unwrap_or_else(|| {
                        Error::internal(format!("no free host port for {key}"))
                    }));
                };
                fds.push(fd);
                ports.push(PublishedPort {
                    proto,
                    container_port: cport,
                    host_ip,
                    host_port: port,
                    container_ip,
                });
            }
        }
        out.ports = ports.clone();
        if let Some(l) = self.lock().live.get_mut(&req.container_id) {
            l.ports = ports;
            l.reservations = fds;
        }
        self.reconcile_rules()
    }

    /// Releases everything a container held: ports, rules, addresses, veths, its namespace.
    /// Safe to call again, and for a container that exited while the daemon was down.
    pub fn teardown(&self, container_id: &str, net: &ContainerNet) {
        let live = self.lock().live.remove(container_id);
        let (endpoints, had_ports) = match &live {
            Some(l) => (l.endpoints.clone(), !l.ports.is_empty()),
            None => (net.endpoints.clone(), !net.ports.is_empty()),
        };
        drop(live);
        // The veths go with the namespace: once it is unmounted (and the container's
        // processes are gone) the kernel deletes both ends, in batches, without the 20–30 ms
        // a synchronous delete of each veth waits for.
        {
            let mut inner = self.lock();
            for ep in &endpoints {
                if let Some(p) = inner
                    .nets
                    .get_mut(&ep.network_id)
                    .and_then(|n| n.pool.as_mut())
                {
                    p.release(ep.ip);
                }
            }
        }
        let path = if net.sandbox_key.is_empty() {
            self.sandbox_path(container_id)
        } else {
            std::path::PathBuf::from(&net.sandbox_key)
        };
        if let Err(e) = net::netns::remove(&path) {
            tracing::warn!("removing network namespace {}: {e}", path.display());
        }
        if had_ports && let Err(e) = self.reconcile_rules() {
            tracing::warn!("nftables: {e}");
        }
    }

    /// `network connect` on a running container: one more endpoint in its namespace.
    pub fn connect(
        &self,
        container_id: &str,
        sandbox_key: &str,
        r: &EndpointRequest,
    ) -> Result<Endpoint> {
        let ns = NetNs::open(std::path::Path::new(sandbox_key))
            .map_err(|e| net_error(format_args!("open network namespace {sandbox_key}"), e))?;
        let (existing, name, hostname) = {
            let inner = self.lock();
            let l = inner.live.get(container_id).ok_or_else(|| {
                Error::internal(format!("container {container_id} has no network sandbox"))
            })?;
            (l.endpoints.clone(), l.name.clone(), l.hostname.clone())
        };
        let req = SandboxRequest {
            container_id: container_id.to_string(),
            name,
            hostname,
            ..Default::default()
        };
        let mut inside = Netlink::open_in(&ns)
            .map_err(|e| net_error("netlink in the container's namespace", e))?;
        let mut host = Netlink::open().map_err(|e| net_error("netlink", e))?;
        let ep = self.attach(&mut host, &mut inside, &ns, &req, r, &existing)?;
        if let Some(l) = self.lock().live.get_mut(container_id) {
            l.endpoints.push(ep.clone());
        }
        Ok(ep)
    }

    /// `network disconnect` on a running container.
    pub fn disconnect(&self, container_id: &str, ep: &Endpoint) {
        if let Ok(mut host) = Netlink::open() {
            delete_link(&mut host, &ep.host_veth);
        }
        let mut inner = self.lock();
        if let Some(p) = inner
            .nets
            .get_mut(&ep.network_id)
            .and_then(|n| n.pool.as_mut())
        {
            p.release(ep.ip);
        }
        if let Some(l) = inner.live.get_mut(container_id) {
            l.endpoints.retain(|e| e.endpoint_id != ep.endpoint_id);
        }
    }
}

pub(super) fn delete_link(nl: &mut Netlink, name: &str) {
    match nl.link_by_name(name) {
        Ok(Some(l)) => {
            if let Err(e) = nl.delete_link(l.index)
                && !e.is_not_found()
            {
                tracing::warn!("deleting {name}: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("looking up {name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse() {
        assert_eq!(parse_port_key("80/tcp").expect("valid"), (80, Proto::Tcp));
        assert_eq!(parse_port_key("53/udp").expect("valid"), (53, Proto::Udp));
        assert_eq!(parse_port_key("8080").expect("valid"), (8080, Proto::Tcp));
        assert!(parse_port_key("http/tcp").is_err());
        assert!(parse_port_key("0/tcp").is_err());
        assert!(parse_port_key("80/sctp").is_err());
        assert_eq!(host_port_candidates("").expect("valid"), vec![0]);
        assert_eq!(host_port_candidates("0").expect("valid"), vec![0]);
        assert_eq!(
            host_port_candidates("8000-8002").expect("valid"),
            vec![8000, 8001, 8002]
        );
        assert!(host_port_candidates("8002-8000").is_err());
        assert!(host_port_candidates("x").is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(
            mac_string(mac_for(Ipv4Addr::new(172, 18, 0, 2))),
            "02:42:ac:12:00:02"
        );
        assert_eq!(
            parse_mac("02:42:ac:12:00:02").expect("valid"),
            [2, 0x42, 0xac, 0x12, 0, 2]
        );
        assert!(parse_mac("02:42").is_err());
        assert!(parse_mac("zz:42:ac:12:00:02").is_err());
    }
}
