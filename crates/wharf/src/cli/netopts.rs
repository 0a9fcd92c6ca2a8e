//! The networking flags of `run`/`create` and the `network` commands, read as docker CLI 28
//! reads them: `-p`/`--expose` port specs (go-connections' `nat` rules), `--network` with its
//! `name=…,alias=…` long form, the per-container network options that attach to the first
//! network, and the address, MAC, DNS and `--add-host` checks, each with docker's error text.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::bail;
use serde_json::{Map, Value, json};

use super::StatusError;

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// One container port bound by `-p`: the container port (`80/tcp`) and the host side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// `80/tcp`.
    pub port: String,
    /// The host address (brackets of an IPv6 address removed), "" for all.
    pub host_ip: String,
    /// The host port, a range (`8000-8010`) for one container port given a host range, "" for
    /// any.
    pub host_port: String,
}

/// Go's `strconv.ParseUint(text, 10, 16)`, with its error text.
fn parse_u16(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseUint: parsing {text:?}: invalid syntax"
        ));
    }
    text.parse::<u16>()
        .map_err(|_| format!("strconv.ParseUint: parsing {text:?}: value out of range"))
}

/// `nat.ParsePortRange`: `80` or `8000-8010` (only the first two `-` parts count, as in Go).
pub fn parse_port_range(ports: &str) -> Result<(u16, u16), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".into());
    }
    if !ports.contains('-') {
        let port = parse_u16(ports)?;
        return Ok((port, port));
    }
    let mut parts = ports.split('-');
    let start = parse_u16(parts.next().unwrap_or_default())?;
    let end = parse_u16(parts.next().unwrap_or_default())?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// `nat.SplitProtoPort`: `80/udp` → ("udp", "80"); no protocol is tcp; no port is ("", "").
fn split_proto_port(raw: &str) -> (String, &str) {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        return (String::new(), "");
    }
    let proto = if proto.is_empty() { "tcp" } else { proto };
    (proto.to_string(), port)
}

/// Splits `[ip:][hostPort:]containerPort`; with more than three `:` parts, all but the last
/// two are the address (an IPv6 address, bracketed or not).
fn split_port_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [container] => (String::new(), "", container),
        [host, container] => (String::new(), host, container),
        [ip, host, container] => (ip.to_string(), host, container),
        _ => {
            let n = parts.len();
            (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1])
        }
    }
}

/// `nat.ParsePortSpec`: one `-p` value, `[ip:][hostPort:]containerPort[/proto]` with port
/// ranges, into one mapping per container port.
pub fn parse_port_spec(raw: &str) -> anyhow::Result<Vec<PortMapping>> {
    let (mut ip, host_port, container_port) = split_port_parts(raw);
    let (proto, container_port) = split_proto_port(container_port);
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    if let Some(bracketed) = ip.strip_prefix('[') {
        match bracketed.strip_suffix(']') {
            Some(inner) if !inner.contains(['[', ']']) => ip = inner.to_string(),
            _ => bail!("invalid IP address {ip}: address {ip}:: missing ']' in address"),
        }
    }
    if !ip.is_empty() && parse_ip(&ip).is_none() {
        bail!("invalid IP address: {ip}");
    }
    if container_port.is_empty() {
        bail!("no port specified: {raw}<empty>");
    }
    let (start, end) = parse_port_range(container_port)
        .map_err(|_| anyhow::anyhow!("invalid containerPort: {container_port}"))?;
    let (mut host_start, mut host_end) = (0u16, 0u16);
    if !host_port.is_empty() {
        (host_start, host_end) = parse_port_range(host_port)
            .map_err(|_| anyhow::anyhow!("invalid hostPort: {host_port}"))?;
        // A host range for a single container port is the range to pick a free port from.
        if end - start != host_end - host_start && end != start {
            bail!(
                "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            );
        }
    }
    let count = u32::from(end - start) + 1;
    Ok((0..count)
        .map(|i| {
            let host = if host_port.is_empty() {
                String::new()
            } else {
                let first = u32::from(host_start) + i;
                if count == 1 && host_start != host_end {
                    format!("{first}-{host_end}")
                } else {
                    first.to_string()
                }
            };
            PortMapping {
                port: format!("{}/{proto}", u32::from(start) + i),
                host_ip: ip.clone(),
                host_port: host,
            }
        })
        .collect())
}

/// docker's `convertToStandardNotation`: the long `-p target=80,published=8080,protocol=udp`
/// form becomes `8080:80/udp`; the short form is kept.
pub fn publish_standard_notation(spec: &str) -> anyhow::Result<String> {
    if !spec.contains('=') {
        return Ok(spec.to_string());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in spec.split(',') {
        match param.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                params.insert(key, value);
            }
            _ => bail!("invalid publish opts format (should be name=value but got '{param}')"),
        }
    }
    let get = |key: &str| params.get(key).copied().unwrap_or_default();
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// The ports `-p` values publish and their bindings: `Config.ExposedPorts` keys and
/// `HostConfig.PortBindings` (`nat.ParsePortSpecs` after the long-form conversion).
pub fn parse_publish(specs: &[String]) -> anyhow::Result<BTreeMap<String, Vec<PortMapping>>> {
    let mut bindings: BTreeMap<String, Vec<PortMapping>> = BTreeMap::new();
    for spec in specs {
        for mapping in parse_port_spec(&publish_standard_notation(spec)?)? {
            bindings
                .entry(mapping.port.clone())
                .or_default()
                .push(mapping);
        }
    }
    Ok(bindings)
}

/// One `--expose` value (`80`, `80/udp`, `8000-8002/tcp`) as the ports it names.
pub fn parse_expose(spec: &str) -> anyhow::Result<Vec<String>> {
    if spec.contains(':') {
        bail!("invalid port format for --expose: {spec}");
    }
    let (proto, port) = split_proto_port(spec);
    let (start, end) = parse_port_range(port)
        .map_err(|e| anyhow::anyhow!("invalid range format for --expose: {spec}, error: {e}"))?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/// Go's `net.ParseIP`: an IPv4 or IPv6 address (no zone, no brackets).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok()
}

/// Go's `net.IP.String()`: IPv4-mapped IPv6 addresses print as IPv4.
pub fn ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// A parsed CIDR (`10.5.0.0/16`): the address as written and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address before the `/`.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Go's `net.ParseCIDR`, with its error text.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let invalid = || format!("invalid CIDR address: {text}");
        let (addr, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let addr = parse_ip(addr).ok_or_else(invalid)?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(invalid());
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside this network (IPv4-mapped addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let widen = |ip: IpAddr| -> (bool, u128) {
            match ip {
                IpAddr::V4(v4) => (true, u128::from(u32::from(v4))),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => (true, u128::from(u32::from(v4))),
                    None => (false, u128::from(v6)),
                },
            }
        };
        let (net_v4, net) = widen(self.addr);
        let (ip_v4, ip) = widen(ip);
        if net_v4 != ip_v4 {
            return false;
        }
        let bits = if net_v4 { 32 } else { 128 };
        let host_bits = bits - u32::from(self.prefix);
        if host_bits >= 128 {
            return true;
        }
        (net >> host_bits) == (ip >> host_bits)
    }
}

/// Go's `net.ParseMAC` (6, 8 or 20 octets; `:`, `-` or dotted `xxxx.xxxx.xxxx` notation).
pub fn is_valid_mac(text: &str) -> bool {
    let hex = |group: &str, len: usize| {
        group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let sizes = |n: usize| matches!(n, 6 | 8 | 20);
    if text.contains('.') {
        let groups: Vec<&str> = text.split('.').collect();
        return sizes(groups.len() * 2) && groups.iter().all(|g| hex(g, 4));
    }
    for separator in [':', '-'] {
        if text.contains(separator) {
            let groups: Vec<&str> = text.split(separator).collect();
            return sizes(groups.len()) && groups.iter().all(|g| hex(g, 2));
        }
    }
    false
}

/// `--mac-address`: docker's check, on the trimmed text.
pub fn check_mac(text: &str) -> anyhow::Result<()> {
    if !is_valid_mac(text.trim()) {
        bail!("{text} is not a valid mac address");
    }
    Ok(())
}

/// A flag value its own check refused (pflag's "invalid argument" error): docker reports it
/// with the command's usage line and status 125, see [`FlagError::report`].
#[derive(Debug, thiserror::Error)]
#[error("invalid argument {value:?} for \"{flag}\" flag: {reason}")]
pub struct FlagError {
    /// The flag, `--dns`.
    pub flag: String,
    /// The value given.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl FlagError {
    /// What docker prints for this error in `wharf {command}`, whose usage is
    /// `{command} {usage}`: the error, the usage line, the help hint; status 125.
    pub fn usage_error(&self, command: &str, usage: &str) -> StatusError {
        StatusError {
            code: 125,
            message: format!(
                "{self}\n\nUsage:  wharf {command} {usage}\n\nRun 'wharf {command} --help' for more information"
            ),
        }
    }

    /// [`FlagError::usage_error`] when `error` is a flag error; other errors pass through.
    pub fn report(error: anyhow::Error, command: &str, usage: &str) -> anyhow::Error {
        match error.downcast_ref::<FlagError>() {
            Some(flag) => flag.usage_error(command, usage).into(),
            None => error,
        }
    }
}

/// A [`FlagError`] as an `anyhow` error.
pub fn flag_error(flag: &str, value: &str, reason: &str) -> anyhow::Error {
    FlagError {
        flag: flag.into(),
        value: value.into(),
        reason: reason.into(),
    }
    .into()
}

/// docker's warning for a `--dns` server on loopback (it is the container's own loopback
/// there), printed after the daemon's create warnings.
pub fn localhost_dns_warning(dns: &Value) -> Option<String> {
    dns.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(parse_ip)
        .find(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => v6.is_loopback(),
        })
        .map(|ip| format!("Localhost DNS ({ip}) may fail in containers."))
}

/// `--dns`: an address, sent in Go's canonical form.
pub fn parse_dns(value: &str) -> anyhow::Result<String> {
    parse_ip(value.trim()).map(ip_string).ok_or_else(|| {
        flag_error(
            "--dns",
            value,
            &format!("IP address is not correctly formatted: {value}"),
        )
    })
}

/// One DNS label: letters and digits, inner hyphens.
fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// `--dns-search`: a domain (a trailing dot dropped) or `.`.
pub fn parse_dns_search(value: &str) -> anyhow::Result<String> {
    let trimmed = value.trim_matches(' ');
    if trimmed == "." {
        return Ok(trimmed.to_string());
    }
    let invalid = || {
        flag_error(
            "--dns-search",
            value,
            &format!("{trimmed} is not a valid domain"),
        )
    };
    if !trimmed.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(invalid());
    }
    let domain = trimmed.trim_end_matches(char::is_whitespace);
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.len() >= 255 || !domain.split('.').all(is_dns_label) {
        return Err(invalid());
    }
    Ok(domain.to_string())
}

/// `--add-host name:ip` or `name=ip` (the address may be bracketed, or `host-gateway`), sent
/// as `name:ip`.
pub fn parse_extra_host(value: &str) -> anyhow::Result<String> {
    let (name, address) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .filter(|(name, _)| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| {
            flag_error(
                "--add-host",
                value,
                &format!("bad format for add-host: {value:?}"),
            )
        })?;
    let mut address = address;
    if address != "host-gateway" {
        if address.len() > 2 && address.starts_with('[') && address.ends_with(']') {
            address = &address[1..address.len() - 1];
        }
        if parse_ip(address.trim()).is_none() {
            return Err(flag_error(
                "--add-host",
                value,
                &format!("invalid IP address in add-host: {address:?}"),
            ));
        }
    }
    Ok(format!("{name}:{address}"))
}

/// `--link name[:alias]`: docker's `ParseLink` check.
pub fn check_link(value: &str) -> anyhow::Result<()> {
    if value.is_empty() {
        return Err(flag_error(
            "--link",
            value,
            "empty string specified for links",
        ));
    }
    if value.splitn(3, ':').count() > 2 {
        return Err(flag_error(
            "--link",
            value,
            &format!("bad format for links: {value}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Network attachments
// ---------------------------------------------------------------------------------------------

/// Whether a network mode names a user-defined network (not `default`, `bridge`, `host`,
/// `none` or `container:…`).
pub fn is_user_defined(mode: &str) -> bool {
    let container = mode
        .split_once(':')
        .is_some_and(|(kind, _)| kind == "container");
    !matches!(mode, "default" | "bridge" | "host" | "none") && !container
}

/// One `--network` value with the options that go on its endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// The network (name, ID, or a mode such as `host`, `container:NAME`).
    pub target: String,
    /// Network-scoped DNS aliases.
    pub aliases: Vec<String>,
    /// Driver options of the endpoint.
    pub driver_opts: BTreeMap<String, String>,
    /// Links (`name:alias`), on user-defined networks.
    pub links: Vec<String>,
    /// A static IPv4 address.
    pub ipv4: String,
    /// A static IPv6 address.
    pub ipv6: String,
    /// Link-local addresses.
    pub link_local_ips: Vec<String>,
    /// The endpoint's MAC address.
    pub mac_address: String,
    /// Which endpoint gives the default gateway (highest wins).
    pub gw_priority: i64,
}

/// Whether a `--network` value uses the long form: Go's unanchored `\w+=\w+` match.
fn is_long_syntax(value: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = value.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'=' && i > 0 && word(bytes[i - 1]) && bytes.get(i + 1).copied().is_some_and(word)
    })
}

/// Splits one CSV record (Go's `encoding/csv` for a single line): `,`-separated fields,
/// double-quoted fields with `""` for a quote.
pub fn split_csv(line: &str) -> anyhow::Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => bail!("parse error on line 1: bare \" in non-quoted-field"),
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            _ => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        bail!("parse error on line 1: extraneous or missing \" in quoted-field");
    }
    fields.push(field);
    Ok(fields)
}

/// Reads a `--network` value: a name or mode, or `name=NET,alias=A,ip=…,ip6=…,mac-address=…,
/// link-local-ip=…,driver-opt=k=v,gw-priority=N` (keys and values lowercased, as docker does).
pub fn parse_network_flag(value: &str) -> anyhow::Result<NetworkAttachment> {
    let fail = |error: String| flag_error("--network", value, &error);
    if !is_long_syntax(value) {
        return Ok(NetworkAttachment {
            target: value.to_string(),
            ..NetworkAttachment::default()
        });
    }
    let mut attachment = NetworkAttachment::default();
    for field in split_csv(value).map_err(|e| fail(e.to_string()))? {
        let lower = field.to_lowercase();
        let Some((key, val)) = lower.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(fail(format!("invalid field {field}")));
        };
        let (key, val) = (key.trim(), val.trim().to_string());
        match key {
            "name" => attachment.target = val,
            "alias" => attachment.aliases.push(val),
            "ip" => attachment.ipv4 = val,
            "ip6" => attachment.ipv6 = val,
            "mac-address" => attachment.mac_address = val,
            "link-local-ip" => attachment.link_local_ips.push(val),
            "driver-opt" => {
                let Some((k, v)) = val.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err(fail(
                        "invalid key value pair format in driver options".into(),
                    ));
                };
                attachment
                    .driver_opts
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
            "gw-priority" => {
                attachment.gw_priority = val.parse().map_err(|_| {
                    let why = if !val.is_empty()
                        && val
                            .trim_start_matches(['-', '+'])
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    {
                        "value out of range"
                    } else {
                        "invalid syntax"
                    };
                    fail(format!("invalid gw-priority ({val}): {why}"))
                })?;
            }
            other => return Err(fail(format!("invalid field key {other}"))),
        }
    }
    if attachment.target.is_empty() {
        return Err(fail("network name/id is not specified".into()));
    }
    Ok(attachment)
}

/// The per-container flags that apply to the first network (`--network-alias`, `--link`,
/// `--ip`, `--ip6`, `--mac-address`, `--link-local-ip`).
#[derive(Debug, Clone, Default)]
pub struct EndpointFlags {
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--link`.
    pub links: Vec<String>,
    /// `--ip`.
    pub ipv4: String,
    /// `--ip6`.
    pub ipv6: String,
    /// `--mac-address`.
    pub mac_address: String,
    /// `--link-local-ip`.
    pub link_local_ips: Vec<String>,
}

/// docker's `applyContainerOptions`: puts the flags on the attachment, refusing to set one
/// both ways.
fn apply_endpoint_flags(n: &mut NetworkAttachment, flags: &EndpointFlags) -> anyhow::Result<()> {
    let conflict = |what: &str| anyhow::anyhow!("conflicting options: cannot specify both {what}");
    if !n.aliases.is_empty() && !flags.aliases.is_empty() {
        return Err(conflict("--network-alias and per-network alias"));
    }
    if !n.links.is_empty() && !flags.links.is_empty() {
        return Err(conflict("--link and per-network links"));
    }
    if !n.ipv4.is_empty() && !flags.ipv4.is_empty() {
        return Err(conflict("--ip and per-network IPv4 address"));
    }
    if !n.ipv6.is_empty() && !flags.ipv6.is_empty() {
        return Err(conflict("--ip6 and per-network IPv6 address"));
    }
    if !n.mac_address.is_empty() && !flags.mac_address.is_empty() {
        return Err(conflict("--mac-address and per-network MAC address"));
    }
    if !n.link_local_ips.is_empty() && !flags.link_local_ips.is_empty() {
        return Err(conflict(
            "--link-local-ip and per-network link-local IP addresses",
        ));
    }
    if !flags.aliases.is_empty() {
        n.aliases = flags.aliases.clone();
    }
    // On a user-defined network a link is an endpoint alias; on the default bridge it is a
    // legacy link in HostConfig only.
    if is_user_defined(&n.target) && !flags.links.is_empty() {
        n.links = flags.links.clone();
    }
    if !flags.ipv4.is_empty() {
        n.ipv4 = flags.ipv4.clone();
    }
    if !flags.ipv6.is_empty() {
        n.ipv6 = flags.ipv6.clone();
    }
    if !flags.mac_address.is_empty() {
        n.mac_address = flags.mac_address.clone();
    }
    if !flags.link_local_ips.is_empty() {
        n.link_local_ips = flags.link_local_ips.clone();
    }
    Ok(())
}

fn strings_or_null(list: &[String]) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        json!(list)
    }
}

/// An `EndpointSettings` as docker sends it: every field present, the operational ones empty.
fn endpoint_settings(
    ipam: Value,
    links: Value,
    aliases: Value,
    mac_address: &str,
    driver_opts: Value,
    gw_priority: i64,
) -> Value {
    json!({
        "IPAMConfig": ipam,
        "Links": links,
        "Aliases": aliases,
        "MacAddress": mac_address,
        "DriverOpts": driver_opts,
        "GwPriority": gw_priority,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": Value::Null,
    })
}

/// An `EndpointIPAMConfig` (its fields are omitted when empty).
pub fn endpoint_ipam(ipv4: &str, ipv6: &str, link_local_ips: &[String]) -> Value {
    let mut ipam = Map::new();
    if !ipv4.is_empty() {
        ipam.insert("IPv4Address".into(), json!(ipv4));
    }
    if !ipv6.is_empty() {
        ipam.insert("IPv6Address".into(), json!(ipv6));
    }
    if !link_local_ips.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(link_local_ips));
    }
    Value::Object(ipam)
}

/// The endpoint of one attachment (docker's `parseNetworkAttachmentOpt`); `None` when it
/// carries no settings at all.
fn endpoint(n: &NetworkAttachment) -> anyhow::Result<Option<Value>> {
    if n.target.trim().is_empty() {
        bail!("no name set for network");
    }
    if !is_user_defined(&n.target) {
        if !n.aliases.is_empty() {
            bail!("network-scoped aliases are only supported for user-defined networks");
        }
        if !n.links.is_empty() {
            bail!("links are only supported for user-defined networks");
        }
    }
    if !n.mac_address.is_empty() {
        check_mac(&n.mac_address)?;
    }
    let has_ipam = !n.ipv4.is_empty() || !n.ipv6.is_empty() || !n.link_local_ips.is_empty();
    let empty = !has_ipam
        && n.aliases.is_empty()
        && n.links.is_empty()
        && n.driver_opts.is_empty()
        && n.mac_address.is_empty()
        && n.gw_priority == 0;
    let settings = endpoint_settings(
        if has_ipam {
            endpoint_ipam(&n.ipv4, &n.ipv6, &n.link_local_ips)
        } else {
            Value::Null
        },
        strings_or_null(&n.links),
        strings_or_null(&n.aliases),
        &n.mac_address,
        if n.driver_opts.is_empty() {
            Value::Null
        } else {
            json!(n.driver_opts)
        },
        n.gw_priority,
    );
    Ok((!empty).then_some(settings))
}

/// `HostConfig.NetworkMode` and `NetworkingConfig.EndpointsConfig` for the `--network` values
/// and the endpoint flags (docker's `parseNetworkOpts`). Without `--network` the mode is
/// `default` and its endpoint is always sent; with one network and no settings, none is.
pub fn network_config(
    networks: &[NetworkAttachment],
    flags: &EndpointFlags,
) -> anyhow::Result<(String, Map<String, Value>)> {
    let mut endpoints = Map::new();
    if networks.is_empty() {
        let mut n = NetworkAttachment {
            target: "default".into(),
            ..NetworkAttachment::default()
        };
        apply_endpoint_flags(&mut n, flags)?;
        let settings = endpoint(&n)?.unwrap_or_else(|| {
            endpoint_settings(Value::Null, Value::Null, Value::Null, "", Value::Null, 0)
        });
        endpoints.insert("default".into(), settings);
        return Ok(("default".into(), endpoints));
    }
    let (mut user_defined, mut other) = (false, false);
    for (i, network) in networks.iter().enumerate() {
        let mut n = network.clone();
        if is_user_defined(&n.target) {
            user_defined = true;
        } else {
            other = true;
        }
        if i == 0 {
            apply_endpoint_flags(&mut n, flags)?;
        }
        let settings = endpoint(&n)?;
        if endpoints.contains_key(&n.target) {
            bail!("network {:?} is specified multiple times", n.target);
        }
        match settings {
            None if networks.len() == 1 => {}
            None => {
                endpoints.insert(
                    n.target.clone(),
                    endpoint_settings(Value::Null, Value::Null, Value::Null, "", Value::Null, 0),
                );
            }
            Some(settings) => {
                endpoints.insert(n.target.clone(), settings);
            }
        }
    }
    if user_defined && other {
        bail!(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
    }
    Ok((networks[0].target.clone(), endpoints))
}

/// The body of `POST /networks/{id}/connect`: the `network connect` flags in `endpoint`
/// (its target unused), every `EndpointSettings` field present as docker sends them.
pub fn connect_body(container: &str, endpoint: &NetworkAttachment) -> Value {
    json!({
        "Container": container.trim(),
        "EndpointConfig": endpoint_settings(
            endpoint_ipam(&endpoint.ipv4, &endpoint.ipv6, &endpoint.link_local_ips),
            strings_or_null(&endpoint.links),
            json!(endpoint.aliases),
            &endpoint.mac_address,
            json!(endpoint.driver_opts),
            endpoint.gw_priority,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(port: &str, ip: &str, host: &str) -> PortMapping {
        PortMapping {
            port: port.into(),
            host_ip: ip.into(),
            host_port: host.into(),
        }
    }

    fn error(result: anyhow::Result<impl std::fmt::Debug>) -> String {
        format!("{:#}", result.expect_err("an error"))
    }

    #[test]
    fn port_ranges_parse_as_go_does() {
        assert_eq!(parse_port_range("80"), Ok((80, 80)));
        assert_eq!(parse_port_range("8000-8010"), Ok((8000, 8010)));
        assert_eq!(parse_port_range("0"), Ok((0, 0)));
        assert_eq!(
            parse_port_range("http"),
            Err("strconv.ParseUint: parsing \"http\": invalid syntax".into())
        );
        assert_eq!(
            parse_port_range("70000"),
            Err("strconv.ParseUint: parsing \"70000\": value out of range".into())
        );
        assert_eq!(
            parse_port_range("+1"),
            Err("strconv.ParseUint: parsing \"+1\": invalid syntax".into())
        );
        assert_eq!(
            parse_port_range("90-80"),
            Err("invalid range specified for port: 90-80".into())
        );
        assert!(parse_port_range("").is_err());
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse_port_spec("80").expect("valid"),
            vec![mapping("80/tcp", "", "")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:8080:80/UDP").expect("valid"),
            vec![mapping("80/udp", "127.0.0.1", "8080")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1::80").expect("valid"),
            vec![mapping("80/tcp", "127.0.0.1", "")]
        );
        assert_eq!(
            parse_port_spec("[::1]:80:80").expect("valid"),
            vec![mapping("80/tcp", "::1", "80")]
        );
        assert_eq!(
            parse_port_spec("::1:80:80").expect("valid"),
            vec![mapping("80/tcp", "::1", "80")]
        );
        assert_eq!(
            parse_port_spec("8000-8002:80-82/udp").expect("valid"),
            vec![
                mapping("80/udp", "", "8000"),
                mapping("81/udp", "", "8001"),
                mapping("82/udp", "", "8002"),
            ]
        );
        assert_eq!(
            parse_port_spec("8000-8010:80").expect("valid"),
            vec![mapping("80/tcp", "", "8000-8010")]
        );
        assert_eq!(parse_port_spec("80-81").expect("valid").len(), 2);
        assert_eq!(
            error(parse_port_spec("8080:http")),
            "invalid containerPort: http"
        );
        assert_eq!(error(parse_port_spec("x:80")), "invalid hostPort: x");
        assert_eq!(error(parse_port_spec("80/icmp")), "invalid proto: icmp");
        assert_eq!(error(parse_port_spec("8080:")), "invalid proto: ");
        assert_eq!(
            error(parse_port_spec("1.2.3:80:80")),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(
            error(parse_port_spec("8000-8001:80-82")),
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"
        );
    }

    #[test]
    fn long_publish_form_and_bindings() {
        assert_eq!(
            publish_standard_notation("target=80,published=8080,protocol=udp").expect("valid"),
            "8080:80/udp"
        );
        assert_eq!(
            publish_standard_notation("target=80").expect("valid"),
            ":80/tcp"
        );
        assert_eq!(
            error(publish_standard_notation("target=80,bogus")),
            "invalid publish opts format (should be name=value but got 'bogus')"
        );
        let bindings = parse_publish(&[
            "8080:80".into(),
            "127.0.0.1:9090:80".into(),
            "53/udp".into(),
        ])
        .expect("valid");
        assert_eq!(
            bindings["80/tcp"],
            vec![
                mapping("80/tcp", "", "8080"),
                mapping("80/tcp", "127.0.0.1", "9090")
            ]
        );
        assert_eq!(bindings["53/udp"], vec![mapping("53/udp", "", "")]);
    }

    #[test]
    fn expose_specs() {
        assert_eq!(parse_expose("80").expect("valid"), ["80/tcp"]);
        assert_eq!(
            parse_expose("90-92/udp").expect("valid"),
            ["90/udp", "91/udp", "92/udp"]
        );
        assert_eq!(
            error(parse_expose("80:80")),
            "invalid port format for --expose: 80:80"
        );
        assert_eq!(
            error(parse_expose("http")),
            "invalid range format for --expose: http, error: strconv.ParseUint: parsing \"http\": invalid syntax"
        );
        assert_eq!(
            error(parse_expose("/udp")),
            "invalid range format for --expose: /udp, error: empty string specified for ports"
        );
    }

    #[test]
    fn cidrs_and_addresses() {
        let net = Cidr::parse("10.5.0.0/16").expect("valid");
        assert!(net.contains("10.5.1.1".parse().expect("ip")));
        assert!(!net.contains("10.6.0.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("valid")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        let v6 = Cidr::parse("fd00::/64").expect("valid");
        assert!(v6.contains("fd00::5".parse().expect("ip")));
        assert!(!v6.contains("fd01::5".parse().expect("ip")));
        assert_eq!(
            Cidr::parse("10.5.0.0"),
            Err("invalid CIDR address: 10.5.0.0".into())
        );
        assert!(Cidr::parse("10.5.0.0/33").is_err());
        assert_eq!(ip_string("::ffff:1.2.3.4".parse().expect("ip")), "1.2.3.4");
        assert_eq!(parse_dns(" 0:0::1").expect("valid"), "::1");
        assert_eq!(
            error(parse_dns("dns.example")),
            "invalid argument \"dns.example\" for \"--dns\" flag: IP address is not correctly formatted: dns.example"
        );
    }

    #[test]
    fn macs_domains_and_hosts() {
        assert!(is_valid_mac("92:d0:c6:0a:29:33"));
        assert!(is_valid_mac("92-D0-C6-0A-29-33"));
        assert!(is_valid_mac("92d0.c60a.2933"));
        assert!(!is_valid_mac("92:d0:c6:0a:29"));
        assert!(!is_valid_mac("92:d0:c6:0a:29:3"));
        assert_eq!(error(check_mac("nope")), "nope is not a valid mac address");
        assert_eq!(
            parse_dns_search("example.com.").expect("valid"),
            "example.com"
        );
        assert_eq!(parse_dns_search(".").expect("valid"), ".");
        assert_eq!(
            error(parse_dns_search("-bad")),
            "invalid argument \"-bad\" for \"--dns-search\" flag: -bad is not a valid domain"
        );
        assert!(parse_dns_search("123").is_err());
        assert_eq!(
            parse_extra_host("db:10.0.0.2").expect("valid"),
            "db:10.0.0.2"
        );
        assert_eq!(parse_extra_host("db=[::1]").expect("valid"), "db:::1");
        assert_eq!(
            parse_extra_host("gw:host-gateway").expect("valid"),
            "gw:host-gateway"
        );
        assert_eq!(parse_extra_host("v6:::1").expect("valid"), "v6:::1");
        assert_eq!(
            error(parse_extra_host("nohost")),
            "invalid argument \"nohost\" for \"--add-host\" flag: bad format for add-host: \"nohost\""
        );
        assert_eq!(
            error(parse_extra_host("h:notip")),
            "invalid argument \"h:notip\" for \"--add-host\" flag: invalid IP address in add-host: \"notip\""
        );
        assert!(check_link("a:b").is_ok());
        assert!(check_link("a:b:c").is_err());
    }

    #[test]
    fn flag_errors_report_like_cobra() {
        let error = FlagError::report(
            parse_dns("x").expect_err("refused"),
            "run",
            "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        );
        let status = error.downcast_ref::<StatusError>().expect("a status error");
        assert_eq!(status.code, 125);
        assert_eq!(
            status.message,
            "invalid argument \"x\" for \"--dns\" flag: IP address is not correctly formatted: x\n\n\
             Usage:  wharf run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
             Run 'wharf run --help' for more information"
        );
        let other = FlagError::report(anyhow::anyhow!("plain"), "run", "");
        assert_eq!(other.to_string(), "plain");
        assert_eq!(
            localhost_dns_warning(&json!(["1.1.1.1", "127.0.0.53"])).as_deref(),
            Some("Localhost DNS (127.0.0.53) may fail in containers.")
        );
        assert_eq!(localhost_dns_warning(&json!(["1.1.1.1"])), None);
    }

    #[test]
    fn network_flag_forms() {
        assert_eq!(parse_network_flag("net1").expect("valid").target, "net1");
        assert_eq!(
            parse_network_flag("container:web").expect("valid").target,
            "container:web"
        );
        let long = parse_network_flag(
            "name=Net1,alias=a,alias=b,ip=10.0.0.5,driver-opt=k=v,gw-priority=3",
        )
        .expect("valid");
        assert_eq!(long.target, "net1");
        assert_eq!(long.aliases, ["a", "b"]);
        assert_eq!(long.ipv4, "10.0.0.5");
        assert_eq!(long.driver_opts["k"], "v");
        assert_eq!(long.gw_priority, 3);
        assert_eq!(
            error(parse_network_flag("alias=a")),
            "invalid argument \"alias=a\" for \"--network\" flag: network name/id is not specified"
        );
        assert_eq!(
            error(parse_network_flag("name=n,color=red")),
            "invalid argument \"name=n,color=red\" for \"--network\" flag: invalid field key color"
        );
        assert_eq!(split_csv(r#"a,"b,c",d"#).expect("valid"), ["a", "b,c", "d"]);
        assert!(is_user_defined("net1"));
        assert!(!is_user_defined("container:x"));
        assert!(!is_user_defined("host"));
    }

    #[test]
    fn endpoints_follow_docker_s_rules() {
        // No --network: the default mode, and its endpoint is always sent.
        let (mode, endpoints) = network_config(&[], &EndpointFlags::default()).expect("valid");
        assert_eq!(mode, "default");
        assert_eq!(endpoints["default"]["Aliases"], Value::Null);
        assert_eq!(endpoints["default"]["IPAMConfig"], Value::Null);
        // One network without settings: no endpoint.
        let net1 = parse_network_flag("net1").expect("valid");
        let (mode, endpoints) =
            network_config(std::slice::from_ref(&net1), &EndpointFlags::default()).expect("valid");
        assert_eq!(mode, "net1");
        assert!(endpoints.is_empty());
        // The flags go to the first network.
        let flags = EndpointFlags {
            aliases: vec!["web".into()],
            ipv4: "10.5.0.3".into(),
            mac_address: "92:d0:c6:0a:29:33".into(),
            ..EndpointFlags::default()
        };
        let net2 = parse_network_flag("net2").expect("valid");
        let (_, endpoints) = network_config(&[net1.clone(), net2], &flags).expect("valid");
        assert_eq!(endpoints["net1"]["Aliases"], json!(["web"]));
        assert_eq!(
            endpoints["net1"]["IPAMConfig"],
            json!({"IPv4Address": "10.5.0.3"})
        );
        assert_eq!(endpoints["net1"]["MacAddress"], "92:d0:c6:0a:29:33");
        assert_eq!(endpoints["net2"]["Aliases"], Value::Null);
        // Conflicts and misuse.
        let long = parse_network_flag("name=net1,alias=x").expect("valid");
        assert_eq!(
            error(network_config(&[long], &flags)),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        assert_eq!(
            error(network_config(
                &[net1.clone(), net1.clone()],
                &EndpointFlags::default()
            )),
            "network \"net1\" is specified multiple times"
        );
        let host = parse_network_flag("host").expect("valid");
        assert_eq!(
            error(network_config(
                &[net1, host.clone()],
                &EndpointFlags::default()
            )),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        let alias = EndpointFlags {
            aliases: vec!["a".into()],
            ..EndpointFlags::default()
        };
        assert_eq!(
            error(network_config(&[host], &alias)),
            "network-scoped aliases are only supported for user-defined networks"
        );
        let bad_mac = EndpointFlags {
            mac_address: "zz".into(),
            ..EndpointFlags::default()
        };
        assert_eq!(
            error(network_config(&[], &bad_mac)),
            "zz is not a valid mac address"
        );
    }

    #[test]
    fn connect_body_matches_docker_s() {
        let endpoint = NetworkAttachment {
            ipv4: "10.5.0.9".into(),
            aliases: vec!["a".into()],
            ..NetworkAttachment::default()
        };
        let body = connect_body("c1", &endpoint);
        assert_eq!(
            serde_json::to_string(&body).expect("serializes"),
            concat!(
                r#"{"Container":"c1","EndpointConfig":{"Aliases":["a"],"DNSNames":null,"#,
                r#""DriverOpts":{},"EndpointID":"","Gateway":"","GlobalIPv6Address":"","#,
                r#""GlobalIPv6PrefixLen":0,"GwPriority":0,"IPAMConfig":{"IPv4Address":"10.5.0.9"},"#,
                r#""IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","Links":null,"MacAddress":"","#,
                r#""NetworkID":""}}"#
            )
        );
    }
}
