//! DKIM keys on disk, per domain and selector: `KEYS_DIR/<domain>/<selector>.key` (the
//! private key, PKCS #8 DER, mode 0600, written whole then renamed) beside
//! `<selector>.toml` (algorithm, when it was made, the day it signs from, and once a newer
//! selector took over, when it stopped signing and from when its DNS record may be
//! removed). [`keygen`], [`rotate`] and [`list`] are what the binary's `mail dkim` verbs
//! call; [`load`] reads every key for the signer.
//!
//! Must not: log or print a private key; overwrite an existing selector's key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// A DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Ed25519-SHA256 (RFC 8463).
    Ed25519,
    /// RSA-SHA256 with a 2048-bit key.
    Rsa2048,
}

impl Algorithm {
    /// The `k=` tag of the DNS record.
    fn key_type(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa2048 => "rsa",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "ed25519" => Ok(Algorithm::Ed25519),
            "rsa2048" | "rsa" => Ok(Algorithm::Rsa2048),
            _ => Err(KeyError::Algorithm(s.to_string())),
        }
    }
}

/// What is recorded beside a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyMeta {
    pub algorithm: Algorithm,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// It signs from this moment (until a newer selector's `signs_from`).
    #[serde(with = "time::serde::rfc3339")]
    pub signs_from: OffsetDateTime,
    /// Set by a rotation: its DNS record may be removed from this moment on (the grace
    /// after the newer selector took over, for mail still in flight and re-verified).
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub remove_record_after: Option<OffsetDateTime>,
}

/// One key as found on disk: domain, selector, metadata, the DNS record to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub domain: String,
    pub selector: String,
    #[serde(flatten)]
    pub meta: KeyMeta,
    /// The TXT record's name (`selector._domainkey.domain`).
    pub record_name: String,
    /// The TXT record's text (`v=DKIM1; k=…; p=…`).
    pub record: String,
}

/// A key file or directory that could not be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0:?} is not a domain name")]
    Domain(String),
    #[error("{0:?} is not a DKIM selector (letters, digits, '-' and '.', at most 63 characters)")]
    Selector(String),
    #[error("unknown algorithm {0:?}: ed25519 or rsa2048")]
    Algorithm(String),
    #[error("selector {selector} of {domain} already has a key")]
    Exists { domain: String, selector: String },
    #[error("{domain} has no key to rotate from; make one with keygen")]
    NoKey { domain: String },
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("key generation failed")]
    Generate,
}

fn file_error(path: &Path, problem: impl ToString) -> KeyError {
    KeyError::File { path: path.to_path_buf(), problem: problem.to_string() }
}

/// A selector is a dot-atom of LDH labels (RFC 6376 §3.1), kept short.
pub fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn check_names(domain: &str, selector: &str) -> Result<(), KeyError> {
    if !crate::smtp::is_domain(domain) || domain.to_ascii_lowercase() != domain {
        return Err(KeyError::Domain(domain.to_string()));
    }
    if !valid_selector(selector) {
        return Err(KeyError::Selector(selector.to_string()));
    }
    Ok(())
}

/// A default selector for a key made at `at`: `sYYYYMMDD`.
pub fn default_selector(at: OffsetDateTime) -> String {
    format!("s{:04}{:02}{:02}", at.year(), u8::from(at.month()), at.day())
}

/// A new private key, PKCS #8 DER.
fn generate(algorithm: Algorithm) -> Result<Vec<u8>, KeyError> {
    match algorithm {
        Algorithm::Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
            let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KeyError::Generate)?;
            Ok(der.as_ref().to_vec())
        }
        Algorithm::Rsa2048 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| KeyError::Generate)?;
            Ok(der.as_ref().to_vec())
        }
    }
}

/// The `p=` value of a private key: the raw public key for Ed25519 (RFC 8463), the
/// SubjectPublicKeyInfo for RSA.
pub(crate) fn public_key(algorithm: Algorithm, pkcs8: &[u8]) -> Result<Vec<u8>, String> {
    match algorithm {
        Algorithm::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| e.to_string())?;
            Ok(pair.public_key().as_ref().to_vec())
        }
        Algorithm::Rsa2048 => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
            let spki = pair.public_key().as_der().map_err(|e| e.to_string())?;
            Ok(spki.as_ref().to_vec())
        }
    }
}

/// The DNS TXT record text for a public key.
fn record_text(algorithm: Algorithm, public: &[u8]) -> String {
    format!("v=DKIM1; k={}; p={}", algorithm.key_type(), B64.encode(public))
}

fn paths(dir: &Path, domain: &str, selector: &str) -> (PathBuf, PathBuf) {
    let d = dir.join(domain);
    (d.join(format!("{selector}.key")), d.join(format!("{selector}.toml")))
}

/// Writes `bytes` to `path` as a new file with `mode`, fsynced, through a temporary name.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| file_error(&tmp, e))?;
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| file_error(&tmp, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| file_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

fn write_meta(path: &Path, meta: &KeyMeta) -> Result<(), KeyError> {
    let text = toml::to_string(meta).map_err(|e| file_error(path, e))?;
    write_new(path, text.as_bytes(), 0o600)
}

/// Makes a key for `domain` under `selector` that signs from `signs_from`; returns what
/// to publish. Refuses a selector that already has a key.
pub fn keygen(
    dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
    now: OffsetDateTime,
    signs_from: OffsetDateTime,
) -> Result<KeyInfo, KeyError> {
    check_names(domain, selector)?;
    let (key_path, meta_path) = paths(dir, domain, selector);
    if key_path.exists() || meta_path.exists() {
        return Err(KeyError::Exists { domain: domain.into(), selector: selector.into() });
    }
    let domain_dir = dir.join(domain);
    fs::create_dir_all(&domain_dir).map_err(|e| file_error(&domain_dir, e))?;
    fs::set_permissions(&domain_dir, fs::Permissions::from_mode(0o700)).map_err(|e| file_error(&domain_dir, e))?;
    let pkcs8 = generate(algorithm)?;
    let public = public_key(algorithm, &pkcs8).map_err(|e| file_error(&key_path, e))?;
    let meta = KeyMeta { algorithm, created: now, signs_from, remove_record_after: None };
    write_new(&key_path, &pkcs8, 0o600)?;
    write_meta(&meta_path, &meta)?;
    Ok(info(domain, selector, meta, &public))
}

fn info(domain: &str, selector: &str, meta: KeyMeta, public: &[u8]) -> KeyInfo {
    KeyInfo {
        domain: domain.into(),
        selector: selector.into(),
        record_name: format!("{selector}._domainkey.{domain}"),
        record: record_text(meta.algorithm, public),
        meta,
    }
}

/// What [`rotate`] did: the new key, and the keys it retired (their records may be
/// removed after `remove_record_after`).
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub new: KeyInfo,
    pub retired: Vec<KeyInfo>,
}

/// Makes a new key for `domain` that signs from `signs_from`; every older key stops
/// signing then and its record is listed for removal `grace` later.
pub fn rotate(
    dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
    now: OffsetDateTime,
    signs_from: OffsetDateTime,
    grace: Duration,
) -> Result<Rotation, KeyError> {
    let (keys, problems) = read_domain(dir, domain);
    if let Some(p) = problems.into_iter().next() {
        return Err(p);
    }
    if keys.is_empty() {
        return Err(KeyError::NoKey { domain: domain.into() });
    }
    let new = keygen(dir, domain, selector, algorithm, now, signs_from)?;
    let mut retired = Vec::new();
    for (mut k, _) in keys {
        if k.meta.remove_record_after.is_none() && k.meta.signs_from < signs_from {
            k.meta.remove_record_after = Some(signs_from + grace);
            write_meta(&paths(dir, domain, &k.selector).1, &k.meta)?;
            retired.push(k);
        }
    }
    Ok(Rotation { new, retired })
}

/// Every key of `domain` with its private key (PKCS #8), and the files that could not be
/// read.
pub(crate) fn read_domain(dir: &Path, domain: &str) -> (Vec<(KeyInfo, Vec<u8>)>, Vec<KeyError>) {
    let (mut keys, mut problems) = (Vec::new(), Vec::new());
    let domain_dir = dir.join(domain);
    let Ok(entries) = fs::read_dir(&domain_dir) else { return (keys, problems) };
    let mut metas: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    metas.sort();
    for meta_path in metas {
        let selector = meta_path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        match read_key(dir, domain, &selector) {
            Ok(k) => keys.push(k),
            Err(e) => problems.push(e),
        }
    }
    (keys, problems)
}

fn read_key(dir: &Path, domain: &str, selector: &str) -> Result<(KeyInfo, Vec<u8>), KeyError> {
    check_names(domain, selector)?;
    let (key_path, meta_path) = paths(dir, domain, selector);
    let text = fs::read_to_string(&meta_path).map_err(|e| file_error(&meta_path, e))?;
    let meta: KeyMeta = toml::from_str(&text).map_err(|e| file_error(&meta_path, e.message()))?;
    let file_mode = fs::metadata(&key_path).map_err(|e| file_error(&key_path, e))?.permissions().mode();
    if file_mode & 0o077 != 0 {
        return Err(file_error(&key_path, format!("mode {:o}: others may read it; chmod 600", file_mode & 0o777)));
    }
    let pkcs8 = fs::read(&key_path).map_err(|e| file_error(&key_path, e))?;
    let public = public_key(meta.algorithm, &pkcs8).map_err(|e| file_error(&key_path, e))?;
    Ok((info(domain, selector, meta, &public), pkcs8))
}

/// Every key under `dir`, by domain, and every problem met.
pub(crate) fn load(dir: &Path) -> (Vec<(KeyInfo, Vec<u8>)>, Vec<KeyError>) {
    let (mut keys, mut problems) = (Vec::new(), Vec::new());
    let Ok(entries) = fs::read_dir(dir) else { return (keys, problems) };
    let mut domains: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    domains.sort();
    for d in domains {
        let (k, p) = read_domain(dir, &d);
        keys.extend(k);
        problems.extend(p);
    }
    (keys, problems)
}

/// Where a key stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// It signs the domain's mail now.
    Signing,
    /// It will sign from its `signs_from`; publish its record now.
    Pending,
    /// A newer key signs; keep its record until `remove_record_after`.
    Retiring,
    /// Its record can be removed from DNS, and the key files deleted.
    RemoveRecord,
}

/// One line of the key listing: a registered domain and its keys, or a domain with none.
#[derive(Debug, Clone, Serialize)]
pub struct DomainKeys {
    pub domain: String,
    /// False when no key signs its mail now (its mail leaves unsigned).
    pub signed: bool,
    pub keys: Vec<(KeyInfo, KeyState)>,
}

/// The state of each of `keys` (one domain's) at `now`: the newest one whose `signs_from`
/// has come signs.
pub(crate) fn states(keys: &[KeyInfo], now: OffsetDateTime) -> Vec<KeyState> {
    let signing = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.meta.signs_from <= now)
        .max_by_key(|(_, k)| (k.meta.signs_from, k.meta.created))
        .map(|(i, _)| i);
    keys.iter()
        .enumerate()
        .map(|(i, k)| match k.meta.remove_record_after {
            _ if Some(i) == signing => KeyState::Signing,
            _ if k.meta.signs_from > now => KeyState::Pending,
            Some(at) if at <= now => KeyState::RemoveRecord,
            _ => KeyState::Retiring,
        })
        .collect()
}

/// The key listing for `domains` (the registered ones) and any other domain with keys
/// on disk; with the problems of files that could not be read.
pub fn list(dir: &Path, domains: &[String], now: OffsetDateTime) -> (Vec<DomainKeys>, Vec<KeyError>) {
    let (keys, problems) = load(dir);
    let mut names: Vec<String> = domains.to_vec();
    names.extend(keys.iter().map(|(k, _)| k.domain.clone()));
    names.sort();
    names.dedup();
    let listing = names
        .into_iter()
        .map(|domain| {
            let mine: Vec<KeyInfo> = keys.iter().filter(|(k, _)| k.domain == domain).map(|(k, _)| k.clone()).collect();
            let st = states(&mine, now);
            let signed = st.contains(&KeyState::Signing);
            DomainKeys { domain, signed, keys: mine.into_iter().zip(st).collect() }
        })
        .collect();
    (listing, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn keygen_writes_private_files_and_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-12-01T00:00:00Z");
        for (sel, alg) in [("ed", Algorithm::Ed25519), ("rsa", Algorithm::Rsa2048)] {
            let k = keygen(dir.path(), "a.gov.test", sel, alg, now, now).unwrap();
            assert_eq!(k.record_name, format!("{sel}._domainkey.a.gov.test"));
            assert!(k.record.starts_with(&format!("v=DKIM1; k={}; p=", alg.key_type())));
            let mode = fs::metadata(dir.path().join(format!("a.gov.test/{sel}.key"))).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            keygen(dir.path(), "a.gov.test", "ed", Algorithm::Ed25519, now, now),
            Err(KeyError::Exists { .. })
        ));
        assert!(matches!(
            keygen(dir.path(), "a.gov.test", "x/y", Algorithm::Ed25519, now, now),
            Err(KeyError::Selector(_))
        ));
        assert!(matches!(keygen(dir.path(), "../etc", "s", Algorithm::Ed25519, now, now), Err(KeyError::Domain(_))));
        let (keys, problems) = load(dir.path());
        assert_eq!((keys.len(), problems.len()), (2, 0));
    }

    #[test]
    fn rotation_moves_signing_and_lists_the_old_record_for_removal() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = at("2026-12-01T00:00:00Z");
        keygen(dir.path(), "a.gov.test", "old", Algorithm::Ed25519, t0, t0).unwrap();
        let from = at("2026-12-10T00:00:00Z");
        let grace = Duration::from_secs(7 * 86_400);
        let r = rotate(dir.path(), "a.gov.test", "new", Algorithm::Rsa2048, t0, from, grace).unwrap();
        assert_eq!(r.retired.len(), 1);
        assert_eq!(r.retired[0].meta.remove_record_after, Some(at("2026-12-17T00:00:00Z")));
        let domains = vec!["a.gov.test".to_string(), "b.gov.test".to_string()];
        let state = |now: &str| {
            let (l, _) = list(dir.path(), &domains, at(now));
            l[0].keys.iter().map(|(k, s)| (k.selector.clone(), *s)).collect::<Vec<_>>()
        };
        let s = |a: &str, b: KeyState| (a.to_string(), b);
        assert_eq!(state("2026-12-05T00:00:00Z"), [s("new", KeyState::Pending), s("old", KeyState::Signing)]);
        assert_eq!(state("2026-12-11T00:00:00Z"), [s("new", KeyState::Signing), s("old", KeyState::Retiring)]);
        assert_eq!(state("2026-12-18T00:00:00Z"), [s("new", KeyState::Signing), s("old", KeyState::RemoveRecord)]);
        let (l, _) = list(dir.path(), &domains, t0);
        assert!(!l[1].signed && l[1].keys.is_empty(), "a domain without a key is listed as unsigned");
        assert!(matches!(
            rotate(dir.path(), "b.gov.test", "x", Algorithm::Ed25519, t0, t0, grace),
            Err(KeyError::NoKey { .. })
        ));
    }

    #[test]
    fn unreadable_or_exposed_keys_are_reported_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = at("2026-12-01T00:00:00Z");
        keygen(dir.path(), "a.gov.test", "k1", Algorithm::Ed25519, t0, t0).unwrap();
        keygen(dir.path(), "a.gov.test", "k2", Algorithm::Ed25519, t0, t0).unwrap();
        let k1 = dir.path().join("a.gov.test/k1.key");
        fs::set_permissions(&k1, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(dir.path().join("a.gov.test/k2.toml"), "algorithm = \"dsa\"\n").unwrap();
        let (keys, problems) = load(dir.path());
        assert!(keys.is_empty());
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("k1.key") && text[0].contains("chmod 600"), "{text:?}");
        assert!(text[1].contains("k2.toml"), "{text:?}");
    }
}
