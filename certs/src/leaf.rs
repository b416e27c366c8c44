//! Synchronous leaf forging: leaf keys, their rotation, and signing.
//!
//! Lives here: [`LeafPolicy`], the injectable [`Clock`], and [`Forger`],
//! which turns (root, host, upstream certificate) into a
//! `rustls::sign::CertifiedKey` whose chain is leaf + root. Leaf keys are
//! ECDSA P-256, separate from the CA key, and replaced after a period or a
//! number of leaves. Must not: run on the proxy's async worker threads (it
//! is CPU-bound; see the forge service), check upstream trust (the caller
//! does), or ever sign with a key that is not the root's or log keys.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::aws_lc_rs::sign::any_ecdsa_type;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use time::{Duration, OffsetDateTime};

use crate::names::{self, Host};
use crate::{ForgeError, RootCa, UpstreamCert, serial};

/// Source of the current time; injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// Limits for forged leaves and leaf-key rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafPolicy {
    /// Longest leaf lifetime; the upstream's end of validity caps it too.
    pub max_validity: Duration,
    /// How far before now a leaf's validity starts (clock skew), never
    /// before the upstream's own start.
    pub backdate: Duration,
    /// A leaf key is replaced once it is this old...
    pub key_max_age: Duration,
    /// ...or once it has signed this many leaves.
    pub key_max_uses: u64,
}

impl Default for LeafPolicy {
    fn default() -> Self {
        Self {
            max_validity: Duration::days(30),
            backdate: Duration::hours(1),
            key_max_age: Duration::hours(1),
            key_max_uses: 10_000,
        }
    }
}

/// A leaf key pair and its rustls signer. `Debug` shows no key bytes.
struct LeafKey {
    pair: KeyPair,
    signer: Arc<dyn SigningKey>,
    created: OffsetDateTime,
}

impl fmt::Debug for LeafKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafKey").field("created", &self.created).finish_non_exhaustive()
    }
}

impl LeafKey {
    fn generate(now: OffsetDateTime) -> Result<Self, ForgeError> {
        let err = |reason: String| ForgeError::LeafKey { reason };
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| err(e.to_string()))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pair.serialize_der()));
        let signer = any_ecdsa_type(&der).map_err(|e| err(e.to_string()))?;
        Ok(Self { pair, signer, created: now })
    }
}

#[derive(Debug, Default)]
struct KeyRing {
    current: Option<Arc<LeafKey>>,
    uses: u64,
    generations: u64,
}

/// Forges leaves synchronously. Call it from a dedicated thread.
pub struct Forger {
    policy: LeafPolicy,
    clock: Clock,
    keys: Mutex<KeyRing>,
}

impl fmt::Debug for Forger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forger").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// Subject CN of a leaf: the host when it fits the 64-character limit.
fn leaf_dn(host: &Host) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    let text = host.text();
    if text.len() <= 64 {
        dn.push(DnType::CommonName, text);
    }
    dn
}

/// Parameters of a server-auth leaf (not a CA) for `host`.
fn leaf_params(
    host: &Host,
    sans: Vec<rcgen::SanType>,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    serial: rcgen::SerialNumber,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = leaf_dn(host);
    params.subject_alt_names = sans;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(serial);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

impl Forger {
    /// A forger with the given limits and clock.
    pub fn new(policy: LeafPolicy, clock: Clock) -> Self {
        Self { policy, clock, keys: Mutex::new(KeyRing::default()) }
    }

    /// How many leaf keys have been created so far.
    pub fn key_generations(&self) -> u64 {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).generations
    }

    fn lease_key(&self, now: OffsetDateTime) -> Result<Arc<LeafKey>, ForgeError> {
        let mut ring = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = ring
            .current
            .as_ref()
            .filter(|k| now - k.created < self.policy.key_max_age && ring.uses < self.policy.key_max_uses);
        let key = match fresh {
            Some(key) => Arc::clone(key),
            None => {
                let key = Arc::new(LeafKey::generate(now)?);
                ring.current = Some(Arc::clone(&key));
                ring.uses = 0;
                ring.generations += 1;
                key
            }
        };
        ring.uses += 1;
        Ok(key)
    }

    /// Leaf validity: within the upstream's and the root's, at most
    /// `max_validity` from now, starting `backdate` before now.
    fn validity(
        &self,
        root: &RootCa,
        up: &UpstreamCert,
        now: OffsetDateTime,
    ) -> Result<(OffsetDateTime, OffsetDateTime), ForgeError> {
        let not_after = up.not_after.min(now + self.policy.max_validity).min(root.not_after());
        let not_before = (now - self.policy.backdate).max(up.not_before).max(root.not_before());
        if not_after <= now || not_after <= not_before {
            return Err(ForgeError::UpstreamExpired { not_after: up.not_after });
        }
        Ok((not_before, not_after))
    }

    /// Forges a leaf for `host` mirroring `upstream_der`, signed by `root`.
    ///
    /// Contract: the caller has already verified `upstream_der` (chain,
    /// validity, and that it is valid for `host`) with its own trust store.
    /// This function does not verify anything; it only refuses hosts the
    /// certificate's names do not cover.
    pub fn forge(&self, root: &RootCa, host: &str, upstream_der: &[u8]) -> Result<CertifiedKey, ForgeError> {
        let upstream = UpstreamCert::parse(upstream_der)?;
        self.forge_parsed(root, host, &upstream).map(|(key, _)| key)
    }

    /// As [`Forger::forge`] with a parsed upstream; also returns the leaf's
    /// end of validity. Same contract.
    pub fn forge_parsed(
        &self,
        root: &RootCa,
        host: &str,
        upstream: &UpstreamCert,
    ) -> Result<(CertifiedKey, OffsetDateTime), ForgeError> {
        let host = Host::parse(host)?;
        let sans = names::leaf_sans(upstream, &host)?;
        let now = (self.clock)();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let (not_before, not_after) = self.validity(root, upstream, now)?;
        let sign_err = |reason: String| ForgeError::Sign { host: host.text(), reason };
        let serial = serial::fresh().map_err(|_| sign_err("system random source failed".into()))?;
        let params = leaf_params(&host, sans, (not_before, not_after), serial);
        let key = self.lease_key(now)?;
        let cert = params.signed_by(&key.pair, root.issuer()).map_err(|e| sign_err(e.to_string()))?;
        let chain = vec![cert.der().clone(), root.cert_der().clone()];
        Ok((CertifiedKey::new(chain, Arc::clone(&key.signer)), not_after))
    }
}
