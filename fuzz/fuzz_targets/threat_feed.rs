//! Threat feeds (`policies::threat::parse_feed`, the format chosen by the first byte):
//! a refused feed names lines that exist; in an accepted one every domain is lower case
//! without a trailing dot, every URL is in its normal form (normalising it again changes
//! nothing), every range's length fits its family and its address has no host bits, and
//! the built database finds every listed domain, URL and range's address.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use perimeter_fuzz::{byte, max_line};
use policies::threat::{FeedFormat, ThreatCategory, ThreatDb, normalise_url, parse_feed};

const FORMATS: [FeedFormat; 5] =
    [FeedFormat::Hosts, FeedFormat::Domains, FeedFormat::Urls, FeedFormat::Csv, FeedFormat::Cidr];

fuzz_target!(|data: &[u8]| {
    let (which, rest) = byte(data);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let format = FORMATS[usize::from(which) % FORMATS.len()];
    let entries = match parse_feed(format, text, "fuzz") {
        Ok(entries) => entries,
        Err(errors) => {
            let lines = max_line(rest);
            assert!(errors.0.iter().all(|e| e.line >= 1 && e.line <= lines), "{errors}");
            return;
        }
    };
    for domain in &entries.domains {
        assert!(!domain.is_empty() && !domain.ends_with('.'), "{domain:?}");
        assert!(!domain.bytes().any(|b| b.is_ascii_uppercase()), "{domain:?}");
    }
    for url in &entries.urls {
        assert_eq!(normalise_url(url).as_deref(), Some(url.as_str()), "not in its normal form");
    }
    for net in &entries.nets {
        let bits = match net.addr {
            IpAddr::V4(a) => (32, u128::from(u32::from(a)) << 96),
            IpAddr::V6(a) => (128, u128::from(a)),
        };
        assert!(net.len <= bits.0, "{net:?}");
        let host = u128::MAX.checked_shr(u32::from(net.len)).unwrap_or(0);
        assert_eq!(bits.1 & host, 0, "host bits set in {net:?}");
    }
    let mut builder = ThreatDb::builder();
    builder.add("fuzz", ThreatCategory::Malware, &entries);
    let db = builder.build();
    for domain in &entries.domains {
        assert!(db.host(domain).is_some(), "{domain:?} listed but not found");
    }
    for url in &entries.urls {
        assert!(db.url(url).is_some(), "{url:?} listed but not found");
    }
    for net in &entries.nets {
        assert!(db.ip(net.addr).is_some(), "{net:?} listed but its address not found");
    }
});
