//! Host names in canonical form: lower case, no trailing dot, and valid as a DNS name
//! (what a certificate can be verified against). One function every parser of names
//! uses: the ClientHello's SNI, requests' hosts, the configuration's host tables.
//!
//! Must not: resolve anything.

use rustls::pki_types::DnsName;

/// A host name in canonical form (lower case, no trailing dot), if valid. One trailing
/// dot (the root) is dropped; a name that still ends in one (`bank.kz..`) is not valid,
/// or the same host would have two spellings.
pub(crate) fn normalise(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    (!name.ends_with('.') && DnsName::try_from(name.as_str()).is_ok()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn one_spelling_per_host() {
        assert_eq!(normalise("Bank.KZ").as_deref(), Some("bank.kz"));
        assert_eq!(normalise("bank.kz.").as_deref(), Some("bank.kz"));
        // Found by fuzzing the ClientHello: two trailing dots left one behind.
        for bad in ["bank.kz..", "bank.kz...", ".", "..", "", "bad name", "a..b"] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }
}
