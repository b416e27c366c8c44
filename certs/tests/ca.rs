//! Root CA behaviour: init, file modes, load, refusal of exposed or
//! mismatched keys, export formats and fingerprints, the RSA option.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use certs::{CaConfig, CaError, CaStore, ExportFormat, Fingerprint, KeyAlgorithm};
use common::t0;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn init_creates_files_with_private_key_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ca");
    let store = CaStore::init(&dir, &CaConfig::default(), t0()).expect("init");
    let prefix = store.current().fingerprint().hex_prefix(8);
    let key = dir.join(format!("root-{prefix}.key"));
    let cert = dir.join(format!("root-{prefix}.pem"));
    assert!(dir.join("state.json").is_file());
    assert_eq!(files_with_ext(&dir, "key"), vec![key.clone()]);
    assert_eq!(files_with_ext(&dir, "pem"), vec![cert]);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let leftovers = fs::read_dir(&dir).expect("read dir").count();
    assert_eq!(leftovers, 3, "no temporary files left behind");
}

#[test]
fn init_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    CaStore::init(tmp.path(), &CaConfig::default(), t0()).expect("init");
    let again = CaStore::init(tmp.path(), &CaConfig::default(), t0());
    assert!(matches!(again, Err(CaError::AlreadyInitialised { .. })));
}

#[test]
fn load_round_trips() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let created = CaStore::init(tmp.path(), &CaConfig::default(), t0()).expect("init");
    let loaded = CaStore::load(tmp.path(), t0()).expect("load");
    assert_eq!(loaded.current().fingerprint(), created.current().fingerprint());
    assert_eq!(loaded.current().cert_der(), created.current().cert_der());
    assert_eq!(loaded.current().not_after(), created.current().not_after());
    assert!(loaded.previous().is_none());
}

#[test]
fn world_readable_key_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    CaStore::init(tmp.path(), &CaConfig::default(), t0()).expect("init");
    let key = files_with_ext(tmp.path(), "key").remove(0);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = CaStore::load(tmp.path(), t0()).expect_err("must refuse");
    assert!(matches!(&err, CaError::KeyFilePermissions { path, mode: 0o644 } if *path == key));
    assert!(err.to_string().contains(&key.display().to_string()));
}

#[test]
fn key_of_another_root_is_refused() {
    let (a, b) = (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"));
    CaStore::init(a.path(), &CaConfig::default(), t0()).expect("init a");
    CaStore::init(b.path(), &CaConfig::default(), t0()).expect("init b");
    let key_a = files_with_ext(a.path(), "key").remove(0);
    let key_b = files_with_ext(b.path(), "key").remove(0);
    fs::write(&key_a, fs::read(&key_b).expect("read b")).expect("swap key");
    let err = CaStore::load(a.path(), t0()).expect_err("must refuse");
    assert!(matches!(err, CaError::KeyMismatch { key, .. } if key == key_a));
}

#[test]
fn exports_parse_back_and_fingerprint_matches() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = CaStore::init(tmp.path(), &CaConfig::default(), t0()).expect("init");
    let der = store.export_current(ExportFormat::Der);
    let pem = store.export_current(ExportFormat::Pem);
    let from_pem = CertificateDer::pem_slice_iter(&pem).next().expect("one cert").expect("pem");
    assert_eq!(from_pem.as_ref(), der.as_slice());

    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let expected: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    let fp = store.current().fingerprint();
    assert_eq!(fp.to_colon_hex(), expected.join(":"));
    assert_eq!(Fingerprint::of_der(&der), fp);

    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
    assert!(cert.is_ca());
    let ku = cert.key_usage().expect("ku").expect("present").value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
    assert!(cert.name_constraints().expect("nc").is_none(), "no name constraints");
    let subject = cert.subject().to_string();
    assert!(subject.contains("O=Perimeter") && subject.contains("CN=Perimeter Gateway Root CA"));
    let years = (cert.validity().not_after.to_datetime() - t0()).whole_days() / 365;
    assert_eq!(years, 10);
}

#[test]
fn debug_output_never_shows_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = CaStore::init(tmp.path(), &CaConfig::default(), t0()).expect("init");
    let key_pem = fs::read_to_string(files_with_ext(tmp.path(), "key").remove(0)).expect("key");
    let body_line = key_pem.lines().nth(1).expect("base64 line");
    let shown = format!("{store:?} {:?}", store.current());
    assert!(!shown.contains(body_line));
    assert!(shown.contains("redacted"));
}

#[test]
fn rsa_option_creates_a_loadable_rsa_3072_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = CaConfig {
        key_algorithm: KeyAlgorithm::Rsa3072,
        organisation: "Ministry".into(),
        common_name: "Inspection Root".into(),
        ..CaConfig::default()
    };
    let store = CaStore::init(tmp.path(), &cfg, t0()).expect("init rsa");
    let loaded = CaStore::load(tmp.path(), t0()).expect("load rsa");
    assert_eq!(loaded.current().fingerprint(), store.current().fingerprint());
    let der = loaded.current().cert_der().to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
    match cert.public_key().parsed().expect("public key") {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 3072),
        other => panic!("expected RSA, got {other:?}"),
    }
    assert!(cert.subject().to_string().contains("CN=Inspection Root"));
}

#[test]
fn bad_config_names_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = CaConfig { common_name: String::new(), ..CaConfig::default() };
    let err = CaStore::init(tmp.path(), &cfg, t0()).expect_err("must refuse");
    assert!(matches!(err, CaError::Config { field: "common_name", .. }));
}
