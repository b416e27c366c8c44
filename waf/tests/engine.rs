//! The engine end to end with libmodsecurity and Debian's CRS: a site's rules, verdicts,
//! matched rules and scores, and what happens without the library.

mod common;

use common::{engine, request, site};
use waf::engine::{Engine, EngineError, EnginePaths, RuleSettings, VerdictKind, explain};

#[test]
fn without_the_library_the_waf_says_what_to_install() {
    let paths = EnginePaths { library: "/nonexistent/libmodsecurity.so.3".into(), ..EnginePaths::default() };
    let err = Engine::load(&paths).err().expect("no engine without its library");
    assert!(matches!(err, EngineError::Library { .. }));
    assert!(err.to_string().contains("install the Debian package libmodsecurity3"), "{err}");
    let paths = EnginePaths { crs_rules: "/nonexistent/crs".into(), ..EnginePaths::default() };
    let err = Engine::load(&paths).err().expect("no engine without the CRS");
    assert!(err.to_string().contains("modsecurity-crs"), "{err}");
}

#[test]
fn an_sql_injection_is_refused_with_its_rules_and_score() {
    let Some(engine) = engine() else { return };
    assert!(engine.version().contains("ModSecurity v3."), "{}", engine.version());
    let rules = site(engine, &RuleSettings::default());
    let verdict = explain(&rules, &request("GET", "/search?q=1%27%20or%20%271%27%3D%271"));
    assert_eq!(verdict.verdict, VerdictKind::Block);
    assert_eq!(verdict.status, Some(403));
    assert_eq!(verdict.rules, [942100, 949110]);
    assert_eq!(verdict.score, 5);
    let sqli = &verdict.outcome.matches[0];
    assert_eq!(sqli.message, "SQL Injection Attack Detected via libinjection");
    assert!(sqli.data.contains("ARGS:q: 1' or '1'='1"), "{}", sqli.data);
    assert_eq!(sqli.severity, Some(2));
    assert_eq!(
        serde_json::to_string(&verdict).unwrap(),
        r#"{"verdict":"block","score":5,"rules":[942100,949110],"status":403}"#
    );
}

#[test]
fn a_plain_page_passes_with_no_match() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    let verdict = explain(&rules, &request("GET", "/ru/news/2024/05/?page=2"));
    assert_eq!(verdict.verdict, VerdictKind::Pass);
    assert_eq!((verdict.score, verdict.rules.len()), (0, 0));
}
