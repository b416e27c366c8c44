//! The fields the WAF reads itself before the engine (`waf::fuzzing`): `Accept-Language`
//! orders the block page's three languages, each once; a `Host` (with the request target)
//! names a site (a lower-case host name without port or final dot, or a bracketed IPv6
//! address), or none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perimeter_fuzz::byte;
use waf::fuzzing::{Lang, host, languages};

fuzz_target!(|data: &[u8]| {
    let (split, rest) = byte(data);
    let cut = usize::from(split).min(rest.len());
    let (target, field) = rest.split_at(cut);
    if let Ok(text) = std::str::from_utf8(field) {
        let order = languages(text);
        for lang in [Lang::Ru, Lang::Kk, Lang::En] {
            assert_eq!(order.iter().filter(|l| **l == lang).count(), 1, "{order:?}");
        }
    }
    let target = String::from_utf8_lossy(target);
    if let Some(name) = host(&target, field) {
        assert!(!name.is_empty() && !name.ends_with('.'), "{name:?}");
        let bracketed = name.starts_with('[') && name.ends_with(']');
        let name_bytes = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        assert!(bracketed || name_bytes, "{name:?}");
    }
});
