//! Verification of origin certificates, with a bounded memory of successes.
//!
//! The chain, validity and name are checked by rustls' WebPKI verifier against the
//! proxy's trust anchors. A success is remembered for the exact chain and server name
//! (a SHA-256 over both) until the sooner of ten minutes and the leaf's expiry, so that
//! another connection presenting the same chain for the same name (a new host under a
//! shared wildcard or CDN certificate, or a full handshake where resumption missed)
//! skips the chain's signature checks. The handshake signature, which proves the origin
//! holds the key, is verified on every connection.
//!
//! Must not: remember a failure as a success, or a success past the leaf's expiry or
//! for another name or chain.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

/// Successes remembered at most (expired ones are dropped first when full).
const ENTRIES: usize = 4_096;
/// Longest a success is remembered.
const REMEMBER_SECS: u64 = 600;

/// WebPKI verification with remembered successes.
#[derive(Debug)]
pub(crate) struct CachingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// Key of a verified (chain, name) → unix second until which it stands.
    verified: Mutex<HashMap<[u8; 32], u64>>,
    hits: AtomicU64,
}

impl CachingVerifier {
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>) -> Self {
        Self { inner, verified: Mutex::new(HashMap::new()), hits: AtomicU64::new(0) }
    }

    /// Verifications answered from memory so far.
    #[cfg(test)]
    fn hits(&self) -> u64 {
        self.hits.load(Relaxed)
    }
}

/// The remembered success's key: the server name and every certificate, each
/// length-prefixed so that no two different inputs share a byte stream.
fn key(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>], name: &ServerName<'_>) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let name = name.to_str();
    for part in std::iter::once(name.as_bytes())
        .chain(std::iter::once(end_entity.as_ref()))
        .chain(intermediates.iter().map(|c| c.as_ref()))
    {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl ServerCertVerifier for CachingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let (key, at) = (key(end_entity, intermediates, server_name), now.as_secs());
        let remembered = self.verified.lock().unwrap_or_else(PoisonError::into_inner).get(&key).copied();
        if remembered.is_some_and(|until| at < until) {
            self.hits.fetch_add(1, Relaxed);
            return Ok(ServerCertVerified::assertion());
        }
        let accepted = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        // Only with a readable expiry: a leaf the parser cannot read is verified every time.
        if let Ok(leaf) = certs::UpstreamCert::parse(end_entity) {
            let until = (at + REMEMBER_SECS).min(u64::try_from(leaf.not_after.unix_timestamp()).unwrap_or(0));
            let mut memory = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if memory.len() >= ENTRIES {
                memory.retain(|_, until| *until > at);
                if memory.len() >= ENTRIES {
                    memory.clear();
                }
            }
            memory.insert(key, until);
        }
        Ok(accepted)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::RootCertStore;

    use super::*;

    struct Pki {
        verifier: CachingVerifier,
        leaf: CertificateDer<'static>,
        stranger: CertificateDer<'static>,
        now: u64,
    }

    /// A CA, a leaf for a.test that expires in 30 s, and a self-signed one.
    fn pki() -> Pki {
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_der = ca.self_signed(&ca_key).expect("ca").der().clone();
        let issuer = Issuer::new(ca, ca_key);
        let now = time::OffsetDateTime::now_utc();
        let mut leaf = CertificateParams::new(vec!["a.test".to_string()]).expect("params");
        (leaf.not_before, leaf.not_after) = (now - time::Duration::days(1), now + time::Duration::seconds(30));
        let key = KeyPair::generate().expect("key");
        let stranger = leaf.self_signed(&key).expect("self-signed").der().clone();
        let leaf = leaf.signed_by(&key, &issuer).expect("leaf").der().clone();
        let mut roots = RootCertStore::empty();
        roots.add(ca_der).expect("root");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("verifier");
        Pki { verifier: CachingVerifier::new(inner), leaf, stranger, now: now.unix_timestamp() as u64 }
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    fn verify(p: &Pki, cert: &CertificateDer<'_>, name: &str, secs: u64) -> Result<ServerCertVerified, Error> {
        let name = ServerName::try_from(name.to_string()).expect("name");
        p.verifier.verify_server_cert(cert, &[], &name, &[], at(secs))
    }

    #[test]
    fn a_verified_chain_is_remembered_for_its_name_until_the_leaf_expires() {
        let p = pki();
        verify(&p, &p.leaf, "a.test", p.now).expect("valid");
        verify(&p, &p.leaf, "a.test", p.now + 5).expect("valid again");
        assert_eq!(p.verifier.hits(), 1, "the second verification came from memory");
        assert!(verify(&p, &p.leaf, "b.test", p.now).is_err(), "another name is checked, and fails");
        assert!(verify(&p, &p.leaf, "a.test", p.now + 60).is_err(), "never past the leaf's expiry");
        assert_eq!(p.verifier.hits(), 1);
    }

    #[test]
    fn a_failure_is_never_remembered() {
        let p = pki();
        for _ in 0..2 {
            assert!(verify(&p, &p.stranger, "a.test", p.now).is_err(), "an unknown issuer fails every time");
        }
        assert_eq!(p.verifier.hits(), 0);
    }
}
