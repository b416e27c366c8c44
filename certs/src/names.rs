//! Host names: normalising the client's server name, checking it against
//! the upstream certificate's names, and building the leaf's SAN list.
//!
//! Lives here: RFC 6125 style matching (exact, or a left-most `*` label that
//! covers exactly one label). Must not: widen coverage beyond what the
//! upstream certificate states: a host that its names do not cover gets no
//! leaf.

use std::net::IpAddr;

use rcgen::SanType;
use rustls::pki_types::DnsName;

use crate::{ForgeError, UpstreamCert};

/// A normalised client server name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Host {
    /// Lower-case DNS name without a trailing dot.
    Dns(String),
    /// An IP address literal.
    Ip(IpAddr),
}

impl Host {
    /// Normalises a server name; refuses wildcards and invalid names.
    pub(crate) fn parse(raw: &str) -> Result<Self, ForgeError> {
        let invalid = || ForgeError::InvalidHost { host: raw.chars().take(300).collect() };
        let trimmed = raw.strip_suffix('.').unwrap_or(raw);
        if let Ok(ip) = trimmed.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.contains('*') || DnsName::try_from(lower.as_str()).is_err() {
            return Err(invalid());
        }
        Ok(Self::Dns(lower))
    }

    /// The canonical text form (cache key, subject CN).
    pub(crate) fn text(&self) -> String {
        match self {
            Self::Dns(name) => name.clone(),
            Self::Ip(ip) => ip.to_string(),
        }
    }
}

/// Whether the upstream name `pattern` (lower-case) covers `host`.
pub(crate) fn dns_covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        None => pattern == host,
        Some(rest) => host.split_once('.').is_some_and(|(label, parent)| !label.is_empty() && parent == rest),
    }
}

fn covered(upstream: &UpstreamCert, host: &Host) -> bool {
    match host {
        Host::Dns(name) => upstream.dns_names.iter().any(|p| dns_covers(p, name)),
        Host::Ip(ip) => upstream.ip_addrs.contains(ip),
    }
}

fn dns_san(name: &str) -> Option<SanType> {
    name.to_owned().try_into().ok().map(SanType::DnsName)
}

/// The leaf's SANs: the host first (when covered and not already listed
/// verbatim), then every DNS and IP name of the upstream certificate.
pub(crate) fn leaf_sans(upstream: &UpstreamCert, host: &Host) -> Result<Vec<SanType>, ForgeError> {
    if upstream.dns_names.is_empty() && upstream.ip_addrs.is_empty() {
        return Err(ForgeError::UpstreamNoNames);
    }
    if !covered(upstream, host) {
        return Err(ForgeError::NameNotCovered { host: host.text() });
    }
    let mut sans = Vec::with_capacity(upstream.dns_names.len() + upstream.ip_addrs.len() + 1);
    if let Host::Dns(name) = host
        && !upstream.dns_names.contains(name)
    {
        sans.extend(dns_san(name));
    }
    sans.extend(upstream.dns_names.iter().filter_map(|n| dns_san(n)));
    sans.extend(upstream.ip_addrs.iter().map(|ip| SanType::IpAddress(*ip)));
    Ok(sans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_one_label_only() {
        assert!(dns_covers("*.example.org", "www.example.org"));
        assert!(!dns_covers("*.example.org", "example.org"));
        assert!(!dns_covers("*.example.org", "a.b.example.org"));
        assert!(dns_covers("example.org", "example.org"));
        assert!(!dns_covers("example.org", "www.example.org"));
    }

    #[test]
    fn hosts_are_normalised() {
        assert_eq!(Host::parse("WWW.Example.ORG.").ok(), Some(Host::Dns("www.example.org".into())));
        assert_eq!(Host::parse("192.0.2.1").ok(), Some(Host::Ip("192.0.2.1".parse().expect("ip"))));
        assert!(Host::parse("*.example.org").is_err());
        assert!(Host::parse("bad name").is_err());
        assert!(Host::parse("").is_err());
    }
}
