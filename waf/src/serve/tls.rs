//! TLS towards browsers: each site's own certificate and key, chosen by the
//! ClientHello's server name in the current sites snapshot (a reload reaches the next
//! handshake), HTTP/2 and HTTP/1.1 offered by ALPN, aws-lc-rs as the one provider. Also
//! [`certified_key`], which turns a site's PEM into a key pair and checks that the
//! certificate names the site and matches the key.
//!
//! Must not: answer a hello without a server name or for a name no site has (the
//! handshake fails; there is no default certificate to leak a site's name).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;

use crate::sites::SitesHandle;

/// Resumption sessions remembered for browsers, across every site.
const SESSIONS: usize = 16_384;

/// The one crypto provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Picks the site's certificate by server name.
#[derive(Debug)]
struct BySni(SitesHandle);

impl std::fmt::Debug for SitesHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SitesHandle").field("sites", &self.load().domains()).finish()
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        let sites = self.0.load_guard();
        sites.find(name.trim_end_matches('.')).map(|site| Arc::clone(&site.cert))
    }
}

/// The browser-facing TLS configuration.
pub(crate) fn server_config(sites: SitesHandle) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(sites)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSIONS);
    config.send_tls13_tickets = 1;
    Ok(Arc::new(config))
}

/// A site's certificate chain and key, checked: they parse, the key matches the leaf,
/// and the leaf names every one of `names`. Errors name the field.
pub(crate) fn certified_key<'a>(
    cert_pem: &str,
    key_pem: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<Arc<CertifiedKey>, (&'static str, String)> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ("certificate_pem", format!("invalid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(("certificate_pem", "no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| ("key_pem", format!("no usable private key: {e}")))?;
    let signing =
        provider().key_provider.load_private_key(key).map_err(|e| ("key_pem", format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| ("key_pem", format!("the key does not belong to the certificate: {e}")))?;
    let leaf = rustls::server::ParsedCertificate::try_from(
        certified.end_entity_cert().map_err(|e| ("certificate_pem", e.to_string()))?,
    )
    .map_err(|e| ("certificate_pem", format!("the certificate does not parse: {e}")))?;
    for name in names {
        let server_name = rustls::pki_types::ServerName::try_from(name).map_err(|e| ("domain", e.to_string()))?;
        rustls::client::verify_server_name(&leaf, &server_name)
            .map_err(|_| ("certificate_pem", format!("the certificate does not name {name}")))?;
    }
    Ok(Arc::new(certified))
}
