//! Defacement protection's CLI and API on the store, without a site to reach: a site is
//! added with its secret read from a file (never shown back), its owner checked first
//! (an unknown organisation or a bad contact records nothing), listed, shown, removed;
//! the API lets the duty team see and add sites and an organisation see only its own
//! (another's answers 404, as a site that does not exist), and `/metrics` carries the
//! service's counters while `/readyz` stays ready with no site.

mod common;

use common::Env;
use serde_json::Value;

const SECRET: &str = "pw-never-shown-7";

fn add(env: &Env, domain: &str, org: &str) -> std::process::Output {
    let password = env.write("password", &format!("{SECRET}\n"));
    env.run(&[
        "deface",
        "site",
        "add",
        domain,
        "--sftp",
        "sftp://web@192.0.2.80/var/www",
        "--password-file",
        password.to_str().unwrap(),
        "--page",
        &format!("https://{domain}/"),
        "--mask",
        &format!("https://{domain}/ #news"),
        "--org",
        org,
        "--contact",
        &format!("webmaster@{domain}"),
    ])
}

#[test]
fn sites_are_added_shown_and_removed_with_their_secret_never_shown() {
    let env = Env::new();
    let cast = env.cast();
    let unknown = common::bin("98014000009");
    let refused = add(&env, "a.example.kz", &unknown);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("org:"), "{why}");
    assert_eq!(env.ok(&["deface", "site", "list", "--json"]).trim(), "[]", "nothing recorded");

    let out = add(&env, "a.example.kz", &cast.a);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = add(&env, "a.example.kz", &cast.a);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already protected"));

    let list: Value = serde_json::from_str(&env.ok(&["deface", "site", "list", "--json"])).unwrap();
    assert_eq!(list[0]["domain"], "a.example.kz");
    assert_eq!(list[0]["state"], "new");
    let shown = env.ok(&["deface", "site", "show", "a.example.kz", "--json"]);
    let site: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(site["owner"]["org"], cast.a.as_str());
    assert_eq!(site["owner"]["contacts"][0], "webmaster@a.example.kz");
    assert_eq!(site["site"]["spec"]["pages"][0]["masks"][0]["selector"], "#news", "{shown}");
    let text = env.ok(&["deface", "site", "show", "a.example.kz"]);
    assert!(text.contains("not pinned yet") && text.contains(&cast.a), "{text}");
    let audit = env.ok(&["audit", "--json", "--limit", "100"]);
    for seen in [&shown, &text, &audit, &env.ok(&["deface", "site", "list"])] {
        assert!(!seen.contains(SECRET), "the secret is never shown: {seen}");
    }

    let bad_mask = env.run(&[
        "deface",
        "site",
        "add",
        "b.example.kz",
        "--sftp",
        "sftp://w@h/x",
        "--password-file",
        env.path("password").to_str().unwrap(),
        "--mask",
        "https://b.example.kz/ div[",
    ]);
    assert!(String::from_utf8_lossy(&bad_mask.stderr).contains("mask 'div['"), "{bad_mask:?}");
    let no_key = env.fails(&["deface", "hostkey", "a.example.kz", "confirm"]);
    assert!(no_key.contains("no host key pinned yet"), "{no_key}");

    env.ok(&["deface", "site", "remove", "a.example.kz"]);
    assert_eq!(env.ok(&["deface", "site", "list", "--json"]).trim(), "[]");
    assert!(env.fails(&["deface", "site", "show", "a.example.kz"]).contains("a.example.kz"));
}

#[test]
fn the_api_shows_an_organisation_only_its_own_sites() {
    let env = Env::new();
    let cast = env.cast();
    assert!(add(&env, "a.example.kz", &cast.a).status.success());
    assert!(add(&env, "b.example.kz", &cast.b).status.success());
    let duty = env.token("duty", &["--duty"]);
    let org_a = env.token("ministry-a", &["--organisation", &cast.a]);
    let operator = env.token("alpha-noc", &["--operator", "alpha"]);
    let mut server = env.up();

    let all = server.get("/api/v1/deface/sites", &duty);
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.json().as_array().unwrap().len(), 2);
    let own = server.get("/api/v1/deface/sites", &org_a);
    assert_eq!(own.status, 200, "{}", own.body);
    let own = own.json();
    let domains: Vec<&str> = own.as_array().unwrap().iter().map(|s| s["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["a.example.kz"]);
    assert_eq!(server.get("/api/v1/deface/sites/a.example.kz", &org_a).status, 200);
    let other = server.get("/api/v1/deface/sites/b.example.kz", &org_a);
    let missing = server.get("/api/v1/deface/sites/c.example.kz", &org_a);
    assert_eq!((other.status, missing.status), (404, 404));
    assert_eq!(other.body.replace("b.example.kz", "X"), missing.body.replace("c.example.kz", "X"), "nothing learnt");
    let window = env.write("window.json", r#"{"open": true}"#);
    let put = server.call(
        "PUT",
        "/api/v1/deface/sites/b.example.kz/window",
        Some(&org_a),
        Some((&window, "application/json")),
    );
    assert_eq!(put.status, 404, "{}", put.body);
    assert_eq!(server.get("/api/v1/deface/sites", &operator).status, 403);
    let removal = server.call("DELETE", "/api/v1/deface/sites/a.example.kz", Some(&org_a), None);
    assert_eq!(removal.status, 403, "only the duty team removes: {}", removal.body);

    let new = env.write(
        "site.json",
        &format!(r#"{{"domain": "c.example.kz", "access": "sftp://web@192.0.2.81/srv", "secret": "{SECRET}", "org": "{}", "contacts": ["w@c.example.kz"]}}"#, cast.a),
    );
    let by_org = server.call("POST", "/api/v1/deface/sites", Some(&org_a), Some((&new, "application/json")));
    assert_eq!(by_org.status, 403, "{}", by_org.body);
    let added = server.call("POST", "/api/v1/deface/sites", Some(&duty), Some((&new, "application/json")));
    assert_eq!(added.status, 201, "{}", added.body);
    assert!(!added.body.contains(SECRET));
    assert_eq!(server.get("/api/v1/deface/sites", &org_a).json().as_array().unwrap().len(), 2);

    let metrics = server.get("/api/v1/metrics", &duty);
    assert!(metrics.body.contains("deface_cycles_total"), "{}", metrics.body);
    let ready = server.call("GET", "/readyz", None, None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    let doc = server.call("GET", "/api/v1/openapi.json", None, None);
    assert!(doc.body.contains("/api/v1/deface/sites/{domain}/window"));
    server.terminate();
}
