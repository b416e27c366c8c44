//! UT1 `domains` category lists (`policies::category::Builder::add_ut1_domains`): a
//! refused file names lines that exist; in an accepted one every listed domain and its
//! subdomains are found in the built database under the list's category.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::category::{Category, CategoryDb};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut builder = CategoryDb::builder();
    let lines = text.lines().count();
    match builder.add_ut1_domains("news", text, "fuzz/domains") {
        Ok(n) => {
            assert!(n <= lines);
            let db = builder.build();
            assert!(db.len() <= n);
            let news = Category::new("news").expect("a category");
            for domain in perimeter_fuzz::listed(text, |entry| Some(entry.trim_start_matches('.').to_string())) {
                assert!(db.lookup(&domain).contains(&news), "{domain:?} listed but not found");
                assert!(db.lookup(&format!("www.{domain}")).contains(&news), "a subdomain of {domain:?}");
            }
        }
        Err(errors) => {
            assert!(errors.0.iter().all(|e| e.line >= 1 && e.line <= lines), "{errors}");
        }
    }
});
