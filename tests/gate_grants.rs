//! The duty team's grants of services besides the web proxy (rule 15-2) through the API
//! of a running `perimeter up` and the CLI, driven with curl: only the duty team grants
//! and revokes (others are refused before their body is read), each field is checked and
//! named, every change is audited as `gate-grant:ID`, and the CLI and the API see the
//! same records. What a grant lets through the kernel is tested in `tests/gate.rs`.

mod common;

use common::Env;

#[test]
fn only_the_duty_team_grants_and_revokes_services() {
    let env = Env::new();
    let cast = env.cast();
    let duty = env.token("duty", &["--duty"]);
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let server = env.up();
    let body = |name: &str, json: &str| env.write(name, json);

    let grant = body(
        "grant.json",
        &format!(
            r#"{{"bin": "{}", "proto": "udp", "ports": "1194,51820", "to": ["203.0.113.0/24"], "reason": "ticket 12", "until": "2099-12-31"}}"#,
            cast.a
        ),
    );
    let none = server.call("POST", "/api/v1/gate/grants", None, Some((&grant, "application/json")));
    assert_eq!(none.status, 401, "{none:?}");
    let operator = server.call("POST", "/api/v1/gate/grants", Some(&alpha), Some((&grant, "application/json")));
    assert_eq!(operator.status, 403, "an operator may not grant: {operator:?}");
    assert_eq!(server.get("/api/v1/gate/grants", &alpha).status, 403, "nor list grants");
    let huge = body("huge.json", &"x".repeat(1 << 20));
    let refused = server.call("POST", "/api/v1/gate/grants", Some(&alpha), Some((&huge, "application/json")));
    assert_eq!(refused.status, 403, "refused before its body is read: {refused:?}");
    let too_big = server.call("POST", "/api/v1/gate/grants", Some(&duty), Some((&huge, "application/json")));
    assert_eq!(too_big.status, 413, "{too_big:?}");

    let added = server.call("POST", "/api/v1/gate/grants", Some(&duty), Some((&grant, "application/json")));
    assert_eq!(added.status, 201, "{added:?}");
    let added = added.json();
    let id = added["id"].as_i64().expect("an id");
    assert_eq!(added["service"]["proto"], "udp", "{added}");
    assert_eq!(added["service"]["ports"], serde_json::json!(["1194", "51820"]), "{added}");
    assert_eq!(added["service"]["to"], serde_json::json!(["203.0.113.0/24"]), "{added}");
    assert_eq!(added["bin"], cast.a.as_str());

    let listed = server.get("/api/v1/gate/grants", &duty).json();
    assert_eq!(listed[0]["id"], id, "{listed}");
    assert_eq!(listed[0]["state"], "live", "{listed}");
    let cli = env.ok(&["gate", "grant", "list"]);
    assert!(
        cli.contains("live") && cli.contains("udp 1194,51820 to 203.0.113.0/24") && cli.contains("ticket 12"),
        "{cli}"
    );

    for (json, status, says) in [
        (r#"{"bin": "BIN", "proto": "gre", "ports": "1", "reason": "r"}"#, 400, "proto"),
        (r#"{"bin": "BIN", "proto": "tcp", "ports": "0", "reason": "r"}"#, 400, "ports"),
        (r#"{"bin": "BIN", "proto": "tcp", "ports": "22", "to": ["203.0.113.1/24"], "reason": "r"}"#, 400, "to: "),
        (r#"{"bin": "BIN", "proto": "tcp", "ports": "22", "reason": "r", "until": "soon"}"#, 400, "until"),
        (r#"{"bin": "BIN", "proto": "tcp", "ports": "22", "reason": "r", "extra": 1}"#, 400, "extra"),
        (r#"{"bin": "BIN", "proto": "tcp", "ports": "22", "reason": "  "}"#, 422, "reason"),
        (r#"{"bin": "BIN", "proto": "tcp", "ports": "22", "reason": "r", "until": "2001-01-01"}"#, 422, "passed"),
        (r#"{"bin": "OTHER", "proto": "tcp", "ports": "22", "reason": "r"}"#, 404, "organisation"),
    ] {
        let other = common::bin("98014000099");
        let json = json.replace("OTHER", &other).replace("BIN", &cast.a);
        let file = body("bad.json", &json);
        let reply = server.call("POST", "/api/v1/gate/grants", Some(&duty), Some((&file, "application/json")));
        assert_eq!(reply.status, status, "{json}: {reply:?}");
        assert!(reply.body.contains(says), "{json}: {says} in {reply:?}");
    }
    assert_eq!(server.get("/api/v1/gate/grants?all=true", &duty).json().as_array().map(Vec::len), Some(1));

    let revoke = body("revoke.json", r#"{"reason": "ticket 12 closed"}"#);
    let path = format!("/api/v1/gate/grants/{id}/revoke");
    assert_eq!(server.call("POST", &path, Some(&alpha), Some((&revoke, "application/json"))).status, 403);
    let revoked = server.call("POST", &path, Some(&duty), Some((&revoke, "application/json")));
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(revoked.json()["revoke_reason"], "ticket 12 closed");
    let again = server.call("POST", &path, Some(&duty), Some((&revoke, "application/json")));
    assert_eq!(again.status, 409, "{again:?}");
    let missing =
        server.call("POST", "/api/v1/gate/grants/999/revoke", Some(&duty), Some((&revoke, "application/json")));
    assert_eq!(missing.status, 404, "{missing:?}");

    assert_eq!(
        server.get("/api/v1/gate/grants", &duty).json(),
        serde_json::json!([]),
        "a revoked grant leaves the list"
    );
    let all = server.get("/api/v1/gate/grants?all=true", &duty).json();
    assert_eq!(all[0]["state"], "revoked", "{all}");
    let audit = env.ok(&["audit", "--subject", &format!("gate-grant:{id}")]);
    assert!(audit.contains("gate.grant.add") && audit.contains("gate.grant.revoke"), "{audit}");
}

#[test]
fn the_cli_grants_and_revokes_with_every_field_checked() {
    let env = Env::new();
    let cast = env.cast();
    let added = env.ok(&[
        "gate",
        "grant",
        "add",
        &cast.b,
        "--proto",
        "tcp",
        "--ports",
        "8443",
        "--to",
        "198.51.100.0/24",
        "2001:db8::/32",
        "--reason",
        "remote desk",
        "--until",
        "2099-01-01",
    ]);
    assert!(added.starts_with("grant "), "{added}");
    assert!(added.contains("tcp 8443 to 198.51.100.0/24, 2001:db8::/32"), "{added}");
    let id = added.split_whitespace().nth(1).expect("grant N:").trim_end_matches(':').to_owned();
    for (args, says) in [
        (vec!["--proto", "icmp", "--ports", "1", "--reason", "r"], "ICMP"),
        (vec!["--proto", "udp", "--ports", "70000", "--reason", "r"], "ports"),
        (vec!["--proto", "udp", "--ports", "53", "--reason", "r", "--until", "2001-01-01"], "passed"),
    ] {
        let mut all = vec!["gate", "grant", "add", cast.b.as_str()];
        all.extend(args);
        let out = env.run(&all);
        assert!(!out.status.success(), "{all:?} is refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{says} in {err}");
    }
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["gate", "grant", "list", "--json"])).expect("grant list prints JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["state"], "live");
    env.ok(&["gate", "grant", "revoke", &id, "--reason", "done"]);
    let refused = env.run(&["gate", "grant", "revoke", &id, "--reason", "again"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("revoked already"));
    assert!(env.ok(&["gate", "grant", "list", "--all"]).contains("revoked"));
}

/// An applied risky-service application of the desk is a grant of its category's
/// services (`[gate] risky`) to the applicant: `gate explain` names it once it is
/// applied, not before, and only for the applicant's sources.
#[test]
fn an_applied_risky_service_application_opens_its_category() {
    let env = Env::new();
    let cast = env.cast();
    env.write("a.csv", &format!("198.51.100.0/25,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", env.path("a.csv").to_str().expect("utf-8")]);
    env.write("b.csv", &format!("192.0.2.0/25,{}\n", cast.c));
    env.ok(&["catalog", "import", "--operator", "beta", env.path("b.csv").to_str().expect("utf-8")]);
    let applicant = format!("org:{}", cast.a);
    let view: serde_json::Value = serde_json::from_str(&env.ok(&[
        "request",
        "file",
        "risky-service",
        "--applicant",
        &applicant,
        "--contact",
        "it@a.example",
        "--json",
        "--set",
        "category=vpn",
        "--set",
        "purpose=remote staff",
    ]))
    .expect("request file prints JSON");
    let id = view["id"].as_i64().expect("an id");
    let grant = format!("request {id} (risky category vpn");
    let filed = env.ok(&["gate", "explain", "198.51.100.2"]);
    assert!(!filed.contains(&grant), "filed is not yet applied:\n{filed}");
    assert!(filed.contains("reached only by a grant"), "{filed}");

    env.ok(&["request", "apply", &id.to_string()]);
    let applied = env.ok(&["gate", "explain", "198.51.100.2"]);
    assert!(applied.contains(&grant) && applied.contains("remote staff): passed"), "{applied}");
    assert!(applied.contains("udp 500,1194,4500,51820 to anywhere"), "the default vpn services:\n{applied}");
    let other = env.ok(&["gate", "explain", "192.0.2.2"]);
    assert!(!other.contains(&grant), "only the applicant's sources:\n{other}");
}
