//! The RFC 5321 path parser: what it accepts is a bracketed path of bounded parts, which
//! written back parses to the same path with the same text after it.
#![no_main]

use epbsh::fuzzing::{ParsedPath, PathRefusal, is_address_literal, path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match path(text) {
        Ok((parsed, rest)) => {
            assert!(rest < text.len());
            let (taken, after) = text.split_at(text.len() - rest);
            assert!(taken.starts_with('<') && taken.ends_with('>'), "{taken:?}");
            if let ParsedPath::Mailbox(m) = &parsed {
                let (local, domain) = (m.local(), m.domain());
                assert!(!local.is_empty() && local.len() <= 64, "local part length: {local:?}");
                assert!(local.bytes().all(|b| (0x20..0x7f).contains(&b)), "local part: {local:?}");
                assert!(domain.len() <= 255 && !domain.bytes().any(|b| b.is_ascii_uppercase()));
                assert!(epbsh::smtp::is_domain(domain) || is_address_literal(domain), "domain: {domain:?}");
            }
            let again = format!("{}{after}", parsed.text());
            assert_eq!(path(&again), Ok((parsed, rest)), "the written-back path changed");
        }
        Err(PathRefusal::SourceRoute) => assert!(text.starts_with("<@"), "not a source route: {text:?}"),
        Err(PathRefusal::Syntax) => {}
    }
});
