//! The control-plane API of a running `perimeter up`, driven with curl: tokens and
//! roles, list upload and export, lookups that follow imports at once, refusals.

mod common;

use common::{Env, eventually};

#[test]
fn every_endpoint_needs_a_live_token() {
    let env = Env::new();
    env.cast();
    let duty = env.token("duty-1", &["--duty"]);
    let server = env.up();
    for path in ["/api/v1/operators", "/api/v1/lookup/192.0.2.1", "/api/v1/audit", "/api/v1/operators/alpha/prefixes"] {
        let none = server.call("GET", path, None, None);
        assert_eq!(none.status, 401, "{path}: {none:?}");
        assert!(none.json()["error"].as_str().unwrap().contains("Authorization"), "{none:?}");
        let wrong = server.call("GET", path, Some("pmt_0000"), None);
        assert_eq!(wrong.status, 401, "{path}");
    }
    assert_eq!(server.get("/api/v1/whoami", &duty).json()["role"]["role"], "duty");
    env.ok(&["token", "revoke", "duty-1"]);
    assert_eq!(server.get("/api/v1/whoami", &duty).status, 401, "a revoked token is refused");
    let listed = env.ok(&["token", "list"]);
    assert!(listed.contains("duty-1") && listed.contains("revoked") && !listed.contains("pmt_"), "{listed}");
    assert_eq!(server.get("/api/v1/nothing-here", &duty).status, 401, "unknown routes reveal nothing without a token");
}

#[test]
fn an_operator_sees_and_changes_only_its_own_data() {
    let env = Env::new();
    let cast = env.cast();
    let alpha = env.token("alpha-upload", &["--operator", "alpha"]);
    let beta = env.token("beta-upload", &["--operator", "beta"]);
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();

    let list = env.write("alpha.csv", &format!("203.0.113.0/24,{}\n", cast.a));
    let upload = server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&list, "text/csv")));
    assert_eq!(upload.status, 200, "{upload:?}");
    assert_eq!(upload.json()["applied"], true);

    let foreign = server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&beta), Some((&list, "text/csv")));
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert!(foreign.json()["error"].as_str().unwrap().contains("may not see or change operator 'alpha'"));
    assert_eq!(server.get("/api/v1/operators/alpha/prefixes", &beta).status, 403);
    assert_eq!(server.get("/api/v1/operators/alpha", &beta).status, 403);
    let ops = server.get("/api/v1/operators", &beta).json();
    assert_eq!(ops.as_array().unwrap().len(), 1, "{ops}");
    assert_eq!(ops[0]["name"], "beta");
    let orgs = server.get("/api/v1/organisations", &beta).json();
    assert!(
        orgs.as_array().unwrap().iter().all(|o| o["bin"] != cast.a.as_str()),
        "alpha-only organisation hidden: {orgs}"
    );

    eventually("the upload is visible to lookups", || {
        server.get("/api/v1/lookup/203.0.113.9", &duty).json()["status"] == "known"
    });
    assert_eq!(server.get("/api/v1/lookup/203.0.113.9", &alpha).json()["organisation"]["bin"], cast.a.as_str());
    assert_eq!(server.get("/api/v1/lookup/203.0.113.9", &beta).status, 404, "beta cannot read alpha's assignment");
    assert_eq!(server.get("/api/v1/history/203.0.113.9", &beta).json(), serde_json::json!([]));
    assert_eq!(server.get("/api/v1/audit?subject=operator:alpha", &beta).status, 403);
    let own_audit = server.get("/api/v1/audit", &alpha).json();
    assert!(own_audit.as_array().unwrap().iter().all(|c| c["subject"] == "operator:alpha"), "{own_audit}");
    assert_eq!(own_audit[0]["actor"], "token:alpha-upload");

    let new_op = env.write("op.json", r#"{"name": "gamma", "links": ["gamma-1"]}"#);
    assert_eq!(server.call("POST", "/api/v1/operators", Some(&alpha), Some((&new_op, "application/json"))).status, 403);
    assert_eq!(server.call("POST", "/api/v1/operators", Some(&duty), Some((&new_op, "application/json"))).status, 201);
}

#[test]
fn uploads_are_checked_whole_and_lookups_follow_at_once() {
    let env = Env::new();
    let cast = env.cast();
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let server = env.up();

    let bad = env.write(
        "bad.json",
        &format!(r#"[{{"prefix": "10.0.0.1/8", "bin": "{a}"}}, {{"prefix": "::1/128", "bin": "{a}"}}]"#, a = cast.a),
    );
    let refused =
        server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&bad, "application/json")));
    assert_eq!(refused.status, 422, "{refused:?}");
    let body = refused.json();
    assert!(body["error"].as_str().unwrap().contains("2 problem(s); nothing was applied"), "{body}");
    assert_eq!(body["problems"][0]["line"], 1);
    assert_eq!(body["problems"][0]["field"], "prefix");
    assert!(body["problems"][0]["message"].as_str().unwrap().contains("the network is 10.0.0.0/8"), "{body}");
    assert!(body["problems"][1]["message"].as_str().unwrap().contains("loopback"), "{body}");

    let good = env.write(
        "good.json",
        &format!(r#"[{{"prefix": "2001:db8:aa::/48", "bin": "{b}", "comment": "v6"}}]"#, b = cast.b),
    );
    let dry = server.call(
        "PUT",
        "/api/v1/operators/alpha/prefixes?dry_run=true",
        Some(&alpha),
        Some((&good, "application/json")),
    );
    assert_eq!(dry.json()["applied"], false);
    assert_eq!(dry.json()["diff"]["added"][0]["prefix"], "2001:db8:aa::/48");
    assert_eq!(server.get("/api/v1/lookup/2001:db8:aa::1", &alpha).status, 404, "not (yet) in alpha's list");

    let applied =
        server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&good, "application/json")));
    assert_eq!(applied.json()["applied"], true);
    eventually("the import is looked up", || {
        server.get("/api/v1/lookup/2001:db8:aa::1", &alpha).json()["status"] == "known"
    });
    let export = server.get("/api/v1/operators/alpha/prefixes?format=csv", &alpha);
    assert_eq!(export.body.replace("\r\n", "\n"), format!("prefix,bin,comment\n2001:db8:aa::/48,{},v6\n", cast.b));

    let text = env.write("odd.txt", "x");
    let unsupported =
        server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&text, "application/xml")));
    assert_eq!(unsupported.status, 415);
    assert_eq!(server.get("/api/v1/lookup/not-an-ip", &alpha).status, 400);
}

#[test]
fn changes_made_from_the_cli_reach_a_running_server() {
    let env = Env::new();
    let cast = env.cast();
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    assert_eq!(server.get("/api/v1/lookup/198.51.100.20", &duty).json()["status"], "unknown");
    let list = env.write("beta.csv", &format!("198.51.100.0/24,{}\n", cast.c));
    env.ok(&["catalog", "import", "--operator", "beta", list.to_str().unwrap()]);
    eventually("the running server picks up the CLI import", || {
        server.get("/api/v1/lookup/198.51.100.20", &duty).json()["operator"] == "beta"
    });
}

/// What an operator learns of another operator's data: nothing but "not yours".
#[test]
fn operators_learn_nothing_of_each_other() {
    let env = Env::new();
    let cast = env.cast();
    let (alpha, beta) = (env.token("alpha", &["--operator", "alpha"]), env.token("beta", &["--operator", "beta"]));
    env.ok(&["org", "add", "--bin", &common::bin("98014000004"), "--name", "Unconnected D", "--operator", "alpha"]);
    let server = env.up();
    let list = env.write("alpha.csv", &format!("203.0.113.0/24,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", list.to_str().unwrap()]);
    env.ok(&["block", "add", "203.0.113.9", "--reason", "incident 77 at alpha"]);
    env.ok(&["block", "add", "192.0.2.9", "--reason", "incident 78 elsewhere"]);

    // A lookup: another operator's address, a blocked one of theirs and an address in no
    // list get one and the same answer; the block reason stays with its operator.
    eventually("the block is in force", || {
        server.get("/api/v1/lookup/203.0.113.9", &alpha).json()["status"] == "blocked"
    });
    let mine = server.get("/api/v1/lookup/203.0.113.9", &alpha).json();
    assert_eq!(mine["reason"], "incident 77 at alpha", "an operator sees blocks of its own addresses: {mine}");
    let answers: Vec<(u16, String)> = ["203.0.113.8", "203.0.113.9", "192.0.2.9", "198.18.0.1"]
        .iter()
        .map(|ip| {
            let r = server.get(&format!("/api/v1/lookup/{ip}"), &beta);
            (r.status, r.json()["error"].as_str().unwrap_or_default().replace(ip, "IP"))
        })
        .collect();
    assert!(answers.iter().all(|a| *a == answers[0] && a.0 == 404), "{answers:?}");
    assert!(!format!("{answers:?}").contains("incident"), "{answers:?}");
    let alpha_blocks = server.get("/api/v1/blocks", &alpha).json();
    assert_eq!(alpha_blocks.as_array().map(Vec::len), Some(1), "the manual block on alpha's address: {alpha_blocks}");
    assert_eq!(server.get("/api/v1/blocks", &beta).json(), serde_json::json!([]));

    // An import: an overlap with another operator's prefix and an organisation that is
    // not the operator's are refused without naming whose or which.
    let probe = env.write(
        "probe.csv",
        &format!(
            "203.0.113.128/25,{c}\n198.51.100.0/24,{a}\n198.51.101.0/24,{d}\n",
            c = cast.c,
            a = cast.a,
            d = common::bin("98014000004")
        ),
    );
    let refused =
        server.call("PUT", "/api/v1/operators/beta/prefixes?dry_run=true", Some(&beta), Some((&probe, "text/csv")));
    assert_eq!(refused.status, 422, "{refused:?}");
    let text = refused.body;
    for secret in ["alpha", "203.0.113.0/24", "Ministry A", "Unconnected D", "registered"] {
        let leaks = text.replace("registered operator", "").replace("another operator has registered", "");
        assert!(!leaks.contains(secret), "the refusal names {secret}: {text}");
    }
    assert!(text.contains("overlaps a prefix another operator has registered"), "{text}");
    assert_eq!(text.matches("is connected through operator 'beta'").count(), 2, "{text}");
}

/// A list of junk is refused in bounded memory with a bounded answer that says how
/// many problems were not shown.
#[test]
fn a_junk_upload_gets_a_bounded_answer() {
    let env = Env::new();
    env.cast();
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let server = env.up();
    let junk = env.write("junk.csv", &"x,y,z,w\n".repeat(300_000));
    let refused =
        server.call("PUT", "/api/v1/operators/alpha/prefixes?dry_run=true", Some(&alpha), Some((&junk, "text/csv")));
    assert_eq!(refused.status, 422);
    let body = refused.json();
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(1000));
    assert_eq!(body["more_problems"], 299_000);
    assert!(body["error"].as_str().unwrap().contains("300000 problem(s)"), "{body}");
    assert!(refused.body.len() < 200_000, "the answer is bounded: {} bytes", refused.body.len());
}

/// A list over the configured body limit is refused with 413 without being read whole.
#[test]
fn an_upload_over_the_limit_is_refused_with_413() {
    let mut env = Env::new();
    env.cast();
    env.configure("[api]\nmax_body_mib = 1\n");
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let server = env.up();
    let big = env.write("big.csv", &"# comment line that is only padding\n".repeat(60_000));
    let refused = server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&big, "text/csv")));
    assert_eq!(refused.status, 413, "{refused:?}");
    assert!(refused.json()["error"].as_str().unwrap().contains("max_body_mib"), "{refused:?}");
}
