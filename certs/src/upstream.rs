//! What a forged leaf copies from the upstream origin's certificate.
//!
//! Lives here: [`UpstreamCert`], parsed from DER: DNS and IP subject
//! alternative names, validity window and fingerprint. Must not: verify the
//! upstream chain, signature or host name; the caller has already done that
//! against its own trust store before asking for a forged leaf.

use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

use crate::{Fingerprint, ForgeError};

/// Names and validity taken from an (already verified) upstream certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCert {
    /// DNS subject alternative names, lower-cased, without duplicates.
    pub dns_names: Vec<String>,
    /// IP address subject alternative names, without duplicates.
    pub ip_addrs: Vec<IpAddr>,
    /// Start of the upstream certificate's validity.
    pub not_before: OffsetDateTime,
    /// End of the upstream certificate's validity.
    pub not_after: OffsetDateTime,
    /// SHA-256 fingerprint of the upstream DER.
    pub fingerprint: Fingerprint,
}

fn parse_err(reason: impl ToString) -> ForgeError {
    ForgeError::UpstreamParse { reason: reason.to_string() }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

impl UpstreamCert {
    /// Parses the upstream end-entity certificate (DER).
    pub fn parse(der: &[u8]) -> Result<Self, ForgeError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(parse_err)?;
        let mut dns_names: Vec<String> = Vec::new();
        let mut ip_addrs: Vec<IpAddr> = Vec::new();
        let san = cert.subject_alternative_name().map_err(parse_err)?;
        for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => {
                    let dns = dns.trim_end_matches('.').to_ascii_lowercase();
                    if !dns.is_empty() && !dns_names.contains(&dns) {
                        dns_names.push(dns);
                    }
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes).filter(|ip| !ip_addrs.contains(ip)) {
                        ip_addrs.push(ip);
                    }
                }
                _ => {}
            }
        }
        let validity = cert.validity();
        Ok(Self {
            dns_names,
            ip_addrs,
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            fingerprint: Fingerprint::of_der(der),
        })
    }
}
