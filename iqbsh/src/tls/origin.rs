//! The TLS client side towards origins: trust anchors (the system's roots
//! plus configured PEM files), one client configuration per offered ALPN
//! list, and the handshake that verifies the origin's certificate chain,
//! validity and name (through `verify`, which remembers successes).
//!
//! Must not: ever accept an origin certificate that fails verification;
//! a failure here ends the connection, it is never forged over.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{ConfigError, Problem, UpstreamConfig};
use crate::tls::verify::CachingVerifier;

/// The ALPN protocols the proxy can relay, which are the only ones it offers origins.
pub(crate) const H2: &[u8] = b"h2";
pub(crate) const HTTP11: &[u8] = b"http/1.1";

/// Origin sessions remembered for resumption (shared by every ALPN variant);
/// a resumed origin handshake is verified by the session's earlier full one.
const ORIGIN_SESSIONS: usize = 4_096;

/// Why an origin handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginError {
    /// The origin's certificate failed verification.
    Certificate(String),
    /// Anything else (alerts, protocol mismatch, I/O, timeout).
    Handshake(String),
}

/// Client configurations towards origins, keyed by the offered ALPN list.
pub(crate) struct OriginTls {
    configs: HashMap<Vec<Vec<u8>>, TlsConnector>,
}

fn variants() -> [Vec<Vec<u8>>; 5] {
    let (h2, h1) = (H2.to_vec(), HTTP11.to_vec());
    [vec![], vec![h1.clone()], vec![h2.clone()], vec![h2.clone(), h1.clone()], vec![h1, h2]]
}

impl OriginTls {
    /// Loads the trust anchors and builds the client configurations.
    pub(crate) fn new(cfg: &UpstreamConfig, provider: Arc<CryptoProvider>) -> Result<Self, ConfigError> {
        let roots = Arc::new(trust_anchors(cfg)?);
        // The WebPKI checks, with successes remembered across every configuration.
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| ConfigError::one("upstream", format!("TLS verifier setup failed: {e}")))?;
        let verifier = Arc::new(CachingVerifier::new(webpki));
        let sessions = Arc::new(ClientSessionMemoryCache::new(ORIGIN_SESSIONS));
        let mut configs = HashMap::new();
        for alpn in variants() {
            let mut client = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| ConfigError::one("upstream", format!("TLS client setup failed: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
                .with_no_client_auth();
            client.alpn_protocols = alpn.clone();
            client.resumption = Resumption::store(Arc::clone(&sessions) as Arc<dyn ClientSessionStore>);
            configs.insert(alpn, TlsConnector::from(Arc::new(client)));
        }
        Ok(Self { configs })
    }

    /// Handshakes with the origin as `name`, offering the relayable subset of `offered`.
    pub(crate) async fn connect(
        &self,
        tcp: TcpStream,
        name: &str,
        offered: &[Vec<u8>],
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, OriginError> {
        let alpn: Vec<Vec<u8>> = offered.iter().filter(|p| *p == H2 || *p == HTTP11).cloned().collect();
        let connector = self.configs.get(&alpn).or_else(|| self.configs.get(&Vec::new()));
        let Some(connector) = connector else {
            return Err(OriginError::Handshake("no client configuration".into()));
        };
        let server_name = ServerName::try_from(name.trim_matches(['[', ']']).to_owned())
            .map_err(|_| OriginError::Handshake(format!("{name:?} is not a valid server name")))?;
        match tokio::time::timeout(timeout, connector.connect(server_name, tcp)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(OriginError::Handshake(format!("no TLS handshake within {}s", timeout.as_secs()))),
        }
    }
}

/// Separates certificate failures from other handshake failures.
fn classify(e: &std::io::Error) -> OriginError {
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(err @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)) => {
            OriginError::Certificate(err.to_string())
        }
        Some(err) => OriginError::Handshake(err.to_string()),
        None => OriginError::Handshake(e.to_string()),
    }
}

/// The system roots (if enabled) plus every extra anchor file.
fn trust_anchors(cfg: &UpstreamConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    if cfg.system_roots {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "a system trust anchor could not be loaded");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "system trust anchors loaded");
    }
    let mut problems = Vec::new();
    for path in &cfg.extra_anchors {
        if let Err(message) = add_pem_file(&mut roots, path) {
            problems.push(Problem { location: format!("upstream.extra_anchors {}", path.display()), message });
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    if roots.is_empty() {
        return Err(ConfigError::one("upstream", "no trust anchors: the system has none and extra_anchors is empty"));
    }
    Ok(roots)
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&text).collect::<Result<_, _>>().map_err(|e| format!("invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| format!("certificate {} is not a usable trust anchor: {e}", i + 1))?;
    }
    Ok(())
}
