//! Our `Authentication-Results` handling on mail from outside: the header-section reader
//! that removes results claiming our authserv-id. What it returns never grows, keeps the
//! body byte for byte, holds no field claiming our name, and removes nothing more when
//! run again.
#![no_main]

use bytes::Bytes;
use epbsh::auth::results::{authserv_id, strip_claims};
use libfuzzer_sys::fuzz_target;

const ID: &str = "relay.test";

fuzz_target!(|data: &[u8]| {
    let _ = authserv_id(data);
    let message = Bytes::copy_from_slice(data);
    let (out, removed) = strip_claims(&message, ID);
    assert!(out.len() <= message.len(), "the message grew");
    if removed == 0 {
        assert_eq!(out, message, "changed without removing anything");
    }
    // The body is what follows the first empty line; what is kept before it still ends
    // with that empty line (removing every field leaves it alone at the top).
    let body = |m: &[u8]| m.windows(4).position(|w| w == b"\r\n\r\n").map(|p| m[p + 4..].to_vec());
    if let Some(b) = body(&message) {
        assert!(out.ends_with(&b), "the body changed");
        assert!(out[..out.len() - b.len()].ends_with(b"\r\n"), "the empty line before the body went");
    }
    let (again, more) = strip_claims(&out, ID);
    assert_eq!((more, &again), (0, &out), "a second pass removed more");
});
