//! What the desk's rules ask of the records and the cryptography when an application is
//! filed: whether an operator is registered, who owns a mail system (read from the store
//! once per filing), and whether a site's certificate and key are a pair naming it
//! (`certs::pair`).
//!
//! Must not: judge the fields itself (the desk's rules do).

use std::collections::{HashMap, HashSet};

use store::{Store, StoreError};

/// The records a filing is checked against.
pub struct Records {
    operators: HashSet<String>,
    /// Mail system → its owner's BIN.
    owners: HashMap<String, String>,
}

impl Records {
    pub async fn load(store: &Store) -> Result<Records, StoreError> {
        let operators = store.operators().await?.into_iter().map(|o| o.name).collect();
        let owners = store.mail_systems().await?.into_iter().map(|m| (m.name, m.owner_bin)).collect();
        Ok(Records { operators, owners })
    }
}

impl desk::Registry for Records {
    fn operator_exists(&self, name: &str) -> bool {
        self.operators.contains(name)
    }

    fn key_pair(&self, certificate: &str, key: &str, site: &str) -> Result<(), String> {
        certs::pair::check(certificate, key, site)
    }

    fn mail_system_owner(&self, system: &str) -> Option<String> {
        self.owners.get(system).cloned()
    }
}
