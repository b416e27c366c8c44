//! `domain,category` category lists (`policies::category::Builder::add_csv`): a refused
//! file names lines that exist; in an accepted one every row's domain is found in the
//! built database with every category the row gives it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::category::{Category, CategoryDb};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut builder = CategoryDb::builder();
    let lines = text.lines().count();
    match builder.add_csv(text, "fuzz.csv") {
        Ok(n) => {
            assert!(n <= lines);
            let db = builder.build();
            assert!(db.len() <= n);
            let mut first = true;
            for row in perimeter_fuzz::listed(text, |entry| Some(entry.to_string())) {
                let header = first && row.starts_with("domain,");
                first = false;
                if header {
                    continue;
                }
                let mut fields = row.split([',', ';']).map(str::trim);
                let domain = fields.next().unwrap_or("").trim_start_matches('.').to_ascii_lowercase();
                let found = db.lookup(&domain);
                for slug in fields.filter(|f| !f.is_empty()) {
                    let category = Category::new(slug).expect("an accepted category");
                    assert!(found.contains(&category), "{domain:?} listed as {slug} but not found so");
                }
            }
        }
        Err(errors) => {
            assert!(errors.0.iter().all(|e| e.line >= 1 && e.line <= lines), "{errors}");
        }
    }
});
