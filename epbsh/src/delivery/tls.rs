//! Outbound TLS policy for STARTTLS to remote servers.
//!
//! Opportunistic, but verified when possible: the certificate chain and name are checked
//! against the system roots plus `delivery.ca_file`. A certificate that fails that check
//! does **not** stop delivery: the session goes on encrypted but unauthenticated (which
//! still defeats passive eavesdropping, the only thing opportunistic TLS can promise) and
//! the failure is recorded per connection ([`TlsState::Unverified`]), logged and counted.
//! Handshake signatures are always checked. A server that offers STARTTLS and then fails
//! the handshake (or refuses the command) gets no mail in clear: the attempt fails for
//! that host and the next host or a later retry is tried.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

/// How the TLS layer of one outbound connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsState {
    /// No TLS (not offered, or disabled by `delivery.starttls = false`).
    Plain,
    /// Encrypted, certificate verified.
    Verified,
    /// Encrypted, certificate not verified: why.
    Unverified(String),
}

/// Builds per-connection TLS connectors that record certificate verification failures.
pub(crate) struct TlsClient {
    provider: Arc<CryptoProvider>,
    roots: Option<Arc<WebPkiServerVerifier>>,
}

impl TlsClient {
    /// System roots plus the PEM certificates in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<TlsClient, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut store = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("delivery.ca_file {}: {e}", path.display()))?;
            for c in certs {
                store.add(c).map_err(|e| format!("delivery.ca_file {}: {e}", path.display()))?;
            }
        }
        let roots = (!store.is_empty())
            .then(|| WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build())
            .transpose()
            .map_err(|e| format!("trust roots: {e}"))?;
        Ok(TlsClient { provider, roots })
    }

    /// A client configuration that refuses what does not verify (for HTTPS to MTA-STS
    /// policy hosts); `None` without trust roots.
    pub fn verified(&self) -> Option<Arc<rustls::ClientConfig>> {
        let roots = self.roots.clone()?;
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .ok()?
            .with_webpki_verifier(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(Arc::new(config))
    }

    /// A connector for one connection and the recorder of its verification result.
    pub fn connector(&self) -> Result<(TlsConnector, Arc<Recorder>), String> {
        let recorder = Arc::new(Recorder {
            provider: self.provider.clone(),
            roots: self.roots.clone(),
            failure: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        Ok((TlsConnector::from(Arc::new(config)), recorder))
    }
}

/// Verifies like webpki but, instead of failing, remembers why the chain was not trusted.
#[derive(Debug)]
pub(crate) struct Recorder {
    provider: Arc<CryptoProvider>,
    roots: Option<Arc<WebPkiServerVerifier>>,
    failure: Mutex<Option<String>>,
}

impl Recorder {
    /// The verification outcome once the handshake is done.
    pub fn state(&self) -> TlsState {
        match self.failure.lock().unwrap_or_else(PoisonError::into_inner).take() {
            None => TlsState::Verified,
            Some(why) => TlsState::Unverified(why),
        }
    }

    fn fail(&self, why: String) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.roots {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).map(|_| ()),
            None => Err(rustls::Error::General("no trust roots".into())),
        };
        if let Err(e) = result {
            self.fail(e.to_string());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
