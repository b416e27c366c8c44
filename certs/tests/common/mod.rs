//! Shared test helpers: a movable clock, upstream certificates issued by a
//! throw-away test CA, and parsing/verification shortcuts.
//!
//! Must not: be used outside tests; the test CA here is not the gateway's.

#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use certs::{Clock, RootCa};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use time::{Duration, OffsetDateTime};

/// A fixed start time, so tests do not depend on the wall clock.
pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2030-01-15 12:00:00 UTC)
}

/// A clock tests can move.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl TestClock {
    pub fn at(t: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }
    pub fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
    pub fn clock(&self) -> Clock {
        let inner = Arc::clone(&self.0);
        Arc::new(move || *inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A throw-away CA standing in for a public CA that issued the origin's cert.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("test CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "Test Public CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        Self { issuer: Issuer::new(params, key) }
    }

    /// An origin certificate with the given DNS and IP SANs and validity.
    pub fn upstream(
        &self,
        dns: &[&str],
        ips: &[&str],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Vec<u8> {
        let key = KeyPair::generate().expect("upstream key");
        let mut params =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("upstream params");
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(ip.parse::<IpAddr>().expect("ip")));
        }
        params.not_before = not_before;
        params.not_after = not_after;
        params.signed_by(&key, &self.issuer).expect("sign upstream").der().to_vec()
    }

    /// An origin certificate valid from a day before to 90 days after `now`.
    pub fn upstream_now(&self, dns: &[&str], now: OffsetDateTime) -> Vec<u8> {
        self.upstream(dns, &[], now - Duration::days(1), now + Duration::days(90))
    }
}

/// Parsed view of a DER certificate's interesting parts.
pub struct Parsed {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial: Vec<u8>,
    pub spki: Vec<u8>,
    pub is_ca: bool,
}

pub fn parse(der: &[u8]) -> Parsed {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("parse certificate");
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    if let Some(san) = cert.subject_alternative_name().expect("SAN extension") {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("v4")))
                }
                GeneralName::IPAddress(b) => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("v6"))),
                _ => {}
            }
        }
    }
    Parsed {
        dns,
        ips,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        serial: cert.raw_serial().to_vec(),
        spki: cert.public_key().raw.to_vec(),
        is_ca: cert.is_ca(),
    }
}

/// Verifies a served chain as a TLS client trusting only `roots` would.
pub fn verify_chain(
    roots: &[&RootCa],
    chain: &[CertificateDer<'static>],
    server_name: &str,
    now: OffsetDateTime,
) -> Result<(), rustls::Error> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.cert_der().clone()).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider).build().expect("verifier");
    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    let secs = u64::try_from(now.unix_timestamp()).expect("after epoch");
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
    verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], at).map(|_| ())
}
