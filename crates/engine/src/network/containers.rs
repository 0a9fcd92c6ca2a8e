//! Containers and networks: what create records, what start sets up and stop releases,
//! `network connect` and `disconnect`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::Value;

use super::{ContainerNet, EndpointRequest, NetworkConfig, SandboxRequest, files};
use crate::container::Container;
use crate::engine::{Engine, blocking};
use crate::error::{Error, Result};

/// `EndpointSettings` as a client sends them (only what Wharf uses).
fn endpoint_request(cfg: &NetworkConfig, settings: &Value) -> Result<EndpointRequest> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ipv4 = match settings["IPAMConfig"]["IPv4Address"].as_str() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<Ipv4Addr>().map_err(|_| {
            Error::invalid(format!(
                "invalid endpoint settings:\ninvalid IPv4 address: {s}"
            ))
        })?),
    };
    let aliases = strings(&settings["Aliases"]);
    if !cfg.user_defined() {
        if ipv4.is_some() {
            return Err(Error::invalid(
                "invalid endpoint settings:\nuser specified IP address is supported on user defined networks only",
            ));
        }
        if !aliases.is_empty() {
            return Err(Error::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
    }
    if let (Some(ip), Some(subnet)) = (ipv4, cfg.subnet)
        && !subnet.contains(ip)
    {
        return Err(Error::invalid(format!(
            "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}"
        )));
    }
    Ok(EndpointRequest {
        network_id: cfg.id.clone(),
        network_name: cfg.name.clone(),
        aliases,
        ipv4_address: ipv4,
        mac_address: settings["MacAddress"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        links: strings(&settings["Links"]),
        driver_opts: settings["DriverOpts"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
    })
}

impl Engine {
    /// The networks a new container joins: its `NetworkMode` first, then any other
    /// `NetworkingConfig.EndpointsConfig` entries.
    pub(crate) fn requested_networks(
        &self,
        host: &Value,
        networking: &Value,
        config: &Value,
    ) -> Result<ContainerNet> {
        let mode = host["NetworkMode"].as_str().unwrap_or("bridge").to_string();
        let endpoints = networking["EndpointsConfig"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let has_ports = host["PortBindings"].as_object().is_some_and(|p| {
            p.values()
                .any(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        }) || host["PublishAllPorts"] == true;
        if let Some(other) = mode.strip_prefix("container:") {
            self.container(other)?;
            if has_ports {
                return Err(Error::invalid(
                    "conflicting options: port publishing and the container type network mode",
                ));
            }
            if config["Hostname"].as_str().is_some_and(|h| !h.is_empty()) {
                return Err(Error::invalid(
                    "conflicting options: hostname and the network mode",
                ));
            }
            return Ok(ContainerNet::default());
        }
        if mode == "host" || mode == "none" {
            return Ok(ContainerNet::default());
        }
        let primary = match self.networks.find(&mode) {
            Ok(p) => p,
            // As with dockerd, an unknown network fails the start, not the create (a 404 from
            // create would read as a missing image to the docker CLI).
            Err(e) if e.kind == crate::error::Kind::NotFound => {
                return Ok(ContainerNet {
                    requested: vec![EndpointRequest {
                        network_name: mode,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            Err(e) => return Err(e),
        };
        if primary.driver == "host" || primary.driver == "null" {
            return Ok(ContainerNet::default());
        }
        // The docker CLI names the default network "default" in EndpointsConfig.
        let is_primary = |key: &str| {
            key == mode
                || key == primary.name
                || key == primary.id
                || (key == "default" && primary.default_bridge)
        };
        let settings = endpoints
            .get(&mode)
            .or_else(|| endpoints.get("default").filter(|_| primary.default_bridge))
            .or_else(|| endpoints.get(&primary.name))
            .or_else(|| endpoints.get(&primary.id))
            .cloned()
            .unwrap_or(Value::Null);
        let mut first = endpoint_request(&primary, &settings)?;
        if first.mac_address.is_none() {
            first.mac_address = config["MacAddress"]
                .as_str()
                .filter(|m| !m.is_empty())
                .map(str::to_string);
        }
        let mut requested = vec![first];
        for (name, settings) in endpoints.iter().filter(|(k, _)| !is_primary(k)) {
            let cfg = self.networks.find(name)?;
            if requested.iter().any(|r| r.network_id == cfg.id) {
                continue;
            }
            if cfg.driver != "bridge" {
                return Err(Error::invalid(format!(
                    "container cannot be connected to network {} as well as {}",
                    cfg.name, primary.name
                )));
            }
            requested.push(endpoint_request(&cfg, settings)?);
        }
        Ok(ContainerNet {
            requested,
            ..Default::default()
        })
    }

    /// At start: the container's network namespace (or the one it shares), its endpoints
    /// and ports, and its hostname, hosts and resolv.conf files. Returns the namespace to
    /// join (None for the host's).
    pub(crate) async fn setup_network(
        self: &Arc<Self>,
        c: &Arc<Container>,
    ) -> Result<Option<std::path::PathBuf>> {
        let record = c.record();
        let config = record.config()?;
        let host = record.host_config()?;
        let dir = c.dir.clone();
        let hostname_path = dir.join("hostname");
        let hosts_path = dir.join("hosts");
        let resolv_path = dir.join("resolv.conf");
        let host_resolv =
            std::fs::read_to_string(&self.opts.network.resolv_conf).unwrap_or_default();
        let list = |v: &Value, key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let dns = list(&record.host_config, "Dns");
        let dns_search = list(&record.host_config, "DnsSearch");
        let dns_options = list(&record.host_config, "DnsOptions");
        let gateway = self
            .networks
            .list()
            .into_iter()
            .find(|n| n.default_bridge)
            .and_then(|n| n.gateway);
        let extra =
            files::extra_host_lines(host.extra_hosts.as_deref().unwrap_or_default(), gateway)?;
        if host.network_mode == "host" {
            let name = crate::engine::host_name();
            std::fs::write(&hostname_path, format!("{name}\n"))?;
            let mut hosts = std::fs::read_to_string("/etc/hosts")
                .unwrap_or_else(|_| "127.0.0.1\tlocalhost\n".into());
            hosts.push_str(&extra);
            std::fs::write(&hosts_path, hosts)?;
            let resolv = if dns.is_empty() && dns_search.is_empty() && dns_options.is_empty() {
                host_resolv
            } else {
                files::resolv_conf(&host_resolv, &[], &dns, &dns_search, &dns_options)
            };
            std::fs::write(&resolv_path, resolv)?;
            return Ok(None);
        }
        if let Some(other) = host.network_mode.strip_prefix("container:") {
            let o = self.container(other)?;
            let (running, key, odir, mode) = o.with(|r| {
                (
                    r.state.running,
                    r.network.sandbox_key.clone(),
                    o.dir.clone(),
                    r.host_config["NetworkMode"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            });
            if !running {
                return Err(Error::conflict(format!(
                    "cannot join network namespace of a non running container: container {} is exited",
                    o.id
                )));
            }
            for (from, to) in [
                (odir.join("hostname"), &hostname_path),
                (odir.join("hosts"), &hosts_path),
                (odir.join("resolv.conf"), &resolv_path),
            ] {
                std::fs::copy(&from, to)
                    .map_err(|e| Error::internal(format!("copy {}: {e}", from.display())))?;
            }
            if mode == "host" {
                return Ok(None);
            }
            if key.is_empty() {
                return Err(Error::internal(format!(
                    "container {} has no network namespace to join",
                    o.id
                )));
            }
            return Ok(Some(key.into()));
        }
        // Its own namespace: none, the default bridge or user-defined networks.
        let hostname = if config.hostname.is_empty() {
            c.id[..12].to_string()
        } else {
            config.hostname.clone()
        };
        let mut port_bindings: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        if let Some(map) = record.host_config["PortBindings"].as_object() {
            for (k, v) in map {
                let list = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|b| {
                                (
                                    b["HostIp"].as_str().unwrap_or_default().to_string(),
                                    b["HostPort"].as_str().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                port_bindings.insert(k.clone(), list);
            }
        }
        let exposed = record.config["ExposedPorts"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        // Networks named at create that did not exist then must exist now.
        let mut requested = record.network.requested.clone();
        for q in requested.iter_mut().filter(|q| q.network_id.is_empty()) {
            let cfg = self.networks.find(&q.network_name)?;
            q.network_id = cfg.id;
            q.network_name = cfg.name;
        }
        let req = SandboxRequest {
            container_id: c.id.clone(),
            name: record.bare_name().to_string(),
            hostname: hostname.clone(),
            requested,
            port_bindings,
            exposed,
            publish_all: record.host_config["PublishAllPorts"] == true,
            dns: dns.iter().filter_map(|d| d.parse().ok()).collect(),
        };
        let networks = self.networks.clone();
        let net = blocking(move || networks.setup(&req)).await?;
        let write = || -> std::io::Result<()> {
            std::fs::write(&hostname_path, format!("{hostname}\n"))?;
            std::fs::write(&hosts_path, files::hosts(&hostname, &net.endpoints, &extra))?;
            std::fs::write(
                &resolv_path,
                files::resolv_conf(
                    &host_resolv,
                    &net.endpoints,
                    &dns,
                    &dns_search,
                    &dns_options,
                ),
            )
        };
        if let Err(e) = write() {
            self.networks.teardown(&c.id, &net);
            return Err(e.into());
        }
        let key = net.sandbox_key.clone();
        c.update(|r| {
            r.network.sandbox_key = net.sandbox_key.clone();
            r.network.endpoints = net.endpoints.clone();
            r.network.ports = net.ports.clone();
        })?;
        Ok(Some(key.into()))
    }

    /// After the container stopped (or failed to start): release its network.
    pub(crate) async fn teardown_network(&self, c: &Arc<Container>) {
        let net = c.with(|r| r.network.clone());
        let networks = self.networks.clone();
        let id = c.id.clone();
        let net2 = net.clone();
        let _ = blocking(move || {
            networks.teardown(&id, &net2);
            Ok(())
        })
        .await;
        let _ = c.update(|r| {
            r.network.sandbox_key.clear();
            r.network.endpoints.clear();
            r.network.ports.clear();
        });
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        settings: &Value,
    ) -> Result<()> {
        let cfg = self.networks.find(network)?;
        let c = self.container(container)?;
        let _op = c.op.lock().await;
        let mode = c.with(|r| {
            r.host_config["NetworkMode"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        if cfg.driver == "host" || mode == "host" {
            return Err(Error::forbidden(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if mode.starts_with("container:") {
            return Err(Error::forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if cfg.driver == "null" || mode == "none" {
            return Err(Error::forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode",
            ));
        }
        if c.with(|r| r.network.requested.iter().any(|q| q.network_id == cfg.id)) {
            return Err(Error::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.with(|r| r.bare_name().to_string()),
                cfg.name
            )));
        }
        let req = endpoint_request(&cfg, settings)?;
        let (running, key) = c.with(|r| (r.state.running, r.network.sandbox_key.clone()));
        if running && !key.is_empty() {
            let networks = self.networks.clone();
            let id = c.id.clone();
            let r2 = req.clone();
            let ep = blocking(move || networks.connect(&id, &key, &r2)).await?;
            c.update(|r| {
                r.network.requested.push(req);
                r.network.endpoints.push(ep);
            })?;
        } else {
            c.update(|r| r.network.requested.push(req))?;
        }
        self.network_event("connect", &cfg, &c.id);
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let cfg = self.networks.find(network)?;
        let c = self.container(container)?;
        let _op = c.op.lock().await;
        let mode = c.with(|r| {
            r.host_config["NetworkMode"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        if cfg.driver == "host" && mode == "host" {
            return Err(Error::forbidden(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if !c.with(|r| r.network.requested.iter().any(|q| q.network_id == cfg.id)) {
            return Err(Error::forbidden(format!(
                "container {} is not connected to network {}",
                c.id, cfg.name
            )));
        }
        let ep = c.with(|r| {
            r.network
                .endpoints
                .iter()
                .find(|e| e.network_id == cfg.id)
                .cloned()
        });
        if let Some(ep) = ep {
            let networks = self.networks.clone();
            let id = c.id.clone();
            blocking(move || {
                networks.disconnect(&id, &ep);
                Ok(())
            })
            .await?;
        }
        c.update(|r| {
            r.network.requested.retain(|q| q.network_id != cfg.id);
            r.network.endpoints.retain(|e| e.network_id != cfg.id);
        })?;
        self.network_event("disconnect", &cfg, &c.id);
        Ok(())
    }

    /// A `network` event about a container joining or leaving.
    fn network_event(&self, action: &str, cfg: &NetworkConfig, container: &str) {
        self.events.publish(
            "network",
            action,
            &cfg.id,
            [
                ("container".to_string(), container.to_string()),
                ("name".to_string(), cfg.name.clone()),
                ("type".to_string(), cfg.driver.clone()),
            ]
            .into_iter()
            .collect(),
        );
    }

    /// Containers that name the network (running or not), by id.
    pub fn network_users(&self, network_id: &str) -> Vec<Arc<Container>> {
        self.containers()
            .into_iter()
            .filter(|c| {
                c.with(|r| {
                    r.network
                        .requested
                        .iter()
                        .any(|q| q.network_id == network_id)
                })
            })
            .collect()
    }
}
