//! SHA-256 certificate fingerprints and their usual text forms.
//!
//! Lives here: hashing a DER certificate and formatting the digest as
//! colon-separated upper-case hex (as shown by browsers and common tools) or
//! as a short lower-case prefix for file names. Must not: parse certificates
//! or make any trust decision; a fingerprint only identifies bytes.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};

/// SHA-256 digest of a DER-encoded certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Fingerprint of the given DER bytes.
    pub fn of_der(der: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, der).as_ref());
        Self(out)
    }

    /// The raw 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Colon-separated upper-case hex, e.g. `AB:01:...` (95 characters).
    pub fn to_colon_hex(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        parts.join(":")
    }

    /// Lower-case hex of the first `bytes` bytes, for file names.
    pub fn hex_prefix(&self, bytes: usize) -> String {
        self.0.iter().take(bytes).map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the colon-separated form written by [`Fingerprint::to_colon_hex`].
    pub fn parse_colon_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut count = 0;
        for (slot, part) in out.iter_mut().zip(text.split(':')) {
            if part.len() != 2 {
                return None;
            }
            *slot = u8::from_str_radix(part, 16).ok()?;
            count += 1;
        }
        let all_used = text.split(':').count() == 32;
        (count == 32 && all_used).then_some(Self(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_colon_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_colon_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_hex_round_trips() {
        let fp = Fingerprint::of_der(b"not really a certificate");
        let text = fp.to_colon_hex();
        assert_eq!(text.len(), 95);
        assert_eq!(Fingerprint::parse_colon_hex(&text), Some(fp));
        assert_eq!(fp.hex_prefix(8).len(), 16);
        assert!(Fingerprint::parse_colon_hex("AB:CD").is_none());
    }
}
