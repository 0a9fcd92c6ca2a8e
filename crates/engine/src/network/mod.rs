//! Networks: the `bridge`, `host` and `none` networks and user-defined bridge networks, each
//! container's network namespace (its sandbox) with one endpoint per network, published
//! ports, the embedded DNS server of user-defined networks, and Wharf's nftables table.
//!
//! The kernel side (netlink, namespaces, nftables, DNS wire format) is the `net` crate; this
//! module decides what should exist and keeps it so:
//! - network definitions live in `<data-root>/network/networks.json`;
//! - a running container's endpoints and ports live in its record, so a restarted daemon
//!   re-reserves exactly the addresses and ports of the containers still running, and
//!   releases everything else (veths, namespaces, rules) it finds;
//! - Wharf's nftables table is rendered from that state and replaced whole.

mod containers;
mod dns;
pub mod files;
mod sandbox;
pub mod types;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use net::ipam::{AddressPool, Pool, Subnet};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use sandbox::SandboxRequest;
pub use types::{ContainerNet, Endpoint, EndpointRequest, PublishedPort};

/// A lock every Wharf daemon on this host takes while choosing a subnet and creating its
/// bridge, so two daemons never pick the same free subnet at once.
const HOST_LOCK: &str = "/run/wharf-network.lock";

/// How the daemon's networking is set up (dockerd's flags where it has them).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The default bridge's device (`-b`); `None` means no default bridge (`-b none`).
    pub default_bridge: Option<String>,
    /// The default bridge's address and prefix (`--bip 10.1.0.1/16`).
    pub bip: Option<(Ipv4Addr, u8)>,
    /// Where subnets of networks created without one come from (`--default-address-pool`).
    pub pools: Vec<AddressPool>,
    /// The MTU of new bridges; None takes the host uplink's (`--mtu`).
    pub mtu: Option<u32>,
    /// Wharf's nftables table (`ip <name>`).
    pub nft_table: String,
    /// The resolv.conf whose nameservers containers use (`--resolv-conf`).
    pub resolv_conf: PathBuf,
    /// Turn on IPv4 forwarding when a network needs it (`--ip-forward`).
    pub ip_forward: bool,
}

/// A network as stored and as `inspect` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<Subnet>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub ip_range: Option<Subnet>,
    #[serde(default)]
    pub ipam_driver: String,
    #[serde(default)]
    pub ipam_options: BTreeMap<String, String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The bridge device, for bridge networks.
    #[serde(default)]
    pub bridge: Option<String>,
    #[serde(default)]
    pub mtu: u32,
    /// The default `bridge` network: no DNS, no aliases, no static addresses.
    #[serde(default)]
    pub default_bridge: bool,
}

impl NetworkConfig {
    /// `bridge`, `host` and `none`: they always exist and cannot be removed.
    pub fn predefined(&self) -> bool {
        self.default_bridge || self.driver == "host" || self.driver == "null"
    }

    /// A user-defined bridge network: DNS, aliases, static addresses.
    pub fn user_defined(&self) -> bool {
        self.driver == "bridge" && !self.default_bridge
    }

    fn masquerade(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .is_none_or(|v| v != "false")
    }
}

/// A network and what runs for it.
struct Net {
    cfg: NetworkConfig,
    pool: Option<Pool>,
    dns: Option<net::dns::ServerHandle>,
}

impl Net {
    fn new(cfg: NetworkConfig) -> Net {
        Net {
            cfg,
            pool: None,
            dns: None,
        }
    }
}

/// A running container's network state that only lives in memory.
struct Live {
    /// Bare container name, id and hostname, for DNS.
    name: String,
    hostname: String,
    endpoints: Vec<Endpoint>,
    ports: Vec<PublishedPort>,
    /// The sockets holding published host ports.
    reservations: Vec<OwnedFd>,
    /// The container's own DNS servers (`--dns`), for names the networks do not know.
    dns: Vec<Ipv4Addr>,
}

#[derive(Default)]
struct Inner {
    nets: BTreeMap<String, Net>,
    live: HashMap<String, Live>,
    forwarding_checked: bool,
}

/// The engine's networks.
pub struct Networks {
    settings: Settings,
    dir: PathBuf,
    netns_dir: PathBuf,
    inner: Mutex<Inner>,
    /// Serialises applying the nftables table; holds the last script applied.
    applied: Mutex<Option<String>>,
    /// Runs DNS servers (the daemon's runtime).
    runtime: tokio::runtime::Handle,
    me: std::sync::Weak<Networks>,
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks")
            .field("dir", &self.dir)
            .field("table", &self.settings.nft_table)
            .finish_non_exhaustive()
    }
}

fn net_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{what}: {e}"))
}

/// An exclusive `flock` on [`HOST_LOCK`], released on drop.
struct HostLock(std::fs::File);

impl HostLock {
    fn take() -> Result<HostLock> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(HOST_LOCK)
            .map_err(|e| net_error(format_args!("open {HOST_LOCK}"), e))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
            return Err(net_error(
                format_args!("lock {HOST_LOCK}"),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(HostLock(f))
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor this guard owns.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&self.0), libc::LOCK_UN) };
    }
}

/// The subnets routed on this host (its own and other daemons' networks), the default route
/// excepted.
fn host_subnets() -> Vec<Subnet> {
    let Ok(mut nl) = net::netlink::Netlink::open() else {
        return Vec::new();
    };
    nl.routes()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.prefix > 0 && (r.table == 254 || r.table == 255) && !r.dst.is_loopback())
        .filter(|r| !r.dst.is_broadcast() && r.prefix < 32)
        .map(|r| Subnet::containing(r.dst, r.prefix))
        .collect()
}

impl Networks {
    /// Loads the networks, creates the predefined ones and brings up every bridge. Containers
    /// are reconciled afterwards by [`Networks::restore`].
    pub fn open(data_root: &Path, exec_root: &Path, settings: Settings) -> Result<Arc<Networks>> {
        let dir = data_root.join("network");
        let netns_dir = exec_root.join("netns");
        for d in [&dir, &netns_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| net_error(format_args!("create {}", d.display()), e))?;
        }
        let path = dir.join("networks.json");
        let stored: Vec<NetworkConfig> = match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| net_error(format_args!("parse {}", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(net_error(format_args!("read {}", path.display()), e)),
        };
        let networks = Arc::new_cyclic(|me| Networks {
            settings,
            dir,
            netns_dir,
            inner: Mutex::new(Inner::default()),
            applied: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
            me: me.clone(),
        });
        {
            let mut inner = networks.lock();
            for cfg in stored {
                inner.nets.insert(cfg.id.clone(), Net::new(cfg));
            }
        }
        networks.ensure_predefined()?;
        let ids: Vec<String> = networks.lock().nets.keys().cloned().collect();
        for id in ids {
            if let Err(e) = networks.bring_up(&id) {
                tracing::warn!("network {id}: {e}");
            }
        }
        networks.save()?;
        Ok(networks)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn save(&self) -> Result<()> {
        let cfgs: Vec<NetworkConfig> = self.lock().nets.values().map(|n| n.cfg.clone()).collect();
        crate::container::write_atomic(
            &self.dir.join("networks.json"),
            &serde_json::to_vec_pretty(&cfgs)?,
        )
    }

    fn ensure_predefined(&self) -> Result<()> {
        let mut inner = self.lock();
        let has = |inner: &Inner, name: &str| inner.nets.values().any(|n| n.cfg.name == name);
        let base = |name: &str, driver: &str| NetworkConfig {
            id: crate::engine::random_id(),
            name: name.into(),
            driver: driver.into(),
            created: crate::lifecycle::now(),
            subnet: None,
            gateway: None,
            ip_range: None,
            ipam_driver: "default".into(),
            ipam_options: BTreeMap::new(),
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            bridge: None,
            mtu: 0,
            default_bridge: false,
        };
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !has(&inner, name) {
                let cfg = base(name, driver);
                inner.nets.insert(cfg.id.clone(), Net::new(cfg));
            }
        }
        // The default bridge follows the flags: a changed -b or --bip replaces it.
        let wanted = self.settings.default_bridge.clone();
        let existing = inner
            .nets
            .values()
            .find(|n| n.cfg.default_bridge)
            .map(|n| n.cfg.clone());
        let keep = match (&existing, &wanted) {
            (Some(cfg), Some(dev)) => {
                cfg.bridge.as_deref() == Some(dev.as_str())
                    && self.settings.bip.is_none_or(|(ip, p)| {
                        cfg.gateway == Some(ip) && cfg.subnet == Some(Subnet::containing(ip, p))
                    })
            }
            _ => false,
        };
        if let (Some(old), false) = (&existing, keep) {
            inner.nets.remove(&old.id);
            if let Some(dev) = &old.bridge {
                delete_link(dev);
            }
        }
        if let (Some(dev), false) = (wanted, keep) {
            let mut cfg = base("bridge", "bridge");
            cfg.bridge = Some(dev.clone());
            cfg.default_bridge = true;
            if let Some((ip, prefix)) = self.settings.bip {
                cfg.subnet = Some(Subnet::containing(ip, prefix));
                cfg.gateway = Some(ip);
            }
            cfg.options = [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                ("com.docker.network.bridge.name", dev.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            inner.nets.insert(cfg.id.clone(), Net::new(cfg));
        }
        Ok(())
    }

    /// Creates the network's bridge (choosing a subnet if it has none), its address pool and
    /// its DNS server. Idempotent.
    fn bring_up(&self, id: &str) -> Result<()> {
        let cfg = match self.lock().nets.get(id) {
            Some(n) if n.cfg.driver == "bridge" => n.cfg.clone(),
            _ => return Ok(()),
        };
        let dev = cfg.bridge.clone().unwrap_or_default();
        let _host = HostLock::take()?;
        let mut nl = net::netlink::Netlink::open().map_err(|e| net_error("netlink", e))?;
        let (subnet, gateway) = match (cfg.subnet, cfg.gateway) {
            (Some(s), Some(g)) => (s, g),
            (Some(s), None) => (s, s.first_host()),
            (None, _) => {
                let mut used = host_subnets();
                used.extend(self.lock().nets.values().filter_map(|n| n.cfg.subnet));
                let s = net::ipam::pick_subnet(&self.settings.pools, &used)
                    .map_err(|e| Error::forbidden(e.to_string()))?;
                (s, s.first_host())
            }
        };
        let mtu = if cfg.mtu > 0 {
            cfg.mtu
        } else {
            self.settings
                .mtu
                .or_else(net::netlink::uplink_mtu)
                .unwrap_or(1500)
        };
        let index = match nl.link_by_name(&dev).map_err(|e| net_error("netlink", e))? {
            Some(l) => l.index,
            None => nl
                .add_bridge(&dev, Some(mtu))
                .map_err(|e| net_error(format_args!("create bridge {dev}"), e))?,
        };
        let has = nl
            .addresses(Some(index))
            .map_err(|e| net_error("netlink", e))?
            .iter()
            .any(|a| a.ip == gateway && a.prefix == subnet.prefix());
        if !has {
            nl.add_address(index, gateway, subnet.prefix())
                .map_err(|e| {
                    net_error(
                        format_args!("address {gateway}/{} on {dev}", subnet.prefix()),
                        e,
                    )
                })?;
        }
        nl.set_up(index)
            .map_err(|e| net_error(format_args!("bring up {dev}"), e))?;
        // Published ports reached through 127.0.0.1 are routed out of this bridge.
        net::netns::set_sysctl(&format!("net/ipv4/conf/{dev}/route_localnet"), "1")
            .map_err(|e| net_error(format_args!("route_localnet on {dev}"), e))?;
        let dns = if cfg.user_defined() {
            let resolver: Arc<dyn net::dns::Resolver> = Arc::new(dns::NetworkResolver {
                networks: self.me.clone(),
            });
            let addr = std::net::SocketAddr::from((gateway, 53));
            // Bound from a plain thread, so this works from async and blocking callers alike.
            let rt = self.runtime.clone();
            let served = std::thread::scope(|s| {
                s.spawn(|| rt.block_on(net::dns::serve(addr, resolver)))
                    .join()
                    .map_err(|_| std::io::Error::other("the DNS server thread panicked"))
            });
            match served.and_then(|r| r) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!("DNS for network {} on {addr}: {e}", cfg.name);
                    None
                }
            }
        } else {
            None
        };
        let mut inner = self.lock();
        if let Some(n) = inner.nets.get_mut(id) {
            n.cfg.subnet = Some(subnet);
            n.cfg.gateway = Some(gateway);
            n.cfg.mtu = mtu;
            if n.pool.is_none() {
                n.pool = Some(Pool::new(subnet, n.cfg.ip_range, Some(gateway)));
            }
            n.dns = dns;
        }
        Ok(())
    }

    /// Finds a network by full id, name or unique id prefix, as dockerd does.
    pub fn find(&self, name_or_id: &str) -> Result<NetworkConfig> {
        let inner = self.lock();
        if let Some(n) = inner.nets.get(name_or_id) {
            return Ok(n.cfg.clone());
        }
        if let Some(n) = inner.nets.values().find(|n| n.cfg.name == name_or_id) {
            return Ok(n.cfg.clone());
        }
        let found: Vec<&Net> = if name_or_id.is_empty() {
            Vec::new()
        } else {
            inner
                .nets
                .values()
                .filter(|n| n.cfg.id.starts_with(name_or_id))
                .collect()
        };
        match found.as_slice() {
            [one] => Ok(one.cfg.clone()),
            [] => Err(Error::not_found(format!("network {name_or_id} not found"))),
            _ => Err(Error::invalid(format!(
                "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                found.len()
            ))),
        }
    }

    pub fn list(&self) -> Vec<NetworkConfig> {
        let mut all: Vec<NetworkConfig> =
            self.lock().nets.values().map(|n| n.cfg.clone()).collect();
        all.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        all
    }

    /// `POST /networks/create`.
    pub fn create(&self, req: CreateRequest) -> Result<NetworkConfig> {
        if req.name.is_empty() {
            return Err(Error::invalid("network name cannot be empty"));
        }
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => {
                return Err(Error::forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )));
            }
            other => return Err(Error::not_found(format!("plugin \"{other}\" not found"))),
        }
        if req.ipv6 {
            return Err(Error::invalid(
                "IPv6 networks are not supported by Wharf yet (create the network without --ipv6)",
            ));
        }
        if !req.ipam_driver.is_empty() && req.ipam_driver != "default" {
            return Err(Error::not_found(format!(
                "plugin \"{}\" not found",
                req.ipam_driver
            )));
        }
        if req.has_gateway_without_subnet {
            return Err(Error::invalid(
                "invalid network config:\nevery ip-range or gateway must have a corresponding subnet",
            ));
        }
        if req.subnets.len() > 1 {
            return Err(Error::invalid(
                "only one IPv4 subnet per network is supported by Wharf",
            ));
        }
        let mut cfg = NetworkConfig {
            id: crate::engine::random_id(),
            name: req.name.clone(),
            driver,
            created: crate::lifecycle::now(),
            subnet: None,
            gateway: None,
            ip_range: None,
            ipam_driver: "default".into(),
            ipam_options: req.ipam_options.clone(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options: req.options.clone(),
            bridge: None,
            mtu: 0,
            default_bridge: false,
        };
        if let Some(s) = req.subnets.first() {
            let subnet = Subnet::parse_strict(&s.subnet)
                .map_err(|e| Error::invalid(format!("invalid network config:\n{e}")))?;
            if let Some(g) = &s.gateway {
                let ip: Ipv4Addr = g.parse().map_err(|_| {
                    Error::invalid(format!(
                        "invalid network config:\ninvalid gateway address {g}"
                    ))
                })?;
                if !subnet.contains(ip) {
                    return Err(Error::invalid(format!(
                        "invalid network config:\nno matching subnet for gateway {ip}"
                    )));
                }
                cfg.gateway = Some(ip);
            }
            if let Some(r) = &s.ip_range {
                let range = Subnet::parse_strict(r)
                    .map_err(|e| Error::invalid(format!("invalid network config:\n{e}")))?;
                if !subnet.covers(&range) {
                    return Err(Error::invalid(format!(
                        "invalid network config:\nno matching subnet for range {range}"
                    )));
                }
                cfg.ip_range = Some(range);
            }
            cfg.subnet = Some(subnet);
        }
        if let Some(mtu) = cfg.options.get("com.docker.network.driver.mtu") {
            cfg.mtu = mtu.parse().map_err(|_| {
                Error::invalid(format!(
                    "invalid MTU option com.docker.network.driver.mtu={mtu}"
                ))
            })?;
        }
        let dev = match cfg.options.get("com.docker.network.bridge.name") {
            Some(d) => {
                if d.is_empty() || d.len() > 15 || d.contains(['/', ' ', ':']) {
                    return Err(Error::invalid(format!("invalid bridge name {d:?}")));
                }
                d.clone()
            }
            None => format!("wh-{}", &cfg.id[..12]),
        };
        cfg.bridge = Some(dev.clone());
        {
            let mut inner = self.lock();
            if inner.nets.values().any(|n| n.cfg.name == cfg.name) {
                return Err(Error::conflict(format!(
                    "network with name {} already exists",
                    cfg.name
                )));
            }
            if inner
                .nets
                .values()
                .any(|n| n.cfg.bridge.as_deref() == Some(dev.as_str()))
            {
                return Err(Error::conflict(format!(
                    "bridge name {dev} is already used by another network"
                )));
            }
            if let Some(s) = cfg.subnet
                && inner
                    .nets
                    .values()
                    .any(|n| n.cfg.subnet.is_some_and(|o| o.overlaps(&s)))
            {
                return Err(Error::forbidden(
                    "invalid pool request: Pool overlaps with other one on this address space",
                ));
            }
            inner.nets.insert(cfg.id.clone(), Net::new(cfg.clone()));
        }
        if let Err(e) = self.bring_up(&cfg.id) {
            self.lock().nets.remove(&cfg.id);
            delete_link(&dev);
            return Err(e);
        }
        self.save()?;
        self.reconcile_rules()?;
        let cfg = self.find(&cfg.id)?;
        Ok(cfg)
    }

    /// `DELETE /networks/{id}`: refused while a running container is attached.
    pub fn remove(&self, name_or_id: &str) -> Result<NetworkConfig> {
        let cfg = self.find(name_or_id)?;
        if cfg.predefined() {
            return Err(Error::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                cfg.name
            )));
        }
        let net = {
            let mut inner = self.lock();
            let active: Vec<(String, String)> = inner
                .live
                .iter()
                .filter(|(_, l)| l.endpoints.iter().any(|e| e.network_id == cfg.id))
                .map(|(id, l)| (l.name.clone(), id.clone()))
                .collect();
            if let Some((name, id)) = active.first() {
                return Err(Error::forbidden(format!(
                    "error while removing network: network {} has active endpoints (name:\"{name}\" id:\"{}\")",
                    cfg.name,
                    &id[..12.min(id.len())]
                )));
            }
            inner.nets.remove(&cfg.id)
        };
        drop(net);
        if let Some(dev) = &cfg.bridge {
            delete_link(dev);
        }
        self.save()?;
        self.reconcile_rules()?;
        Ok(cfg)
    }

    /// The containers attached now, for `inspect`: container id → endpoint.
    pub fn attached(&self, network_id: &str) -> Vec<(String, String, Endpoint)> {
        let inner = self.lock();
        let mut out: Vec<(String, String, Endpoint)> = inner
            .live
            .iter()
            .flat_map(|(id, l)| {
                l.endpoints
                    .iter()
                    .filter(|e| e.network_id == network_id)
                    .map(|e| (id.clone(), l.name.clone(), e.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Replaces Wharf's nftables table with the current state (skipped when unchanged).
    pub fn reconcile_rules(&self) -> Result<()> {
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let rules = {
            let inner = self.lock();
            let mut rules = net::nft::Ruleset::default();
            for n in inner.nets.values() {
                if let (Some(dev), Some(subnet)) = (&n.cfg.bridge, n.cfg.subnet)
                    && n.pool.is_some()
                {
                    rules.networks.push(net::nft::NetworkRules {
                        bridge: dev.clone(),
                        subnet,
                        internal: n.cfg.internal,
                        masquerade: n.cfg.masquerade(),
                    });
                }
            }
            for l in inner.live.values() {
                for p in &l.ports {
                    rules.ports.push(net::nft::PortMap {
                        proto: p.proto,
                        host_ip: p.host_ip,
                        host_port: p.host_port,
                        container_ip: p.container_ip,
                        container_port: p.container_port,
                    });
                }
            }
            rules
        };
        let script = rules.render(&self.settings.nft_table);
        if applied.as_deref() == Some(script.as_str()) {
            return Ok(());
        }
        net::nft::apply(&self.settings.nft_table, &script)
            .map_err(|e| Error::internal(e.to_string()))?;
        *applied = Some(script);
        Ok(())
    }

    /// Turns on IPv4 forwarding the first time a container joins a network that routes.
    fn ensure_forwarding(&self) {
        if !self.settings.ip_forward {
            return;
        }
        let mut inner = self.lock();
        if inner.forwarding_checked {
            return;
        }
        inner.forwarding_checked = true;
        drop(inner);
        if net::netns::get_sysctl("net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1") {
            return;
        }
        tracing::info!("enabling IPv4 forwarding (net.ipv4.ip_forward=1) for container egress");
        if let Err(e) = net::netns::set_sysctl("net/ipv4/ip_forward", "1") {
            tracing::warn!("cannot enable IPv4 forwarding: {e}");
        }
    }

    /// The sandbox path of a container.
    pub fn sandbox_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir
            .join(&container_id[..12.min(container_id.len())])
    }

    /// At daemon start, after the containers are loaded: reserve what running containers
    /// hold, release what stopped ones left, remove leaked veths and namespaces, and write the
    /// rules.
    pub fn restore(&self, running: &[(String, String, String, ContainerNet, Vec<Ipv4Addr>)]) {
        let mut keep_netns = std::collections::HashSet::new();
        let mut keep_veths = std::collections::HashSet::new();
        for (id, name, hostname, net, dns) in running {
            keep_netns.insert(PathBuf::from(&net.sandbox_key));
            let mut endpoints = Vec::new();
            {
                let mut inner = self.lock();
                for ep in &net.endpoints {
                    match inner
                        .nets
                        .get_mut(&ep.network_id)
                        .and_then(|n| n.pool.as_mut())
                    {
                        Some(pool) => {
                            if let Err(e) = pool.reserve(ep.ip) {
                                tracing::warn!("container {id}: address {}: {e}", ep.ip);
                            }
                            keep_veths.insert(ep.host_veth.clone());
                            endpoints.push(ep.clone());
                        }
                        None => tracing::warn!(
                            "container {id}: network {} is gone; its endpoint is dropped",
                            ep.network_name
                        ),
                    }
                }
            }
            let reservations = net
                .ports
                .iter()
                .filter_map(|p| match sandbox::reserve_exact(p) {
                    Ok(fd) => Some(fd),
                    Err(e) => {
                        tracing::warn!("container {id}: port {}: {e}", p.host_port);
                        None
                    }
                })
                .collect();
            self.lock().live.insert(
                id.clone(),
                Live {
                    name: name.clone(),
                    hostname: hostname.clone(),
                    endpoints,
                    ports: net.ports.clone(),
                    reservations,
                    dns: dns.clone(),
                },
            );
        }
        // Namespaces of containers that are not running.
        if let Ok(dir) = std::fs::read_dir(&self.netns_dir) {
            for entry in dir.flatten() {
                let path = entry.path();
                if !keep_netns.contains(&path) {
                    tracing::info!("releasing stale network namespace {}", path.display());
                    let _ = net::netns::remove(&path);
                }
            }
        }
        // Veths on our bridges that no running container owns.
        let bridges: Vec<String> = self
            .lock()
            .nets
            .values()
            .filter_map(|n| n.cfg.bridge.clone())
            .collect();
        if let Ok(mut nl) = net::netlink::Netlink::open()
            && let Ok(links) = nl.links()
        {
            let ours: std::collections::HashSet<u32> = links
                .iter()
                .filter(|l| bridges.contains(&l.name))
                .map(|l| l.index)
                .collect();
            for l in &links {
                if l.master.is_some_and(|m| ours.contains(&m)) && !keep_veths.contains(&l.name) {
                    tracing::info!("removing leaked veth {}", l.name);
                    let _ = nl.delete_link(l.index);
                }
            }
        }
        if let Err(e) = self.reconcile_rules() {
            tracing::warn!("nftables: {e}");
        }
    }

    /// At daemon shutdown: with no container running, remove the bridges, the namespaces
    /// and the rules (the next start recreates them); otherwise leave everything to the
    /// containers.
    pub fn shutdown(&self, any_running: bool) {
        if any_running {
            return;
        }
        let mut inner = self.lock();
        for n in inner.nets.values_mut() {
            n.dns = None;
            if let Some(dev) = &n.cfg.bridge {
                delete_link(dev);
            }
        }
        drop(inner);
        if let Ok(dir) = std::fs::read_dir(&self.netns_dir) {
            for entry in dir.flatten() {
                let _ = net::netns::remove(&entry.path());
            }
        }
        if let Err(e) = net::nft::delete_table(&self.settings.nft_table) {
            tracing::warn!("removing nftables table {}: {e}", self.settings.nft_table);
        }
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Deletes a link by name in the host namespace, if it exists.
fn delete_link(name: &str) {
    match net::netlink::Netlink::open() {
        Ok(mut nl) => sandbox::delete_link(&mut nl, name),
        Err(e) => tracing::warn!("deleting {name}: {e}"),
    }
}

/// `POST /networks/create`, parsed.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub ipv6: bool,
    pub ipam_driver: String,
    pub ipam_options: BTreeMap<String, String>,
    pub subnets: Vec<SubnetRequest>,
    pub has_gateway_without_subnet: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct SubnetRequest {
    pub subnet: String,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}
