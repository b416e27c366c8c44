//! How fast console pages are served at scale: one operator with 1,000,000 prefixes and
//! 100,000 unknown addresses. Fills the store through the real CLI and API, then times
//! first and deep pages (keyset cursors from the pages themselves) with curl's
//! `time_total` on loopback, which is the server's time plus a negligible transfer.
//! Prints the figures; asserts only that every page answered 200 with rows.
//!
//!     cargo test --release --test console_scale -- --ignored --nocapture
//!
//! Ignored by default: filling takes minutes and a few GB of disk with PostgreSQL.

mod common;

use std::process::Command;

use common::console::Browser;
use common::{Env, curl};
use serde_json::json;

const PREFIXES: u32 = 1_000_000;
const UNKNOWN: u32 = 100_000;

/// Times one GET with the session's cookies: (status, seconds, body).
fn timed(base: &str, jar: &std::path::Path, path: &str) -> (u16, f64, String) {
    let out = Command::new(curl())
        .args(["-sS", "-b"])
        .arg(jar)
        .args(["-w", "\n%{http_code} %{time_total}"])
        .arg(format!("{base}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').expect("status line");
    let (code, secs) = tail.split_once(' ').expect("code and time");
    (code.parse().unwrap(), secs.parse().unwrap(), body.to_string())
}

fn next_link(body: &str) -> String {
    body.split("rel=\"next\" href=\"").nth(1).expect("a next page").split('"').next().unwrap().replace("&amp;", "&")
}

#[test]
#[ignore = "fills a million prefixes and 100k unknown addresses; run by hand for BENCHMARKS.md"]
fn pages_stay_fast_at_a_million_prefixes_and_100k_unknown_addresses() {
    let env = Env::new();
    let cast = env.cast();
    let mut csv = String::with_capacity(PREFIXES as usize * 30);
    for i in 0..PREFIXES {
        let a = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + i;
        csv.push_str(&format!("{}/32,{}\n", std::net::Ipv4Addr::from(a), cast.a));
    }
    let list = env.write("million.csv", &csv);
    let started = std::time::Instant::now();
    env.ok(&["catalog", "import", "--operator", "alpha", "--summary", list.to_str().unwrap()]);
    eprintln!("imported {PREFIXES} prefixes in {:.1} s", started.elapsed().as_secs_f64());
    env.user("duty1", "duty password one", &["--duty"]);
    let token = env.token("gateway", &["--duty"]);
    let server = env.up();
    let started = std::time::Instant::now();
    for chunk in 0..(UNKNOWN / 20_000) {
        let batch: Vec<_> = (0..20_000u32)
            .map(|i| {
                let n = chunk * 20_000 + i;
                let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0)) + n);
                let link = if n % 2 == 0 { "alpha-1" } else { "beta-1" };
                json!({"ip": ip.to_string(), "link": link, "first_seen": 1_800_000_000_000i64 + i64::from(n), "last_seen": 1_800_000_000_000i64 + i64::from(n), "count": 1})
            })
            .collect();
        let file = env.write("batch.json", &serde_json::to_string(&batch).unwrap());
        let reply = server.call("POST", "/api/v1/observations", Some(&token), Some((&file, "application/json")));
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    eprintln!("recorded {UNKNOWN} unknown addresses in {:.1} s", started.elapsed().as_secs_f64());

    let mut b = Browser::new(&env, &server, "duty");
    assert_eq!(b.login("duty1", "duty password one").status, 303);
    let jar = env.path("duty.cookies");
    let base = server.base.clone();
    let mut figures = Vec::new();
    let mut measure = |name: &str, path: &str| -> String {
        let mut best = f64::MAX;
        let mut body = String::new();
        for _ in 0..5 {
            let (code, secs, text) = timed(&base, &jar, path);
            assert_eq!(code, 200, "{path}: {text}");
            best = best.min(secs);
            body = text;
        }
        figures.push((name.to_string(), best * 1000.0));
        body
    };
    let first = measure("operator list, first page", "/operators/alpha");
    assert!(first.contains("10.0.0.0/32"));
    let mut deep = next_link(&first);
    for _ in 0..3 {
        deep = next_link(&measure("operator list, next page", &deep));
    }
    let far = format!("/operators/alpha?after={}", PREFIXES - 100);
    measure("operator list, page near the end", &far);
    measure("operator list, covering 10.7.161.32", "/operators/alpha?ip=10.7.161.32");
    measure("address search (now and all history)", "/lookup?ip=10.7.161.32");
    let today = policies::calendar::today();
    measure("address search on a day", &format!("/lookup?ip=10.7.161.32&on={today}"));
    let unknown = measure("unknown, first page", "/unknown");
    measure("unknown, next page", &next_link(&unknown));
    measure("unknown, page near the end", &format!("/unknown?after={}", UNKNOWN - 60));
    measure("unknown of one operator", "/unknown?operator=beta");
    measure("unknown, address prefix search", "/unknown?ip=100.64.200.");
    measure("today", "/today");
    measure("audit, first page", "/audit");
    measure("blocks, first page", "/blocks");
    eprintln!(
        "\nconsole page times (best of 5, ms), {PREFIXES} prefixes, {UNKNOWN} unknown addresses, {}:",
        store_kind()
    );
    for (name, ms) in &figures {
        eprintln!("  {name:<40} {ms:>8.1}");
    }
}

fn store_kind() -> &'static str {
    if store::testing::postgres_server().is_some() { "PostgreSQL" } else { "SQLite" }
}
