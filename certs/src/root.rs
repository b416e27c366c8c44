//! One gateway root CA: its configuration, generation, parsing and export.
//!
//! Lives here: [`CaConfig`], [`KeyAlgorithm`], [`RootCa`] (certificate plus
//! private key behind a redacted wrapper) and [`ExportFormat`]. Must not:
//! touch the file system (see the store), expose or print the private key
//! (only the store may serialise it, to a 0600 file), or add name
//! constraints to the root.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, PublicKeyData, RsaKeySize, SigningKey,
};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::{CaError, Fingerprint, pem, serial};

/// Key type of a root CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (default).
    #[default]
    EcdsaP256,
    /// RSA 3072-bit with PKCS#1 v1.5 SHA-256 signatures.
    Rsa3072,
}

/// Settings for creating and rotating the root CA.
#[derive(Debug, Clone)]
pub struct CaConfig {
    /// Subject organisation (O).
    pub organisation: String,
    /// Subject common name (CN); a generation date and key id are appended
    /// so that successive roots have distinct subjects.
    pub common_name: String,
    /// Key type of new roots.
    pub key_algorithm: KeyAlgorithm,
    /// Lifetime of a new root.
    pub validity: Duration,
    /// How long a replaced root stays trusted after `rotate`.
    pub overlap: Duration,
}

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            organisation: "Perimeter".to_owned(),
            common_name: "Perimeter Gateway Root CA".to_owned(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: Duration::days(3653),
            overlap: Duration::days(30),
        }
    }
}

/// Room kept in the 64-character CN for the " YYYY-MM-DD xxxxxxxx" suffix.
const CN_SUFFIX_LEN: usize = 20;

impl CaConfig {
    pub(crate) fn validate(&self) -> Result<(), CaError> {
        let bad = |field, reason: &str| Err(CaError::Config { field, reason: reason.to_owned() });
        if self.organisation.trim().is_empty() || self.organisation.chars().count() > 64 {
            return bad("organisation", "must be 1 to 64 characters");
        }
        let cn_max = 64 - CN_SUFFIX_LEN;
        if self.common_name.trim().is_empty() || self.common_name.chars().count() > cn_max {
            return bad("common_name", "must be 1 to 44 characters");
        }
        if self.validity < Duration::days(1) {
            return bad("validity", "must be at least one day");
        }
        if self.overlap.is_negative() || self.overlap >= self.validity {
            return bad("overlap", "must be non-negative and shorter than validity");
        }
        Ok(())
    }
}

/// Encoding of an exported certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `-----BEGIN CERTIFICATE-----` text.
    Pem,
    /// Raw DER bytes.
    Der,
}

/// The CA private key. Its `Debug` never shows key bytes.
pub(crate) struct CaKey(KeyPair);

impl fmt::Debug for CaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaKey([redacted])")
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        PublicKeyData::algorithm(&self.0)
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg)
    }
}

/// A root CA certificate with its private key.
pub struct RootCa {
    cert_der: CertificateDer<'static>,
    fingerprint: Fingerprint,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, CaKey>,
}

impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("fingerprint", &self.fingerprint)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn gen_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> CaError {
    move |e| CaError::Generate { what, reason: e.to_string() }
}

fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair, CaError> {
    match alg {
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        KeyAlgorithm::Rsa3072 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072),
    }
    .map_err(gen_err("root key"))
}

fn root_params(cfg: &CaConfig, key: &KeyPair, now: OffsetDateTime) -> Result<CertificateParams, CaError> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let mut params = CertificateParams::default();
    let key_id = params.key_identifier(key);
    let id_hex: String = key_id.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let date = now.date();
    let cn = format!("{} {date} {id_hex}", cfg.common_name.trim());
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, cfg.organisation.trim());
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = now - Duration::hours(1);
    params.not_after = now + cfg.validity;
    params.serial_number = Some(serial::fresh().map_err(|_| CaError::Generate {
        what: "root serial number",
        reason: "system random source failed".to_owned(),
    })?);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

impl RootCa {
    /// Creates a new self-signed root valid from shortly before `now`.
    pub fn generate(cfg: &CaConfig, now: OffsetDateTime) -> Result<Self, CaError> {
        cfg.validate()?;
        let key = generate_key(cfg.key_algorithm)?;
        let params = root_params(cfg, &key, now)?;
        let cert = params.self_signed(&key).map_err(gen_err("root certificate"))?;
        Self::from_parts(cert.der().clone(), key)
            .map_err(|e| CaError::Generate { what: "root certificate", reason: e.to_string() })
    }

    /// Assembles a root from its certificate and key, checking that the
    /// certificate is a CA and that the key belongs to it.
    pub(crate) fn from_parts(cert_der: CertificateDer<'static>, key: KeyPair) -> Result<Self, PartsError> {
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| PartsError::Invalid(format!("not a DER certificate: {e}")))?;
        if !x509.is_ca() {
            return Err(PartsError::Invalid("not a CA (basicConstraints cA missing)".into()));
        }
        if x509.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
            return Err(PartsError::KeyMismatch);
        }
        let validity = x509.validity();
        let (not_before, not_after) = (validity.not_before.to_datetime(), validity.not_after.to_datetime());
        let issuer = Issuer::from_ca_cert_der(&cert_der, CaKey(key))
            .map_err(|e| PartsError::Invalid(format!("cannot use as issuer: {e}")))?;
        Ok(Self { fingerprint: Fingerprint::of_der(&cert_der), cert_der, not_before, not_after, issuer })
    }

    /// The certificate in DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The certificate in PEM.
    pub fn cert_pem(&self) -> String {
        pem::encode("CERTIFICATE", &self.cert_der)
    }

    /// The certificate in the requested encoding (never the key).
    pub fn export(&self, format: ExportFormat) -> Vec<u8> {
        match format {
            ExportFormat::Pem => self.cert_pem().into_bytes(),
            ExportFormat::Der => self.cert_der.to_vec(),
        }
    }

    /// SHA-256 fingerprint of the certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Start of the certificate's validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the certificate's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, CaKey> {
        &self.issuer
    }

    /// PKCS#8 PEM of the private key, for the store's 0600 key file only.
    pub(crate) fn key_pkcs8_pem(&self) -> String {
        self.issuer.key().0.serialize_pem()
    }
}

/// Why a certificate and key cannot form a root.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PartsError {
    /// The key does not belong to the certificate.
    #[error("private key does not match the certificate")]
    KeyMismatch,
    /// The certificate is unusable as a root.
    #[error("{0}")]
    Invalid(String),
}
