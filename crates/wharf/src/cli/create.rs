//! The flags `run` and `create` share, and how they become the `POST /containers/create` body
//! (`Config` + `HostConfig` + `NetworkingConfig`) as docker CLI 28 builds it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use serde_json::{Map, Value, json};

use super::format::{parse_go_duration, parse_ram};
use super::netopts::{
    EndpointFlags, check_link, check_mac, network_config, parse_dns, parse_dns_search,
    parse_expose, parse_extra_host, parse_network_flag, parse_publish,
};

/// `run`/`create` flags.
#[derive(Debug, Args, Clone, Default)]
pub struct CreateOptions {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Connect a container to a network
    #[arg(long, visible_alias = "net")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

impl CreateOptions {
    /// The image argument.
    pub fn image(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }

    /// The command after the image.
    pub fn command(&self) -> &[String] {
        self.args.get(1..).unwrap_or_default()
    }
}

/// Builds the create body. `attach` is false for `create` and `run -d`: then nothing is
/// attached; otherwise stdout and stderr are, and stdin with `-i`.
pub fn create_body(
    options: &CreateOptions,
    attach: bool,
    env_lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Value> {
    let mut env = Vec::new();
    for file in &options.env_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("open {file}: cannot read env file"))?;
        env.extend(parse_env_file(&text, env_lookup).with_context(|| format!("in {file}"))?);
    }
    for entry in &options.env {
        env.push(expand_env(entry, env_lookup));
    }

    let mut labels = Map::new();
    for label in &options.label {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        if key.is_empty() {
            bail!("invalid label '{label}': empty name");
        }
        labels.insert(key.to_string(), Value::String(value.to_string()));
    }

    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for spec in &options.volume {
        match parse_volume(spec)? {
            VolumeSpec::Bind(bind) => binds.push(Value::String(bind)),
            VolumeSpec::Anonymous(target) => {
                volumes.insert(target, json!({}));
            }
        }
    }
    let mounts = options
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<anyhow::Result<Vec<Value>>>()?;
    let mut tmpfs = Map::new();
    for spec in &options.tmpfs {
        let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
        if !path.starts_with('/') {
            bail!("invalid tmpfs specification '{spec}': destination must be an absolute path");
        }
        tmpfs.insert(path.to_string(), Value::String(opts.to_string()));
    }

    let network = NetworkFlags::read(options)?;
    let restart = match &options.restart {
        Some(policy) => parse_restart(policy)?,
        None => json!({"Name": "no", "MaximumRetryCount": 0}),
    };
    if options.rm && restart["Name"] != "no" && restart["Name"] != "" {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }

    let memory = match &options.memory {
        Some(text) => parse_ram(text)
            .with_context(|| format!("invalid argument \"{text}\" for \"-m, --memory\" flag"))?,
        None => 0,
    };
    let nano_cpus = match &options.cpus {
        Some(text) => parse_cpus(text)?,
        None => 0,
    };

    let entrypoint = options.entrypoint.as_ref().map(|e| json!([e]));
    let cmd = if options.command().is_empty() {
        Value::Null
    } else {
        json!(options.command())
    };
    let attach_stdin = attach && options.interactive;

    let mut config = json!({
        "Hostname": options.hostname.clone().unwrap_or_default(),
        "Domainname": options.domainname.clone().unwrap_or_default(),
        "User": options.user.clone().unwrap_or_default(),
        "AttachStdin": attach_stdin,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": options.tty,
        "OpenStdin": options.interactive,
        "StdinOnce": attach_stdin,
        "Env": env,
        "Cmd": cmd,
        "Image": options.image(),
        "Volumes": if volumes.is_empty() { Value::Null } else { Value::Object(volumes) },
        "WorkingDir": options.workdir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint.unwrap_or(Value::Null),
        "OnBuild": Value::Null,
        "Labels": labels,
    });
    if !network.exposed.is_empty() {
        config["ExposedPorts"] = Value::Object(network.exposed);
    }
    if let Some(health) = healthcheck(options)? {
        config["Healthcheck"] = health;
    }
    if let Some(signal) = &options.stop_signal {
        config["StopSignal"] = json!(signal);
    }
    if let Some(timeout) = options.stop_timeout {
        config["StopTimeout"] = json!(timeout);
    }

    let mut host_config = json!({
        "Binds": if binds.is_empty() { Value::Null } else { Value::Array(binds) },
        "NetworkMode": network.mode,
        "PortBindings": network.bindings,
        "PublishAllPorts": options.publish_all,
        "Dns": network.dns,
        "DnsSearch": network.dns_search,
        "DnsOptions": options.dns_option,
        "ExtraHosts": if network.extra_hosts.is_empty() { Value::Null } else { json!(network.extra_hosts) },
        "Links": if options.link.is_empty() { Value::Null } else { json!(options.link) },
        "RestartPolicy": restart,
        "AutoRemove": options.rm,
        "Privileged": options.privileged,
        "ReadonlyRootfs": options.read_only,
        "Memory": memory,
        "NanoCpus": nano_cpus,
        "Init": if options.init { Value::Bool(true) } else { Value::Null },
    });
    if !mounts.is_empty() {
        host_config["Mounts"] = Value::Array(mounts);
    }
    if !tmpfs.is_empty() {
        host_config["Tmpfs"] = Value::Object(tmpfs);
    }
    if let Some(limit) = options.pids_limit {
        host_config["PidsLimit"] = json!(limit);
    }
    if !options.cap_add.is_empty() {
        host_config["CapAdd"] = json!(options.cap_add);
    }
    if !options.cap_drop.is_empty() {
        host_config["CapDrop"] = json!(options.cap_drop);
    }
    config["HostConfig"] = host_config;
    config["NetworkingConfig"] = json!({"EndpointsConfig": network.endpoints});
    Ok(config)
}

/// The networking part of the create body, read from the flags in docker's order (MAC
/// address, published and exposed ports, DNS, hosts, then the network attachments).
struct NetworkFlags {
    exposed: Map<String, Value>,
    bindings: Map<String, Value>,
    dns: Vec<String>,
    dns_search: Vec<String>,
    extra_hosts: Vec<String>,
    mode: String,
    endpoints: Map<String, Value>,
}

impl NetworkFlags {
    fn read(options: &CreateOptions) -> anyhow::Result<Self> {
        if let Some(mac) = &options.mac_address {
            check_mac(mac)?;
        }
        let mut exposed = Map::new();
        let mut bindings = Map::new();
        for (port, mappings) in parse_publish(&options.publish)? {
            exposed.insert(port.clone(), json!({}));
            let list = mappings
                .iter()
                .map(|m| json!({"HostIp": m.host_ip, "HostPort": m.host_port}))
                .collect();
            bindings.insert(port, Value::Array(list));
        }
        for spec in &options.expose {
            for port in parse_expose(spec)? {
                exposed.entry(port).or_insert_with(|| json!({}));
            }
        }
        let dns = options
            .dns
            .iter()
            .map(|d| parse_dns(d))
            .collect::<anyhow::Result<_>>()?;
        let dns_search = options
            .dns_search
            .iter()
            .map(|d| parse_dns_search(d))
            .collect::<anyhow::Result<_>>()?;
        let extra_hosts = options
            .add_host
            .iter()
            .map(|h| parse_extra_host(h))
            .collect::<anyhow::Result<_>>()?;
        for link in &options.link {
            check_link(link)?;
        }
        let networks = options
            .network
            .iter()
            .map(|n| parse_network_flag(n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let flags = EndpointFlags {
            aliases: options.network_alias.clone(),
            links: options.link.clone(),
            ipv4: options.ip.clone().unwrap_or_default(),
            ipv6: options.ip6.clone().unwrap_or_default(),
            mac_address: options.mac_address.clone().unwrap_or_default(),
            link_local_ips: options.link_local_ip.clone(),
        };
        let (mode, endpoints) = network_config(&networks, &flags)?;
        Ok(NetworkFlags {
            exposed,
            bindings,
            dns,
            dns_search,
            extra_hosts,
            mode,
            endpoints,
        })
    }
}

/// `-e NAME` takes NAME's value from the local environment when it is set.
fn expand_env(entry: &str, env_lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if entry.contains('=') {
        return entry.to_string();
    }
    match env_lookup(entry) {
        Some(value) => format!("{entry}={value}"),
        None => entry.to_string(),
    }
}

/// docker's env-file format: `NAME=value` lines kept as written, bare `NAME` lines filled from
/// the local environment (dropped when unset), blank lines and `#` comments skipped.
pub fn parse_env_file(
    text: &str,
    env_lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split_once('=')
            .map_or(line.trim_end(), |(name, _)| name);
        if name.is_empty() {
            bail!("no variable name on line {}: '{line}'", number + 1);
        }
        if name.chars().any(char::is_whitespace) {
            bail!("variable '{name}' contains whitespaces");
        }
        if line.contains('=') {
            out.push(line.to_string());
        } else if let Some(value) = env_lookup(name) {
            out.push(format!("{name}={value}"));
        }
    }
    Ok(out)
}

/// What a `-v` argument asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum VolumeSpec {
    /// A bind or named volume, as it goes into `HostConfig.Binds` (relative host paths made
    /// absolute).
    Bind(String),
    /// An anonymous volume at this container path (`Config.Volumes`).
    Anonymous(String),
}

const VOLUME_MODES: [&str; 14] = [
    "rw",
    "ro",
    "z",
    "Z",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
];

/// Parses `-v`: `/anon`, `name:/path[:opts]`, `/host:/path[:opts]`, `./rel:/path`.
pub fn parse_volume(spec: &str) -> anyhow::Result<VolumeSpec> {
    let invalid = || anyhow::anyhow!("invalid volume specification: '{spec}'");
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(invalid()),
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(anyhow::anyhow!(
            "invalid volume specification: '{spec}': invalid mount config: the mount destination must be an absolute path"
        ));
    }
    if target == "/" {
        bail!("invalid volume specification: '{spec}': destination can't be '/'");
    }
    if let Some(mode) = mode {
        let mut rw = 0;
        for option in mode.split(',') {
            if !VOLUME_MODES.contains(&option) {
                bail!("invalid volume specification: '{spec}': invalid mode: {mode}");
            }
            if option == "rw" || option == "ro" {
                rw += 1;
            }
        }
        if rw > 1 {
            bail!("invalid volume specification: '{spec}': invalid mode: {mode}");
        }
    }
    let Some(source) = source else {
        return Ok(VolumeSpec::Anonymous(target.to_string()));
    };
    if source.is_empty() {
        return Err(invalid());
    }
    let source = if source.starts_with('.') {
        let cwd = std::env::current_dir().context("resolving a relative bind-mount source")?;
        let joined = cwd.join(source);
        normalize(&joined)
    } else {
        source.to_string()
    };
    Ok(VolumeSpec::Bind(match mode {
        Some(mode) => format!("{source}:{target}:{mode}"),
        None => format!("{source}:{target}"),
    }))
}

/// Removes `.` and resolves `..` lexically, as Go's `filepath.Clean`.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(part) => parts.push(part.to_string_lossy().into()),
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Parses `--mount type=…,source=…,target=…,readonly,…` into a `HostConfig.Mounts` entry.
pub fn parse_mount(spec: &str) -> anyhow::Result<Value> {
    let mut kind = "volume".to_string();
    let mut source = String::new();
    let mut target = String::new();
    let mut read_only = false;
    let mut propagation = None;
    let mut no_copy = false;
    let mut volume_labels = Map::new();
    let mut driver = None;
    let mut driver_opts = Map::new();
    let mut tmpfs_size = None;
    let mut tmpfs_mode = None;
    let mut volume_flags = false;
    let mut bind_flags = false;
    let mut tmpfs_flags = false;
    let parse_bool = |key: &str, value: Option<&str>| -> anyhow::Result<bool> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(other) => bail!("invalid value for {key}: {other}"),
        }
    };
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = || {
            value.ok_or_else(|| anyhow::anyhow!("invalid field '{field}' must be a key=value pair"))
        };
        match key.as_str() {
            "type" => kind = need()?.to_string(),
            "source" | "src" => source = need()?.to_string(),
            "target" | "destination" | "dst" => target = need()?.to_string(),
            "readonly" | "ro" => read_only = parse_bool(&key, value)?,
            "consistency" => {
                need()?;
            }
            "bind-propagation" => {
                bind_flags = true;
                propagation = Some(need()?.to_string());
            }
            "volume-nocopy" => {
                volume_flags = true;
                no_copy = parse_bool(&key, value)?;
            }
            "volume-label" => {
                volume_flags = true;
                let (k, v) = need()?.split_once('=').unwrap_or((need()?, ""));
                volume_labels.insert(k.to_string(), json!(v));
            }
            "volume-driver" => {
                volume_flags = true;
                driver = Some(need()?.to_string());
            }
            "volume-opt" => {
                volume_flags = true;
                let (k, v) = need()?.split_once('=').unwrap_or((need()?, ""));
                driver_opts.insert(k.to_string(), json!(v));
            }
            "tmpfs-size" => {
                tmpfs_flags = true;
                let text = need()?;
                tmpfs_size = Some(
                    parse_ram(text).with_context(|| format!("invalid value for {key}: {text}"))?,
                );
            }
            "tmpfs-mode" => {
                tmpfs_flags = true;
                let text = need()?;
                tmpfs_mode = Some(
                    u32::from_str_radix(text, 8)
                        .with_context(|| format!("invalid value for {key}: {text}"))?,
                );
            }
            "" => {}
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if !matches!(kind.as_str(), "volume" | "bind" | "tmpfs") {
        bail!("invalid mount type '{kind}' in '{spec}': use volume, bind or tmpfs");
    }
    if target.is_empty() {
        bail!("target is required in '{spec}'");
    }
    if volume_flags && kind != "volume" {
        bail!("cannot mix 'volume-*' options with mount type '{kind}'");
    }
    if bind_flags && kind != "bind" {
        bail!("cannot mix 'bind-*' options with mount type '{kind}'");
    }
    if tmpfs_flags && kind != "tmpfs" {
        bail!("cannot mix 'tmpfs-*' options with mount type '{kind}'");
    }
    if kind == "bind" && source.is_empty() {
        bail!("source is required for bind mounts in '{spec}'");
    }
    let mut mount =
        json!({"Type": kind, "Source": source, "Target": target, "ReadOnly": read_only});
    if let Some(propagation) = propagation {
        mount["BindOptions"] = json!({"Propagation": propagation});
    }
    if no_copy || !volume_labels.is_empty() || driver.is_some() || !driver_opts.is_empty() {
        let mut options = json!({"NoCopy": no_copy});
        if !volume_labels.is_empty() {
            options["Labels"] = Value::Object(volume_labels);
        }
        if driver.is_some() || !driver_opts.is_empty() {
            options["DriverConfig"] =
                json!({"Name": driver.unwrap_or_default(), "Options": driver_opts});
        }
        mount["VolumeOptions"] = options;
    }
    if tmpfs_size.is_some() || tmpfs_mode.is_some() {
        let mut options = Map::new();
        if let Some(size) = tmpfs_size {
            options.insert("SizeBytes".into(), json!(size));
        }
        if let Some(mode) = tmpfs_mode {
            options.insert("Mode".into(), json!(mode));
        }
        mount["TmpfsOptions"] = Value::Object(options);
    }
    Ok(mount)
}

/// Parses `--restart`: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart(policy: &str) -> anyhow::Result<Value> {
    let (name, count) = match policy.split_once(':') {
        Some(("", _)) => bail!("invalid restart policy format: no policy provided before colon"),
        Some((name, count)) => {
            let count: i64 = count.parse().map_err(|_| {
                anyhow::anyhow!(
                    "invalid restart policy format: maximum retry count must be an integer"
                )
            })?;
            (name, count)
        }
        None => (policy, 0),
    };
    match name {
        "no" | "always" | "unless-stopped" if count != 0 => {
            bail!("invalid restart policy: maximum retry count can only be used with 'on-failure'")
        }
        "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => bail!(
            "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ),
    }
    if count < 0 {
        bail!("invalid restart policy: maximum retry count cannot be negative");
    }
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// `--cpus 1.5` → NanoCpus 1500000000.
pub fn parse_cpus(text: &str) -> anyhow::Result<i64> {
    let value: f64 = text
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid argument \"{text}\" for \"--cpus\" flag: failed to parse {text} as a rational number"))?;
    if !value.is_finite() || value < 0.0 {
        bail!("invalid argument \"{text}\" for \"--cpus\" flag: must be a positive number");
    }
    let nanos = value * 1e9;
    if (nanos - nanos.round()).abs() > 1e-3 {
        bail!("invalid argument \"{text}\" for \"--cpus\" flag: value is too precise");
    }
    Ok(nanos.round() as i64)
}

fn healthcheck(options: &CreateOptions) -> anyhow::Result<Option<Value>> {
    let any_health = options.health_cmd.is_some()
        || options.health_interval.is_some()
        || options.health_timeout.is_some()
        || options.health_retries.is_some()
        || options.health_start_period.is_some();
    if options.no_healthcheck {
        if any_health {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !any_health {
        return Ok(None);
    }
    let duration = |flag: &str, value: &Option<String>| -> anyhow::Result<i64> {
        let Some(text) = value else { return Ok(0) };
        let nanos = parse_go_duration(text)
            .with_context(|| format!("invalid argument \"{text}\" for \"{flag}\" flag"))?;
        if nanos < 0 {
            bail!("{flag} cannot be negative");
        }
        Ok(nanos)
    };
    let mut health = json!({
        "Interval": duration("--health-interval", &options.health_interval)?,
        "Timeout": duration("--health-timeout", &options.health_timeout)?,
        "StartPeriod": duration("--health-start-period", &options.health_start_period)?,
        "Retries": options.health_retries.unwrap_or(0),
    });
    if options.health_retries.is_some_and(|r| r < 0) {
        bail!("--health-retries cannot be negative");
    }
    if let Some(cmd) = &options.health_cmd {
        health["Test"] = json!(["CMD-SHELL", cmd]);
    }
    Ok(Some(health))
}

/// Reads `--filter key=value` flags into the `filters` query value docker CLI sends
/// (`{"key":{"value":true}}`).
pub fn filters_json(filters: &[String]) -> anyhow::Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut map: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for filter in filters {
        let Some((key, value)) = filter.split_once('=') else {
            bail!("bad format of filter (expected name=value)");
        };
        map.entry(key.trim().to_ascii_lowercase())
            .or_default()
            .insert(value.to_string(), true);
    }
    Ok(Some(serde_json::to_string(&map)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn options(args: &[&str]) -> CreateOptions {
        use clap::Parser;
        #[derive(Debug, Parser)]
        #[command(disable_help_flag = true)]
        struct Wrapper {
            #[command(flatten)]
            options: CreateOptions,
        }
        let mut argv = vec!["run"];
        argv.extend_from_slice(args);
        Wrapper::try_parse_from(argv).expect("flags parse").options
    }

    #[test]
    fn volume_specs() {
        assert_eq!(
            parse_volume("/anon").expect("valid"),
            VolumeSpec::Anonymous("/anon".into())
        );
        assert_eq!(
            parse_volume("vol1:/data").expect("valid"),
            VolumeSpec::Bind("vol1:/data".into())
        );
        assert_eq!(
            parse_volume("/host:/data:ro").expect("valid"),
            VolumeSpec::Bind("/host:/data:ro".into())
        );
        assert_eq!(
            parse_volume("/host:/data:rw,z").expect("valid"),
            VolumeSpec::Bind("/host:/data:rw,z".into())
        );
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            parse_volume("./sub/../x:/data").expect("valid"),
            VolumeSpec::Bind(format!("{}:/data", normalize(&cwd.join("x"))))
        );
        assert!(parse_volume("vol:data").is_err());
        assert!(parse_volume("/a:/b:bogus").is_err());
        assert!(parse_volume("/a:/b:ro,rw").is_err());
        assert!(parse_volume("a:/b:ro:x").is_err());
        assert!(parse_volume(":/b").is_err());
        assert!(parse_volume("vol:/").is_err());
    }

    #[test]
    fn mount_specs() {
        assert_eq!(
            parse_mount("type=bind,source=/src,target=/dst,readonly").expect("valid"),
            json!({"Type": "bind", "Source": "/src", "Target": "/dst", "ReadOnly": true})
        );
        assert_eq!(
            parse_mount("src=vol,dst=/data,volume-nocopy").expect("valid"),
            json!({"Type": "volume", "Source": "vol", "Target": "/data", "ReadOnly": false,
                   "VolumeOptions": {"NoCopy": true}})
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770").expect("valid"),
            json!({"Type": "tmpfs", "Source": "", "Target": "/t", "ReadOnly": false,
                   "TmpfsOptions": {"SizeBytes": 64 * 1024 * 1024, "Mode": 0o1770}})
        );
        assert!(parse_mount("type=bind,target=/x").is_err());
        assert!(parse_mount("type=nfs,target=/x").is_err());
        assert!(parse_mount("source=v").is_err());
        assert!(parse_mount("type=bind,src=/a,dst=/b,volume-nocopy").is_err());
        assert!(parse_mount("type=bind,src=/a,dst=/b,readonly=maybe").is_err());
        assert!(parse_mount("type=bind,src=/a,dst=/b,color=red").is_err());
    }

    #[test]
    fn env_files() {
        let lookup = |name: &str| (name == "HOME_DIR").then(|| "/root".to_string());
        let text = "\u{feff}# comment\n\nA=1\n  B=spaced value \nHOME_DIR\nUNSET\nC=\n";
        assert_eq!(
            parse_env_file(text, &lookup).expect("valid"),
            vec!["A=1", "B=spaced value ", "HOME_DIR=/root", "C="]
        );
        assert!(parse_env_file("BAD NAME=1\n", &no_env).is_err());
        assert!(parse_env_file("B = 1\n", &no_env).is_err());
        assert!(parse_env_file("=1\n", &no_env).is_err());
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3").expect("valid"),
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(
            parse_restart("always").expect("valid"),
            json!({"Name": "always", "MaximumRetryCount": 0})
        );
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("on-failure:x").is_err());
        assert!(parse_restart("always:2").is_err());
        assert!(parse_restart(":2").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5").expect("valid"), 1_500_000_000);
        assert_eq!(parse_cpus("0.01").expect("valid"), 10_000_000);
        assert!(parse_cpus("abc").is_err());
        assert!(parse_cpus("-1").is_err());
    }

    #[test]
    fn filters_are_sent_as_docker_does() {
        assert_eq!(filters_json(&[]).expect("valid"), None);
        assert_eq!(
            filters_json(&[
                "status=exited".into(),
                "status=created".into(),
                "name=w".into()
            ])
            .expect("valid"),
            Some(r#"{"name":{"w":true},"status":{"created":true,"exited":true}}"#.into())
        );
        assert!(filters_json(&["status".into()]).is_err());
    }

    #[test]
    fn run_flags_build_docker_s_body() {
        let opts = options(&[
            "-it",
            "--rm",
            "--name",
            "web",
            "-e",
            "A=1",
            "-e",
            "FROM_ENV",
            "-m",
            "32m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--read-only",
            "-v",
            "vol:/data",
            "-v",
            "/anon",
            "--tmpfs",
            "/run:size=1m",
            "-h",
            "box",
            "-l",
            "a=b",
            "-l",
            "flag",
            "--init",
            "--network",
            "none",
            "--health-cmd",
            "true",
            "--health-interval",
            "1m30s",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "3",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
        ]);
        let lookup = |name: &str| (name == "FROM_ENV").then(|| "x".to_string());
        let body = create_body(&opts, true, &lookup).expect("builds");
        assert_eq!(body["Image"], "busybox");
        assert_eq!(body["Cmd"], json!(["sh", "-c", "echo -n hi"]));
        assert_eq!(body["Env"], json!(["A=1", "FROM_ENV=x"]));
        assert_eq!(body["Tty"], true);
        assert_eq!(body["AttachStdin"], true);
        assert_eq!(body["OpenStdin"], true);
        assert_eq!(body["StdinOnce"], true);
        assert_eq!(body["Hostname"], "box");
        assert_eq!(body["Labels"], json!({"a": "b", "flag": ""}));
        assert_eq!(body["Volumes"], json!({"/anon": {}}));
        assert_eq!(body["Healthcheck"]["Test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(body["Healthcheck"]["Interval"], 90_000_000_000i64);
        assert_eq!(body["StopSignal"], "SIGINT");
        assert_eq!(body["StopTimeout"], 3);
        let host = &body["HostConfig"];
        assert_eq!(host["AutoRemove"], true);
        assert_eq!(host["Memory"], 32 * 1024 * 1024);
        assert_eq!(host["NanoCpus"], 500_000_000);
        assert_eq!(host["PidsLimit"], 20);
        assert_eq!(host["ReadonlyRootfs"], true);
        assert_eq!(host["Binds"], json!(["vol:/data"]));
        assert_eq!(host["Tmpfs"], json!({"/run": "size=1m"}));
        assert_eq!(host["Init"], true);
        assert_eq!(host["NetworkMode"], "none");
        assert_eq!(
            host["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
    }

    #[test]
    fn detached_and_defaults() {
        let opts = options(&["busybox"]);
        let body = create_body(&opts, false, &no_env).expect("builds");
        assert_eq!(body["Cmd"], Value::Null);
        assert_eq!(body["AttachStdout"], false);
        assert_eq!(body["HostConfig"]["NetworkMode"], "default");
        assert!(body.get("Healthcheck").is_none());
        let opts = options(&["--entrypoint", "", "busybox"]);
        let body = create_body(&opts, true, &no_env).expect("builds");
        assert_eq!(body["Entrypoint"], json!([""]));
        assert_eq!(body["AttachStdin"], false);
        let opts = options(&["--no-healthcheck", "busybox"]);
        let body = create_body(&opts, true, &no_env).expect("builds");
        assert_eq!(body["Healthcheck"], json!({"Test": ["NONE"]}));
        let opts = options(&["--no-healthcheck", "--health-cmd", "x", "busybox"]);
        assert!(create_body(&opts, true, &no_env).is_err());
        let opts = options(&["-m", "32x", "busybox"]);
        let error = create_body(&opts, true, &no_env).expect_err("bad memory");
        assert!(format!("{error:#}").contains("invalid size: '32x'"));
        let opts = options(&["--rm", "--restart", "always", "busybox"]);
        assert!(create_body(&opts, true, &no_env).is_err());
    }

    #[test]
    fn arguments_after_the_image_belong_to_the_command() {
        let opts = options(&["busybox", "ls", "-l", "-h", "--name", "x"]);
        assert_eq!(opts.image(), "busybox");
        assert_eq!(opts.command(), ["ls", "-l", "-h", "--name", "x"]);
        assert_eq!(opts.name, None);
        assert_eq!(opts.hostname, None);
    }

    #[test]
    fn network_flags_build_docker_s_body() {
        let opts = options(&[
            "--network",
            "net1",
            "--network-alias",
            "web",
            "--ip",
            "10.5.0.3",
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:8000-8001:90-91/udp",
            "-p",
            "8000-8010:443",
            "-P",
            "--expose",
            "7000-7001",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "gw:host-gateway",
            "busybox",
        ]);
        let body = create_body(&opts, false, &no_env).expect("builds");
        assert_eq!(
            body["ExposedPorts"],
            json!({"80/tcp": {}, "443/tcp": {}, "90/udp": {}, "91/udp": {},
                   "7000/tcp": {}, "7001/tcp": {}})
        );
        let host = &body["HostConfig"];
        assert_eq!(
            host["PortBindings"],
            json!({
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "443/tcp": [{"HostIp": "", "HostPort": "8000-8010"}],
                "90/udp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}],
                "91/udp": [{"HostIp": "127.0.0.1", "HostPort": "8001"}],
            })
        );
        assert_eq!(host["PublishAllPorts"], true);
        assert_eq!(host["NetworkMode"], "net1");
        assert_eq!(host["Dns"], json!(["1.1.1.1"]));
        assert_eq!(host["DnsSearch"], json!(["example.com"]));
        assert_eq!(host["DnsOptions"], json!(["ndots:2"]));
        assert_eq!(host["ExtraHosts"], json!(["gw:host-gateway"]));
        let endpoint = &body["NetworkingConfig"]["EndpointsConfig"]["net1"];
        assert_eq!(endpoint["Aliases"], json!(["web"]));
        assert_eq!(endpoint["IPAMConfig"], json!({"IPv4Address": "10.5.0.3"}));

        // Without network flags: docker's defaults.
        let body = create_body(&options(&["busybox"]), false, &no_env).expect("builds");
        let host = &body["HostConfig"];
        assert!(body.get("ExposedPorts").is_none());
        assert_eq!(host["PortBindings"], json!({}));
        assert_eq!(host["Dns"], json!([]));
        assert_eq!(host["ExtraHosts"], Value::Null);
        assert_eq!(host["PublishAllPorts"], false);
        assert_eq!(
            body["NetworkingConfig"]["EndpointsConfig"]["default"]["MacAddress"],
            ""
        );

        let failure = |args: &[&str]| {
            let mut argv = args.to_vec();
            argv.push("busybox");
            format!(
                "{:#}",
                create_body(&options(&argv), false, &no_env).expect_err("refused")
            )
        };
        assert_eq!(failure(&["-p", "8080:http"]), "invalid containerPort: http");
        assert_eq!(failure(&["-p", "http:80"]), "invalid hostPort: http");
        assert_eq!(
            failure(&["--expose", "1:2"]),
            "invalid port format for --expose: 1:2"
        );
        assert_eq!(
            failure(&["--mac-address", "xx"]),
            "xx is not a valid mac address"
        );
        assert_eq!(
            failure(&["--network", "name=n1,alias=a", "--network-alias", "b"]),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        assert_eq!(
            failure(&["--network", "host", "--network-alias", "b"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert!(
            failure(&["--dns", "nameserver"]).contains("IP address is not correctly formatted")
        );
    }
}
