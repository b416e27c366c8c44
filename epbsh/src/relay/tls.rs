//! The listener's STARTTLS identity: the configured PEM certificate and key, or a
//! self-signed certificate for the hostname generated at start (rcgen, aws-lc-rs).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::RelayError;

/// The acceptor for `cert`/`key`, or for a fresh self-signed certificate of `hostname`.
pub(crate) fn acceptor(hostname: &str, cert: Option<&Path>, key: Option<&Path>) -> Result<TlsAcceptor, RelayError> {
    let (chain, key) = match (cert, key) {
        (Some(c), Some(k)) => load(c, k)?,
        _ => self_signed(hostname)?,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| RelayError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load(cert: &Path, key: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), RelayError> {
    let err = |what: &str, p: &Path, e: &dyn std::fmt::Display| RelayError::Tls(format!("{what} {}: {e}", p.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err("tls_cert", cert, &e))?;
    if chain.is_empty() {
        return Err(err("tls_cert", cert, &"no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| err("tls_key", key, &e))?;
    Ok((chain, key))
}

fn self_signed(hostname: &str) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), RelayError> {
    let ck = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
        .map_err(|e| RelayError::Tls(format!("self-signed certificate: {e}")))?;
    tracing::warn!(%hostname, "no tls_cert configured; using a self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    Ok((vec![ck.cert.der().clone()], key))
}
