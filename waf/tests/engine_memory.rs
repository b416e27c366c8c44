//! Memory per transaction is bounded and nothing leaks: many transactions through the
//! engine (benign, attacks, bodies, client addresses that change, transactions dropped
//! half-way) leave the resident set where the first few thousand put it.
//!
//! 100,000 transactions take a few minutes, so the test is run on request:
//! `cargo test -p waf --release --test engine_memory -- --ignored --nocapture`
//! (WAF_MEMORY_TRANSACTIONS sets the count).

mod common;

use std::net::SocketAddr;

use common::{engine, site};
use http::HeaderMap;
use waf::engine::RuleSettings;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "100k transactions: run with --ignored (see the module doc)"]
fn a_hundred_thousand_transactions_keep_memory_bounded() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings { inspect_responses: true, ..RuleSettings::default() });
    let total: usize = std::env::var("WAF_MEMORY_TRANSACTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let server: SocketAddr = "192.0.2.1:443".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("host", "portal.example.kz".parse().unwrap());
    headers.insert("user-agent", "Mozilla/5.0".parse().unwrap());
    headers.insert("accept", "text/html".parse().unwrap());
    headers.insert("content-type", "application/x-www-form-urlencoded".parse().unwrap());
    let form = "FIO=%D0%90%D1%85%D0%BC%D0%B5%D1%82%D0%BE%D0%B2&MESSAGE=".to_string()
        + &"%D0%BF%D0%BE%D0%BC%D0%BE%D1%89%D1%8C+".repeat(60);
    let mut baseline = 0;
    let mut peak = 0;
    for i in 0..total {
        // A new client address each time: the engine's per-address collections must not grow.
        let client = SocketAddr::from(([198, 51, (i >> 8) as u8, i as u8], 1024 + (i % 60000) as u16));
        let mut tx = rules.begin(&format!("mem-{i}"), client, server);
        let uri = match i % 4 {
            0 => format!("/search?q=1%27%20or%20%27{i}%27%3D%27{i}"),
            1 => format!("/news/?id={i}&q=%D0%BF%D0%BE%D0%B8%D1%81%D0%BA"),
            _ => format!("/ru/appeals/new/?n={i}"),
        };
        tx.request_head(if i % 4 >= 2 { "POST" } else { "GET" }, &uri, "1.1", &headers);
        if i % 10 == 9 {
            drop(tx); // dropped before the body: the proxy gave up on the request
            continue;
        }
        tx.request_body(if i % 4 >= 2 { form.as_bytes() } else { b"" });
        tx.response_head(200, "1.1", &headers);
        tx.response_body(b"<html><body>ok</body></html>");
        let outcome = tx.finish();
        assert!(outcome.matches.len() <= waf::engine::MAX_MATCHES);
        if i == 5_000 {
            baseline = rss_kib();
        }
        if i > 5_000 {
            peak = peak.max(rss_kib());
        }
        if i % 20_000 == 0 {
            eprintln!("{i} transactions: RSS {} KiB", rss_kib());
        }
    }
    eprintln!("RSS after 5,000: {baseline} KiB; peak after: {peak} KiB over {total} transactions");
    assert!(peak <= baseline + 16 * 1024, "RSS grew from {baseline} KiB to {peak} KiB");
}
