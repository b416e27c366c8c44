//! Resource categories: the [`Category`] slug, the seven categories exempt from TLS
//! inspection (rule 2), the risky services that need a separate grant (rule 4), and the
//! category database ([`CategoryDb`]) that maps domains to categories.

mod db;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use db::{Builder, CategoryDb, DbError, DbErrors};
pub use parse::{domain_problem, normalise_host};

/// The exempt categories of rule 2: traffic to them passes undecrypted.
pub const EXEMPT: [&str; 7] =
    ["finance", "government", "health", "privacy", "videoconferencing", "antivirus-updates", "os-updates"];

/// Services that pose a security risk (rule 4): reachable only through an explicit grant.
pub const RISKY: [&str; 4] = ["vpn", "anonymizers", "remote-access", "p2p"];

/// Hosts written as an address (`http://192.0.2.1/`, in any textual form) rather than a
/// name: a category of their own, so that a site denied by name is not reached by its
/// address. Not exempt, not open by default; an organisation's access list or a grant
/// opens it like any other category.
pub const IP_LITERAL: &str = "ip-literal";

/// A resource category: a lower-case slug (`finance`, `news`, `os-updates`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(Arc<str>);

/// Why a text is not a category slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a category name: use 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
)]
pub struct BadCategory(pub String);

impl Category {
    pub fn new(slug: &str) -> Result<Category, BadCategory> {
        let ok = (1..=64).contains(&slug.len())
            && slug.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(Category(slug.into())) } else { Err(BadCategory(slug.to_string())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// One of the seven categories that pass undecrypted.
    pub fn is_exempt(&self) -> bool {
        EXEMPT.contains(&self.as_str())
    }

    /// A risky service that needs a separate grant.
    pub fn is_risky(&self) -> bool {
        RISKY.contains(&self.as_str())
    }

    /// A human label for the well-known categories; the slug otherwise.
    pub fn label(&self) -> &str {
        match self.as_str() {
            "finance" => "finance and banking",
            "government" => "government and legal organisations",
            "health" => "health and wellness",
            "privacy" => "personal privacy",
            "videoconferencing" => "video-conferencing services",
            "antivirus-updates" => "antivirus signature updates",
            "os-updates" => "operating-system updates",
            "vpn" => "VPN services",
            "anonymizers" => "anonymising proxies and Tor",
            "remote-access" => "remote-access services",
            "p2p" => "peer-to-peer file sharing",
            IP_LITERAL => "sites reached by IP address",
            other => other,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Category({})", self.0)
    }
}

impl std::str::FromStr for Category {
    type Err = BadCategory;
    fn from_str(s: &str) -> Result<Category, BadCategory> {
        Category::new(s)
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Category, D::Error> {
        Category::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
