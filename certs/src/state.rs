//! `state.json` of the CA directory: which root is current and which is
//! previous, with the end of the previous root's overlap.
//!
//! Lives here: the serialised form, its validation (file names must be bare
//! names inside the directory) and its atomic write. Must not: hold key
//! material or certificates themselves, only file names and fingerprints.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::CaError;
use crate::fsutil::{self, PUBLIC_MODE};

const FILE_NAME: &str = "state.json";
const VERSION: u32 = 1;

/// One root's files and fingerprint, as recorded in the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RootEntry {
    /// Colon-separated SHA-256 fingerprint of the certificate.
    pub fingerprint: String,
    /// Certificate file name inside the directory.
    pub cert: String,
    /// Key file name inside the directory.
    pub key: String,
}

/// The replaced root and when it stops being trusted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PreviousEntry {
    #[serde(flatten)]
    pub root: RootEntry,
    #[serde(with = "time::serde::rfc3339")]
    pub overlap_end: OffsetDateTime,
}

/// Contents of `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    pub current: RootEntry,
    pub previous: Option<PreviousEntry>,
}

fn is_bare_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']) && name.starts_with("root-")
}

impl State {
    pub(crate) fn new(current: RootEntry) -> Self {
        Self { version: VERSION, current, previous: None }
    }

    pub(crate) fn set_previous(&mut self, previous: Option<(RootEntry, OffsetDateTime)>) {
        self.previous = previous.map(|(root, overlap_end)| PreviousEntry { root, overlap_end });
    }

    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    pub(crate) fn read(dir: &Path) -> Result<Self, CaError> {
        let path = Self::path(dir);
        let text = fsutil::read_string(&path)?;
        let bad = |reason: String| CaError::State { path: path.clone(), reason };
        let state: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if state.version != VERSION {
            return Err(bad(format!("unsupported version {}", state.version)));
        }
        let entries = std::iter::once(&state.current).chain(state.previous.iter().map(|p| &p.root));
        for entry in entries {
            if !is_bare_name(&entry.cert) || !is_bare_name(&entry.key) {
                return Err(bad(format!("file names {:?}/{:?} must be root-* names", entry.cert, entry.key)));
            }
        }
        Ok(state)
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<(), CaError> {
        let path = Self::path(dir);
        let mut json = serde_json::to_string_pretty(self)
            .map_err(|e| CaError::State { path: path.clone(), reason: e.to_string() })?;
        json.push('\n');
        fsutil::write_atomic(&path, json.as_bytes(), PUBLIC_MODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_names() {
        assert!(is_bare_name("root-0011.pem"));
        assert!(!is_bare_name("../root-0011.pem"));
        assert!(!is_bare_name("root-/x"));
        assert!(!is_bare_name("other.pem"));
    }
}
