//! A site's rule settings through the real engine: paranoia, thresholds, detect and block,
//! exclusions by id and by id and target, methods, content types, the body limit both
//! ways, response inspection, and virtual patches (good ones apply, bad ones are refused
//! with the engine's message and change nothing).

mod common;

use std::net::SocketAddr;

use common::{engine, post, request, site};
use http::HeaderMap;
use waf::engine::{Exclusion, Mode, OverLimit, RuleSettings, RulesError, SiteRules, Step, VerdictKind, explain};

const SQLI: &str = "/search?q=1%27%20or%20%271%27%3D%271";

fn settings() -> RuleSettings {
    RuleSettings::default()
}

#[test]
fn paranoia_2_sees_what_paranoia_1_lets_pass() {
    let Some(engine) = engine() else { return };
    let uri = "/?q=select%20name%20from%20x";
    assert_eq!(explain(&site(engine, &settings()), &request("GET", uri)).verdict, VerdictKind::Pass);
    let strict = site(engine, &RuleSettings { paranoia: 2, ..settings() });
    let verdict = explain(&strict, &request("GET", uri));
    assert_eq!(verdict.verdict, VerdictKind::Block);
    assert_eq!(verdict.rules, [942260, 949110]);
}

#[test]
fn detect_mode_records_and_passes() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings { mode: Mode::Detect, ..settings() });
    let verdict = explain(&rules, &request("GET", SQLI));
    assert_eq!(verdict.verdict, VerdictKind::Detect);
    assert_eq!(verdict.status, None);
    assert_eq!((verdict.score, verdict.rules.as_slice()), (5, [942100, 949110].as_slice()));
    assert!(!verdict.outcome.blocked);
}

#[test]
fn a_higher_threshold_lets_one_match_pass_but_keeps_it() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings { inbound_threshold: 10, ..settings() });
    let verdict = explain(&rules, &request("GET", SQLI));
    assert_eq!(verdict.verdict, VerdictKind::Pass);
    assert_eq!((verdict.score, verdict.rules.as_slice()), (5, [942100].as_slice()));
    let xss = explain(&rules, &request("GET", "/?a=%3Cscript%3Ealert(1)%3C/script%3E"));
    assert_eq!((xss.verdict, xss.score), (VerdictKind::Block, 15));
}

#[test]
fn exclusions_by_id_and_by_target() {
    let Some(engine) = engine() else { return };
    let by_id =
        site(engine, &RuleSettings { exclusions: vec![Exclusion { rule: 942100, target: None }], ..settings() });
    let verdict = explain(&by_id, &request("GET", SQLI));
    assert_eq!((verdict.verdict, verdict.rules.len()), (VerdictKind::Pass, 0));

    let target = Some("ARGS:comment".to_string());
    let by_target = site(engine, &RuleSettings { exclusions: vec![Exclusion { rule: 942100, target }], ..settings() });
    let payload = "1%27%20or%20%271%27%3D%271";
    assert_eq!(explain(&by_target, &request("GET", &format!("/?comment={payload}"))).verdict, VerdictKind::Pass);
    let elsewhere = explain(&by_target, &request("GET", &format!("/?q={payload}")));
    assert_eq!((elsewhere.verdict, elsewhere.rules.as_slice()), (VerdictKind::Block, [942100, 949110].as_slice()));
}

#[test]
fn methods_and_content_types_follow_the_site() {
    let Some(engine) = engine() else { return };
    let default = site(engine, &settings());
    assert_eq!(explain(&default, &request("PUT", "/api/v1/doc/1")).rules, [911100, 949110]);
    let mut methods = waf::engine::RuleSettings::default().allowed_methods;
    methods.push("PUT".into());
    let with_put = site(engine, &RuleSettings { allowed_methods: methods, ..settings() });
    assert_eq!(explain(&with_put, &request("PUT", "/api/v1/doc/1")).verdict, VerdictKind::Pass);
    assert_eq!(explain(&with_put, &request("DELETE", "/api/v1/doc/1")).verdict, VerdictKind::Block);

    let json = post("/api/v1/appeals", "application/json", br#"{"city":"Astana"}"#);
    assert_eq!(explain(&default, &json).verdict, VerdictKind::Pass);
    let no_json = site(
        engine,
        &RuleSettings { allowed_content_types: vec!["application/x-www-form-urlencoded".into()], ..settings() },
    );
    assert_eq!(explain(&no_json, &json).rules, [920420, 949110]);
}

#[test]
fn a_body_over_the_limit_is_refused_or_inspected_in_part() {
    let Some(engine) = engine() else { return };
    let filler = "a".repeat(3000);
    let attack_late = format!("text={filler}&q=1%27%20or%20%271%27%3D%271");
    let attack_early = format!("q=1%27%20or%20%271%27%3D%271&text={filler}");
    let form = "application/x-www-form-urlencoded";

    let refuse = site(engine, &RuleSettings { body_limit: 1024, ..settings() });
    let plain = post("/feedback/", form, format!("text={filler}").as_bytes());
    let verdict = explain(&refuse, &plain);
    // libmodsecurity 3.0.9 refuses a body over SecRequestBodyLimit with 403.
    assert_eq!((verdict.verdict, verdict.status), (VerdictKind::Block, Some(403)));
    assert_eq!(explain(&site(engine, &settings()), &plain).verdict, VerdictKind::Pass);

    let part = site(engine, &RuleSettings { body_limit: 1024, over_body_limit: OverLimit::InspectPart, ..settings() });
    assert_eq!(explain(&part, &post("/feedback/", form, attack_early.as_bytes())).verdict, VerdictKind::Block);
    // Past the limit nothing is inspected: the site chose so.
    assert_eq!(explain(&part, &post("/feedback/", form, attack_late.as_bytes())).verdict, VerdictKind::Pass);
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A request that passes, then a response that leaks an SQL error.
fn leak(rules: &SiteRules) -> (Step, Step, waf::engine::Outcome) {
    let mut tx = rules.begin("leak-1", addr("198.51.100.7:50000"), addr("192.0.2.1:443"));
    let mut headers = HeaderMap::new();
    headers.insert("host", "portal.example.kz".parse().unwrap());
    headers.insert("user-agent", "Mozilla/5.0".parse().unwrap());
    headers.insert("accept", "text/html".parse().unwrap());
    assert_eq!(tx.request_head("GET", "/news/?id=7", "HTTP/1.1", &headers), Step::Continue);
    assert_eq!(tx.request_body(b""), Step::Continue);
    let mut response = HeaderMap::new();
    response.insert("content-type", "text/html; charset=utf-8".parse().unwrap());
    let head = tx.response_head(200, "HTTP/1.1", &response);
    let body = tx.response_body(b"<html><body>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '' at line 1</body></html>");
    (head, body, tx.finish())
}

#[test]
fn responses_are_inspected_only_when_the_site_asks() {
    let Some(engine) = engine() else { return };
    let (head, body, outcome) = leak(&site(engine, &settings()));
    assert_eq!((head, body), (Step::Continue, Step::Continue));
    assert_eq!((outcome.outbound_score, outcome.matches.len(), outcome.blocked), (0, 0, false));

    let inspecting = site(engine, &RuleSettings { inspect_responses: true, ..settings() });
    let (head, body, outcome) = leak(&inspecting);
    assert_eq!(head, Step::Continue);
    assert_eq!(body, Step::Intervene { status: 403 });
    assert!(outcome.blocked);
    assert!(outcome.outbound_score >= 4, "{outcome:?}");
    let ids: Vec<u32> = outcome.matches.iter().map(|m| m.id).collect();
    assert!(ids.iter().any(|id| (951000..952000).contains(id)) && ids.contains(&959100), "{ids:?}");
}

#[test]
fn after_an_intervention_every_step_repeats_it() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &settings());
    let mut tx = rules.begin("sticky-1", addr("198.51.100.7:50000"), addr("192.0.2.1:443"));
    let mut headers = HeaderMap::new();
    headers.insert("host", "portal.example.kz".parse().unwrap());
    headers.insert("user-agent", "sqlmap/1.7.2#stable (https://sqlmap.org)".parse().unwrap());
    headers.insert("accept", "*/*".parse().unwrap());
    assert_eq!(tx.request_head("GET", "/", "1.1", &headers), Step::Continue);
    assert_eq!(tx.request_body(b""), Step::Intervene { status: 403 });
    assert_eq!(tx.response_head(200, "1.1", &HeaderMap::new()), Step::Intervene { status: 403 });
    assert_eq!(tx.response_body(b"x"), Step::Intervene { status: 403 });
    let outcome = tx.finish();
    assert!(outcome.blocked);
    assert_eq!(outcome.matches.iter().map(|m| m.id).collect::<Vec<_>>(), [913100, 949110]);
    assert!(outcome.matches[0].data.contains("sqlmap"), "{:?}", outcome.matches[0]);
}

#[test]
fn a_virtual_patch_applies() {
    let Some(engine) = engine() else { return };
    let patch = r#"# The news page takes a numeric id only.
SecRule REQUEST_FILENAME "@streq /news/" \
    "id:20001,phase:2,deny,status:403,log,msg:'news id must be numeric',chain"
    SecRule ARGS:id "!@rx ^[0-9]{1,9}$" "t:none""#;
    let rules = site(engine, &RuleSettings { patches: vec![patch.into()], ..settings() });
    let verdict = explain(&rules, &request("GET", "/news/?id=7a"));
    assert_eq!((verdict.verdict, verdict.rules.as_slice()), (VerdictKind::Block, [20001].as_slice()));
    assert_eq!(verdict.outcome.matches[0].message, "news id must be numeric");
    assert_eq!(explain(&rules, &request("GET", "/news/?id=7")).verdict, VerdictKind::Pass);
}

#[test]
fn a_patch_that_does_not_load_is_refused_with_the_engines_message() {
    let Some(engine) = engine() else { return };
    let good = "SecRule ARGS:id \"!@rx ^[0-9]+$\" \"id:20001,phase:2,deny,log\"".to_string();
    let current = site(engine, &RuleSettings { patches: vec![good.clone()], ..settings() });

    let cases = [
        ("SecRule ARGS \"@rx x\" \"phase:2,deny\"", "Rules must have an ID"),
        ("SecRule ARGS \"@rx x\" \"id:20002,phase:2,nosuchaction\"", "nosuchaction"),
        ("SecRule ARGS", "syntax error"),
        ("SecAction \"id:20002,phase:9,deny\"", "Unknown phase: 9"),
        ("SecRule NOSUCHVAR \"@rx x\" \"id:20002,deny\"", "Expecting a variable"),
        ("SecRule ARGS \"@rx x\" \"id:20002,t:nosuch,deny\"", "Expecting an action"),
        ("SecRule ARGS \"@rx x\" \"id:942100,phase:2,deny\"", "942100"),
        ("SecRuleEngine Off", "not allowed in a virtual patch"),
    ];
    for (bad, expected) in cases {
        let settings = RuleSettings { patches: vec![good.clone(), bad.into()], ..settings() };
        match SiteRules::compile(engine, "portal.example.kz", &settings) {
            Err(RulesError::Patch { index: 1, message, .. }) => {
                assert!(message.contains(expected), "patch {bad:?}: {message}")
            }
            Err(other) => panic!("patch {bad:?}: refused for another reason: {other}"),
            Ok(_) => panic!("patch {bad:?} was accepted"),
        }
    }
    // The rules in use are untouched.
    assert_eq!(explain(&current, &request("GET", "/?id=x")).rules, [20001]);
    assert_eq!(explain(&current, &request("GET", "/?id=1")).verdict, VerdictKind::Pass);
}

#[test]
fn settings_that_cannot_be_written_as_rules_are_refused() {
    let Some(engine) = engine() else { return };
    let bad = RuleSettings {
        exclusions: vec![Exclusion { rule: 942100, target: Some("ARGS:a\" \"id:1".into()) }],
        ..settings()
    };
    let err = SiteRules::compile(engine, "portal.example.kz", &bad).err().expect("refused");
    assert!(matches!(&err, RulesError::Settings { field, .. } if field == "exclusions[0].target"), "{err}");
}
