//! Threat feeds: hosts, URLs and address ranges known as malicious, in the
//! `malware` and `phishing` categories, which are denied for every
//! organisation and never exempt from inspection (rule 7).
//!
//! Lives here: the feed formats ([`FeedFormat`]: hosts files, plain domain
//! lists, plain URL lists, URLhaus-style CSV, Spamhaus DROP-style CIDR lists)
//! parsed with every problem located by source and line ([`parse_feed`]; the
//! problems are the category lists' [`DbErrors`](crate::category::DbErrors)), and
//! the [`ThreatDb`] built from the feeds that parsed, which answers for a
//! host, a URL or an address. Must not: read files or fetch anything; the
//! binary loads the feeds and keeps a feed's last good entries when a new
//! version of it is bad.

mod canon;
mod db;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

pub use canon::CanonicalUrl;
pub use db::{ThreatDb, ThreatDbBuilder, ThreatHit};
pub use parse::parse_feed;

/// The threat categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreatCategory {
    /// Malware distribution and command-and-control.
    Malware,
    /// Phishing: sites that pose as another to steal credentials.
    Phishing,
}

impl ThreatCategory {
    /// The category slug (`malware`, `phishing`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malware => "malware",
            Self::Phishing => "phishing",
        }
    }
}

impl fmt::Display for ThreatCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a feed is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedFormat {
    /// A hosts file: `0.0.0.0 name [name…]` (the address is ignored).
    Hosts,
    /// One domain (or address) per line; a listed domain covers its subdomains.
    Domains,
    /// One URL per line.
    Urls,
    /// URLhaus-style CSV: `id,dateadded,url,url_status,…` with quoted fields.
    Csv,
    /// Spamhaus DROP-style: `192.0.2.0/24 ; SBL123` (a bare address is a single host).
    Cidr,
}

impl FeedFormat {
    /// The format a dropped-in file has by its extension: `.hosts`, `.domains`,
    /// `.urls`, `.csv`, `.cidr` (or `.drop`).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "hosts" => Some(Self::Hosts),
            "domains" => Some(Self::Domains),
            "urls" => Some(Self::Urls),
            "csv" => Some(Self::Csv),
            "cidr" | "drop" => Some(Self::Cidr),
            _ => None,
        }
    }
}

/// An address range: network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

/// What one feed lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedEntries {
    /// Domains, lower case; each covers its subdomains.
    pub domains: Vec<String>,
    /// URLs, normalised by [`normalise_url`]; each covers the URLs whose Safe Browsing
    /// expressions name it (a path ending in `/` covers what is below it).
    pub urls: Vec<String>,
    /// Address ranges (a listed address is a /32 or /128).
    pub nets: Vec<Cidr>,
}

impl FeedEntries {
    /// How many entries of any kind.
    pub fn len(&self) -> usize {
        self.domains.len() + self.urls.len() + self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A URL as feeds and requests are compared: its [`CanonicalUrl`] form,
/// `host/path[?query]` (Safe Browsing's canonicalisation; the scheme, port and fragment
/// dropped). `None` when there is no host. A canonical form is its own canonical form.
pub fn normalise_url(url: &str) -> Option<String> {
    CanonicalUrl::parse(url).map(|c| c.as_key())
}

/// The scheme of `url` in lower case and what follows its `://`, when `url` starts
/// with a scheme: a letter, then letters, digits, `+`, `-` or `.`.
pub fn split_scheme(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| (scheme.to_ascii_lowercase(), rest))
}
