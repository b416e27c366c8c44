//! The web gateway end to end, as a user runs it: `perimeter up` with the catalog, a
//! category list and a policy book; a workstation in its own network namespace
//! (198.51.100.2, catalogued for organisation A) using the exported root certificate
//! and the explicit proxy; origin servers (`openssl s_server`) with certificates from a
//! test CA that only the gateway trusts. Needs root (network namespaces), iproute2,
//! curl and openssl; the test script installs them.

mod common;

use std::process::Stdio;

use common::netns::{HOST_SIDE, Netns, STRANGER, WORKSTATION};
use common::origin::origin;
use common::{Env, eventually, free_port};

#[test]
fn exempt_sites_pass_untouched_others_are_inspected_and_denied_ones_blocked() {
    assert!(
        common::netns::is_root(),
        "this test needs root to create a network namespace (run the test script as root)"
    );
    let mut env = Env::new();
    let cast = env.cast();
    let port = free_port();
    let _origin = origin(&env, port);
    let today = time::OffsetDateTime::now_utc().date();
    std::fs::create_dir_all(env.path("categories")).unwrap();
    env.write("categories/test.csv", "bank.test,finance\nnews.test,news\ncasino.test,gambling\nphish.test,finance\n");
    std::fs::create_dir_all(env.path("threats/phishing")).unwrap();
    env.write("threats/phishing/reported.domains", "# reported by the duty team\nphish.test\n");
    env.write(
        "policies.toml",
        &format!(
            "[[organisation]]\nbin = \"{}\"\nname = \"Ministry A\"\nreceived = {today}\ngranted = {today}\ncategories = [\"news\"]\n",
            cast.a
        ),
    );
    let dir = env.dir.path().display().to_string();
    env.configure(&format!(
        r#"
[catalog]
refresh = "200ms"
[policies]
categories_dir = "{dir}/categories"
file = "{dir}/policies.toml"
[threats]
dir = "{dir}/threats"
[proxy]
[proxy.explicit]
link = "alpha-1"
[proxy.upstream]
extra_anchors = ["{dir}/origin-ca.pem"]
[proxy.destinations]
ports = [{port}]
deny = []
[proxy.dns]
[proxy.dns.hosts]
"bank.test" = ["127.0.0.1"]
"news.test" = ["127.0.0.1"]
"casino.test" = ["127.0.0.1"]
[proxy.access_log]
json = "{dir}/access.json"
"#
    ));
    env.write("list.csv", &format!("{WORKSTATION}/32,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", env.path("list.csv").to_str().unwrap()]);
    env.ok(&["ca", "init"]);
    env.ok(&["ca", "export", "-o", env.path("gateway-root.pem").to_str().unwrap()]);
    let ns = Netns::new("pmtweb");
    let server = env.up_with("warn", Stdio::inherit(), &[("PERIMETER_PROXY_LISTEN", &format!("{HOST_SIDE}:0"))]);
    let proxy = format!("http://{}", server.proxy.as_deref().expect("the web proxy runs"));
    let gateway_root = env.path("gateway-root.pem").display().to_string();
    let origin_ca = env.path("origin-ca.pem").display().to_string();
    let url = |host: &str| format!("https://{host}:{port}/");

    // Exempt (finance): spliced, the workstation sees the origin's own certificate.
    let (ok, _, err) = ns.curl(WORKSTATION, &["-v", "-x", &proxy, "--cacert", &origin_ca, &url("bank.test")]);
    assert!(ok && err.contains("Test Origin CA"), "spliced with the origin's certificate:\n{err}");

    // Not exempt, allowed by the organisation's policy: inspected under the gateway root.
    let (ok, body, err) = ns.curl(WORKSTATION, &["-v", "-x", &proxy, "--cacert", &gateway_root, &url("news.test")]);
    assert!(ok && body.contains("s_server"), "bumped and relayed:\n{err}\n{body}");
    assert!(err.contains("Perimeter Gateway Root CA"), "the forged certificate chains to the gateway root:\n{err}");
    let (ok, _, _) = ns.curl(WORKSTATION, &["-x", &proxy, "--cacert", &origin_ca, &url("news.test")]);
    assert!(!ok, "an inspected site does not present the origin's certificate");

    // A category outside the organisation's list: the block page.
    let (_, body, _) =
        ns.curl(WORKSTATION, &["-x", &proxy, "--cacert", &gateway_root, "-w", "\n%{http_code}", &url("casino.test")]);
    assert!(body.ends_with("403") && body.contains("gambling"), "{body}");

    // A host in a threat feed: denied at CONNECT although its category (finance) is exempt.
    let (ok, _, err) = ns.curl(WORKSTATION, &["-v", "-x", &proxy, "--cacert", &origin_ca, &url("phish.test")]);
    assert!(!ok && err.contains("HTTP/1.1 403"), "a listed host is refused before any byte moves:\n{err}");

    // An address the catalog lacks: denied and reported to its operator's list.
    let (_, body, _) =
        ns.curl(STRANGER, &["-x", &proxy, "--cacert", &gateway_root, "-w", "\n%{http_code}", &url("news.test")]);
    assert!(!body.ends_with("200"), "{body}");
    eventually("the unknown address is observed", || env.ok(&["unknown", "--operator", "alpha"]).contains(STRANGER));

    // Blocked by the duty team: denied with the block's reason.
    env.ok(&["block", "add", WORKSTATION, "--reason", "incident 42"]);
    eventually("the block reaches the proxy", || {
        let (_, out, _) = ns
            .curl(WORKSTATION, &["-x", &proxy, "--cacert", &gateway_root, "-w", "%{http_connect}", &url("news.test")]);
        out.ends_with("403")
    });

    // Every decision is in the access log.
    let log = std::fs::read_to_string(env.path("access.json")).unwrap_or_default();
    let actions: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let blocked = actions
        .iter()
        .any(|a| a["client"] == WORKSTATION && a["reason"].as_str().is_some_and(|r| r.contains("incident 42")));
    assert!(blocked, "the block and its reason are logged:\n{log}");
    let phish = actions.iter().find(|a| a["host"] == "phish.test").expect("the threat denial is logged");
    assert_eq!(phish["deny"], "threat_feed", "{phish}");
    for (host, action) in [("bank.test", "splice"), ("news.test", "bump"), ("casino.test", "deny")] {
        assert!(
            actions.iter().any(|a| a["host"] == host && a["action"] == action),
            "no {action} for {host} in the access log:\n{log}"
        );
    }
    drop(server);
}
