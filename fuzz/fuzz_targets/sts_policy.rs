//! The MTA-STS policy file and `_mta-sts` record readers (RFC 8461). An accepted policy
//! has a mode, a max_age of at most a year, and (unless its mode is none) at least one
//! lower-case `mx` pattern that matches a host built from it; a record id is 1-32
//! letters and digits.
#![no_main]

use epbsh::delivery::sts::policy::{Mode, parse, record_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(id) = record_id(text)
    {
        assert!(!id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let Ok(p) = parse(data) else { return };
    assert!(p.max_age.as_secs() <= 31_557_600, "max_age over a year");
    assert!(p.mode == Mode::None || !p.mx.is_empty(), "an enforcing policy without mx");
    for m in &p.mx {
        assert_eq!(*m, m.to_ascii_lowercase());
        let host = match m.strip_prefix("*.") {
            Some(parent) => format!("x.{parent}"),
            None => m.clone(),
        };
        assert!(p.allows(&host), "{m} does not match {host}");
    }
});
