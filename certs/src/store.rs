//! The on-disk root CA directory: init, load, rotate, retire, bundle export.
//!
//! Layout of the directory (mode 0700):
//! - `root-<16 hex>.pem`: a root certificate (0644), named by the first
//!   8 bytes of its SHA-256 fingerprint;
//! - `root-<16 hex>.key`: its PKCS#8 PEM private key (0600);
//! - `state.json`: which root is current and which one is previous, with the
//!   end of the previous root's overlap.
//!
//! Every file is written atomically (temporary file with its final mode,
//! fsync, rename, directory fsync); `state.json` is written last and is the
//! commit point. A retired root's key file is deleted; its certificate stays
//! for audit. Must not: log or export key bytes, or load a key that group
//! or other can access.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use crate::fsutil::{self, KEY_MODE, PUBLIC_MODE};
use crate::root::PartsError;
use crate::state::{RootEntry, State};
use crate::{CaConfig, CaError, ExportFormat, Fingerprint, RootCa};

/// A replaced root that stays trusted until `overlap_end`.
#[derive(Debug, Clone)]
pub struct PreviousRoot {
    root: Arc<RootCa>,
    overlap_end: OffsetDateTime,
}

impl PreviousRoot {
    /// The replaced root.
    pub fn root(&self) -> &Arc<RootCa> {
        &self.root
    }

    /// When it stops being trusted and is retired.
    pub fn overlap_end(&self) -> OffsetDateTime {
        self.overlap_end
    }
}

/// What a caller needs after `rotate`, e.g. to notify operators.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new root certificate in PEM.
    pub new_cert_pem: String,
    /// The new root's fingerprint.
    pub new_fingerprint: Fingerprint,
    /// The replaced root's fingerprint.
    pub old_fingerprint: Fingerprint,
    /// When the replaced root stops being trusted.
    pub overlap_end: OffsetDateTime,
}

/// The root CA directory, loaded.
#[derive(Debug)]
pub struct CaStore {
    dir: PathBuf,
    current: Arc<RootCa>,
    previous: Option<PreviousRoot>,
}

fn entry_for(root: &RootCa) -> RootEntry {
    let stem = format!("root-{}", root.fingerprint().hex_prefix(8));
    RootEntry {
        fingerprint: root.fingerprint().to_colon_hex(),
        cert: format!("{stem}.pem"),
        key: format!("{stem}.key"),
    }
}

fn write_root(dir: &Path, root: &RootCa) -> Result<(), CaError> {
    let entry = entry_for(root);
    let key_pem = root.key_pkcs8_pem();
    fsutil::write_atomic(&dir.join(&entry.key), key_pem.as_bytes(), KEY_MODE)?;
    fsutil::write_atomic(&dir.join(&entry.cert), root.cert_pem().as_bytes(), PUBLIC_MODE)
}

fn write_state(dir: &Path, current: &RootCa, previous: Option<(&RootCa, OffsetDateTime)>) -> Result<(), CaError> {
    let mut state = State::new(entry_for(current));
    state.set_previous(previous.map(|(root, end)| (entry_for(root), end)));
    state.write(dir)
}

fn read_cert(path: &Path) -> Result<CertificateDer<'static>, CaError> {
    let text = fsutil::read_string(path)?;
    let bad = |reason: String| CaError::Certificate { path: path.to_path_buf(), reason };
    match CertificateDer::pem_slice_iter(text.as_bytes()).next() {
        Some(Ok(der)) => Ok(der),
        Some(Err(e)) => Err(bad(format!("invalid PEM: {e}"))),
        None => Err(bad("no CERTIFICATE block".to_owned())),
    }
}

fn read_key(path: &Path) -> Result<rcgen::KeyPair, CaError> {
    fsutil::check_key_mode(path)?;
    let text = fsutil::read_string(path)?;
    let bad = |reason: &str| CaError::Key { path: path.to_path_buf(), reason: reason.to_owned() };
    let der = PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => bad("no PRIVATE KEY block"),
        _ => bad("invalid PEM"),
    })?;
    rcgen::KeyPair::try_from(&der).map_err(|_| bad("unsupported or malformed key"))
}

fn load_root(dir: &Path, entry: &RootEntry, state_path: &Path) -> Result<RootCa, CaError> {
    let (cert_path, key_path) = (dir.join(&entry.cert), dir.join(&entry.key));
    let key = read_key(&key_path)?;
    let cert = read_cert(&cert_path)?;
    let root = RootCa::from_parts(cert, key).map_err(|e| match e {
        PartsError::KeyMismatch => CaError::KeyMismatch { key: key_path.clone(), cert: cert_path.clone() },
        PartsError::Invalid(reason) => CaError::Certificate { path: cert_path.clone(), reason },
    })?;
    if root.fingerprint().to_colon_hex() != entry.fingerprint {
        return Err(CaError::State {
            path: state_path.to_path_buf(),
            reason: format!("{} does not have the recorded fingerprint", cert_path.display()),
        });
    }
    Ok(root)
}

impl CaStore {
    /// Creates a new root CA in `dir` (created with mode 0700 if missing).
    /// Refuses if `dir` already holds a `state.json`.
    pub fn init(dir: &Path, cfg: &CaConfig, now: OffsetDateTime) -> Result<Self, CaError> {
        cfg.validate()?;
        fsutil::ensure_dir(dir)?;
        let state_path = State::path(dir);
        if state_path.exists() {
            return Err(CaError::AlreadyInitialised { path: state_path });
        }
        let root = RootCa::generate(cfg, now)?;
        write_root(dir, &root)?;
        write_state(dir, &root, None)?;
        tracing::info!(fingerprint = %root.fingerprint(), "created gateway root CA");
        Ok(Self { dir: dir.to_path_buf(), current: Arc::new(root), previous: None })
    }

    /// Loads the CA from `dir`, checking key file modes, that each key
    /// matches its certificate, and the recorded fingerprints. A previous
    /// root whose overlap has ended by `now` is retired.
    pub fn load(dir: &Path, now: OffsetDateTime) -> Result<Self, CaError> {
        let state_path = State::path(dir);
        let state = State::read(dir)?;
        let current = Arc::new(load_root(dir, &state.current, &state_path)?);
        let previous = match &state.previous {
            Some(prev) if prev.overlap_end > now => Some(PreviousRoot {
                root: Arc::new(load_root(dir, &prev.root, &state_path)?),
                overlap_end: prev.overlap_end,
            }),
            _ => None,
        };
        let store = Self { dir: dir.to_path_buf(), current, previous };
        if let Some(prev) = state.previous.filter(|p| p.overlap_end <= now) {
            write_state(dir, &store.current, None)?;
            fsutil::remove_if_exists(&dir.join(&prev.root.key))?;
            tracing::info!(fingerprint = %prev.root.fingerprint, "retired previous gateway root CA");
        }
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root that signs new leaves.
    pub fn current(&self) -> &Arc<RootCa> {
        &self.current
    }

    /// The replaced root, while its overlap lasts.
    pub fn previous(&self) -> Option<&PreviousRoot> {
        self.previous.as_ref()
    }

    /// The roots clients should trust at `now`: current first, then the
    /// previous one if its overlap has not ended.
    pub fn trusted(&self, now: OffsetDateTime) -> Vec<Arc<RootCa>> {
        let mut roots = vec![Arc::clone(&self.current)];
        if let Some(prev) = self.previous.as_ref().filter(|p| p.overlap_end > now) {
            roots.push(Arc::clone(&prev.root));
        }
        roots
    }

    /// PEM bundle of [`CaStore::trusted`] roots, for clients to install.
    pub fn bundle_pem(&self, now: OffsetDateTime) -> String {
        self.trusted(now).iter().map(|r| r.cert_pem()).collect()
    }

    /// The current root certificate in the requested encoding.
    pub fn export_current(&self, format: ExportFormat) -> Vec<u8> {
        self.current.export(format)
    }

    /// Replaces the current root with a new one; the old one stays trusted
    /// until `now + cfg.overlap` (capped at its own expiry). Refuses while a
    /// previous rotation's overlap is still running.
    pub fn rotate(&mut self, cfg: &CaConfig, now: OffsetDateTime) -> Result<Rotation, CaError> {
        self.retire_expired(now)?;
        if let Some(prev) = &self.previous {
            return Err(CaError::OverlapInProgress {
                previous: prev.root.fingerprint(),
                overlap_end: prev.overlap_end,
            });
        }
        let new_root = Arc::new(RootCa::generate(cfg, now)?);
        write_root(&self.dir, &new_root)?;
        let overlap_end = (now + cfg.overlap).min(self.current.not_after());
        write_state(&self.dir, &new_root, Some((&self.current, overlap_end)))?;
        let old = std::mem::replace(&mut self.current, Arc::clone(&new_root));
        let old_fingerprint = old.fingerprint();
        self.previous = Some(PreviousRoot { root: old, overlap_end });
        tracing::info!(new = %new_root.fingerprint(), old = %old_fingerprint, %overlap_end, "rotated gateway root CA");
        Ok(Rotation {
            new_cert_pem: new_root.cert_pem(),
            new_fingerprint: new_root.fingerprint(),
            old_fingerprint,
            overlap_end,
        })
    }

    /// Retires the previous root if its overlap has ended by `now`:
    /// removes it from the state and deletes its key file. Returns the
    /// retired root's fingerprint.
    pub fn retire_expired(&mut self, now: OffsetDateTime) -> Result<Option<Fingerprint>, CaError> {
        if self.previous.as_ref().is_none_or(|p| p.overlap_end > now) {
            return Ok(None);
        }
        write_state(&self.dir, &self.current, None)?;
        let Some(prev) = self.previous.take() else {
            return Ok(None);
        };
        let entry = entry_for(&prev.root);
        fsutil::remove_if_exists(&self.dir.join(entry.key))?;
        tracing::info!(fingerprint = %prev.root.fingerprint(), "retired previous gateway root CA");
        Ok(Some(prev.root.fingerprint()))
    }
}
