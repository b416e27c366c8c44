//! What the engine tests share: the engine (libmodsecurity and Debian's CRS, required in
//! CI, skipped elsewhere when missing), a site's rules, and requests built from the
//! cases in `tests/data`.

#![allow(dead_code)]

use std::sync::OnceLock;

use waf::engine::{Engine, EnginePaths, RuleSettings, SiteRules, TestRequest, Verdict, explain};

/// The engine, once per test binary; `None` (skip) when libmodsecurity or the CRS is
/// missing outside CI.
pub fn engine() -> Option<&'static Engine> {
    static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| match Engine::load(&EnginePaths::default()) {
            Ok(engine) => Some(engine),
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("the engine tests need libmodsecurity3 and modsecurity-crs: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: {why}");
                None
            }
        })
        .as_ref()
}

/// A site's rules with `settings`.
pub fn site(engine: &Engine, settings: &RuleSettings) -> SiteRules {
    SiteRules::compile(engine, "portal.example.kz", settings).expect("the site's rules compile")
}

/// A browser-like request.
pub fn request(method: &str, uri: &str) -> TestRequest {
    let mut req = TestRequest::new(method, uri);
    for (name, value) in [
        (
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        ),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("accept-language", "ru-RU,ru;q=0.9,kk;q=0.8,en;q=0.7"),
        ("accept-encoding", "gzip, deflate, br"),
    ] {
        req.headers.insert(name, value.parse().unwrap());
    }
    req
}

/// `request` with a body of `content_type`.
pub fn post(uri: &str, content_type: &str, body: &[u8]) -> TestRequest {
    let mut req = request("POST", uri);
    req.headers.insert("content-type", content_type.parse().unwrap());
    req.headers.insert("content-length", body.len().to_string().parse().unwrap());
    req.body = body.to_vec();
    req
}

pub fn verdict(rules: &SiteRules, req: &TestRequest) -> Verdict {
    explain(rules, req)
}
