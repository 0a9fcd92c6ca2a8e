//! `wharf daemon`: dockerd's flags, the engine behind the Engine API.

use std::path::PathBuf;

use anyhow::Context;

use crate::engine::{Engine, Options};

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Root of persistent state: images, layers, containers, volumes.
    #[arg(long = "data-root", default_value = "/var/lib/wharf")]
    pub data_root: PathBuf,
    /// Root of run-time state: supervisors, the runtime's state.
    #[arg(long = "exec-root", default_value = "/run/wharf")]
    pub exec_root: PathBuf,
    /// Where to write the daemon's pid.
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// debug, info, warn, error or fatal.
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Keep containers running while the daemon is down (always on: every container has its
    /// own supervisor).
    #[arg(long = "live-restore", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub live_restore: bool,
    /// The default bridge's device; `none` for no default bridge network.
    #[arg(short = 'b', long = "bridge", default_value = "wharf0")]
    pub bridge: String,
    /// The default bridge's address and prefix, e.g. 10.20.0.1/16 (default: a free subnet
    /// of the default address pools).
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Where subnets of new networks come from, e.g. base=10.10.0.0/16,size=24 (repeatable).
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// MTU of the bridges and veths (default: the host uplink's).
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// Enable IPv4 forwarding when a network needs it.
    #[arg(long = "ip-forward", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub ip_forward: bool,
    /// Wharf's nftables table (`ip NAME`); rules outside it are never touched.
    #[arg(long = "nft-table", default_value = "wharf")]
    pub nft_table: String,
    /// The resolv.conf whose nameservers containers use for names outside their networks.
    #[arg(long = "resolv-conf", default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
}

impl DaemonArgs {
    fn network_settings(&self) -> anyhow::Result<crate::network::Settings> {
        let valid_dev = |d: &str| !d.is_empty() && d.len() <= 15 && !d.contains(['/', ' ', ':']);
        if !valid_dev(&self.bridge) {
            anyhow::bail!(
                "invalid --bridge {:?}: a device name of 1 to 15 characters",
                self.bridge
            );
        }
        if !self
            .nft_table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || self.nft_table.is_empty()
        {
            anyhow::bail!(
                "invalid --nft-table {:?}: letters, digits and _ only",
                self.nft_table
            );
        }
        let bip = match &self.bip {
            None => None,
            Some(b) => {
                let (ip, prefix) = b
                    .split_once('/')
                    .and_then(|(ip, p)| Some((ip.parse().ok()?, p.parse::<u8>().ok()?)))
                    .filter(|(_, p)| *p <= 30)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "invalid --bip {b:?}: use an address and prefix like 10.20.0.1/16"
                        )
                    })?;
                Some((ip, prefix))
            }
        };
        let pools = if self.default_address_pool.is_empty() {
            net::ipam::AddressPool::defaults()
        } else {
            self.default_address_pool
                .iter()
                .map(|p| {
                    net::ipam::AddressPool::parse(p)
                        .map_err(|e| anyhow::anyhow!("invalid --default-address-pool {p:?}: {e}"))
                })
                .collect::<anyhow::Result<_>>()?
        };
        Ok(crate::network::Settings {
            default_bridge: (self.bridge != "none").then(|| self.bridge.clone()),
            bip,
            pools,
            mtu: self.mtu,
            nft_table: self.nft_table.clone(),
            resolv_conf: self.resolv_conf.clone(),
            ip_forward: self.ip_forward,
        })
    }
}

pub const DEFAULT_SOCKET: &str = "/run/wharf/docker.sock";

fn init_logging(level: &str) -> anyhow::Result<()> {
    let level = match level {
        "fatal" | "panic" => "error",
        "debug" | "info" | "warn" | "error" | "trace" => level,
        other => {
            anyhow::bail!("invalid --log-level {other:?}: use debug, info, warn, error or fatal")
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},libcontainer=off,libcgroups=error"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    Ok(())
}

pub fn main(hosts: Vec<String>, args: DaemonArgs) -> anyhow::Result<i32> {
    init_logging(&args.log_level)?;
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("the daemon needs to run as root");
    }
    let hosts = if hosts.is_empty() {
        vec![format!("unix://{DEFAULT_SOCKET}")]
    } else {
        hosts
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(hosts, args))
}

async fn run(hosts: Vec<String>, args: DaemonArgs) -> anyhow::Result<i32> {
    let opts = Options {
        data_root: std::path::absolute(&args.data_root)?,
        exec_root: std::path::absolute(&args.exec_root)?,
        wharf_exe: std::env::current_exe().context("locating the wharf executable")?,
        network: args.network_settings()?,
    };
    let engine = Engine::open(opts).map_err(|e| anyhow::anyhow!("opening the engine: {e}"))?;
    let mut listeners = Vec::new();
    for host in &hosts {
        if let Some(path) = host.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            // A socket left by a daemon that died; refuse if one is still answering.
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                anyhow::bail!("{} is in use by another daemon", path.display());
            }
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path)
                .with_context(|| format!("listening on {}", path.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660));
            tracing::info!("API listening on {}", path.display());
            listeners.push(tokio::spawn(crate::api::serve_unix(
                engine.clone(),
                listener,
            )));
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            tracing::warn!(
                "API listening on tcp://{addr} without TLS: anyone who can reach it is root"
            );
            listeners.push(tokio::spawn(crate::api::serve_tcp(
                engine.clone(),
                listener,
            )));
        } else {
            anyhow::bail!("invalid host {host:?}: use unix:///path or tcp://host:port");
        }
    }
    if let Some(pidfile) = &args.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", pidfile.display()))?;
    }
    // Containers whose supervisors survived are re-adopted; exits that happened while the
    // daemon was down are recorded.
    engine.restore().await;
    tracing::info!("daemon ready");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let running = engine.containers().iter().any(|c| c.is_running());
    if running {
        tracing::info!("shutting down; containers keep running (live-restore)");
    } else {
        tracing::info!("shutting down; no container runs, so the networks' bridges and rules go");
    }
    engine.networks.shutdown(running);
    for host in &hosts {
        if let Some(path) = host.strip_prefix("unix://") {
            let _ = std::fs::remove_file(path);
        }
    }
    if let Some(pidfile) = &args.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    Ok(0)
}
