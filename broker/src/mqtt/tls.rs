//! TLS termination for device connections: one server configuration, built once.
//!
//! rumqttd re-read and re-parsed the CA, certificate and key files for every connection; here
//! they are parsed once into a `rustls::ServerConfig` that every handshake shares, and rebuilt
//! only when a file changes (certificate or CA rotation), checked every few seconds. Client
//! certificates must chain to the device CA; the device id and serial are read from the verified
//! certificate for `device_auth` to bind to the CONNECT.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use episante_kit::Shutdown;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The PEM files TLS is built from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    fn modified(&self) -> Vec<Option<SystemTime>> {
        [&self.ca, &self.cert, &self.key]
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

pub struct TlsTerminator {
    files: TlsFiles,
    current: RwLock<(TlsAcceptor, Vec<Option<SystemTime>>)>,
}

fn read_certs(path: &PathBuf) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

fn build(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in read_certs(&files.ca)? {
        roots.add(ca).context("adding the device CA")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("building the client certificate verifier")?;
    let key_pem =
        std::fs::read(&files.key).with_context(|| format!("reading {}", files.key.display()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())?
        .with_context(|| format!("no private key in {}", files.key.display()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(&files.cert)?, key)
        .context("the server certificate and key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl TlsTerminator {
    pub fn load(files: TlsFiles) -> anyhow::Result<Arc<Self>> {
        let acceptor = build(&files)?;
        let stamp = files.modified();
        Ok(Arc::new(TlsTerminator {
            files,
            current: RwLock::new((acceptor, stamp)),
        }))
    }

    /// The acceptor for the next handshake (cheap: an `Arc`).
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().expect("tls poisoned").0.clone()
    }

    /// Rebuilds the configuration if a file changed; a broken new file keeps the old one.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let stamp = self.files.modified();
        if self.current.read().expect("tls poisoned").1 == stamp {
            return Ok(false);
        }
        let acceptor = build(&self.files)?;
        *self.current.write().expect("tls poisoned") = (acceptor, stamp);
        tracing::info!("device TLS configuration reloaded");
        Ok(true)
    }

    pub fn spawn_watcher(self: Arc<Self>, every: Duration, shutdown: Shutdown) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = self.reload_if_changed() {
                            tracing::error!(error = %e, "cannot reload device TLS; keeping the old configuration");
                        }
                    }
                    _ = shutdown.wait() => break,
                }
            }
        });
    }
}

/// Who the verified client certificate says the peer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The certificate's Organization (device id).
    pub device_id: String,
    pub serial_hex: String,
}

pub fn peer_identity(der: &[u8]) -> Option<PeerIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let device_id = cert
        .subject()
        .iter_organization()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(PeerIdentity {
        device_id,
        serial_hex: hex::encode(cert.tbs_certificate.raw_serial()),
    })
}
