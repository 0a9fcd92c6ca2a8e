//! Names on user-defined networks: what the embedded DNS server answers.
//!
//! A query is answered for the container that asked (found by its source address on the
//! network the query arrived on), from the networks that container is on: its peers' names,
//! ids and aliases, also as `name.network`. Anything else goes to the container's `--dns`
//! servers or the host's resolvers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Weak;

use net::dns::{Answer, Lookup, Resolver};

use super::Networks;

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_ANY: u16 = 255;

pub(super) struct NetworkResolver {
    pub networks: Weak<Networks>,
}

impl Resolver for NetworkResolver {
    fn lookup(&self, client: IpAddr, local: SocketAddr, name: &str, qtype: u16) -> Lookup {
        match self.networks.upgrade() {
            Some(n) => n.resolve(client, local, name, qtype),
            None => Lookup::Forward,
        }
    }

    fn upstreams(&self, client: IpAddr) -> Vec<SocketAddr> {
        self.networks
            .upgrade()
            .map(|n| n.upstreams(client))
            .unwrap_or_default()
    }
}

/// The nameservers of a resolv.conf.
pub fn nameservers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
        .collect()
}

impl Networks {
    fn resolve(&self, client: IpAddr, local: SocketAddr, name: &str, qtype: u16) -> Lookup {
        let (IpAddr::V4(client), IpAddr::V4(local)) = (client, local.ip()) else {
            return Lookup::Forward;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let inner = self.lock();
        let Some(asker) = inner.live.values().find(|l| {
            l.endpoints
                .iter()
                .any(|e| e.ip == client && e.dns_server == Some(local))
        }) else {
            return Lookup::Forward;
        };
        let shared: Vec<&super::Endpoint> = asker
            .endpoints
            .iter()
            .filter(|e| e.dns_server.is_some())
            .collect();
        if qtype == TYPE_PTR {
            let Some(IpAddr::V4(ip)) = net::dns::parse_reverse_name(&name) else {
                return Lookup::Forward;
            };
            for ep in &shared {
                for l in inner.live.values() {
                    if let Some(e) = l
                        .endpoints
                        .iter()
                        .find(|e| e.network_id == ep.network_id && e.ip == ip)
                    {
                        return Lookup::Found(vec![Answer::Ptr(format!(
                            "{}.{}",
                            l.name, e.network_name
                        ))]);
                    }
                }
            }
            return Lookup::Forward;
        }
        for ep in &shared {
            let suffix = format!(".{}", ep.network_name.to_ascii_lowercase());
            let base = name.strip_suffix(&suffix).unwrap_or(&name);
            let ips: Vec<Ipv4Addr> = inner
                .live
                .values()
                .flat_map(|l| l.endpoints.iter())
                .filter(|e| {
                    e.network_id == ep.network_id
                        && e.dns_names.iter().any(|d| d.eq_ignore_ascii_case(base))
                })
                .map(|e| e.ip)
                .collect();
            if !ips.is_empty() {
                return Lookup::Found(match qtype {
                    TYPE_A | TYPE_ANY => ips.into_iter().map(Answer::A).collect(),
                    _ => Vec::new(),
                });
            }
        }
        Lookup::Forward
    }

    fn upstreams(&self, client: IpAddr) -> Vec<SocketAddr> {
        let own: Vec<Ipv4Addr> = match client {
            IpAddr::V4(c) => self
                .lock()
                .live
                .values()
                .find(|l| l.endpoints.iter().any(|e| e.ip == c))
                .map(|l| l.dns.clone())
                .unwrap_or_default(),
            IpAddr::V6(_) => Vec::new(),
        };
        if !own.is_empty() {
            return own
                .into_iter()
                .map(|ip| SocketAddr::from((ip, 53)))
                .collect();
        }
        let host = std::fs::read_to_string(&self.settings.resolv_conf).unwrap_or_default();
        nameservers(&host)
            .into_iter()
            .map(|ip| SocketAddr::new(ip, 53))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let conf = "# c\nnameserver 10.0.0.1\nnameserver  ::1\nsearch x\nnameserver bogus\n";
        assert_eq!(
            nameservers(conf),
            vec![
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            ]
        );
    }
}
