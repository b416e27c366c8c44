//! The organisations' policy file (`policies::policy::PolicyBook::parse`): a refused
//! file says why (with a line that exists when it names one); an accepted one holds only
//! well-formed organisations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::policy::PolicyBook;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match PolicyBook::parse(text, "fuzz.toml") {
        Ok(book) => {
            for org in book.organisations() {
                assert!(org.bin.len() == 12 && org.bin.bytes().all(|b| b.is_ascii_digit()), "bin {:?}", org.bin);
                assert!(org.granted.is_none_or(|g| g >= org.received), "granted before received");
                assert!(!org.categories.iter().any(|c| c.is_risky()), "a risky category without a grant");
                assert_eq!(book.organisation(&org.bin), Some(org));
                if let Some(g) = org.granted {
                    assert!(org.valid_on(g) && org.valid_through().is_some_and(|t| t > g));
                }
            }
        }
        Err(e) => {
            assert!(!e.problems.is_empty(), "refused without a reason");
            let lines = perimeter_fuzz::max_line(data);
            for p in &e.problems {
                if let Some(n) = p.strip_prefix("line ").and_then(|r| r.split(':').next()?.parse::<usize>().ok()) {
                    assert!(n >= 1 && n <= lines, "{p}");
                }
            }
        }
    }
});
