//! Outbound DKIM signing: the [`Signers`] built from the key directory (one signer per
//! domain and selector), choosing for a message the key of its domain that signs now and
//! returning the `DKIM-Signature` header to put on top of it (`relaxed/relaxed`, the
//! headers a receiver expects, `From` oversigned).
//!
//! Must not: sign for a domain the sending system does not own (the relay policy has
//! checked the envelope sender; the caller passes the system's domains).

use std::collections::HashMap;

use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use super::keys::{Algorithm, KeyError, KeyInfo};

/// The headers signed when present; `From` twice, so that a second `From` added on the
/// way breaks the signature. Absent ones are signed as absent (mail-auth lists them).
pub const SIGNED_HEADERS: [&str; 14] = [
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
    "Sender",
];

/// One loaded key, ready to sign.
struct Loaded {
    info: KeyInfo,
    signer: DkimSigner<DkimKey, Done>,
}

/// Every usable key, by domain.
#[derive(Default)]
pub struct Signers {
    by_domain: HashMap<String, Vec<Loaded>>,
}

/// A signature made for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub domain: String,
    pub selector: String,
    /// The whole header field, `DKIM-Signature: …\r\n`.
    pub header: String,
}

fn private_key(info: &KeyInfo, pkcs8: &[u8]) -> Result<DkimKey, String> {
    match info.meta.algorithm {
        Algorithm::Ed25519 => Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8).map(DkimKey::from),
        Algorithm::Rsa2048 => {
            let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()));
            RsaKey::<Sha256>::from_key_der(der).map(DkimKey::from)
        }
    }
    .map_err(|e| e.to_string())
}

impl Signers {
    /// Loads every key under `dir`; a key that cannot be used is reported and skipped.
    pub fn load(dir: &std::path::Path) -> (Signers, Vec<KeyError>) {
        let (keys, mut problems) = super::keys::load(dir);
        let mut out = Signers::default();
        for (info, pkcs8) in keys {
            match private_key(&info, &pkcs8) {
                Ok(key) => {
                    let signer = DkimSigner::from_key(key)
                        .domain(info.domain.clone())
                        .selector(info.selector.clone())
                        .headers(SIGNED_HEADERS)
                        .header_canonicalization(Canonicalization::Relaxed)
                        .body_canonicalization(Canonicalization::Relaxed);
                    out.by_domain.entry(info.domain.clone()).or_default().push(Loaded { info, signer });
                }
                Err(problem) => {
                    let path = dir.join(&info.domain).join(format!("{}.key", info.selector));
                    problems.push(KeyError::File { path, problem });
                }
            }
        }
        (out, problems)
    }

    /// The key of `domain` that signs at `now`: the newest whose `signs_from` has come.
    fn current(&self, domain: &str, now: OffsetDateTime) -> Option<&Loaded> {
        self.by_domain
            .get(domain)?
            .iter()
            .filter(|k| k.info.meta.signs_from <= now)
            .max_by_key(|k| (k.info.meta.signs_from, k.info.meta.created))
    }

    /// True when `domain` has a key that signs at `now`.
    pub fn has_key(&self, domain: &str, now: OffsetDateTime) -> bool {
        self.current(domain, now).is_some()
    }

    /// Signs `message` with the current key of `domain`; `None` when it has none or the
    /// message has none of the signed headers.
    pub fn sign(&self, domain: &str, message: &[u8], now: OffsetDateTime) -> Option<Result<Signed, String>> {
        let key = self.current(domain, now)?;
        Some(
            key.signer
                .sign(message)
                .map(|sig| Signed {
                    domain: key.info.domain.clone(),
                    selector: key.info.selector.clone(),
                    header: sig.to_header(),
                })
                .map_err(|e| e.to_string()),
        )
    }
}

/// The domain whose key signs a message of a system owning `system_domains`: the `From`
/// domain when the system owns it or a parent of it (so the signature aligns for DMARC),
/// otherwise the envelope sender's domain.
pub fn signing_domain<'a>(
    system_domains: &'a [String],
    from_domain: Option<&str>,
    sender_domain: Option<&str>,
) -> Option<&'a str> {
    let owned = |d: &str| {
        system_domains
            .iter()
            .find(|own| d == own.as_str() || d.strip_suffix(own.as_str()).is_some_and(|p| p.ends_with('.')))
            .map(String::as_str)
    };
    from_domain.and_then(owned).or_else(|| sender_domain.and_then(owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_from_domain_signs_when_owned_else_the_sender_domain() {
        let own = vec!["a.gov.test".to_string(), "b.gov.test".to_string()];
        assert_eq!(signing_domain(&own, Some("b.gov.test"), Some("a.gov.test")), Some("b.gov.test"));
        assert_eq!(signing_domain(&own, Some("mail.b.gov.test"), None), Some("b.gov.test"));
        assert_eq!(signing_domain(&own, Some("xb.gov.test"), Some("a.gov.test")), Some("a.gov.test"));
        assert_eq!(signing_domain(&own, Some("other.example"), None), None);
    }

    #[test]
    fn signs_with_the_key_current_at_the_moment() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let t1 = t0 + time::Duration::days(10);
        super::super::keys::keygen(dir.path(), "a.gov.test", "one", Algorithm::Ed25519, t0, t0).unwrap();
        super::super::keys::keygen(dir.path(), "a.gov.test", "two", Algorithm::Rsa2048, t0, t1).unwrap();
        let (signers, problems) = Signers::load(dir.path());
        assert!(problems.is_empty());
        let msg = b"From: a@a.gov.test\r\nTo: b@x.example\r\nSubject: hi\r\n\r\nbody\r\n";
        let s = signers.sign("a.gov.test", msg, t0).unwrap().unwrap();
        assert_eq!(s.selector, "one");
        assert!(
            s.header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; s=one; d=a.gov.test; c=relaxed/relaxed;"),
            "{}",
            s.header
        );
        let h = s.header.split("h=").nth(1).unwrap().split(";").next().unwrap().replace(char::is_whitespace, "");
        assert_eq!(h.split(':').filter(|n| *n == "From").count(), 2, "From oversigned: {h}");
        let s = signers.sign("a.gov.test", msg, t1).unwrap().unwrap();
        assert_eq!(s.selector, "two");
        assert!(s.header.contains("a=rsa-sha256"));
        assert!(signers.sign("b.gov.test", msg, t1).is_none());
        assert!(!signers.has_key("a.gov.test", t0 - time::Duration::days(1)));
    }
}
