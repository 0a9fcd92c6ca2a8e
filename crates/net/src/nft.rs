//! Wharf's nftables table: NAT for egress, DNAT for published ports, isolation between
//! networks.
//!
//! The whole table is rendered from the desired state ([`Ruleset`]) and replaced in one
//! `nft -f -` transaction (`add table` + `delete table` + the new table), so the kernel never
//! holds a half-written set of rules, a daemon restart reconciles instead of duplicating, and
//! nothing outside Wharf's own table is ever read or written.
//!
//! Published ports reached through 127.0.0.1 are DNATed in the `output` hook; for the kernel to
//! route a packet with a loopback source out of a bridge, the bridge needs `route_localnet`
//! (the engine sets it on Wharf's own bridges only), and the source is masqueraded to the
//! bridge's address on the way out, so the container answers to an address it can reach.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::ipam::Subnet;

/// Errors from running `nft`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run nft (install Debian's nftables package): {0}")]
    Spawn(std::io::Error),
    #[error("nft refused Wharf's rules for table {table}: {stderr}")]
    Rejected { table: String, stderr: String },
}

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One bridge network's part of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnet: Subnet,
    /// No traffic in or out of the bridge (`--internal`).
    pub internal: bool,
    /// Masquerade traffic leaving for elsewhere (dockerd's `enable_ip_masquerade`, default on).
    pub masquerade: bool,
}

/// One published port: `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortMap {
    pub proto: Proto,
    /// `None` publishes on every local address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// Everything Wharf wants in its table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PortMap>,
}

fn quote(name: &str) -> String {
    // Interface names never contain quotes or whitespace (the kernel refuses them).
    format!("\"{name}\"")
}

impl Ruleset {
    /// The `nft -f` script that replaces table `ip <table>` with this state.
    pub fn render(&self, table: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "add table ip {table}");
        let _ = writeln!(s, "delete table ip {table}");
        let _ = writeln!(s, "table ip {table} {{");

        // Published ports.
        let _ = writeln!(s, "\tchain publish {{");
        let mut ports = self.ports.clone();
        ports.sort();
        for p in &ports {
            let daddr = p
                .host_ip
                .filter(|ip| !ip.is_unspecified())
                .map(|ip| format!("ip daddr {ip} "))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "\t\t{daddr}{proto} dport {hp} dnat to {cip}:{cp}",
                proto = p.proto.as_str(),
                hp = p.host_port,
                cip = p.container_ip,
                cp = p.container_port,
            );
        }
        let _ = writeln!(s, "\t}}");
        for (chain, hook) in [("prerouting", "prerouting"), ("output", "output")] {
            let _ = writeln!(
                s,
                "\tchain {chain} {{\n\t\ttype nat hook {hook} priority -100; policy accept;\n\t\tfib daddr type local jump publish\n\t}}"
            );
        }

        // Source NAT.
        let _ = writeln!(
            s,
            "\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;"
        );
        for n in &self.networks {
            let br = quote(&n.bridge);
            // Published ports reached through loopback, and hairpin (a container reaching a
            // published port through a host address): answers must come back through the host.
            let _ = writeln!(s, "\t\toifname {br} ip saddr 127.0.0.0/8 masquerade");
            let _ = writeln!(
                s,
                "\t\toifname {br} ip saddr {} ct status dnat masquerade",
                n.subnet
            );
            if !n.internal && n.masquerade {
                let _ = writeln!(s, "\t\tip saddr {} oifname != {br} masquerade", n.subnet);
            }
        }
        let _ = writeln!(s, "\t}}");

        // Isolation between networks, and of internal ones.
        let _ = writeln!(
            s,
            "\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;"
        );
        for n in &self.networks {
            let br = quote(&n.bridge);
            if n.internal {
                let _ = writeln!(s, "\t\tiifname {br} oifname != {br} drop");
                let _ = writeln!(s, "\t\toifname {br} iifname != {br} drop");
                continue;
            }
            let others: Vec<String> = self
                .networks
                .iter()
                .filter(|o| o.bridge != n.bridge && !o.internal)
                .map(|o| quote(&o.bridge))
                .collect();
            if !others.is_empty() {
                let _ = writeln!(
                    s,
                    "\t\tiifname {br} oifname {{ {} }} drop",
                    others.join(", ")
                );
            }
        }
        let _ = writeln!(s, "\t}}");
        let _ = writeln!(s, "}}");
        s
    }
}

/// Runs `nft -f -` with `script`.
pub fn apply(table: &str, script: &str) -> Result<(), Error> {
    run_nft(&["-f", "-"], Some(script))
        .map(|_| ())
        .map_err(|e| match e {
            NftError::Spawn(e) => Error::Spawn(e),
            NftError::Failed(stderr) => Error::Rejected {
                table: table.to_string(),
                stderr,
            },
        })
}

/// Removes table `ip <table>` if it exists.
pub fn delete_table(table: &str) -> Result<(), Error> {
    apply(
        table,
        &format!("add table ip {table}\ndelete table ip {table}\n"),
    )
}

/// Whether table `ip <table>` exists.
pub fn table_exists(table: &str) -> bool {
    run_nft(&["list", "table", "ip", table], None).is_ok()
}

enum NftError {
    Spawn(std::io::Error),
    Failed(String),
}

fn run_nft(args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(NftError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(NftError::Spawn)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NftError::Failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ruleset {
        Ruleset {
            networks: vec![
                NetworkRules {
                    bridge: "wt0".into(),
                    subnet: "10.77.0.0/16".parse().expect("subnet"),
                    internal: false,
                    masquerade: true,
                },
                NetworkRules {
                    bridge: "wt-a".into(),
                    subnet: "10.78.0.0/24".parse().expect("subnet"),
                    internal: false,
                    masquerade: true,
                },
                NetworkRules {
                    bridge: "wt-i".into(),
                    subnet: "10.79.0.0/24".parse().expect("subnet"),
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![
                PortMap {
                    proto: Proto::Udp,
                    host_ip: None,
                    host_port: 5353,
                    container_ip: Ipv4Addr::new(10, 77, 0, 3),
                    container_port: 53,
                },
                PortMap {
                    proto: Proto::Tcp,
                    host_ip: Some(Ipv4Addr::LOCALHOST),
                    host_port: 18080,
                    container_ip: Ipv4Addr::new(10, 77, 0, 2),
                    container_port: 80,
                },
            ],
        }
    }

    #[test]
    fn the_script_replaces_the_whole_table() {
        let s = sample().render("wtest");
        assert!(s.starts_with("add table ip wtest\ndelete table ip wtest\ntable ip wtest {\n"));
        assert!(s.contains("\t\tip daddr 127.0.0.1 tcp dport 18080 dnat to 10.77.0.2:80\n"));
        assert!(s.contains("\t\tudp dport 5353 dnat to 10.77.0.3:53\n"));
        assert!(s.contains("ip saddr 10.77.0.0/16 oifname != \"wt0\" masquerade"));
        assert!(
            !s.contains("ip saddr 10.79.0.0/24 oifname != \"wt-i\" masquerade"),
            "internal networks get no egress"
        );
        assert!(s.contains("iifname \"wt-i\" oifname != \"wt-i\" drop"));
        assert!(s.contains("iifname \"wt0\" oifname { \"wt-a\" } drop"));
        assert!(s.contains("iifname \"wt-a\" oifname { \"wt0\" } drop"));
        // Rendering is deterministic whatever the order ports were added in.
        let mut other = sample();
        other.ports.reverse();
        assert_eq!(other.render("wtest"), s);
    }

    #[test]
    fn nft_accepts_the_script_and_it_can_be_removed() {
        // Checked with `nft -c` (parse and validate against the kernel, commit nothing), so
        // the test never changes the host's ruleset.
        if !std::path::Path::new("/usr/sbin/nft").exists() || !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root and nft");
            return;
        }
        let table = format!("wtnft{}", std::process::id());
        let script = sample().render(&table);
        let checked = run_nft(&["-c", "-f", "-"], Some(&script));
        if let Err(NftError::Failed(e)) = &checked {
            panic!("nft rejected the script: {e}\n{script}");
        }
        assert!(checked.is_ok());
        assert!(!table_exists(&table));
    }
}
