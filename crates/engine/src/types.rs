//! The Engine API's container configuration, as Docker defines it.
//!
//! A container's `Config` and `HostConfig` are kept as the JSON the client sent, laid over
//! dockerd's defaults, so `inspect` answers every field the way dockerd does (docker-py reads
//! `HostConfig.LogConfig.Type` and fails without it). The typed views below are what the engine
//! reads from them; parsing a request through them is also where wrong types are caught, with
//! the JSON path of the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// A list of strings that Docker also accepts as a single string (`Cmd`, `Entrypoint`,
/// `Healthcheck.Test`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StrSlice(pub Vec<String>);

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Either::deserialize(d)? {
            Either::One(s) => StrSlice(vec![s]),
            Either::Many(v) => StrSlice(v),
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthConfig {
    pub test: Option<StrSlice>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// `Config`: what the container runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrSlice>,
    pub healthcheck: Option<HealthConfig>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    pub entrypoint: Option<StrSlice>,
    pub labels: Option<BTreeMap<String, String>>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub exposed_ports: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BindOptions {
    pub propagation: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeOptions {
    pub no_copy: bool,
    pub labels: Option<BTreeMap<String, String>>,
    pub subpath: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TmpfsOptions {
    pub size_bytes: i64,
    pub mode: u32,
}

/// One entry of `HostConfig.Mounts` (`--mount`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MountSpec {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub bind_options: Option<BindOptions>,
    pub volume_options: Option<VolumeOptions>,
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `HostConfig`: how the host runs it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volumes_from: Option<Vec<String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub pids_limit: Option<i64>,
    pub init: Option<bool>,
    pub mounts: Option<Vec<MountSpec>>,
    pub shm_size: i64,
    pub ulimits: Option<Vec<Ulimit>>,
    pub oom_kill_disable: Option<bool>,
    pub oom_score_adj: i64,
    pub security_opt: Option<Vec<String>>,
    pub ipc_mode: String,
    pub pid_mode: String,
    pub uts_mode: String,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// Parses a typed view of a JSON object; a wrong type is a 400 naming the field's path.
pub fn parse<T: for<'de> Deserialize<'de>>(what: &str, value: &Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            Error::invalid(format!("invalid {what}: {inner}"))
        } else {
            Error::invalid(format!("invalid {what}: {path}: {inner}"))
        }
    })
}

/// The fields dockerd always answers in `HostConfig`, with its defaults (API 1.50, Linux,
/// cgroup v1).
pub fn host_config_defaults() -> Value {
    json!({
        "Binds": null,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "bridge",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": false,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "ConsoleSize": [0, 0],
        "CapAdd": null,
        "CapDrop": null,
        "CgroupnsMode": "host",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": null,
        "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": false,
        "PublishAllPorts": false,
        "ReadonlyRootfs": false,
        "SecurityOpt": null,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": null,
        "OomKillDisable": false,
        "PidsLimit": null,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": runtime::spec::docker_default()
            .linux()
            .as_ref()
            .and_then(|l| l.masked_paths().clone())
            .unwrap_or_default(),
        "ReadonlyPaths": runtime::spec::docker_default()
            .linux()
            .as_ref()
            .and_then(|l| l.readonly_paths().clone())
            .unwrap_or_default(),
    })
}

/// The fields dockerd always answers in `Config`.
pub fn config_defaults() -> Value {
    json!({
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": null,
        "Cmd": null,
        "Image": "",
        "Volumes": null,
        "WorkingDir": "",
        "Entrypoint": null,
        "OnBuild": null,
        "Labels": {},
    })
}

/// `over` laid on `base`, key by key (one level).
pub fn overlay(base: Value, over: &Value) -> Value {
    let mut out: Map<String, Value> = match base {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Value::Object(o) = over {
        for (k, v) in o {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Sets `obj[key]` when it is missing, null or an empty string.
pub fn default_field(obj: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = obj {
        let empty = match m.get(key) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if empty {
            m.insert(key.to_string(), value);
        }
    }
}

/// Docker's byte sizes with binary units (`32m`, `1g`, `512k`, `100`).
pub fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1i64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        't' => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    if n < 0.0 {
        return None;
    }
    Some((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strslice_takes_string_or_list() {
        let c: Config = parse(
            "config",
            &json!({"Cmd": "echo hi", "Entrypoint": ["sh", "-c"]}),
        )
        .expect("parses");
        assert_eq!(c.cmd, Some(StrSlice(vec!["echo hi".into()])));
        assert_eq!(c.entrypoint, Some(StrSlice(vec!["sh".into(), "-c".into()])));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse::<HostConfig>("HostConfig", &json!({"Memory": "lots"}))
            .expect_err("a string is not a memory size");
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("Memory"), "{}", e.message);
    }

    #[test]
    fn overlay_keeps_defaults_for_missing_keys() {
        let v = overlay(
            host_config_defaults(),
            &json!({"Memory": 1024, "Binds": ["a:/b"]}),
        );
        assert_eq!(v["Memory"], 1024);
        assert_eq!(v["LogConfig"]["Type"], "json-file");
        assert_eq!(v["Binds"][0], "a:/b");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("32m"), Some(32 << 20));
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("512"), Some(512));
        assert_eq!(parse_bytes("1.5k"), Some(1536));
        assert_eq!(parse_bytes("x"), None);
    }
}
