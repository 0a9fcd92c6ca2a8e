//! `wharf server`: the Kubernetes API server.
//!
//! The pieces, in the order a request meets them: [`serve`] accepts a connection (TLS by
//! default, with client certificates or bearer tokens; plain HTTP on loopback when asked),
//! [`handler`] routes it (discovery, OpenAPI, health, metrics, or a resource verb), [`rest`]
//! implements the verb against the [`cache::Cache`] (reads, watches) and the [`store`]
//! (compare-and-swap writes), [`patch`] adds the four patch types and `scale`, and
//! [`controllers`] keep the API's own semantics (garbage collection, namespace deletion,
//! CRDs). Resources, schemas, defaults, validation and tables come from the `api` crate.

pub mod alloc;
pub mod body;
pub mod cache;
pub mod cli;
pub mod controllers;
pub mod handler;
pub mod metrics;
pub mod object;
pub mod patch;
pub mod registry;
pub mod request;
pub mod rest;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::handler::Server;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Config {
    /// State: the SQLite database (unless `etcd_servers`) and the PKI.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Plain HTTP, anonymous (loopback only).
    pub insecure_http: bool,
    /// etcd endpoints; empty for the embedded SQLite store.
    pub etcd_servers: Vec<String>,
    /// Key prefix in etcd (several servers can share one etcd).
    pub etcd_prefix: String,
    /// Where to write the admin kubeconfig (default `<data_dir>/admin.kubeconfig`).
    pub kubeconfig: Option<PathBuf>,
    /// The service CIDR.
    pub service_cidr: String,
    /// How much history stays watchable.
    pub history: Duration,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The kubeconfig written for it.
    pub kubeconfig: PathBuf,
    /// The server state.
    pub server: Arc<Server>,
    /// Compacts the store's history while the server runs.
    pub compactor: store::Compactor,
}

async fn open_store(cfg: &Config) -> Result<Arc<dyn store::Store>> {
    if cfg.etcd_servers.is_empty() {
        let path = cfg.data_dir.join("state.db");
        let s = store::sqlite::SqliteStore::open(&path)
            .with_context(|| format!("opening the store {}", path.display()))?;
        Ok(Arc::new(s))
    } else {
        let s = store::etcd::EtcdStore::connect(&cfg.etcd_servers, &cfg.etcd_prefix)
            .await
            .with_context(|| format!("connecting to etcd at {}", cfg.etcd_servers.join(",")))?;
        Ok(Arc::new(s))
    }
}

/// Starts a server: opens the store, fills the watch cache, creates the default namespaces
/// and the `kubernetes` Service, writes the kubeconfig and starts serving.
pub async fn start(cfg: Config) -> Result<Running> {
    if cfg.insecure_http && !cfg.listen.ip().is_loopback() {
        bail!(
            "plain HTTP is anonymous, so it is only served on loopback; {} is not a loopback address",
            cfg.listen.ip()
        );
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store = open_store(&cfg).await?;
    let cache = cache::Cache::new(cache::Retention {
        window: cfg.history,
        ..Default::default()
    });
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(cache.clone().run(store.clone(), ready_tx));
    tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .context("the watch cache did not fill within 60 s")?
        .context("the watch cache stopped")?;
    let compactor = store::Compactor::spawn(store.clone(), cfg.history, Duration::from_secs(30));

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let scheme = if cfg.insecure_http { "http" } else { "https" };
    let url = format!("{scheme}://{host}:{}", addr.port());

    let alloc = alloc::Allocator::new(&cfg.service_cidr).map_err(anyhow::Error::msg)?;
    let registry = registry::Registry::new();
    let server = Arc::new(Server {
        api: rest::Api {
            store,
            cache,
            registry,
            alloc,
        },
        metrics: metrics::Metrics::default(),
        address: format!("{host}:{}", addr.port()),
        ready: std::sync::atomic::AtomicBool::new(false),
        openapi_v2: std::sync::Mutex::new(None),
        openapi_v3: std::sync::Mutex::new((0, Default::default())),
    });
    // Serve CRDs that exist before anything asks for them.
    for (k, e) in server.api.cache.all() {
        if k.starts_with("/registry/apiextensions.k8s.io/customresourcedefinitions/") {
            let name = object::name(&e.obj).to_string();
            server
                .api
                .registry
                .set_crd(&name, api::schema::crd::served_versions(&e.obj));
        }
    }
    bootstrap(&server).await?;
    server
        .ready
        .store(true, std::sync::atomic::Ordering::Release);
    tokio::spawn(controllers::run(server.clone()));

    let kubeconfig = cfg
        .kubeconfig
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("admin.kubeconfig"));
    if cfg.insecure_http {
        tls::write_kubeconfig(&kubeconfig, &tls::plain_kubeconfig(&url))?;
        tokio::spawn(serve::plain(server.clone(), listener));
    } else {
        let pki = tls::Pki::load_or_create(&cfg.data_dir, addr)?;
        tls::write_kubeconfig(&kubeconfig, &pki.kubeconfig(&url))?;
        let tls_cfg = Arc::new(pki.server_config()?);
        tokio::spawn(serve::tls(
            server.clone(),
            listener,
            tls_cfg,
            pki.token.clone(),
        ));
    }
    Ok(Running {
        addr,
        kubeconfig,
        server,
        compactor,
    })
}

/// Creates what every cluster has: the four namespaces and the `kubernetes` Service.
async fn bootstrap(server: &Arc<Server>) -> Result<()> {
    let api = &server.api;
    let opts = rest::WriteOpts::system("wharf-bootstrap");
    let ns = api
        .registry
        .find("", "v1", "namespaces")
        .context("namespaces are not served")?;
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match api.create(&ns, None, obj, &opts).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => bail!("creating namespace {name}: {e}"),
        }
    }
    let svc = api
        .registry
        .find("", "v1", "services")
        .context("services are not served")?;
    let ip = api.alloc.first().to_string();
    let obj = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                 "sessionAffinity": "None", "type": "ClusterIP"}});
    match api.create(&svc, Some("default"), obj, &opts).await {
        Ok(_) => {}
        Err(e) if e.code == 409 => {}
        Err(e) => bail!("creating the kubernetes Service: {e}"),
    }
    Ok(())
}

pub mod serve {
    //! Accept loops: TLS with authentication, or plain HTTP.

    use std::sync::Arc;

    use api::error::ApiError;
    use hyper::Request;
    use hyper::body::Incoming;

    use crate::handler::{self, Server, error_response};

    /// Serves plain HTTP (anonymous).
    pub async fn plain(server: Arc<Server>, listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = server.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, std::convert::Infallible>(handler::handle(server, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades()
                    .await;
            });
        }
    }

    /// Compares a presented credential with the expected one in time that does not depend
    /// on where they differ.
    fn same_secret(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn public(path: &str) -> bool {
        matches!(
            path,
            "/version"
                | "/version/"
                | "/healthz"
                | "/livez"
                | "/readyz"
                | "/healthz/"
                | "/livez/"
                | "/readyz/"
        )
    }

    /// Serves HTTPS: a request needs a verified client certificate or the admin token.
    pub async fn tls(
        server: Arc<Server>,
        listener: tokio::net::TcpListener,
        cfg: Arc<rustls::ServerConfig>,
        token: String,
    ) {
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let token = Arc::new(format!("Bearer {token}"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = server.clone();
            let acceptor = acceptor.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let has_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                let io = hyper_util::rt::TokioIo::new(tls);
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let server = server.clone();
                    let token = token.clone();
                    async move {
                        let bearer = req
                            .headers()
                            .get("Authorization")
                            .is_some_and(|v| same_secret(v.as_bytes(), token.as_bytes()));
                        if has_cert || bearer || public(req.uri().path()) {
                            Ok::<_, std::convert::Infallible>(handler::handle(server, req).await)
                        } else {
                            Ok(error_response(&ApiError::new(
                                401,
                                "Unauthorized",
                                "Unauthorized",
                            )))
                        }
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades()
                    .await;
            });
        }
    }
}
