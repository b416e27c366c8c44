//! Root rotation: both roots trusted and bundled during the overlap, the
//! old one retired (key deleted, state updated) after it.

mod common;

use std::fs;

use certs::{CaConfig, CaError, CaStore};
use common::t0;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::Duration;

fn bundle_count(store: &CaStore, now: time::OffsetDateTime) -> usize {
    let pem = store.bundle_pem(now);
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().expect("bundle parses").len()
}

fn state(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(dir.join("state.json")).expect("state")).expect("json")
}

#[test]
fn rotate_keeps_both_roots_until_overlap_end_then_retires_old() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = CaConfig::default();
    let mut store = CaStore::init(tmp.path(), &cfg, t0()).expect("init");
    let old_fp = store.current().fingerprint();
    let old_key = tmp.path().join(format!("root-{}.key", old_fp.hex_prefix(8)));

    let now = t0() + Duration::days(400);
    let rotation = store.rotate(&cfg, now).expect("rotate");
    assert_eq!(rotation.old_fingerprint, old_fp);
    assert_eq!(rotation.new_fingerprint, store.current().fingerprint());
    assert_ne!(rotation.new_fingerprint, old_fp);
    assert_eq!(rotation.overlap_end, now + Duration::days(30));
    assert_eq!(rotation.new_cert_pem, store.current().cert_pem());
    assert_eq!(bundle_count(&store, now), 2);

    let json = state(tmp.path());
    assert_eq!(json["current"]["fingerprint"], rotation.new_fingerprint.to_colon_hex());
    assert_eq!(json["previous"]["fingerprint"], old_fp.to_colon_hex());

    let during = CaStore::load(tmp.path(), now + Duration::days(29)).expect("load during");
    assert_eq!(during.trusted(now + Duration::days(29)).len(), 2);
    assert_eq!(bundle_count(&during, now + Duration::days(29)), 2);
    assert!(old_key.exists());

    let after = now + Duration::days(31);
    let loaded = CaStore::load(tmp.path(), after).expect("load after");
    assert!(loaded.previous().is_none());
    assert_eq!(bundle_count(&loaded, after), 1);
    assert_eq!(loaded.current().fingerprint(), rotation.new_fingerprint);
    assert!(!old_key.exists(), "retired root's key is deleted");
    assert!(state(tmp.path())["previous"].is_null());
}

#[test]
fn in_memory_store_retires_when_asked_after_overlap() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = CaConfig { overlap: Duration::days(7), ..CaConfig::default() };
    let mut store = CaStore::init(tmp.path(), &cfg, t0()).expect("init");
    let rotation = store.rotate(&cfg, t0()).expect("rotate");
    assert_eq!(store.retire_expired(t0() + Duration::days(6)).expect("early"), None);
    assert_eq!(bundle_count(&store, t0() + Duration::days(8)), 1, "bundle drops it at once");
    let retired = store.retire_expired(t0() + Duration::days(8)).expect("retire");
    assert_eq!(retired, Some(rotation.old_fingerprint));
    assert!(store.previous().is_none());
}

#[test]
fn rotate_during_overlap_is_refused_and_later_allowed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = CaConfig::default();
    let mut store = CaStore::init(tmp.path(), &cfg, t0()).expect("init");
    let first = store.rotate(&cfg, t0()).expect("rotate");
    let err = store.rotate(&cfg, t0() + Duration::days(1)).expect_err("in overlap");
    assert!(matches!(err, CaError::OverlapInProgress { previous, .. } if previous == first.old_fingerprint));
    let second = store.rotate(&cfg, t0() + Duration::days(31)).expect("rotate again");
    assert_eq!(second.old_fingerprint, first.new_fingerprint);
}

#[test]
fn rotated_roots_have_distinct_subjects() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = CaConfig::default();
    let mut store = CaStore::init(tmp.path(), &cfg, t0()).expect("init");
    store.rotate(&cfg, t0()).expect("rotate");
    let subject = |der: &[u8]| {
        let (_, cert) = x509_parser::parse_x509_certificate(der).expect("x509");
        cert.subject().to_string()
    };
    let prev = store.previous().expect("previous").root();
    assert_ne!(subject(store.current().cert_der()), subject(prev.cert_der()));
}
