//! The project's own cases through the engine at the default settings (paranoia 1,
//! block): every attack in `data/attacks.jsonl` is refused with a rule of its expected
//! family, and every request of the benign corpus `data/benign.jsonl` (government-site
//! traffic in Kazakh and Russian, written by `data/make_benign.py`) passes.

mod common;

use base64::Engine as _;
use common::{engine, site};
use serde_json::Value;
use waf::engine::{RuleSettings, TestRequest, Verdict, VerdictKind, explain};

/// Reads one case: method, uri, headers as [name, value] pairs, body as text or base64.
fn case(line: &str) -> (String, TestRequest, Value) {
    let v: Value = serde_json::from_str(line).expect("a JSON case per line");
    let mut req = TestRequest::new(v["method"].as_str().unwrap(), v["uri"].as_str().unwrap());
    for pair in v["headers"].as_array().into_iter().flatten() {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        req.headers.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    if let Some(body) = v["body"].as_str() {
        req.body = body.as_bytes().to_vec();
    } else if let Some(body) = v["body_b64"].as_str() {
        req.body = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    }
    if !req.body.is_empty() {
        req.headers.insert(http::header::CONTENT_LENGTH, req.body.len().into());
    }
    (v["name"].as_str().unwrap_or("case").to_string(), req, v)
}

fn describe(name: &str, req: &TestRequest, verdict: &Verdict) -> String {
    let matches: Vec<String> =
        verdict.outcome.matches.iter().map(|m| format!("{} ({}: {})", m.id, m.message, m.data)).collect();
    format!("{name} {} {}: score {} {:?}", req.method, req.uri, verdict.score, matches)
}

#[test]
fn the_benign_corpus_passes_at_paranoia_1() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    let lines: Vec<&str> = include_str!("data/benign.jsonl").lines().collect();
    assert!(lines.len() >= 1000, "the corpus has {} requests", lines.len());
    let mut refused = Vec::new();
    let mut cyrillic = 0;
    for line in &lines {
        let (name, req, _) = case(line);
        let encoded = ["%D0", "%D1", "%D2", "%D3"].iter().any(|p| line.contains(p));
        cyrillic += usize::from(encoded || line.chars().any(|c| ('\u{400}'..='\u{4ff}').contains(&c)));
        let verdict = explain(&rules, &req);
        if verdict.verdict != VerdictKind::Pass || !verdict.rules.is_empty() {
            refused.push(describe(&name, &req, &verdict));
        }
    }
    assert!(cyrillic >= 600, "only {cyrillic} requests carry Cyrillic text");
    assert!(
        refused.is_empty(),
        "{} of {} benign requests matched:\n{}",
        refused.len(),
        lines.len(),
        refused.join("\n")
    );
}

#[test]
fn every_attack_is_refused_by_its_rule_family() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    let mut wrong = Vec::new();
    let lines: Vec<&str> = include_str!("data/attacks.jsonl").lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 50, "the attack cases: {}", lines.len());
    for line in &lines {
        let (name, req, v) = case(line);
        let family = v["family"].as_str().expect("each attack names its rule family, e.g. 942");
        let verdict = explain(&rules, &req);
        let of_family = verdict.rules.iter().any(|id| id.to_string().starts_with(family));
        if verdict.verdict != VerdictKind::Block || !of_family || !verdict.rules.contains(&949110) {
            wrong.push(format!("expected {family}xxx: {}", describe(&name, &req, &verdict)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} attacks not refused as expected:\n{}",
        wrong.len(),
        lines.len(),
        wrong.join("\n")
    );
}
