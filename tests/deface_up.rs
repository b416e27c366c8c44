//! Defacement protection under `perimeter up`, end to end with real parts: a site (its
//! own OpenSSH server, SFTP only, and nginx over HTTPS) in one network namespace, the
//! gateway running `perimeter up` in another with an SMTP sink on its loopback. An
//! organisation files a defacement application, the duty team connects it at the desk,
//! someone overwrites the home page and drops a `shell.php` on the server; within 90 s
//! both are put back, one incident is at the desk and one e-mail with the evidence has
//! reached the sink, and `deface site show --json` shows the finding. In the console the
//! duty team and the organisation see the site, the finding with its files and diff; the
//! organisation accepts the change (the intruder's files come back as found), another
//! organisation is told the site does not exist and an operator is refused.
//!
//! Run as root, serialised with the other namespace tests:
//! `flock /tmp/perimeter-netns.lock cargo test -p perimeter --test deface_up`.

mod common;
#[path = "deface/lab.rs"]
mod lab;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::console::Browser;
use common::{Cast, Env, Server};
use lab::{DOMAIN, INDEX, Lab, SITE_ADDR, SMTP_PORT};
use serde_json::Value;

fn show(env: &Env) -> Value {
    serde_json::from_str(&env.ok(&["deface", "site", "show", DOMAIN, "--json"])).expect("JSON")
}

/// Waits up to `secs` for `check`, saying what it waited for.
fn within(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_connected_site_that_is_defaced_is_put_back_with_an_incident_and_an_email() {
    if !lab::prerequisites() {
        return;
    }
    let lab = Lab::new();
    let mut env = Env::local();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{SMTP_PORT}\"\nfrom = \"Perimeter <desk@gateway.example>\"\n\
         [desk]\nduty_contacts = [\"duty@gateway.example\"]\n\
         [services]\nweb = false\nmail = false\n\
         [deface]\ncycle = \"2s\"\nfull_hash_every = \"20s\"\ntimeout = \"10s\"\nextra_roots = \"{}\"\n",
        lab.ca.display()
    ));
    let cast = env.cast();

    // The organisation applies; the duty team connects the application at the desk.
    let access = format!("access=sftp://{SITE_ADDR}{}", lab.root.display());
    let (login, password) = (format!("login={}", lab.user), format!("password={}", lab.password));
    let (site, addresses, pages) =
        (format!("site={DOMAIN}"), format!("addresses={SITE_ADDR}"), format!("pages=https://{DOMAIN}/"));
    let mut args = vec!["request", "file", "defacement", "--json", "--contact", "webmaster@site.example.kz"];
    let applicant = format!("org:{}", cast.b);
    args.extend(["--applicant", &applicant]);
    let fields = [
        site.as_str(),
        &addresses,
        &pages,
        &access,
        &login,
        &password,
        "operator=alpha",
        "web_server=nginx 1.24.0",
        "dbms=none",
        "cms=none",
        "specialists.0.name=B. Webmaster",
        "specialists.0.email=webmaster@site.example.kz",
        "specialists.0.work_phone=+7 7172 000000",
        "specialists.0.mobile=+7 701 0000000",
    ];
    fields.iter().for_each(|f| args.extend(["--set", f]));
    let filed = env.ok(&args);
    let id = serde_json::from_str::<Value>(&filed).expect("JSON")["id"].as_i64().expect("an id").to_string();
    env.ok(&["request", "connect", &id]);
    let site = show(&env);
    assert_eq!(site["owner"]["org"], cast.b.as_str(), "{site}");
    assert_eq!(site["site"]["application_id"].as_i64(), id.parse().ok(), "{site}");
    assert!(!site.to_string().contains(&lab.password), "the secret is never shown");

    let mut up = env.up_in(Some(&lab.service_ns), "info", Stdio::inherit(), &[]);
    within(60, "the reference is taken and the site protected", || show(&env)["site"]["state"] == "protected");
    assert!(lab.messages().is_empty(), "nothing to tell yet: {:?}", lab.messages());

    // Someone defaces the site on the server, right after a check ended (a change made
    // while a check is under way may be seen in the pages before the files: that is a
    // finding of its own).
    let checked = show(&env)["site"]["last_check"].clone();
    within(30, "a check ends", || show(&env)["site"]["last_check"] != checked);
    let defaced = Instant::now();
    lab.write("index.html", b"<html><body><h1>HACKED BY NOBODY</h1></body></html>\n");
    lab.write("shell.php", b"<?php system($_GET['c']); ?>\n");

    within(90, "index.html put back and shell.php removed", || {
        lab.read("index.html").as_deref() == Some(INDEX.as_bytes()) && lab.read("shell.php").is_none()
    });
    eprintln!("put back {:.1} s after the change", defaced.elapsed().as_secs_f64());
    within(90, "one e-mail with the evidence reached the sink", || !lab.messages().is_empty());

    let site = show(&env);
    let findings = site["site"]["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{site}");
    let finding = &findings[0];
    assert_eq!((finding["kind"].as_str(), finding["outcome"].as_str()), (Some("unauthorised"), Some("restored")));
    let files = finding["files"].to_string();
    assert!(files.contains("index.html") && files.contains("shell.php"), "{files}");

    let requests: Value = serde_json::from_str(&env.ok(&["request", "list", "--json"])).expect("JSON");
    let incidents: Vec<&Value> = requests
        .as_array()
        .expect("a list")
        .iter()
        .filter(|r| r["kind"] == "incident" || r["fields"]["kind"] == "incident")
        .collect();
    assert_eq!(incidents.len(), 1, "one incident at the desk: {requests}");
    let incident = incidents[0].to_string();
    assert!(incident.contains(&cast.b) && incident.contains("shell.php"), "{incident}");

    std::thread::sleep(Duration::from_secs(3));
    let mail = lab.messages();
    assert_eq!(mail.len(), 1, "one e-mail: {mail:?}");
    let text = common::readable(&mail[0]);
    for needle in
        ["webmaster@site.example.kz", "duty@gateway.example", "Defacement of site.example.kz", "shell.php", "HACKED"]
    {
        assert!(text.contains(needle), "the e-mail names {needle}: {text}");
    }

    console(&env, &lab, &up, &cast);

    up.signal("TERM");
    let status = up.wait_exit(30).expect("perimeter up stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// The console's defacement pages, as the duty team and the organisations use them.
fn console(env: &Env, lab: &Lab, server: &Server, cast: &Cast) {
    const PW: &str = "a console password";
    env.user("duty1", PW, &["--duty"]);
    env.user("owner1", PW, &["--organisation", &cast.b]);
    env.user("other1", PW, &["--organisation", &cast.a]);
    env.user("noc1", PW, &["--operator", "alpha"]);
    let browser = |name: &str| {
        let mut b = Browser::new(env, server, name);
        b.netns = Some(lab.service_ns.clone());
        assert_eq!(b.login(name, PW).status, 303, "{name} logs in");
        b
    };
    let page = format!("/deface/{DOMAIN}");

    let mut duty = browser("duty1");
    let list = duty.get("/deface");
    assert!(list.status == 200 && list.body.contains(DOMAIN) && list.body.contains("protected"), "{}", list.body);
    let detail = duty.get(&page);
    for needle in ["index.html", "shell.php", "put back from the reference", "HACKED", "SHA256:", "Check now"] {
        assert!(detail.body.contains(needle), "the duty team's page shows {needle}: {}", detail.body);
    }
    assert!(!detail.body.contains(&lab.password), "never the secret");

    let theirs = browser("other1").get(&page);
    assert_eq!(theirs.status, 404, "another organisation: no such site: {}", theirs.body);
    assert_eq!(browser("noc1").get("/deface").status, 403, "operators' staff: refused");
    let other_list = browser("other1").get("/deface");
    assert!(!other_list.body.contains(DOMAIN), "not in another organisation's list");

    // The organisation accepts the change: the intruder's files come back as found.
    let mut owner = browser("owner1");
    let mine = owner.get(&page);
    assert!(mine.body.contains("Accept this change") && !mine.body.contains("Check now"), "{}", mine.body);
    let finding = show(env)["site"]["findings"][0]["id"].as_i64().expect("the finding's number").to_string();
    let accepted = owner.post(&format!("{page}/accept"), &[("finding", &finding)]);
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    within(30, "the accepted change is on the server", || {
        lab.read("index.html").is_some_and(|b| String::from_utf8_lossy(&b).contains("HACKED"))
    });
    let after = owner.get(&page);
    assert!(after.body.contains("accepted by user:owner1"), "{}", after.body);
    let audit = env.ok(&["audit", "--subject", &format!("deface:{DOMAIN}")]);
    assert!(audit.contains("user:owner1"), "the acceptance is audited: {audit}");
}
