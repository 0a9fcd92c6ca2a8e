//! `network create | ls | inspect | rm | prune | connect | disconnect`, with docker CLI 28's
//! flags, request bodies, output and errors.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::bail;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Map, Value, json};

use super::StatusError;
use super::client::{Client, Query, RequestBody};
use super::create::filters_json;
use super::format::{OutputFormat, Template, go_time_string, natural_cmp, truncate_id};
use super::netopts::{
    Cidr, FlagError, NetworkAttachment, check_link, connect_body, flag_error, parse_ip,
};

/// `network` subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

/// `network create` flags.
#[derive(Debug, Args, Default)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable or disable IPv4 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: Option<bool>,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Control the network's scope
    #[arg(long, default_value = "")]
    pub scope: String,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// The network from which to copy the configuration
    #[arg(long = "config-from")]
    pub config_from: Option<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_delimiter = ',')]
    pub subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// NETWORK
    pub name: String,
}

/// `network ls` flags.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
}

/// `network inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `network rm` flags.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `network prune` flags.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `network connect` flags.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, default_value = "")]
    pub ip: String,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, default_value = "")]
    pub ip6: String,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long, value_delimiter = ',')]
    pub alias: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(long = "gw-priority", default_value_t = 0, allow_hyphen_values = true)]
    pub gw_priority: i64,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

/// `network disconnect` flags.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

/// Runs a `network` subcommand.
pub async fn main(client: &Client, command: NetworkCommand) -> anyhow::Result<i32> {
    match command {
        NetworkCommand::Create(args) => create(client, args).await,
        NetworkCommand::Ls(args) => ls(client, args).await,
        NetworkCommand::Inspect(args) => inspect(client, args).await,
        NetworkCommand::Rm(args) => rm(client, args).await,
        NetworkCommand::Prune(args) => prune(client, args).await,
        NetworkCommand::Connect(args) => connect(client, args).await,
        NetworkCommand::Disconnect(args) => disconnect(client, args).await,
    }
}

/// docker's `MapOpts`: `key=value` (or a bare key with an empty value) into a map.
fn key_values(pairs: &[String]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_string(), json!(value))
        })
        .collect()
}

/// `--label`: docker's `ValidateLabel`, then into a map.
fn labels(labels: &[String]) -> anyhow::Result<Map<String, Value>> {
    for label in labels {
        let key = label.split_once('=').map_or(label.as_str(), |(k, _)| k);
        let key = key.trim_start_matches([' ', '\t']);
        let error = if key.is_empty() {
            format!("invalid label '{label}': empty name")
        } else if key.contains([' ', '\t']) {
            format!("label '{key}' contains whitespaces")
        } else {
            continue;
        };
        return Err(flag_error("--label", label, &error));
    }
    Ok(key_values(labels))
}

/// docker's `subnetMatches`: whether `data` (an address or a CIDR) is inside `subnet`.
fn subnet_matches(subnet: &str, data: &str) -> anyhow::Result<bool> {
    let subnet = Cidr::parse(subnet).map_err(|e| anyhow::anyhow!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        Some(Cidr::parse(data).map_err(anyhow::Error::msg)?.addr)
    } else {
        parse_ip(data)
    };
    Ok(ip.is_some_and(|ip| subnet.contains(ip)))
}

/// One `IPAM.Config` entry being assembled.
#[derive(Default)]
struct IpamConfig {
    subnet: String,
    ip_range: String,
    gateway: String,
    aux: BTreeMap<String, String>,
}

/// docker's `createIPAMConfig`: groups `--ip-range`, `--gateway` and `--aux-address` under
/// the `--subnet` they fall in, refusing overlaps and strays.
fn ipam_config(args: &CreateArgs) -> anyhow::Result<Vec<Value>> {
    if args.subnet.len() < args.ip_range.len() || args.subnet.len() < args.gateway.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let mut configs: Vec<IpamConfig> = Vec::new();
    for subnet in &args.subnet {
        for existing in &configs {
            if subnet_matches(subnet, &existing.subnet)?
                || subnet_matches(&existing.subnet, subnet)?
            {
                bail!("multiple overlapping subnet configuration is not supported");
            }
        }
        configs.push(IpamConfig {
            subnet: subnet.clone(),
            ..IpamConfig::default()
        });
    }
    for range in &args.ip_range {
        let mut matched = false;
        for config in &mut configs {
            Cidr::parse(range).map_err(anyhow::Error::msg)?;
            if !subnet_matches(&config.subnet, range)? {
                continue;
            }
            if !config.ip_range.is_empty() {
                bail!(
                    "cannot configure multiple ranges ({range}, {}) on the same subnet ({})",
                    config.ip_range,
                    config.subnet
                );
            }
            config.ip_range = range.clone();
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for range {range}");
        }
    }
    for gateway in &args.gateway {
        let mut matched = false;
        for config in &mut configs {
            if !subnet_matches(&config.subnet, gateway)? {
                continue;
            }
            if !config.gateway.is_empty() {
                bail!(
                    "cannot configure multiple gateways ({gateway}, {}) for the same subnet ({})",
                    config.gateway,
                    config.subnet
                );
            }
            config.gateway = gateway.clone();
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for gateway {gateway}");
        }
    }
    for (key, address) in key_values(&args.aux_address) {
        let address = address.as_str().unwrap_or_default().to_string();
        let mut matched = false;
        for config in &mut configs {
            if subnet_matches(&config.subnet, &address)? {
                config.aux.insert(key.clone(), address.clone());
                matched = true;
            }
        }
        if !matched {
            bail!("no matching subnet for aux-address {address}");
        }
    }
    Ok(configs
        .into_iter()
        .map(|c| {
            let mut entry = Map::new();
            for (key, value) in [
                ("Subnet", c.subnet),
                ("IPRange", c.ip_range),
                ("Gateway", c.gateway),
            ] {
                if !value.is_empty() {
                    entry.insert(key.into(), json!(value));
                }
            }
            if !c.aux.is_empty() {
                entry.insert("AuxiliaryAddresses".into(), json!(c.aux));
            }
            Value::Object(entry)
        })
        .collect())
}

/// The `POST /networks/create` body docker CLI 28 sends for these flags.
pub fn create_body(args: &CreateArgs) -> anyhow::Result<Value> {
    let labels = labels(&args.label)?;
    let config = ipam_config(args)?;
    let mut body = json!({
        "Name": args.name,
        "Driver": args.driver,
        "Scope": args.scope,
        "IPAM": {
            "Driver": args.ipam_driver,
            "Options": key_values(&args.ipam_opt),
            "Config": config,
        },
        "Internal": args.internal,
        "Attachable": args.attachable,
        "Ingress": args.ingress,
        "ConfigOnly": args.config_only,
        "ConfigFrom": args.config_from.as_ref().filter(|c| !c.is_empty()).map(|c| json!({"Network": c})),
        "Options": key_values(&args.opt),
        "Labels": labels,
    });
    if let Some(ipv4) = args.ipv4 {
        body["EnableIPv4"] = json!(ipv4);
    }
    if let Some(ipv6) = args.ipv6 {
        body["EnableIPv6"] = json!(ipv6);
    }
    Ok(body)
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<i32> {
    let body = create_body(&args)
        .map_err(|e| FlagError::report(e, "network create", "[OPTIONS] NETWORK"))?;
    let answer = client
        .json(
            Method::POST,
            "/networks/create",
            &Query::new(),
            RequestBody::Json(body),
        )
        .await?;
    outln!("{}", answer["Id"].as_str().unwrap_or_default());
    Ok(0)
}

const LS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// The template `network ls` renders with, from `--format` and `-q` (docker's `newFormat`).
fn ls_format(format: Option<&str>, quiet: bool) -> String {
    match format.unwrap_or("") {
        "" | "table" if quiet => "{{.ID}}".into(),
        "" | "table" => LS_TABLE.into(),
        "raw" if quiet => "network_id: {{.ID}}".into(),
        "raw" => {
            "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n"
                .into()
        }
        "json" => "{{json .}}".into(),
        other => other.into(),
    }
}

/// The fields a `network ls --format` template sees for one network (docker's
/// networkContext).
pub fn ls_row(network: &Value, trunc: bool) -> Value {
    let text = |key: &str| network[key].as_str().unwrap_or_default().to_string();
    let flag = |key: &str| network[key].as_bool().unwrap_or(false).to_string();
    let id = text("Id");
    let mut labels: Vec<String> = network["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    labels.sort();
    json!({
        "ID": if trunc { truncate_id(&id) } else { id },
        "Name": text("Name"),
        "Driver": text("Driver"),
        "Scope": text("Scope"),
        "IPv4": flag("EnableIPv4"),
        "IPv6": flag("EnableIPv6"),
        "Internal": flag("Internal"),
        "Labels": labels.join(","),
        "CreatedAt": go_time_string(&text("Created")),
    })
}

/// Renders `network ls` output from the daemon's list.
pub fn render_ls(list: &Value, args: &LsArgs) -> anyhow::Result<String> {
    let mut networks: Vec<&Value> = list.as_array().into_iter().flatten().collect();
    networks.sort_by(|a, b| {
        let (a, b) = (
            a["Name"].as_str().unwrap_or_default(),
            b["Name"].as_str().unwrap_or_default(),
        );
        natural_cmp(a, b)
    });
    let rows: Vec<Value> = networks
        .into_iter()
        .map(|n| ls_row(n, !args.no_trunc))
        .collect();
    let headers = json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED AT",
    });
    let format = ls_format(args.format.as_deref(), args.quiet);
    Ok(OutputFormat::parse(&format).render(&headers, &rows)?)
}

async fn ls(client: &Client, args: LsArgs) -> anyhow::Result<i32> {
    let query = Query::new().add_opt("filters", filters_json(&args.filter)?);
    let list = client
        .json(Method::GET, "/networks", &query, RequestBody::Empty)
        .await?;
    out!("{}", render_ls(&list, &args)?);
    Ok(0)
}

async fn inspect(client: &Client, args: InspectArgs) -> anyhow::Result<i32> {
    let template = match args.format.as_deref() {
        Some(f) if !f.is_empty() && f != "json" => Some(
            Template::parse(&OutputFormat::parse(f).template).map_err(|e| StatusError {
                code: 64,
                message: e.to_string(),
            })?,
        ),
        _ => None,
    };
    let query = Query::new().add_if(args.verbose, "verbose", "true");
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.networks {
        match client
            .raw(Method::GET, &format!("/networks/{name}"), &query)
            .await
        {
            Ok(raw) => found.push(raw),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::container::print_inspected(&found, template.as_ref())?;
    if errors.is_empty() {
        return Ok(0);
    }
    Err(StatusError {
        code: 1,
        message: errors.join("\n"),
    }
    .into())
}

async fn rm(client: &Client, args: RmArgs) -> anyhow::Result<i32> {
    let mut failed = false;
    for name in &args.networks {
        match client
            .json(
                Method::DELETE,
                &format!("/networks/{name}"),
                &Query::new(),
                RequestBody::Empty,
            )
            .await
        {
            Ok(_) => outln!("{name}"),
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(StatusError {
            code: 1,
            message: "exit status 1".into(),
        }
        .into());
    }
    Ok(0)
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

/// docker's `prompt.Confirm`: the question and " [y/N] " on stdout, yes only for `y`/`Y`.
fn confirm(message: &str) -> bool {
    out!("{message} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    answer.trim().eq_ignore_ascii_case("y")
}

async fn prune(client: &Client, args: PruneArgs) -> anyhow::Result<i32> {
    // A refusal is docker's "cancelled" error: nothing printed, status 0.
    if !args.force && !confirm(PRUNE_WARNING) {
        return Ok(0);
    }
    let query = Query::new().add_opt("filters", filters_json(&args.filter)?);
    let report = client
        .json(Method::POST, "/networks/prune", &query, RequestBody::Empty)
        .await?;
    super::system::print_ids("Deleted Networks:", &report["NetworksDeleted"]);
    Ok(0)
}

/// docker's `convertDriverOpt` for `network connect --driver-opt`.
fn driver_opts(options: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for option in options {
        match option.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                map.insert(key.trim().to_string(), value.trim().to_string());
            }
            _ => bail!("invalid key/value pair format in driver options"),
        }
    }
    Ok(map)
}

/// The `POST /networks/{id}/connect` body for `network connect` flags.
pub fn connect_request(args: &ConnectArgs) -> anyhow::Result<Value> {
    for link in &args.link {
        check_link(link)?;
    }
    let endpoint = NetworkAttachment {
        target: args.network.clone(),
        aliases: args.alias.clone(),
        driver_opts: driver_opts(&args.driver_opt)?,
        links: args.link.clone(),
        ipv4: args.ip.clone(),
        ipv6: args.ip6.clone(),
        link_local_ips: args.link_local_ip.clone(),
        mac_address: String::new(),
        gw_priority: args.gw_priority,
    };
    Ok(connect_body(&args.container, &endpoint))
}

async fn connect(client: &Client, args: ConnectArgs) -> anyhow::Result<i32> {
    let body = connect_request(&args)
        .map_err(|e| FlagError::report(e, "network connect", "[OPTIONS] NETWORK CONTAINER"))?;
    client
        .json(
            Method::POST,
            &format!("/networks/{}/connect", args.network.trim()),
            &Query::new(),
            RequestBody::Json(body),
        )
        .await?;
    Ok(0)
}

async fn disconnect(client: &Client, args: DisconnectArgs) -> anyhow::Result<i32> {
    let body = json!({"Container": args.container.trim(), "Force": args.force});
    client
        .json(
            Method::POST,
            &format!("/networks/{}/disconnect", args.network.trim()),
            &Query::new(),
            RequestBody::Json(body),
        )
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        command: NetworkCommand,
    }

    fn parse(args: &[&str]) -> NetworkCommand {
        Top::try_parse_from(std::iter::once("network").chain(args.iter().copied()))
            .expect("flags parse")
            .command
    }

    fn create_args(args: &[&str]) -> CreateArgs {
        let mut argv = vec!["create"];
        argv.extend_from_slice(args);
        match parse(&argv) {
            NetworkCommand::Create(args) => args,
            other => panic!("not create: {other:?}"),
        }
    }

    fn error(result: anyhow::Result<Value>) -> String {
        format!("{:#}", result.expect_err("an error"))
    }

    #[test]
    fn create_sends_docker_s_body() {
        let args = create_args(&[
            "--subnet",
            "10.5.0.0/16",
            "--ip-range",
            "10.5.1.0/24",
            "--gateway",
            "10.5.0.1",
            "net1",
        ]);
        assert_eq!(
            serde_json::to_string(&create_body(&args).expect("valid")).expect("json"),
            concat!(
                r#"{"Attachable":false,"ConfigFrom":null,"ConfigOnly":false,"Driver":"bridge","#,
                r#""IPAM":{"Config":[{"Gateway":"10.5.0.1","IPRange":"10.5.1.0/24","#,
                r#""Subnet":"10.5.0.0/16"}],"Driver":"default","Options":{}},"Ingress":false,"#,
                r#""Internal":false,"Labels":{},"Name":"net1","Options":{},"Scope":""}"#
            )
        );
        let args = create_args(&[
            "-d",
            "bridge",
            "--internal",
            "--attachable",
            "--ipv6",
            "--ipv4=false",
            "--label",
            "a=b",
            "--label",
            "c",
            "-o",
            "com.docker.network.bridge.name=br9",
            "--subnet",
            "10.6.0.0/24,fd00:6::/64",
            "--aux-address",
            "host1=10.6.0.5",
            "--ipam-opt",
            "x=y",
            "net2",
        ]);
        let body = create_body(&args).expect("valid");
        assert_eq!(body["Internal"], true);
        assert_eq!(body["Attachable"], true);
        assert_eq!(body["EnableIPv6"], true);
        assert_eq!(body["EnableIPv4"], false);
        assert_eq!(body["Labels"], json!({"a": "b", "c": ""}));
        assert_eq!(
            body["Options"],
            json!({"com.docker.network.bridge.name": "br9"})
        );
        assert_eq!(
            body["IPAM"]["Config"],
            json!([{"Subnet": "10.6.0.0/24", "AuxiliaryAddresses": {"host1": "10.6.0.5"}},
                   {"Subnet": "fd00:6::/64"}])
        );
        assert_eq!(body["IPAM"]["Options"], json!({"x": "y"}));
        let body = create_body(&create_args(&["n"])).expect("valid");
        assert!(body.get("EnableIPv6").is_none() && body.get("EnableIPv4").is_none());
        assert_eq!(body["IPAM"]["Config"], json!([]));
    }

    #[test]
    fn create_refuses_as_docker_does() {
        let check = |args: &[&str], expected: &str| {
            let mut argv = args.to_vec();
            argv.push("n");
            assert_eq!(error(create_body(&create_args(&argv))), expected);
        };
        check(
            &["--gateway", "10.0.0.1"],
            "every ip-range or gateway must have a corresponding subnet",
        );
        check(
            &["--subnet", "10.0.0.0/16", "--subnet", "10.0.1.0/24"],
            "multiple overlapping subnet configuration is not supported",
        );
        check(
            &["--subnet", "10.0.0.0/16", "--gateway", "10.1.0.1"],
            "no matching subnet for gateway 10.1.0.1",
        );
        check(
            &["--subnet", "10.0.0.0/16", "--ip-range", "10.1.0.0/24"],
            "no matching subnet for range 10.1.0.0/24",
        );
        check(
            &["--subnet", "10.0.0.0/16", "--ip-range", "10.0.0.0"],
            "invalid CIDR address: 10.0.0.0",
        );
        check(
            &["--subnet", "10.0.0.0/16", "--subnet", "bogus"],
            "invalid subnet: invalid CIDR address: bogus",
        );
        check(
            &["--subnet", "10.0.0.0/16", "--aux-address", "a=10.9.0.1"],
            "no matching subnet for aux-address 10.9.0.1",
        );
        check(
            &["--label", "=x"],
            "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name",
        );
    }

    #[test]
    fn connect_and_parsing() {
        let NetworkCommand::Connect(args) = parse(&[
            "connect",
            "--alias",
            "a,b",
            "--ip",
            "10.5.0.9",
            "--driver-opt",
            "k = v",
            "net1",
            "c1",
        ]) else {
            panic!("connect parses");
        };
        let body = connect_request(&args).expect("valid");
        assert_eq!(body["Container"], "c1");
        assert_eq!(body["EndpointConfig"]["Aliases"], json!(["a", "b"]));
        assert_eq!(
            body["EndpointConfig"]["IPAMConfig"],
            json!({"IPv4Address": "10.5.0.9"})
        );
        assert_eq!(body["EndpointConfig"]["DriverOpts"], json!({"k": "v"}));
        assert_eq!(body["EndpointConfig"]["Links"], Value::Null);
        let NetworkCommand::Connect(args) = parse(&["connect", "--driver-opt", "x", "n", "c"])
        else {
            panic!("connect parses");
        };
        assert_eq!(
            error(connect_request(&args)),
            "invalid key/value pair format in driver options"
        );
        assert!(matches!(
            parse(&["disconnect", "-f", "n", "c"]),
            NetworkCommand::Disconnect(DisconnectArgs { force: true, .. })
        ));
        assert!(matches!(parse(&["list", "-q"]), NetworkCommand::Ls(_)));
        assert!(matches!(parse(&["remove", "n"]), NetworkCommand::Rm(_)));
        assert!(matches!(
            parse(&["prune", "-f", "--filter", "until=1h"]),
            NetworkCommand::Prune(_)
        ));
        assert!(Top::try_parse_from(["network", "connect", "n"]).is_err());
        assert!(Top::try_parse_from(["network", "create"]).is_err());
    }

    fn ls_args(args: &[&str]) -> LsArgs {
        let mut argv = vec!["ls"];
        argv.extend_from_slice(args);
        match parse(&argv) {
            NetworkCommand::Ls(args) => args,
            other => panic!("not ls: {other:?}"),
        }
    }

    fn sample() -> Value {
        json!([
            {"Name": "net10", "Id": "b4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1",
             "Driver": "bridge", "Scope": "local", "Internal": true, "EnableIPv4": true,
             "Created": "2025-03-01T10:20:30.5Z", "Labels": {"b": "2", "a": "1"}},
            {"Name": "net9", "Id": "0123456789abcdef", "Driver": "bridge", "Scope": "local",
             "Created": "2025-03-01T10:20:30Z", "Labels": {}},
            {"Name": "bridge", "Id": "ffeeddccbbaa99887766", "Driver": "bridge", "Scope": "local",
             "Created": "2025-03-01T10:20:30Z"},
        ])
    }

    #[test]
    fn ls_prints_docker_s_table() {
        assert_eq!(
            render_ls(&sample(), &ls_args(&[])).expect("renders"),
            concat!(
                "NETWORK ID     NAME      DRIVER    SCOPE\n",
                "ffeeddccbbaa   bridge    bridge    local\n",
                "0123456789ab   net9      bridge    local\n",
                "b4c1d2e3f4a5   net10     bridge    local\n",
            )
        );
        assert_eq!(
            render_ls(&sample(), &ls_args(&["-q"])).expect("renders"),
            "ffeeddccbbaa\n0123456789ab\nb4c1d2e3f4a5\n"
        );
        assert_eq!(
            render_ls(&sample(), &ls_args(&["-q", "--no-trunc"]))
                .expect("renders")
                .lines()
                .nth(2),
            Some("b4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1")
        );
        assert_eq!(
            render_ls(
                &sample(),
                &ls_args(&["--format", "{{.Name}} {{.Internal}} {{.IPv4}} {{.Labels}}"])
            )
            .expect("renders"),
            "bridge false false \nnet9 false false \nnet10 true true a=1,b=2\n"
        );
        assert_eq!(
            render_ls(&sample(), &ls_args(&["--format", "{{.CreatedAt}}"]))
                .expect("renders")
                .lines()
                .nth(2),
            Some("2025-03-01 10:20:30.5 +0000 UTC")
        );
        let json_line = render_ls(&sample(), &ls_args(&["--format", "json"])).expect("renders");
        let first: Value =
            serde_json::from_str(json_line.lines().next().expect("a line")).expect("json");
        assert_eq!(first["Name"], "bridge");
        assert_eq!(first["ID"], "ffeeddccbbaa");
    }
}
