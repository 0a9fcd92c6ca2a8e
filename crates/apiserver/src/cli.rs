//! `wharf server`: flags and the process around [`crate::start`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

/// Flags of `wharf server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// State directory: the SQLite store (state.db) and the PKI (pki/).
    #[arg(long, default_value = "/var/lib/wharf/server")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Where to write the admin kubeconfig (default: <data-dir>/admin.kubeconfig).
    #[arg(long)]
    pub write_kubeconfig: Option<PathBuf>,
    /// Use these etcd servers (comma-separated URLs) instead of the embedded SQLite store.
    #[arg(long, value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// Key prefix in etcd, so several clusters can share one etcd.
    #[arg(long, default_value = "")]
    pub etcd_prefix: String,
    /// Serve plain HTTP without authentication (loopback only; kubectl sends no credentials
    /// over HTTP).
    #[arg(long)]
    pub insecure_http: bool,
    /// The range Service cluster IPs come from.
    #[arg(long, default_value = crate::alloc::DEFAULT_SERVICE_CIDR)]
    pub service_cluster_ip_range: String,
    /// How long changes stay watchable (compaction keeps at least this much history).
    #[arg(long, default_value_t = 300)]
    pub watch_history_seconds: u64,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn main(args: ServerArgs) -> anyhow::Result<i32> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let cfg = crate::Config {
            data_dir: std::path::absolute(&args.data_dir)?,
            listen: args.listen,
            insecure_http: args.insecure_http,
            etcd_servers: args.etcd_servers,
            etcd_prefix: args.etcd_prefix,
            kubeconfig: args.write_kubeconfig,
            service_cidr: args.service_cluster_ip_range,
            history: Duration::from_secs(args.watch_history_seconds.max(1)),
        };
        let running = crate::start(cfg).await?;
        eprintln!(
            "wharf server: serving the Kubernetes API on {} ({}); kubeconfig: {}",
            running.addr,
            if args.insecure_http {
                "plain HTTP, anonymous"
            } else {
                "HTTPS"
            },
            running.kubeconfig.display()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        running.compactor.stop().await;
        Ok(0)
    })
}
