//! The server's PKI: a cluster CA, a serving certificate and an admin client certificate,
//! generated on first start under `<data-dir>/pki/`, an admin bearer token, and the
//! kubeconfig that uses them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The credentials of a server.
#[derive(Debug, Clone)]
pub struct Pki {
    /// Where the files are.
    pub dir: PathBuf,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The serving certificate chain and key.
    pub server_cert_pem: String,
    /// See `server_cert_pem`.
    pub server_key_pem: String,
    /// The admin client certificate and key.
    pub admin_cert_pem: String,
    /// See `admin_cert_pem`.
    pub admin_key_pem: String,
    /// The admin bearer token.
    pub token: String,
}

fn write_private(path: &Path, data: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(data.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = time_now();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

impl Pki {
    /// Loads the PKI from `<data_dir>/pki`, creating what is missing. The serving certificate
    /// is issued anew on every start for `listen` (plus 127.0.0.1, ::1 and localhost).
    pub fn load_or_create(data_dir: &Path, listen: SocketAddr) -> Result<Pki> {
        let dir = data_dir.join("pki");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (ca_pem, ca_key_pem) = match (read(&dir.join("ca.crt")), read(&dir.join("ca.key"))) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut p = CertificateParams::default();
                p.distinguished_name = name("wharf-ca", None);
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                validity(&mut p, 3650);
                let cert = p.self_signed(&key)?;
                write_private(&dir.join("ca.key"), &key.serialize_pem())?;
                write_private(&dir.join("ca.crt"), &cert.pem())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem).context("reading pki/ca.key")?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("reading pki/ca.crt")?;

        let server_key = KeyPair::generate()?;
        let mut sans = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        if !listen.ip().is_unspecified() {
            sans.push(listen.ip().to_string());
        }
        sans.sort();
        sans.dedup();
        let mut p = CertificateParams::default();
        p.distinguished_name = name("wharf-apiserver", None);
        p.subject_alt_names = sans
            .iter()
            .map(|s| match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => s.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        validity(&mut p, 365);
        let server_cert = p.signed_by(&server_key, &issuer)?;
        write_private(&dir.join("apiserver.crt"), &server_cert.pem())?;
        write_private(&dir.join("apiserver.key"), &server_key.serialize_pem())?;

        let (admin_cert_pem, admin_key_pem) =
            match (read(&dir.join("admin.crt")), read(&dir.join("admin.key"))) {
                (Some(c), Some(k)) => (c, k),
                _ => {
                    let key = KeyPair::generate()?;
                    let mut p = CertificateParams::default();
                    p.distinguished_name = name("wharf-admin", Some("system:masters"));
                    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                    validity(&mut p, 3650);
                    let cert = p.signed_by(&key, &issuer)?;
                    write_private(&dir.join("admin.key"), &key.serialize_pem())?;
                    write_private(&dir.join("admin.crt"), &cert.pem())?;
                    (cert.pem(), key.serialize_pem())
                }
            };
        let token = match read(&dir.join("admin.token")) {
            Some(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let bytes: [u8; 24] = rand::random();
                let t = hex::encode(bytes);
                write_private(&dir.join("admin.token"), &t)?;
                t
            }
        };
        Ok(Pki {
            dir,
            ca_pem,
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            admin_cert_pem,
            admin_key_pem,
            token,
        })
    }

    /// A rustls server configuration: this serving certificate, HTTP/1.1, client
    /// certificates signed by the CA verified when offered (requests without one need a
    /// token).
    pub fn server_config(&self) -> Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<_> = rustls_pemfile::certs(&mut self.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .context("parsing the serving certificate")?;
        let key = rustls_pemfile::private_key(&mut self.server_key_pem.as_bytes())
            .context("parsing the serving key")?
            .context("no serving key")?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut self.ca_pem.as_bytes()) {
            roots.add(c.context("parsing the CA")?)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }

    /// A kubeconfig for the admin, reaching the server at `server_url`.
    pub fn kubeconfig(&self, server_url: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server_url}\n  name: wharf\ncontexts:\n- context:\n    cluster: wharf\n    user: wharf-admin\n  name: wharf\ncurrent-context: wharf\npreferences: {{}}\nusers:\n- name: wharf-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&self.ca_pem),
            b64(&self.admin_cert_pem),
            b64(&self.admin_key_pem),
        )
    }
}

/// A kubeconfig for a plain-HTTP server (no credentials: kubectl sends none over HTTP).
pub fn plain_kubeconfig(server_url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {server_url}\n  name: wharf\ncontexts:\n- context:\n    cluster: wharf\n    user: anonymous\n  name: wharf\ncurrent-context: wharf\npreferences: {{}}\nusers:\n- name: anonymous\n  user: {{}}\n"
    )
}

/// Writes a kubeconfig atomically, mode 0600.
pub fn write_kubeconfig(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    write_private(path, text)
}
