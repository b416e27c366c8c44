//! The console over HTTP with curl as the client: login, sessions and their cookie,
//! security headers, CSRF refusals, the lockout after wrong passwords, the duty team's
//! blocks and mail actions audited under the person's name, the operator portal's
//! upload → problems or diff → confirm, and an operator refused another's pages. The
//! same journeys in headless Chromium are in `console_browser.rs`.

mod common;

use common::console::Browser;
use common::{Env, Server};

const DUTY_PW: &str = "duty password one";
const ALPHA_PW: &str = "alpha password one";

/// The cast, a duty user, an auditor and one user per operator, and a running server.
fn installation() -> (Env, common::Cast, Server) {
    let env = Env::new();
    let cast = env.cast();
    env.user("duty1", DUTY_PW, &["--duty"]);
    env.user("audit1", "auditor password", &["--auditor"]);
    env.user("alpha1", ALPHA_PW, &["--operator", "alpha"]);
    env.user("beta1", "beta password one", &["--operator", "beta"]);
    let server = env.up();
    (env, cast, server)
}

fn block_list(env: &Env) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["block", "list", "--all", "--json"])).expect("JSON blocks")
}

#[test]
fn login_opens_a_session_with_a_strict_cookie_and_logout_ends_it() {
    let (env, _, server) = installation();
    let mut b = Browser::new(&env, &server, "duty");
    let away = b.get("/today");
    assert_eq!(away.status, 303);
    assert_eq!(away.header("location").as_deref(), Some("/login?next=%2Ftoday"));

    let page = b.get("/login");
    let csp = page.header("content-security-policy").expect("a CSP on every page");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));

    let wrong = b.post("/login", &[("name", "duty1"), ("password", "not the password")]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong name or password"), "{}", wrong.body);
    let unknown = b.post("/login", &[("name", "nobody"), ("password", "not the password")]);
    assert_eq!(unknown.status, 401, "an unknown name answers exactly like a wrong password");
    assert!(unknown.body.contains("Wrong name or password"));

    let ok = b.post("/login", &[("name", "duty1"), ("password", DUTY_PW), ("next", "/blocks?kind=manual")]);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location").as_deref(), Some("/blocks?kind=manual"), "back where the person was going");
    let cookie = ok.headers.lines().find(|l| l.contains("perimeter_session=")).expect("a session cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag ({cookie})");

    let today = b.get("/today");
    assert_eq!(today.status, 200);
    assert!(today.body.contains("duty1") && today.body.contains("Deadlines in the next three working days"));
    assert!(today.body.contains("href=\"/api/v1/openapi.json\""), "the console links the API description");
    b.get("/login");
    let offsite = b.post("/login", &[("name", "duty1"), ("password", DUTY_PW), ("next", "//evil.example/")]);
    assert_eq!(offsite.header("location").as_deref(), Some("/"), "never redirected off the console");

    b.get("/today");
    let out = b.post("/logout", &[]);
    assert_eq!(out.status, 303);
    assert_eq!(b.get("/today").status, 303, "the session ended with the logout");
    assert_eq!(b.get("/static/console.css").status, 200, "assets need no session");
}

#[test]
fn forms_without_their_csrf_token_or_from_elsewhere_are_refused() {
    let (env, _, server) = installation();
    let mut b = Browser::new(&env, &server, "duty");
    assert_eq!(b.login("duty1", DUTY_PW).status, 303);
    b.get("/blocks");
    let target = [("targets", "198.51.100.7"), ("reason", "abuse report 1")];
    let none = b.post_raw("/blocks", &target);
    assert_eq!(none.status, 403, "{}", none.body);
    assert!(none.body.contains("security token"), "{}", none.body);
    let forged = b.post_raw("/blocks", &[("csrf", "00ff"), target[0], target[1]]);
    assert_eq!(forged.status, 403);
    assert!(block_list(&env).as_array().unwrap().is_empty(), "nothing was blocked");

    let mut other = Browser::new(&env, &server, "stranger");
    other.get("/login");
    let no_login_token = other.post_raw("/login", &[("name", "duty1"), ("password", DUTY_PW)]);
    assert_eq!(no_login_token.status, 403, "the login form has its own token");
    // The login form is read before anyone is known: a large one is refused unread.
    let padding = "a".repeat(64 << 10);
    let large = other.post("/login", &[("name", "duty1"), ("password", DUTY_PW), ("pad", &padding)]);
    assert_eq!(large.status, 413, "{}", large.body);
    assert_eq!(other.login("duty1", DUTY_PW).status, 303, "the same person logs in with a form of its size");

    let ok = b.post("/blocks", &target);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(block_list(&env).as_array().unwrap().len(), 1, "the same form with its token works");
}

#[test]
fn five_wrong_passwords_lock_the_account_until_a_new_password() {
    let (env, _, server) = installation();
    let mut b = Browser::new(&env, &server, "guess");
    b.get("/login");
    for attempt in 1..=4 {
        let a = b.post("/login", &[("name", "alpha1"), ("password", "wrong wrong wrong")]);
        assert_eq!(a.status, 401, "attempt {attempt}");
    }
    let fifth = b.post("/login", &[("name", "alpha1"), ("password", "wrong wrong wrong")]);
    assert_eq!(fifth.status, 401, "{}", fifth.body);
    let right = b.post("/login", &[("name", "alpha1"), ("password", ALPHA_PW)]);
    assert_eq!(right.status, 401, "the right password does not open a locked account");
    // The locked account's page is the page of a name nobody has: nothing tells them apart.
    let mut prober = Browser::new(&env, &server, "prober");
    prober.get("/login");
    let unknown = prober.post("/login", &[("name", "nobody"), ("password", "wrong wrong wrong")]);
    let strip = |body: &str| body.replace(&common::console::csrf_of(body).unwrap_or_default(), "");
    assert_eq!((unknown.status, strip(&unknown.body)), (401, strip(&right.body)), "locked reads as unknown");
    let audit = env.ok(&["audit", "--subject", "user:alpha1"]);
    assert!(audit.contains("user.locked"), "{audit}");
    let users = env.ok(&["user", "list"]);
    assert!(
        users.lines().any(|l| l.contains("alpha1") && l.contains("locked until")),
        "the duty team sees it: {users}"
    );
    assert_eq!(b.post("/login", &[("name", "duty1"), ("password", DUTY_PW)]).status, 303, "others are not locked");

    env.with_stdin(&["user", "passwd", "alpha1"], "a brand new password\n");
    let mut c = Browser::new(&env, &server, "alpha");
    assert_eq!(c.login("alpha1", "a brand new password").status, 303, "a new password clears the lockout");
}

#[test]
fn the_duty_team_blocks_and_lifts_several_at_once_audited_under_their_name() {
    let (env, _, server) = installation();
    let mut b = Browser::new(&env, &server, "duty");
    b.login("duty1", DUTY_PW);
    b.get("/blocks");
    let added =
        b.post("/blocks", &[("targets", "198.51.100.7\n203.0.113.0/24\nnot-an-address"), ("reason", "abuse report 7")]);
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("not-an-address"), "the bad line is named: {}", added.body);
    let blocks = block_list(&env);
    let blocks = blocks.as_array().unwrap();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks.iter().all(|b| b["actor"] == "user:duty1" && b["reason"] == "abuse report 7"), "{blocks:?}");

    let page = b.get("/blocks?kind=manual");
    assert!(page.body.contains("198.51.100.7/32") && page.body.contains("203.0.113.0/24"));
    let csv = b.get("/blocks?kind=manual&format=csv");
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(csv.body.lines().count(), 3, "{}", csv.body);

    let lifted =
        b.post("/blocks/lift", &[("target", "198.51.100.7/32"), ("target", "203.0.113.0/24"), ("reason", "resolved")]);
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    let live: Vec<_> =
        block_list(&env).as_array().unwrap().iter().filter(|b| b["lifted_at"].is_null()).cloned().collect();
    assert!(live.is_empty(), "{live:?}");

    let audit = b.get("/audit?actor=user%3Aduty1&action=block.");
    assert_eq!(audit.body.matches("block.add").count(), 2, "{}", audit.body);
    assert_eq!(audit.body.matches("block.lift").count(), 2);
    let csv = b.get("/audit?actor=user%3Aduty1&format=csv");
    assert!(csv.body.starts_with("id,at,actor,action,subject"), "{}", csv.body);
    assert_eq!(csv.body.lines().filter(|l| l.contains("user:duty1")).count(), 4, "{}", csv.body);

    let mut auditor = Browser::new(&env, &server, "auditor");
    auditor.login("audit1", "auditor password");
    assert_eq!(auditor.get("/blocks").status, 200, "an auditor reads");
    let refused = auditor.post("/blocks", &[("targets", "192.0.2.9"), ("reason", "try")]);
    assert_eq!(refused.status, 403, "an auditor changes nothing");
}

#[test]
fn pages_keep_their_filters_in_the_url_and_page_by_key() {
    let (env, _, server) = installation();
    for i in 0..120 {
        env.ok(&["block", "add", &format!("198.51.100.{i}"), "--reason", &format!("r{i}")]);
    }
    let mut b = Browser::new(&env, &server, "duty");
    b.login("duty1", DUTY_PW);
    let first = b.get("/blocks?kind=manual");
    assert!(first.body.contains("198.51.100.119/32") && !first.body.contains("198.51.100.69/32"), "newest first");
    let next =
        first.body.split("rel=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(next.starts_with("/blocks?kind=manual&after="), "the filter stays in the link: {next}");
    let second = b.get(&next);
    assert!(second.body.contains("198.51.100.69/32") && !second.body.contains("198.51.100.70/32"), "{next}");
    let prev =
        second.body.split("rel=\"prev\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(b.get(&prev).body.contains("198.51.100.119/32"), "back to the first page: {prev}");
}

#[test]
fn operators_see_only_their_own_whatever_the_url() {
    let (env, cast, server) = installation();
    let beta_list = env.write("beta.csv", &format!("198.51.100.0/24,{}\n", cast.c));
    env.ok(&["catalog", "import", "--operator", "beta", beta_list.to_str().unwrap()]);
    let mut a = Browser::new(&env, &server, "alpha");
    a.login("alpha1", ALPHA_PW);
    assert_eq!(a.get("/operators/alpha").status, 200);
    for path in [
        "/operators/beta",
        "/operators/beta?format=csv",
        "/operators/beta/export?format=json",
        "/unknown?operator=beta",
        "/notices?operator=beta",
        "/blocks?operator=beta",
        "/audit?subject=operator%3Abeta",
        "/mail",
        "/policies",
    ] {
        let answer = a.get(path);
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert!(!answer.body.contains(&cast.c), "{path} leaks beta's organisation");
    }
    // Another operator's address answers as an address in no list does (the API's rule).
    let theirs = a.get("/lookup?ip=198.51.100.7");
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    assert!(!theirs.body.contains(&cast.c) && !theirs.body.contains("beta"), "{}", theirs.body);
    assert_eq!(a.get("/lookup?ip=192.0.2.200").status, 404, "the same answer for an address in no list");
    let orgs = a.get("/organisations");
    assert!(orgs.body.contains(&cast.a) && !orgs.body.contains(&cast.c), "only alpha's organisations");
    let csv = a.get("/organisations?format=csv");
    assert_eq!(csv.body.lines().count(), 3, "a header and alpha's two organisations: {}", csv.body);
    let found = a.get("/organisations?q=akimat");
    assert!(found.body.contains(&cast.b) && !found.body.contains(&cast.a), "search by name");
    let list = env.write("steal.csv", &format!("192.0.2.0/24,{}\n", cast.a));
    a.get("/operators/alpha");
    let upload = a.upload("/operators/beta/upload", &list);
    assert_eq!(upload.status, 403, "{}", upload.body);
    assert_eq!(a.get("/").header("location").as_deref(), Some("/operators/alpha"), "an operator's home is its list");
}

#[test]
fn an_operator_uploads_a_bad_list_sees_every_problem_then_a_good_one_and_confirms() {
    let (env, cast, server) = installation();
    let mut a = Browser::new(&env, &server, "alpha");
    a.login("alpha1", ALPHA_PW);
    a.get("/operators/alpha");
    let bad =
        env.write("bad.csv", &format!("prefix,bin,comment\n203.0.113.7/24,{},x\n127.0.0.0/8,{},y\n", cast.a, cast.a));
    let refused = a.upload("/operators/alpha/upload", &bad);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("has host bits set") && refused.body.contains("203.0.113.0/24"), "{}", refused.body);
    assert!(
        refused.body.contains("<td class=\"num\">2</td>") && refused.body.contains("<td class=\"num\">3</td>"),
        "line numbers: {}",
        refused.body
    );
    assert!(env.ok(&["catalog", "export", "--operator", "alpha"]).trim().lines().count() <= 1, "nothing applied");
    let waiting = || -> Vec<std::fs::Metadata> {
        let dir = env.path("data").join("console-uploads");
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.metadata().unwrap()).collect()).unwrap_or_default()
    };
    assert!(waiting().is_empty(), "a refused upload is not kept");

    let good =
        env.write("good.csv", &format!("203.0.113.0/24,{},head office\n2001:db8:10::/48,{},v6\n", cast.a, cast.b));
    let dry = a.upload("/operators/alpha/upload", &good);
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert!(dry.body.contains("added 2"), "{}", dry.body);
    assert!(
        !env.ok(&["catalog", "export", "--operator", "alpha"]).contains("203.0.113.0/24"),
        "a dry run applies nothing"
    );
    let kept = waiting();
    assert_eq!(kept.len(), 1, "the checked list waits on disk for its confirmation");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(kept[0].permissions().mode() & 0o777, 0o600, "readable by the service only");
    let upload_id = dry.body.split("name=\"upload\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let applied = a.post("/operators/alpha/confirm", &[("upload", &upload_id)]);
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert!(applied.body.contains("The list was applied"), "{}", applied.body);
    let export = env.ok(&["catalog", "export", "--operator", "alpha"]);
    assert!(export.contains("203.0.113.0/24") && export.contains("2001:db8:10::/48"), "{export}");
    assert!(waiting().is_empty(), "an applied upload is deleted");
    let again = a.post("/operators/alpha/confirm", &[("upload", &upload_id)]);
    assert_eq!(again.status, 410, "a confirmation applies once");
    let audit = env.ok(&["audit", "--subject", "operator:alpha"]);
    assert!(audit.contains("user:alpha1") && audit.contains("list.import"), "{audit}");
    let csv = a.get("/operators/alpha/export?format=csv");
    assert!(csv.body.contains("203.0.113.0/24"), "{}", csv.body);
}

#[test]
fn the_duty_team_suspends_and_resumes_a_mail_system() {
    let (env, cast, server) = installation();
    env.ok(&[
        "mail",
        "connect",
        "minfin-mail",
        "--owner",
        &cast.a,
        "--domain",
        "minfin.example",
        "--server",
        "192.0.2.25",
        "--contact",
        "postmaster@minfin.example",
    ]);
    let mut b = Browser::new(&env, &server, "duty");
    b.login("duty1", DUTY_PW);
    let page = b.get("/mail/minfin-mail");
    assert!(page.body.contains("id=\"status-form\""), "{}", page.body);
    let suspended = b.post("/mail/minfin-mail/status", &[("status", "suspended"), ("reason", "phishing wave")]);
    assert_eq!(suspended.status, 303, "{}", suspended.body);
    assert!(env.ok(&["mail", "list"]).contains("suspended"));
    let page = b.get("/mail/minfin-mail");
    assert!(page.body.contains("phishing wave") && page.body.contains("id=\"held-form\""), "{}", page.body);
    let resumed = b.post("/mail/minfin-mail/status", &[("status", "active"), ("reason", "account cleaned")]);
    assert_eq!(resumed.status, 303);
    let audit = env.ok(&["audit", "--subject", "mail:minfin-mail"]);
    assert!(audit.contains("user:duty1"), "{audit}");
    assert_eq!(audit.lines().filter(|l| l.contains("user:duty1")).count(), 2, "{audit}");
}

#[test]
fn the_api_description_is_served_without_a_token() {
    let (_env, _, server) = installation();
    let reply = server.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/blocks"]["post"].is_object(), "{doc}");
    assert_eq!(server.call("GET", "/api/v1/whoami", None, None).status, 401, "the API itself still needs a token");
}

#[test]
fn over_tls_the_session_cookie_is_secure_and_host_only() {
    let mut env = Env::new();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&key).unwrap();
    let cert_file = env.write("console.pem", &cert.pem());
    let key_file = env.write("console.key", &key.serialize_pem());
    env.configure(&format!("[api]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", cert_file.display(), key_file.display()));
    env.user("duty1", DUTY_PW, &["--duty"]);
    let server = env.up();
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let mut b = Browser::new(&env, &server, "duty");
    b.curl_args = vec!["--cacert".into(), cert_file.display().to_string()];
    let ok = b.login("duty1", DUTY_PW);
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok.headers.lines().find(|l| l.contains("perimeter_session=")).expect("a session cookie").to_string();
    assert!(cookie.contains("__Host-perimeter_session=") && cookie.contains("; Secure"), "{cookie}");
    assert_eq!(b.get("/today").status, 200);
    let plain = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(server.base.replace("https://", "http://") + "/login")
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200", "plain HTTP is not served on a TLS listener");
}

#[test]
fn the_duty_team_rotates_the_root_only_when_confirmed_and_operators_are_told() {
    let sink = common::SmtpSink::start(&[]);
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Duty <duty@gateway.example>\"\n",
        sink.port
    ));
    env.cast();
    env.user("duty1", DUTY_PW, &["--duty"]);
    let server = env.up();
    let fingerprint = |env: &Env| -> String {
        let shown: serde_json::Value = serde_json::from_str(&env.ok(&["ca", "show", "--json"])).unwrap();
        shown["fingerprint"].as_str().unwrap().to_string()
    };
    let before = fingerprint(&env);
    let mut b = Browser::new(&env, &server, "duty");
    b.login("duty1", DUTY_PW);
    let page = b.get("/ca");
    assert!(page.body.contains(&before), "the page shows the root in force");
    assert_eq!(b.get("/ca/root.pem").body.matches("BEGIN CERTIFICATE").count(), 1);
    assert!(!b.get("/ca/root.pem").body.contains("PRIVATE KEY"), "never the key");
    b.get("/ca");
    let unconfirmed = b.post("/ca/rotate", &[("current", &before)]);
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.body);
    b.get("/ca");
    let stale = b.post("/ca/rotate", &[("current", "00:11:22"), ("confirm", "yes")]);
    assert_eq!(stale.status, 409, "a page showing another root rotates nothing");
    assert_eq!(fingerprint(&env), before);

    b.get("/ca");
    let done = b.post("/ca/rotate", &[("current", &before), ("confirm", "yes")]);
    assert_eq!(done.status, 200, "{}", done.body);
    let after = fingerprint(&env);
    assert_ne!(after, before);
    assert!(done.body.contains(&after) && done.body.contains("alpha"), "{}", done.body);
    assert!(done.body.contains("operator 'beta' has no contact address"), "{}", done.body);
    let audit = env.ok(&["audit", "--subject", "ca"]);
    assert!(audit.contains("ca.rotate") && audit.contains("user:duty1"), "{audit}");
    common::eventually("alpha is e-mailed the new root", || {
        sink.readable().iter().any(|m| m.contains("noc@alpha.example") && m.contains(&after))
    });
}

#[test]
fn today_names_policies_about_to_lapse_and_requests_overdue() {
    let mut env = Env::new();
    let today = policies::calendar::today();
    let (a, b) = (common::bin("98014000001"), common::bin("98014000002"));
    let book = env.write(
        "policies.toml",
        &format!(
            "[default]\ncategories = [\"news\"]\nallow_uncategorised = true\n\n\
             [[organisation]]\nbin = \"{a}\"\nname = \"Ministry A\"\nreceived = {}\ngranted = {}\ncategories = [\"education\"]\n\
             [[organisation.grant]]\ncategory = \"vpn\"\nrequest = \"REQ-2026-014\"\ngranted = {}\n\n\
             [[organisation]]\nbin = \"{b}\"\nname = \"Akimat B\"\nreceived = {}\ncategories = [\"social\"]\n",
            today.add_days(-360),
            today.add_days(-355),
            today.add_days(-355),
            today.add_days(-40),
        ),
    );
    env.configure(&format!("[policies]\nfile = \"{}\"\n", book.display()));
    env.cast();
    env.user("duty1", DUTY_PW, &["--duty"]);
    let server = env.up();
    let mut d = Browser::new(&env, &server, "duty");
    d.login("duty1", DUTY_PW);
    let page = d.get("/today").body;
    let lapsing =
        page.split("Policies lapsing within 30 days").nth(1).unwrap().split("Requests overdue").next().unwrap();
    assert!(lapsing.contains("Ministry A") && !lapsing.contains("Akimat B"), "{lapsing}");
    let overdue = page.split("Requests overdue").nth(1).unwrap().split("Root certificate").next().unwrap();
    assert!(overdue.contains("Akimat B") && !overdue.contains("Ministry A"), "{overdue}");
    let policies = d.get("/policies").body;
    assert!(policies.contains("REQ-2026-014") && policies.contains("vpn") && policies.contains("education"));
}

#[test]
fn after_login_only_a_same_site_path_is_followed_whatever_is_smuggled_into_next() {
    let mut env = common::Env::new();
    env.configure("[console]\nlogins_per_account = 100\nlogins_per_address = 100\n");
    env.user("duty1", DUTY_PW, &["--duty"]);
    let server = env.up();
    let mut b = Browser::new(&env, &server, "next");
    let smuggled = [
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\nSet-Cookie: x=1",
        "/%09/evil.example/",
        "/%0d%0aLocation:%20https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\u{202E}evil",
    ];
    for next in smuggled {
        b.get("/login");
        let answer = b.post("/login", &[("name", "duty1"), ("password", DUTY_PW), ("next", next)]);
        assert_eq!(answer.status, 303, "{next:?}: {}", answer.body);
        assert_eq!(answer.header("location").as_deref(), Some("/"), "{next:?}");
        b.get("/today");
        assert_eq!(b.post("/logout", &[]).status, 303);
    }
    b.get("/login");
    let kept = b.post("/login", &[("name", "duty1"), ("password", DUTY_PW), ("next", "/blocks?kind=manual&page=2")]);
    assert_eq!(kept.header("location").as_deref(), Some("/blocks?kind=manual&page=2"));
}

#[test]
fn wrong_passwords_sent_at_once_lock_the_account_and_unknown_names_answer_alike() {
    let mut env = common::Env::new();
    // Enough login forms at once from one address for the race to be tried.
    env.configure("[api.bodies]\nper_caller = 16\nanonymous_in_flight = 16\n");
    env.cast();
    env.user("alpha1", ALPHA_PW, &["--operator", "alpha"]);
    let server = env.up();
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let tries: Vec<_> = (0..8)
            .map(|i| {
                let (env, server) = (&env, &server);
                scope.spawn(move || {
                    let mut b = Browser::new(env, server, &format!("guess{i}"));
                    b.get("/login");
                    b.post("/login", &[("name", "alpha1"), ("password", "wrong wrong wrong")]).status
                })
            })
            .collect();
        tries.into_iter().map(|t| t.join().expect("a login thread")).collect()
    });
    assert!(answers.iter().all(|&s| s == 401), "a locked account answers as a wrong password: {answers:?}");
    let mut b = Browser::new(&env, &server, "owner");
    b.get("/login");
    let right = b.post("/login", &[("name", "alpha1"), ("password", ALPHA_PW)]);
    assert_eq!(right.status, 401, "eight wrong passwords at once locked the account: {}", right.body);
    let audit = env.ok(&["audit", "--subject", "user:alpha1"]);
    assert_eq!(audit.matches("user.locked").count(), 1, "locked once: {audit}");

    // An unknown name answers as a known one with a wrong password: status and body.
    let mut c = Browser::new(&env, &server, "prober");
    c.get("/login");
    let unknown = c.post("/login", &[("name", "nobody"), ("password", "wrong wrong wrong")]);
    c.get("/login");
    env.user("beta1", "beta password one", &["--operator", "beta"]);
    let known = c.post("/login", &[("name", "beta1"), ("password", "wrong wrong wrong")]);
    assert_eq!((unknown.status, known.status), (401, 401));
    // Each login page carries its own token: the rest is the same.
    let strip = |body: &str| body.replace(&common::console::csrf_of(body).unwrap_or_default(), "");
    assert_eq!(strip(&unknown.body), strip(&known.body), "the same page either way");
}
