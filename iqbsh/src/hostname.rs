//! Host names in canonical form: lower case, no trailing dot, and valid as a DNS name
//! (what a certificate can be verified against). One function every parser of names
//! uses: the ClientHello's SNI, requests' hosts, the configuration's host tables.
//!
//! Must not: resolve anything.

use rustls::pki_types::DnsName;

/// A host name in canonical form (lower case, no trailing dot), if valid.
pub(crate) fn normalise(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    DnsName::try_from(name.as_str()).is_ok().then_some(name)
}
