//! The store as the binary opens it: the `[store]` section, the data directory made
//! private, and the store opened (migrations run) with the catalog's cap on unknown
//! addresses.
//!
//! Must not: hold records or queries (the `store` crate does).

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The catalog database.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB`, or `sqlite://PATH`. Empty: the SQLite
    /// file `catalog.db` in the data directory.
    pub url: String,
}

impl StoreConfig {
    /// The URL, when given, names SQLite or PostgreSQL.
    pub fn validate(&self, problems: &mut super::problem::ConfigProblems) {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !self.url.is_empty() && !known.iter().any(|k| self.url.starts_with(k)) {
            let shown = ::store::redact(&self.url);
            problems.add("store.url", format!("'{shown}': use sqlite://PATH or postgres://USER@HOST:PORT/DB"));
        }
    }
}

/// Opens the store at `url`, creating the data directory for SQLite, keeping at most
/// `max_unknown` unknown addresses per operator.
pub async fn open(url: &str, data_dir: &Path, max_unknown: u32) -> anyhow::Result<::store::Store> {
    if url.starts_with("sqlite:") {
        private_dir(data_dir)?;
    }
    let store = ::store::Store::open(url).await;
    let store = store.with_context(|| format!("cannot open the store {}", ::store::redact(url)))?;
    Ok(store.keeping_unknown(max_unknown))
}

/// Creates `dir` (and its parents) if missing and makes it private to the service's
/// user (0700): it holds the catalog, the CA key and the spool.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make the data directory {} private", dir.display()))
}
