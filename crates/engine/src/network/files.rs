//! `/etc/hosts` and `/etc/resolv.conf` for a container, as dockerd writes them.

use std::net::{IpAddr, Ipv4Addr};

use super::Endpoint;
use crate::error::{Error, Result};

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// `--add-host name:ip` entries as hosts lines; `host-gateway` is `gateway`.
pub fn extra_host_lines(extra: &[String], gateway: Option<Ipv4Addr>) -> Result<String> {
    let mut out = String::new();
    for e in extra {
        let (name, ip) = e
            .split_once(':')
            .or_else(|| e.split_once('='))
            .ok_or_else(|| Error::invalid(format!("invalid extra host {e:?}: use name:ip")))?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let ip = if ip == "host-gateway" {
            gateway
                .map(|g| g.to_string())
                .ok_or_else(|| Error::invalid("host-gateway needs the default bridge network"))?
        } else {
            ip.parse::<IpAddr>()
                .map_err(|_| Error::invalid(format!("invalid IP address in add-host: {ip:?}")))?
                .to_string()
        };
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    Ok(out)
}

/// The hosts file of a container with its own network namespace.
pub fn hosts(hostname: &str, endpoints: &[Endpoint], extra: &str) -> String {
    let mut s = String::from(LOCALHOST);
    s.push_str(extra);
    if let Some(ep) = endpoints.first() {
        s.push_str(&format!("{}\t{hostname}\n", ep.ip));
    }
    s
}

/// The resolv.conf of a container. On user-defined networks the embedded DNS server (the
/// gateway) is the only nameserver; elsewhere the host's, without loopback ones (which
/// the container cannot reach), or dockerd's public defaults when none is left.
pub fn resolv_conf(
    host: &str,
    endpoints: &[Endpoint],
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let words = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.map(str::to_string).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let search = if search.is_empty() {
        words("search")
    } else {
        search
            .iter()
            .filter(|s| s.as_str() != ".")
            .cloned()
            .collect()
    };
    let mut out = String::new();
    let embedded = endpoints.iter().find_map(|e| e.dns_server);
    let mut opts: Vec<String> = if options.is_empty() {
        words("options")
    } else {
        options.to_vec()
    };
    if let Some(server) = embedded {
        out.push_str(&format!("nameserver {server}\n"));
        if !opts.iter().any(|o| o.starts_with("ndots:")) {
            opts.insert(0, "ndots:0".into());
        }
    } else {
        let servers: Vec<String> = if dns.is_empty() {
            let found: Vec<String> = super::dns::nameservers(host)
                .into_iter()
                .filter(|ip| !ip.is_loopback())
                .map(|ip| ip.to_string())
                .collect();
            if found.is_empty() {
                vec!["8.8.8.8".into(), "8.8.4.4".into()]
            } else {
                found
            }
        } else {
            dns.to_vec()
        };
        for s in servers {
            out.push_str(&format!("nameserver {s}\n"));
        }
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(dns: Option<Ipv4Addr>) -> Endpoint {
        Endpoint {
            network_id: "n".into(),
            network_name: "net1".into(),
            endpoint_id: "e".into(),
            ip: Ipv4Addr::new(10, 5, 0, 2),
            prefix: 16,
            gateway: Some(Ipv4Addr::new(10, 5, 0, 1)),
            dns_server: dns,
            mac: String::new(),
            host_veth: "wv0".into(),
            ifname: "eth0".into(),
            aliases: vec![],
            dns_names: vec![],
        }
    }

    #[test]
    fn hosts_files() {
        let extra = extra_host_lines(
            &[
                "db:10.0.0.9".into(),
                "gw:host-gateway".into(),
                "v6:::1".into(),
            ],
            Some(Ipv4Addr::new(172, 17, 0, 1)),
        )
        .expect("valid");
        assert_eq!(extra, "10.0.0.9\tdb\n172.17.0.1\tgw\n::1\tv6\n");
        let h = hosts("abc", &[ep(None)], &extra);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("::1\tv6\n10.5.0.2\tabc\n"));
        assert!(extra_host_lines(&["nocolon".into()], None).is_err());
        assert!(extra_host_lines(&["x:notanip".into()], None).is_err());
    }

    #[test]
    fn resolv_confs() {
        let host =
            "nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.example\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[ep(None)], &[], &[], &[]),
            "nameserver 10.1.1.1\nsearch corp.example\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", &[], &[], &[], &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf(
                host,
                &[ep(Some(Ipv4Addr::new(10, 5, 0, 1)))],
                &["1.1.1.1".into()],
                &["a.b".into()],
                &[]
            ),
            "nameserver 10.5.0.1\nsearch a.b\noptions ndots:0 edns0\n"
        );
        assert_eq!(
            resolv_conf(host, &[], &["9.9.9.9".into()], &[], &["ndots:2".into()]),
            "nameserver 9.9.9.9\nsearch corp.example\noptions ndots:2\n"
        );
    }
}
