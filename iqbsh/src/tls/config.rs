//! TLS settings of both sides of a bumped connection: the crypto provider
//! with the proxy's cipher-suite preference, and the client-facing server
//! configuration, built once and specialised per connection with the forged
//! certificate and the ALPN the origin chose.
//!
//! Suite preference: AES-128-GCM with SHA-256 first (the TLS 1.3 suite every
//! peer must implement, and the cheapest on CPUs with AES and SHA
//! instructions: its key schedule hashes with SHA-256 instead of SHA-384),
//! then AES-256-GCM, then ChaCha20-Poly1305. Both sides use this order: the
//! proxy offers it to origins and applies it to clients.
//!
//! Must not: hold a per-connection session cache. Every forged-certificate
//! configuration shares one bounded resumption cache, so a client that
//! resumes skips a certificate signature, and a connection costs no cache
//! allocation of its own.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};

/// Resumption sessions remembered for clients, across every forged certificate.
const CLIENT_SESSIONS: usize = 16_384;

/// The cipher suites in the proxy's order of preference.
const SUITES: [SupportedCipherSuite; 9] = [
    cipher_suite::TLS13_AES_128_GCM_SHA256,
    cipher_suite::TLS13_AES_256_GCM_SHA384,
    cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// The aws-lc-rs provider with the suites in [`SUITES`] order.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider { cipher_suites: SUITES.to_vec(), ..aws_lc_rs::default_provider() })
}

/// Answers every ClientHello with one forged certificate.
#[derive(Debug)]
struct Forged(Arc<CertifiedKey>);

impl ResolvesServerCert for Forged {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// Presents no certificate; only the template holds it, never a connection.
#[derive(Debug)]
struct Unset;

impl ResolvesServerCert for Unset {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        None
    }
}

/// The client-facing TLS configuration, shared by every bumped connection.
pub(crate) struct ClientSide {
    template: ServerConfig,
}

impl ClientSide {
    /// Builds the template: safe protocol versions, the proxy's suite order, one shared session cache.
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Result<Self, rustls::Error> {
        let mut template = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Unset));
        template.ignore_client_order = true;
        template.session_storage = ServerSessionMemoryCache::new(CLIENT_SESSIONS);
        // One ticket per connection: what a browser uses, at half the cost of the default two.
        template.send_tls13_tickets = 1;
        Ok(Self { template })
    }

    /// The configuration of one connection: the forged `key`, and `alpn` if the origin chose one.
    pub(crate) fn config(&self, key: Arc<CertifiedKey>, alpn: Option<Vec<u8>>) -> Arc<ServerConfig> {
        let mut config = self.template.clone();
        config.cert_resolver = Arc::new(Forged(key));
        config.alpn_protocols = alpn.into_iter().collect();
        Arc::new(config)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
