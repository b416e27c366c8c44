//! Rate limits on new connections, with curl from several loopback sources:
//! one workstation over its own limit gets 429 while its colleagues of the
//! same organisation go on; a source the catalog refuses is limited hardest
//! and, past its limit, no longer makes the gateway report it again.

mod common;

use common::curl::curl;
use common::world::{COLLEAGUE, KNOWN, UNKNOWN, World};

async fn code_from(w: &World, source: &str, url: &str) -> String {
    let args = ["--interface", source, "-x", &w.proxy_url(), "-o", "/dev/null", "-w", "%{http_code}", url];
    curl(&args).await.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_workstation_over_its_limit_does_not_lock_out_its_organisation() {
    let w = World::start(|cfg, _| {
        cfg.rate_limit.per_source_per_second = 1;
        cfg.rate_limit.per_source_burst = 2;
    })
    .await;
    let url = format!("http://news.test:{}/", w.plain.addr.port());
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(code_from(&w, KNOWN, &url).await);
    }
    assert_eq!(codes[..2], ["200", "200"], "{codes:?}");
    assert!(codes.iter().any(|c| c == "429"), "the busy workstation is limited: {codes:?}");
    assert_eq!(code_from(&w, COLLEAGUE, &url).await, "200", "its colleague is not");
    let r = w.wait_record("rate limited", |r| r["deny"] == "rate_limited" && r["status"] == 429).await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("source address 127.0.0.1 opened more than 1"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_source_is_limited_hardest_and_reported_only_within_its_limit() {
    let w = World::start(|cfg, _| {
        cfg.rate_limit.refused_per_second = 1;
        cfg.rate_limit.refused_burst = 2;
    })
    .await;
    let url = format!("http://news.test:{}/", w.plain.addr.port());
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(code_from(&w, UNKNOWN, &url).await);
    }
    assert_eq!(codes[..2], ["403", "403"], "refused as unknown: {codes:?}");
    assert!(codes.iter().any(|c| c == "429"), "then limited: {codes:?}");
    let limited = codes.iter().filter(|c| *c == "429").count();
    w.wait_record("a limited unknown source", |r| r["deny"] == "rate_limited" && r["client"] == UNKNOWN).await;
    let seen = w.catalog.wait_sightings("the reported ones", |s| s.len() + limited >= codes.len()).await;
    assert_eq!(seen.len(), codes.len() - limited, "a limited connection is not reported again: {seen:?}");
    // A known source is untouched by the refused sources' limit.
    assert_eq!(code_from(&w, KNOWN, &url).await, "200");
}
