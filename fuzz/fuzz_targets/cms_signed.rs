//! Signed documents as applicants attach them (`certs::signed`, CMS SignedData): the
//! input is a trust anchor (two length bytes, then its DER) and a document. Nothing is
//! ever trusted without an anchor; what is accepted carries its content inside the
//! document, and a BIN only as twelve digits; a document signed over other content than
//! the one given is never accepted as a detached signature of it.
#![no_main]

use certs::signed::{signed_sha256, verify, verify_detached};
use libfuzzer_sys::fuzz_target;

/// A moment inside the seeds' certificates' validity (2027-01-15).
const AT: i64 = 1_800_000_000;
/// The content the seeds sign.
const LETTER: &[u8] = b"a letter of application\n";

fn within(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn bin_ok(bin: Option<&String>) -> bool {
    bin.is_none_or(|b| b.len() == 12 && b.bytes().all(|c| c.is_ascii_digit()))
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return };
    let (anchor, document) = rest.split_at(usize::from(u16::from_be_bytes(*len)).min(rest.len()));
    let anchors = vec![anchor.to_vec()];
    assert!(verify(document, &[], AT).is_err(), "trusted without an anchor");
    assert!(verify_detached(document, LETTER, &[], AT).is_err(), "trusted without an anchor");
    if let Ok((content, signer)) = verify(document, &anchors, AT) {
        assert!(within(document, &content), "the content is the document's own");
        assert!(bin_ok(signer.bin.as_ref()), "{signer:?}");
    }
    if let Ok(signer) = verify_detached(document, LETTER, &anchors, AT) {
        assert!(bin_ok(signer.bin.as_ref()), "{signer:?}");
        let mut other = LETTER.to_vec();
        other[0] ^= 1;
        assert!(verify_detached(document, &other, &anchors, AT).is_err(), "a signature over other content");
    }
    if let Some(digest) = signed_sha256(document) {
        assert!(within(document, &digest), "the digest is read from the document");
    }
});
