//! Container lifecycle: create, start, stop, kill, restart, pause, rename, remove, wait, and
//! what happens when a container exits (restart policies, `--rm`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::container::{Container, MountPoint, Record, State, normalize_name, rfc3339};
use crate::engine::{Engine, blocking, image_error, layer_error, random_id, remove_tree};
use crate::error::{Error, Result};
use crate::types::{self, Config, HostConfig};

/// What `POST /containers/create` returns.
#[derive(Debug)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// The conditions of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "clever",
    "dazzling",
    "eager",
    "festive",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "optimistic",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];
const NAMES: &[&str] = &[
    "hopper", "lovelace", "turing", "curie", "noether", "ritchie", "thompson", "torvalds",
    "hamilton", "goldberg", "liskov", "knuth", "dijkstra", "shannon", "babbage", "kare", "allen",
    "bell", "darwin", "euler", "fermi", "galileo", "hawking",
];

/// Validates the parts of `HostConfig` dockerd checks at create, with its messages.
pub fn validate_host_config(host: &HostConfig) -> Result<()> {
    if host.memory != 0 && host.memory < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if host.memory < 0 {
        return Err(Error::invalid("invalid memory limit: must be positive"));
    }
    if host.memory_swap > 0 && host.memory > 0 && host.memory_swap < host.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    let cpus = online_cpus() as i64;
    if host.nano_cpus != 0 {
        if host.cpu_quota != 0 || host.cpu_period != 0 {
            return Err(Error::invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        if !(10_000_000..=cpus * 1_000_000_000).contains(&host.nano_cpus) {
            return Err(Error::invalid(format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )));
        }
    }
    if host.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares: must be positive"));
    }
    if host.cpu_period != 0 && !(1000..=1_000_000).contains(&host.cpu_period) {
        return Err(Error::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if host.cpu_quota > 0 && host.cpu_quota < 1000 {
        return Err(Error::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    let policy = &host.restart_policy;
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )));
        }
    }
    if host.auto_remove && !matches!(policy.name.as_str(), "" | "no") {
        return Err(Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    if !matches!(
        host.log_config.kind.as_str(),
        "" | "json-file" | "local" | "none"
    ) {
        return Err(Error::invalid(format!(
            "failed to create task for container: logger: no log driver named '{}' is registered",
            host.log_config.kind
        )));
    }
    Ok(())
}

/// The number of CPUs this machine runs containers on.
pub fn online_cpus() -> usize {
    runtime::host::online_cpus()
        .map(|c| c.len())
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// Parses a signal given as `SIGTERM`, `TERM` or `15`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::invalid(format!("Invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::invalid(format!("Invalid signal: {s}")))
}

impl Engine {
    fn generate_name(&self) -> String {
        use rand::Rng;
        let mut rng = rand::rng();
        loop {
            let name = format!(
                "/{}_{}",
                ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                NAMES[rng.random_range(0..NAMES.len())]
            );
            if !self.table().names.contains_key(&name) {
                return name;
            }
        }
    }

    /// `POST /containers/create`.
    pub async fn create(self: &Arc<Self>, name: Option<&str>, body: Value) -> Result<Created> {
        self.create_with(name, body, None).await
    }

    /// Creates a container from `image` when given (a build step's state, which is not in
    /// the image store), else from the image the body names.
    pub(crate) async fn create_with(
        self: &Arc<Self>,
        name: Option<&str>,
        body: Value,
        image: Option<image::store::ImageRecord>,
    ) -> Result<Created> {
        let body = match body {
            Value::Object(_) => body,
            Value::Null => json!({}),
            _ => return Err(Error::invalid("invalid JSON: the body must be an object")),
        };
        let mut config_in = body.clone();
        let networking = config_in
            .as_object_mut()
            .and_then(|o| o.remove("NetworkingConfig"))
            .unwrap_or(Value::Null);
        let host_in = config_in
            .as_object_mut()
            .and_then(|o| o.remove("HostConfig"))
            .unwrap_or(Value::Null);
        let host_in = if host_in.is_null() {
            json!({})
        } else {
            host_in
        };
        // Type check both halves before anything else.
        let config: Config = types::parse("Config", &config_in)?;
        let host: HostConfig = types::parse("HostConfig", &host_in)?;
        validate_host_config(&host)?;
        if config.image.is_empty() {
            return Err(Error::invalid(
                "config cannot be empty in order to create a container",
            ));
        }
        let image = match image {
            Some(rec) => Ok(rec),
            None => {
                let images = self.images.clone();
                let wanted = config.image.clone();
                blocking(move || images.resolve(&wanted).map_err(image_error)).await
            }
        }
        .map_err(|e| {
            if e.kind == crate::error::Kind::NotFound {
                Error::no_such_image(&familiar_with_tag(&config.image))
            } else {
                e
            }
        })?;
        let image_config: Value = {
            let content = self.content.clone();
            let id = image.id.clone();
            let bytes = blocking(move || content.read(&id).map_err(image_error)).await?;
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("image config of {}: {e}", image.id)))?
        };
        let ic = image_config.get("config").cloned().unwrap_or(json!({}));

        // Config: the request over the image's defaults, as dockerd merges them.
        let mut merged = types::overlay(types::config_defaults(), &config_in);
        let mut env = strings(&ic["Env"]);
        for e in config.env.clone().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        merged["Env"] = json!(env);
        let (entrypoint, cmd) = match (&config.entrypoint, &config.cmd) {
            (Some(ep), cmd) => (ep.0.clone(), cmd.clone().map(|c| c.0).unwrap_or_default()),
            (None, Some(cmd)) => (strings(&ic["Entrypoint"]), cmd.0.clone()),
            (None, None) => (strings(&ic["Entrypoint"]), strings(&ic["Cmd"])),
        };
        merged["Entrypoint"] = if entrypoint.is_empty() {
            Value::Null
        } else {
            json!(entrypoint)
        };
        merged["Cmd"] = if cmd.is_empty() && config.cmd.is_none() && ic["Cmd"].is_null() {
            Value::Null
        } else {
            json!(cmd)
        };
        if config.working_dir.is_empty()
            && let Some(w) = ic["WorkingDir"].as_str()
        {
            merged["WorkingDir"] = json!(w);
        }
        if config.user.is_empty()
            && let Some(u) = ic["User"].as_str()
        {
            merged["User"] = json!(u);
        }
        let mut labels = ic["Labels"].as_object().cloned().unwrap_or_default();
        for (k, v) in config.labels.clone().unwrap_or_default() {
            labels.insert(k, json!(v));
        }
        merged["Labels"] = json!(labels);
        let mut volumes = ic["Volumes"].as_object().cloned().unwrap_or_default();
        for (k, v) in config.volumes.clone().unwrap_or_default() {
            volumes.insert(k, v);
        }
        merged["Volumes"] = if volumes.is_empty() {
            Value::Null
        } else {
            json!(volumes)
        };
        if config.healthcheck.is_none() && !ic["Healthcheck"].is_null() {
            merged["Healthcheck"] = ic["Healthcheck"].clone();
        }
        if config.stop_signal.is_none() && ic["StopSignal"].is_string() {
            merged["StopSignal"] = ic["StopSignal"].clone();
        }
        if let Some(ports) = ic["ExposedPorts"].as_object() {
            let mut all = ports.clone();
            for (k, v) in config.exposed_ports.clone().unwrap_or_default() {
                all.insert(k, v);
            }
            merged["ExposedPorts"] = json!(all);
        }
        if ic["OnBuild"].is_array() {
            merged["OnBuild"] = ic["OnBuild"].clone();
        }
        let argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        let Some((path, args)) = argv.split_first() else {
            return Err(Error::invalid("no command specified"));
        };
        if let Some(sig) = merged["StopSignal"].as_str() {
            parse_signal(sig)?;
        }

        // HostConfig over dockerd's defaults.
        let mut host_json = types::overlay(types::host_config_defaults(), &host_in);
        types::default_field(&mut host_json, "NetworkMode", json!("bridge"));
        if host_json["NetworkMode"] == "default" {
            host_json["NetworkMode"] = json!("bridge");
        }
        types::default_field(&mut host_json["RestartPolicy"], "Name", json!("no"));
        types::default_field(&mut host_json["LogConfig"], "Type", json!("json-file"));
        if host_json["LogConfig"]["Config"].is_null() {
            host_json["LogConfig"]["Config"] = json!({});
        }
        if host_json["ShmSize"] == 0 {
            host_json["ShmSize"] = json!(67108864);
        }
        types::default_field(&mut host_json, "IpcMode", json!("private"));
        types::default_field(&mut host_json, "CgroupnsMode", json!("host"));
        types::default_field(&mut host_json, "Runtime", json!("runc"));
        if host.privileged {
            host_json["MaskedPaths"] = Value::Null;
            host_json["ReadonlyPaths"] = Value::Null;
        }
        let network = self.requested_networks(&host_json, &networking, &merged)?;

        // The name.
        let id = random_id();
        if config.hostname.is_empty() {
            // dockerd records the hostname the container gets: its short id, or the host's
            // name on the host's network.
            merged["Hostname"] = if host.network_mode == "host" {
                json!(
                    nix::unistd::gethostname()
                        .map(|h| h.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )
            } else {
                json!(id[..12])
            };
        }
        let name = match name {
            Some(n) if !n.is_empty() => normalize_name(n)?,
            _ => self.generate_name(),
        };
        {
            let mut table = self.table();
            if let Some(other) = table.names.get(&name) {
                return Err(Error::conflict(format!(
                    "Conflict. The container name \"{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            table.names.insert(name.clone(), id.clone());
        }
        let release = |engine: &Engine| {
            engine.table().names.remove(&name);
        };
        let result = self
            .create_inner(
                &id, &name, path, args, merged, host_json, &host, &image, network,
            )
            .await;
        match result {
            Ok(c) => {
                self.table().by_id.insert(id.clone(), c.clone());
                self.container_event(&c, "create", &[]);
                Ok(Created {
                    id,
                    warnings: Vec::new(),
                })
            }
            Err(e) => {
                release(self);
                let _ = remove_tree(&self.container_dir(&id));
                let layers = self.layers.clone();
                let key = id.clone();
                let _ = blocking(move || layers.remove(&key).map_err(layer_error)).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_inner(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        path: &str,
        args: &[String],
        config: Value,
        host_json: Value,
        host: &HostConfig,
        image: &image::store::ImageRecord,
        network: crate::network::ContainerNet,
    ) -> Result<Arc<Container>> {
        // The image's layers, unpacked, and the writable layer.
        let parent = self.ensure_layers(image).await?;
        let dir = self.container_dir(id);
        std::fs::create_dir_all(&dir)?;
        let mounts = self.resolve_mounts(&config, host)?;
        {
            let layers = self.layers.clone();
            let key = id.to_string();
            let parent = parent.clone();
            blocking(move || {
                layers
                    .prepare(&key, parent.as_deref())
                    .map(|_| ())
                    .map_err(layer_error)
            })
            .await?;
        }
        let record = Record {
            id: id.to_string(),
            name: name.to_string(),
            created: chrono::Utc::now(),
            path: path.to_string(),
            args: args.to_vec(),
            config,
            host_config: host_json,
            image: image.id.to_string(),
            parent_layer: parent,
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            mounts,
            exec_ids: Vec::new(),
            network,
        };
        let c = Arc::new(Container::new(dir, record));
        c.save()?;
        Ok(c)
    }

    /// Makes sure every layer of an image is unpacked (again, if they were pruned); returns
    /// the top chain id.
    pub(crate) async fn ensure_layers(
        &self,
        image: &image::store::ImageRecord,
    ) -> Result<Option<String>> {
        let stack = crate::engine::layer_stack(image)?;
        let layers = self.layers.clone();
        let content = self.content.clone();
        blocking(move || crate::engine::unpack_layers(&content, &layers, &stack)).await
    }

    /// Turns `Binds`, `Mounts`, `Tmpfs` and the image's `VOLUME`s into mount points,
    /// creating the volumes they name.
    fn resolve_mounts(&self, config: &Value, host: &HostConfig) -> Result<Vec<MountPoint>> {
        let mut out: Vec<MountPoint> = Vec::new();
        let push = |m: MountPoint, out: &mut Vec<MountPoint>| -> Result<()> {
            if out.iter().any(|o| o.destination == m.destination) {
                return Err(Error::invalid(format!(
                    "Duplicate mount point: {}",
                    m.destination
                )));
            }
            out.push(m);
            Ok(())
        };
        for bind in host.binds.as_deref().unwrap_or_default() {
            let parts: Vec<&str> = bind.split(':').collect();
            let (src, dst, mode) = match parts.as_slice() {
                [dst] => ("", *dst, ""),
                [src, dst] => (*src, *dst, ""),
                [src, dst, mode] => (*src, *dst, *mode),
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid volume specification: '{bind}'"
                    )));
                }
            };
            if !dst.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid volume specification: '{bind}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            let mut rw = true;
            let mut propagation = String::new();
            for opt in mode.split(',').filter(|o| !o.is_empty()) {
                match opt {
                    "ro" => rw = false,
                    "rw" => rw = true,
                    "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
                    p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave") => {
                        propagation = p.to_string()
                    }
                    _ => {
                        return Err(Error::invalid(format!("invalid mode: {mode}")));
                    }
                }
            }
            let m = if src.starts_with('/') {
                // dockerd creates a missing bind source for -v (not for --mount).
                std::fs::create_dir_all(src).map_err(|e| {
                    Error::invalid(format!(
                        "error while creating mount source path '{src}': {e}"
                    ))
                })?;
                MountPoint {
                    kind: "bind".into(),
                    name: String::new(),
                    source: src.into(),
                    destination: dst.into(),
                    driver: String::new(),
                    mode: mode.into(),
                    rw,
                    propagation: if propagation.is_empty() {
                        "rprivate".into()
                    } else {
                        propagation
                    },
                    anonymous: false,
                    tmpfs_options: String::new(),
                }
            } else {
                let anonymous = src.is_empty();
                let name = if anonymous {
                    random_id()
                } else {
                    src.to_string()
                };
                self.volume_mount(&name, dst, rw, mode, anonymous)?
            };
            push(m, &mut out)?;
        }
        for spec in host.mounts.as_deref().unwrap_or_default() {
            if !spec.target.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
                    spec.kind, spec.target
                )));
            }
            let m = match spec.kind.as_str() {
                "bind" => {
                    if !std::path::Path::new(&spec.source).exists() {
                        return Err(Error::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            spec.source
                        )));
                    }
                    MountPoint {
                        kind: "bind".into(),
                        name: String::new(),
                        source: spec.source.clone(),
                        destination: spec.target.clone(),
                        driver: String::new(),
                        mode: String::new(),
                        rw: !spec.read_only,
                        propagation: spec
                            .bind_options
                            .as_ref()
                            .map(|b| b.propagation.clone())
                            .filter(|p| !p.is_empty())
                            .unwrap_or_else(|| "rprivate".into()),
                        anonymous: false,
                        tmpfs_options: String::new(),
                    }
                }
                "volume" => {
                    let anonymous = spec.source.is_empty();
                    let name = if anonymous {
                        random_id()
                    } else {
                        spec.source.clone()
                    };
                    let mode = if spec.volume_options.as_ref().is_some_and(|o| o.no_copy) {
                        "nocopy"
                    } else {
                        "z"
                    };
                    let mut m =
                        self.volume_mount(&name, &spec.target, !spec.read_only, mode, anonymous)?;
                    m.mode = "z".into();
                    if mode == "nocopy" {
                        m.mode = "nocopy".into();
                    }
                    m
                }
                "tmpfs" => {
                    let mut opts = Vec::new();
                    if let Some(t) = &spec.tmpfs_options {
                        if t.size_bytes > 0 {
                            opts.push(format!("size={}", t.size_bytes));
                        }
                        if t.mode != 0 {
                            opts.push(format!("mode={:o}", t.mode));
                        }
                    }
                    tmpfs_point(&spec.target, &opts.join(","), !spec.read_only)
                }
                other => {
                    return Err(Error::invalid(format!("mount type unknown: \"{other}\"")));
                }
            };
            push(m, &mut out)?;
        }
        for (dst, opts) in host.tmpfs.clone().unwrap_or_default() {
            let ro = opts.split(',').any(|o| o == "ro");
            let opts: Vec<&str> = opts
                .split(',')
                .filter(|o| *o != "ro" && *o != "rw")
                .collect();
            push(tmpfs_point(&dst, &opts.join(","), !ro), &mut out)?;
        }
        // The image's VOLUMEs not covered above get anonymous volumes.
        if let Some(vols) = config["Volumes"].as_object() {
            for dst in vols.keys() {
                if out.iter().any(|m| &m.destination == dst) {
                    continue;
                }
                let m = self.volume_mount(&random_id(), dst, true, "", true)?;
                out.push(m);
            }
        }
        Ok(out)
    }

    fn volume_mount(
        &self,
        name: &str,
        dst: &str,
        rw: bool,
        mode: &str,
        anonymous: bool,
    ) -> Result<MountPoint> {
        let mut labels = BTreeMap::new();
        if anonymous {
            labels.insert(crate::volumes::ANONYMOUS_LABEL.to_string(), String::new());
        }
        let existed = self.volumes.get(name).is_ok();
        self.volumes
            .create(name, "local", labels, BTreeMap::new())?;
        if !existed {
            self.events.publish(
                "volume",
                "create",
                name,
                BTreeMap::from([("driver".into(), "local".into())]),
            );
        }
        Ok(MountPoint {
            kind: "volume".into(),
            name: name.into(),
            source: self.volumes.mountpoint(name).to_string_lossy().into_owned(),
            destination: dst.into(),
            driver: "local".into(),
            mode: if mode.is_empty() {
                "z".into()
            } else {
                mode.into()
            },
            rw,
            propagation: String::new(),
            anonymous,
            tmpfs_options: String::new(),
        })
    }

    /// `POST /containers/{id}/wait`: registers the waiter now (so that a start that follows
    /// cannot be missed) and returns the future of the exit code once the condition holds.
    /// Callable before start.
    pub fn wait(
        &self,
        c: &Arc<Container>,
        condition: WaitCondition,
    ) -> impl std::future::Future<Output = i64> + Send + 'static {
        let c = c.clone();
        let mut rx = c.watch();
        let start = *rx.borrow_and_update();
        async move {
            match condition {
                WaitCondition::NotRunning if !c.is_running() && !c.with(|r| r.state.restarting) => {
                    return c.with(|r| r.state.exit_code);
                }
                WaitCondition::Removed if start.removed => return start.exit_code,
                _ => {}
            }
            loop {
                if rx.changed().await.is_err() {
                    return rx.borrow().exit_code;
                }
                let now = *rx.borrow_and_update();
                let done = match condition {
                    WaitCondition::NotRunning | WaitCondition::NextExit => {
                        now.stops > start.stops || now.removed
                    }
                    WaitCondition::Removed => now.removed,
                };
                if done {
                    return now.exit_code;
                }
            }
        }
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, c: &Arc<Container>, new: &str) -> Result<()> {
        let new = normalize_name(new)?;
        let old = c.with(|r| r.name.clone());
        if old == new {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        {
            let mut table = self.table();
            if let Some(other) = table.names.get(&new) {
                return Err(Error::conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            table.names.remove(&old);
            table.names.insert(new.clone(), c.id.clone());
        }
        c.update(|r| r.name = new.clone())?;
        self.container_event(c, "rename", &[("oldName", old)]);
        Ok(())
    }
}

fn tmpfs_point(dst: &str, opts: &str, rw: bool) -> MountPoint {
    MountPoint {
        kind: "tmpfs".into(),
        name: String::new(),
        source: String::new(),
        destination: dst.into(),
        driver: String::new(),
        mode: opts.into(),
        rw,
        propagation: String::new(),
        anonymous: false,
        tmpfs_options: opts.into(),
    }
}

/// `busybox` → `busybox:latest`, as dockerd words "No such image".
pub fn familiar_with_tag(name: &str) -> String {
    match image::reference::Reference::parse(name) {
        Ok(r) => r.with_default_tag().familiar(),
        Err(_) => name.to_string(),
    }
}

/// Waits up to `timeout` for the container's stop count to pass `after`.
pub(crate) async fn wait_stopped(c: &Container, after: u64, timeout: Option<Duration>) -> bool {
    let mut rx = c.watch();
    let fut = async {
        loop {
            {
                let l = *rx.borrow_and_update();
                if l.stops > after || l.removed {
                    return;
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, fut).await.is_ok(),
        None => {
            fut.await;
            true
        }
    }
}

pub(crate) fn now() -> String {
    rfc3339(chrono::Utc::now())
}
