//! The request desk end to end through the binary: every kind filed and answered with
//! its contacts e-mailed over real SMTP (Postfix's smtp-sink), refusals and the 30-day
//! wait, the lapse of technical conditions, a mail-connection application that becomes
//! a registry entry, secrets that are never shown again, and the API's scoping.

mod common;

use common::{Env, SmtpSink, eventually};
use serde_json::Value;

/// A configured installation whose desk e-mails go to `smtp_port`.
fn env_with_smtp(smtp_port: u16) -> Env {
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         [desk]\nduty_contacts = [\"duty@gateway.example\"]\n"
    ));
    env
}

/// `perimeter request --at DAY ARGS…` under the test clock.
fn request(env: &Env, day: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["request", "--at", day];
    all.extend_from_slice(args);
    env.run_with_env(&all, &[("PERIMETER_TEST_CLOCK", "1")])
}

fn ok(env: &Env, day: &str, args: &[&str]) -> String {
    let out = request(env, day, args);
    assert!(out.status.success(), "request {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn fails(env: &Env, day: &str, args: &[&str]) -> String {
    let out = request(env, day, args);
    assert!(!out.status.success(), "request {args:?} should have failed:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).expect("utf-8")
}

/// Files an application and returns its number.
fn file(env: &Env, day: &str, kind: &str, applicant: &str, fields: &[String]) -> String {
    let mut args =
        vec!["file", kind, "--applicant", applicant, "--contact", "desk-contact@applicant.example", "--json"];
    for f in fields {
        args.extend(["--set", f.as_str()]);
    }
    let view: Value = serde_json::from_str(&ok(env, day, &args)).expect("JSON");
    view["id"].as_i64().expect("an id").to_string()
}

fn show(env: &Env, day: &str, id: &str) -> Value {
    serde_json::from_str(&ok(env, day, &["show", id, "--json"])).expect("JSON")
}

/// One kind's application: its applicant, its fields, and the verbs that answer it.
type Case = (&'static str, String, Vec<String>, Answers);
type Answers = Vec<Vec<&'static str>>;

/// Every kind, filed by the cast's operators and organisations A and B.
fn kinds(a: &str, b: &str) -> Vec<Case> {
    let s = |items: &[&str]| items.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let site = [
        "operator=alpha",
        "web_server=nginx 1.24.0",
        "dbms=PostgreSQL 15",
        "cms=none",
        "specialists.0.name=A. Admin",
        "specialists.0.email=admin@a.example.kz",
        "specialists.0.work_phone=+7 7172 000000",
        "specialists.0.mobile=+7 701 0000000",
    ];
    let with_site = |items: &[&str]| {
        let mut all = s(items);
        all.extend(s(&site));
        all
    };
    vec![
        (
            "operator-link",
            "operator:alpha".into(),
            s(&[
                "object_name=Akimat B",
                "object_address=Astana, 1 Beibitshilik",
                "main_gbps=2",
                "backup_gbps=1",
                "planned=2026-06-01",
            ]),
            vec![vec!["conditions", "--number", "TC-2026-1", "--connection-point", "port 3, LC/UPC"]],
        ),
        (
            "yearly-lists",
            format!("org:{a}"),
            s(&["categories=news,education", "networks=192.0.2.0/24"]),
            vec![vec!["apply"]],
        ),
        ("risky-service", format!("org:{a}"), s(&["category=vpn", "purpose=remote staff"]), vec![vec!["apply"]]),
        ("waf", format!("org:{a}"), with_site(&["site=a.example.kz", "addresses=192.0.2.80"]), vec![vec!["connect"]]),
        (
            "defacement",
            format!("org:{a}"),
            with_site(&[
                "site=a.example.kz",
                "addresses=192.0.2.80",
                "pages=https://a.example.kz/",
                "access=sftp://192.0.2.80/var/www",
                "login=restore",
                "password=never-shown-1",
            ]),
            vec![vec!["connect"]],
        ),
        (
            "resource-change",
            format!("org:{a}"),
            s(&["resource=a.example.kz", "change=address", "changed_on=2026-02-27", "details=now 192.0.2.81"]),
            vec![vec!["close", "--note", "catalog updated"]],
        ),
        (
            "incident",
            "operator:beta".into(),
            s(&["summary=defaced page", "observed_on=2026-03-02"]),
            vec![vec!["close", "--note", "restored"]],
        ),
        (
            "mail-connection",
            format!("org:{b}"),
            {
                let mut mail = s(&["system=b-mail", "domains=b.example.kz", "servers=192.0.2.25"]);
                mail.extend(s(&site[4..]));
                mail
            },
            vec![vec!["check"], vec!["connect"]],
        ),
    ]
}

#[test]
fn every_kind_is_filed_and_answered_and_its_contacts_are_told() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let (mut sent, mut waf_id) = (0, None);
    for (kind, applicant, fields, answers) in kinds(&cast.a, &cast.b) {
        let id = file(&env, "2026-03-02", kind, &applicant, &fields);
        sent += 1;
        if kind == "waf" {
            waf_id = Some(id.clone());
        }
        let filed = show(&env, "2026-03-02", &id);
        assert_eq!(filed["request"]["state"], "filed", "{kind}");
        assert_eq!(filed["request"]["holder"], "duty", "{kind}");
        for answer in &answers {
            let mut args = answer.clone();
            args.insert(1, &id);
            ok(&env, "2026-03-04", &args);
            sent += 1;
        }
        let answered = show(&env, "2026-03-04", &id);
        let expected = match kind {
            "operator-link" => "conditions",
            "yearly-lists" | "risky-service" => "applied",
            "resource-change" | "incident" => "closed",
            _ => "connected",
        };
        assert_eq!(answered["request"]["state"], expected, "{kind}: {answered}");
        assert_eq!(answered["timeline"].as_array().unwrap().len(), 1 + answers.len(), "{kind}");
        // The resource change of Friday 27 February was due by 6 March: reported on time.
        assert!(answered["request"]["reported_late"].is_null(), "{kind}");
        let subject = format!("request:{id}");
        let audit = env.ok(&["audit", "--subject", &subject, "--json"]);
        // Issuing technical conditions also attaches their PDF, audited on its own.
        let documents = usize::from(kind == "operator-link");
        let entries = serde_json::from_str::<Value>(&audit).unwrap().as_array().unwrap().len();
        assert_eq!(entries, 1 + answers.len() + documents, "{kind}: {audit}");
    }
    // The connected WAF application is a protected site, owned by its applicant, its
    // addresses the origins, its specialist told.
    let waf_id = waf_id.expect("a WAF application");
    let sites: Value = serde_json::from_str(&env.ok(&["waf", "site", "list", "--json"])).expect("JSON");
    let site = sites.as_array().unwrap().iter().find(|s| s["domain"] == "a.example.kz").expect("the site");
    assert_eq!(site["application_id"].as_i64(), waf_id.parse().ok(), "{site}");
    assert_eq!(site["owner_bin"], cast.a.as_str(), "{site}");
    assert_eq!(site["origins"], serde_json::json!(["192.0.2.80:80"]), "{site}");
    assert!(site["contacts"].to_string().contains("admin@a.example.kz"), "{site}");
    // Plus the duty team's alert of the incident, at once.
    eventually("every transition is e-mailed", || sink.messages().len() == sent + 1);
    let mails = sink.readable();
    let (alerts, told): (Vec<&String>, Vec<&String>) =
        mails.iter().partition(|m| m.contains("What happened: incident reported"));
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].contains("duty@gateway.example") && alerts[0].contains("defaced page"), "{}", alerts[0]);
    assert!(told.iter().all(|m| m.contains("desk-contact@applicant.example")), "to the applicant's contacts");
    assert!(
        mails.iter().any(|m| m.contains("Technical conditions TC-2026-1 issued 2026-03-04, valid through 2026-05-03"))
    );
    // Seven working days from Wednesday 4 March: 9 March is off (8 March fell on a Sunday).
    assert!(mails.iter().any(|m| m.contains("Your next step is due by 2026-03-16")), "7 working days for readiness");

    // The link's operator now holds it; the yearly lists are in force for a year.
    let list: Value = serde_json::from_str(&ok(&env, "2026-03-04", &["list", "--json"])).unwrap();
    let link = list.as_array().unwrap().iter().find(|v| v["kind"] == "operator-link").unwrap();
    assert_eq!((link["holder"].as_str(), link["due"].as_str()), (Some("applicant"), Some("2026-03-16")));
    let lists = list.as_array().unwrap().iter().find(|v| v["kind"] == "yearly-lists").unwrap();
    assert_eq!(lists["valid_through"], "2027-03-03");

    // Due soon: within three working days of Wednesday 11 March (12, 13, 16 March) only
    // the link's readiness (16 March) is due; every other application was answered.
    let soon: Value = serde_json::from_str(&ok(&env, "2026-03-11", &["list", "--due-within", "3", "--json"])).unwrap();
    let kinds: Vec<&str> = soon.as_array().unwrap().iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["operator-link"], "{soon}");
    let overdue: Value = serde_json::from_str(&ok(&env, "2026-03-17", &["list", "--overdue", "--json"])).unwrap();
    assert_eq!(overdue[0]["kind"], "operator-link");
    assert_eq!(overdue.as_array().unwrap().len(), 1);
}

#[test]
fn a_refusal_refuses_an_early_refiling_with_the_date_and_accepts_a_later_one() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let mut waits = 0;
    for (kind, applicant, fields, _) in kinds(&cast.a, &cast.b) {
        if kind == "resource-change" || kind == "incident" {
            continue;
        }
        let id = file(&env, "2026-03-02", kind, &applicant, &fields);
        let out = ok(&env, "2026-03-03", &["refuse", &id, "--reason", "incomplete: no signed letter"]);
        let shown = show(&env, "2026-03-10", &id);
        assert_eq!(shown["request"]["reason"], "incomplete: no signed letter");
        let mut args = vec!["file", kind, "--applicant", &applicant, "--contact", "x@applicant.example"];
        fields.iter().for_each(|f| args.extend(["--set", f.as_str()]));
        if !matches!(kind, "waf" | "defacement" | "mail-connection") {
            assert!(!out.contains("resubmit_from") && shown["request"]["resubmit_from"].is_null(), "{kind}: {out}");
            ok(&env, "2026-03-04", &args);
            continue;
        }
        waits += 1;
        assert!(out.contains("resubmit_from 2026-04-03"), "{kind}: {out}");
        assert_eq!(shown["request"]["resubmit_from"], "2026-04-03", "{kind}");
        let early = fails(&env, "2026-04-02", &args);
        assert!(early.contains("was refused on 2026-03-03; a new one for"), "{early}");
        assert!(early.contains("is accepted from 2026-04-03"), "{early}");
        ok(&env, "2026-04-03", &args);
    }
    let early = env.ok(&["audit", "--json", "--limit", "200"]);
    let refused_early = serde_json::from_str::<Value>(&early).unwrap();
    let count = refused_early.as_array().unwrap().iter().filter(|c| c["action"] == "request.refused-early").count();
    assert_eq!((count, waits), (3, 3), "every early refiling is in the audit trail");
    eventually("refusals are e-mailed", || {
        sink.readable().iter().filter(|m| m.contains("is accepted from 2026-04-03")).count() == 3
    });
}

#[test]
fn technical_conditions_lapse_unless_extended_ten_days_ahead() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    env.cast();
    let fields =
        ["object_name=School 5", "object_address=Kosshy", "main_gbps=1", "backup_gbps=1", "planned=2026-05-01"];
    let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    let kept = file(&env, "2026-01-05", "operator-link", "operator:alpha", &fields);
    let lapsing = file(&env, "2026-01-05", "operator-link", "operator:alpha", &fields);
    for id in [&kept, &lapsing] {
        ok(&env, "2026-01-10", &["conditions", id, "--number", &format!("TC-{id}"), "--connection-point", "port 1"]);
    }
    // Valid through 11 March: an extension must come by 1 March.
    ok(&env, "2026-03-01", &["extend", &kept]);
    let late = fails(&env, "2026-03-02", &["extend", &lapsing]);
    assert!(late.contains("may be extended until 2026-03-01"), "{late}");
    let lapsed = ok(&env, "2026-03-12", &["sweep"]);
    assert!(lapsed.contains(&format!("[{lapsing}]")), "{lapsed}");
    assert_eq!(show(&env, "2026-03-12", &lapsing)["request"]["state"], "lapsed");
    let kept = show(&env, "2026-03-12", &kept);
    assert_eq!(kept["request"]["conditions"]["expires"], "2026-05-10");
    let refused = fails(&env, "2026-03-12", &["ready", &lapsing]);
    assert!(refused.contains("'lapsed'"), "{refused}");
    eventually("the lapse is e-mailed", || sink.readable().iter().any(|m| m.contains("What happened: lapse")));
}

#[test]
fn a_connected_mail_application_creates_the_mail_system_and_credentials_stay_sealed() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let (_, applicant, fields, _) = kinds(&cast.a, &cast.b).pop().unwrap();
    let id = file(&env, "2026-03-02", "mail-connection", &applicant, &fields);
    let early = fails(&env, "2026-03-02", &["connect", &id]);
    assert!(early.contains("'filed' cannot be given 'connect'"), "checked first: {early}");
    ok(&env, "2026-03-03", &["check", &id]);
    ok(&env, "2026-03-04", &["connect", &id]);
    let system: Value = serde_json::from_str(&env.ok(&["mail", "show", "b-mail", "--json"])).unwrap();
    assert_eq!(system["system"]["status"], "active");
    assert_eq!(system["system"]["owner_bin"], cast.b.as_str());
    assert_eq!(system["system"]["contacts"][0], "desk-contact@applicant.example");
    // Disconnected at the time agreed with the owner: the registry holds the date.
    let agreed = "2099-06-30T18:00:00+05:00";
    ok(&env, "2026-06-01", &["disconnect", &id, "--reason", "no longer eligible", "--at", agreed]);
    let system: Value = serde_json::from_str(&env.ok(&["mail", "show", "b-mail", "--json"])).unwrap();
    assert_eq!(system["system"]["status"], "active", "until the agreed time");
    assert!(system["system"]["disconnect_at"].is_i64(), "{system}");
    assert_eq!(show(&env, "2026-06-01", &id)["request"]["state"], "disconnected");

    let (_, applicant, fields, _) = kinds(&cast.a, &cast.b).swap_remove(4);
    let id = file(&env, "2026-03-02", "defacement", &applicant, &fields);
    let shown = ok(&env, "2026-03-02", &["show", &id, "--json"]);
    assert!(!shown.contains("never-shown-1") && shown.contains("********"), "{shown}");
    assert!(!env.ok(&["audit", "--json", "--limit", "100"]).contains("never-shown-1"));
    use std::os::unix::fs::PermissionsExt;
    let key = std::fs::metadata(env.path("data").join("desk.key")).expect("the key file exists");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

#[test]
fn the_api_files_lists_and_moves_requests_and_operators_see_only_their_own() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let duty = env.token("duty", &["--duty"]);
    let alpha = env.token("alpha-noc", &["--operator", "alpha"]);
    let beta = env.token("beta-noc", &["--operator", "beta"]);
    let server = env.up();
    let post = |path: &str, token: &str, body: &str| server.post_json(path, token, body);
    let link = r#"{"kind": "operator-link", "applicant": "operator:alpha", "contacts": ["noc@alpha.example"],
        "fields": {"object_name": "Akimat B", "object_address": "Astana", "main_gbps": 1, "backup_gbps": 1,
        "planned": "2099-01-01"}}"#;
    let filed = post("/api/v1/requests", &alpha, link);
    assert_eq!(filed.status, 201, "{}", filed.body);
    let id = filed.json()["id"].as_i64().unwrap();
    assert_eq!(filed.json()["holder"], "duty");
    assert!(filed.json()["due"].is_string());

    let other = post("/api/v1/requests", &beta, link);
    assert_eq!(other.status, 403, "beta cannot file for alpha");
    let bad =
        post("/api/v1/requests", &duty, &link.replace("\"main_gbps\": 1", "\"main_gbps\": 0").replace("Astana", ""));
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("main_gbps") && bad.body.contains("object_address"), "every problem: {}", bad.body);
    let org = format!(
        r#"{{"kind": "yearly-lists", "applicant": "org:{}", "contacts": ["it@c.example"],
        "fields": {{"categories": ["news"], "networks": ["198.51.100.0/24"]}}}}"#,
        cast.c
    );
    assert_eq!(post("/api/v1/requests", &duty, &org).status, 201, "C, which only beta connects");

    let mine = server.get("/api/v1/requests", &alpha).json();
    assert_eq!(mine.as_array().unwrap().len(), 1, "alpha sees only its own: {mine}");
    assert_eq!(server.get("/api/v1/requests", &duty).json().as_array().unwrap().len(), 2);
    assert_eq!(server.get(&format!("/api/v1/requests/{id}"), &beta).status, 404, "another's is as if missing");
    assert!(server.get("/api/v1/requests?overdue=true", &duty).json().as_array().unwrap().is_empty());

    let actions = format!("/api/v1/requests/{id}/actions");
    let conditions = r#"{"action": "conditions", "number": "TC-9", "connection_point": "port 1"}"#;
    assert_eq!(post(&actions, &alpha, conditions).status, 403, "the duty team issues conditions");
    let issued = post(&actions, &duty, conditions);
    assert_eq!((issued.status, issued.json()["holder"].as_str()), (200, Some("applicant")), "{}", issued.body);
    let ready = post(&actions, &alpha, r#"{"action": "ready"}"#);
    assert_eq!((ready.status, ready.json()["state"].as_str()), (200, Some("checking")), "{}", ready.body);
    let wrong = post(&actions, &duty, r#"{"action": "apply"}"#);
    assert_eq!(wrong.status, 409, "{}", wrong.body);
    let pdf = env.write("letter.pdf", "%PDF-1.7 a letter");
    let attach = format!("/api/v1/requests/{id}/attachments?name=letter.pdf");
    let attached = server.call("POST", &attach, Some(&alpha), Some((&pdf, "application/pdf")));
    assert_eq!(attached.status, 201, "{}", attached.body);
    assert_eq!(
        server.call("POST", &attach, Some(&beta), Some((&pdf, "application/pdf"))).status,
        404,
        "beta does not see it"
    );
    let wrong = server.call("POST", &attach, Some(&alpha), Some((&pdf, "image/png")));
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let shown = server.get(&format!("/api/v1/requests/{id}"), &alpha).json();
    assert_eq!(shown["timeline"].as_array().unwrap().len(), 3);
    let names: Vec<&str> =
        shown["attachments"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "the conditions' PDF and the letter: {names:?}");
    assert!(names[0].starts_with("technical-conditions-TC-9-") && names[1] == "letter.pdf", "{names:?}");
    let doc = server.call("GET", "/api/v1/openapi.json", None, None).json();
    assert!(doc["paths"]["/api/v1/requests/{id}/actions"]["post"].is_object());
    eventually("the transitions are e-mailed", || sink.messages().len() == 4);
}

#[test]
fn a_mail_system_connected_from_the_desk_has_its_mail_accepted_by_the_relay() {
    let desk_mail = SmtpSink::start(&[]);
    let outside = SmtpSink::start(&[]);
    let owner = SmtpSink::start(&[]);
    let mut env = Env::new();
    let cast = env.cast();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         [catalog]\nrefresh = \"200ms\"\n[relay]\nspool_dir = \"spool\"\nhostname = \"relay.test\"\n\
         [relay.delivery]\nretry = [\"1s\"]\n[relay.delivery.transport]\n\"example.net\" = \"127.0.0.1:{}\"\n",
        desk_mail.port, outside.port
    ));
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let relay = server.relay.clone().expect("the mail relay runs");
    let send =
        || common::swaks::send(&relay, "127.0.0.3", "clerk@desk-b.gov.kz", "someone@example.net", &[], "via desk");
    assert!(!common::swaks::accepted(&send()), "not relayed before it is connected");

    let body = format!(
        r#"{{"kind": "mail-connection", "applicant": "org:{}", "contacts": ["postmaster@desk-b.gov.kz"],
        "fields": {{"system": "desk-b", "domains": ["desk-b.gov.kz"], "servers": ["127.0.0.3"],
        "deliver_to": "127.0.0.1:{}", "specialists": [{{"name": "B. Postmaster", "email": "postmaster@desk-b.gov.kz",
        "work_phone": "+7 7172 000000", "mobile": "+7 701 0000000"}}]}}}}"#,
        cast.b, owner.port
    );
    let file = env.write("mail.json", &body);
    let filed = server.call("POST", "/api/v1/requests", Some(&duty), Some((&file, "application/json")));
    assert_eq!(filed.status, 201, "{}", filed.body);
    let actions = format!("/api/v1/requests/{}/actions", filed.json()["id"]);
    for action in [r#"{"action": "check"}"#, r#"{"action": "connect"}"#] {
        let file = env.write("action.json", action);
        let done = server.call("POST", &actions, Some(&duty), Some((&file, "application/json")));
        assert_eq!(done.status, 200, "{}", done.body);
    }
    eventually("the relay accepts the new system's mail", || common::swaks::accepted(&send()));
    eventually("and delivers it", || outside.messages().iter().any(|m| m.contains("via desk")));
    eventually("the applicant is told", || desk_mail.readable().iter().any(|m| m.contains("State: connected")));
}

#[test]
fn an_applied_yearly_list_becomes_the_policy_the_web_gateway_decides_by() {
    let sink = SmtpSink::start(&[]);
    let mut env = Env::new();
    let cast = env.cast();
    std::fs::create_dir_all(env.path("categories")).unwrap();
    env.write("categories/test.csv", "news.test,news\nvpn.test,vpn\n");
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         [policies]\ncategories_dir = \"{}\"\n",
        sink.port,
        env.path("categories").display()
    ));
    let explain = |host: &str| env.ok(&["policy", "explain", "--org", &cast.a, host]);
    assert!(explain("news.test").contains("decision    deny"), "{}", explain("news.test"));
    assert!(explain("vpn.test").contains("decision    deny"));

    // Filed and applied today (the real clock: a policy is in force for a year from then).
    let file = |kind: &str, sets: &[&str]| {
        let mut args = vec!["request", "file", kind, "--applicant", "", "--contact", "it@a.example", "--json"];
        let applicant = format!("org:{}", cast.a);
        args[4] = &applicant;
        sets.iter().for_each(|s| args.extend(["--set", s]));
        let view: Value = serde_json::from_str(&env.ok(&args)).unwrap();
        view["id"].as_i64().unwrap().to_string()
    };
    let lists = file("yearly-lists", &["categories=news", "networks=192.0.2.0/24"]);
    let vpn = file("risky-service", &["category=vpn", "purpose=remote staff"]);
    assert!(explain("news.test").contains("decision    deny"), "filed is not yet applied");
    env.ok(&["request", "apply", &lists]);
    env.ok(&["request", "apply", &vpn]);
    let news = explain("news.test");
    assert!(news.contains("decision    allow") && news.contains("access list"), "{news}");
    let granted = explain("vpn.test");
    assert!(granted.contains("decision    allow") && granted.contains(&format!("request {vpn}")), "{granted}");
    let other = env.ok(&["policy", "explain", "--org", &cast.b, "news.test"]);
    assert!(other.contains("decision    deny"), "only the applicant's policy changes: {other}");
    // The book in force, in the policy file's format (the file is now import and export).
    let exported = env.ok(&["policy", "export"]);
    assert!(
        exported.contains(&format!("bin = \"{}\"", cast.a)) && exported.contains("categories = [\"news\"]"),
        "{exported}"
    );
    assert!(exported.contains(&format!("request = \"request {vpn}\"")), "{exported}");
    let file = env.write("exported.toml", &exported);
    assert!(env.ok(&["policy", "check", file.to_str().unwrap()]).contains("1 organisation policies"));
}

#[test]
fn the_console_lists_requests_overdue_first_and_takes_transitions_with_csrf() {
    use common::console::Browser;
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    env.user("duty1", "duty password one", &["--duty"]);
    env.user("alpha1", "alpha password one", &["--operator", "alpha"]);
    let (_, link_applicant, link_fields, _) = kinds(&cast.a, &cast.b).swap_remove(0);
    // Filed long ago and never answered: overdue today.
    let late = file(&env, "2026-03-02", "operator-link", &link_applicant, &link_fields);
    let lists = env.file_yearly_lists(&cast.c, "it@c.example");
    let server = env.up();

    let mut duty = Browser::new(&env, &server, "duty");
    assert_eq!(duty.login("duty1", "duty password one").status, 303);
    let page = duty.get("/requests");
    assert_eq!(page.status, 200, "{}", page.body);
    let first = page.body.find(&format!("href=\"/requests/{late}\"")).expect("the late request is listed");
    let second = page.body.find(&format!("href=\"/requests/{lists}\"")).expect("the new one too");
    assert!(first < second && page.body.contains("overdue"), "overdue first");

    let today = duty.get("/today");
    assert!(today.body.contains("href=\"/requests\""), "Today links the overdue applications");
    let detail = duty.get(&format!("/requests/{late}"));
    assert!(detail.body.contains("value=\"conditions\"") && detail.body.contains("value=\"refuse\""));
    let act = format!("/requests/{late}/act");
    let forged = duty.post_raw(&act, &[("verb", "conditions"), ("number", "TC-5")]);
    assert_eq!(forged.status, 403, "a form without its token is refused");
    let done = duty.post(&act, &[("verb", "conditions"), ("number", "TC-5"), ("connection_point", "port 2")]);
    assert_eq!(done.status, 303, "{}", done.body);
    let detail = duty.get(&format!("/requests/{late}"));
    assert!(detail.body.contains("TC-5") && detail.body.contains("the applicant"), "{}", detail.body);
    let audit = env.ok(&["audit", "--subject", &format!("request:{late}")]);
    assert!(audit.contains("user:duty1"), "{audit}");

    let mut alpha = Browser::new(&env, &server, "alpha");
    assert_eq!(alpha.login("alpha1", "alpha password one").status, 303);
    let mine = alpha.get("/requests");
    assert!(mine.body.contains(&format!("href=\"/requests/{late}\"")));
    assert!(
        !mine.body.contains(&format!("href=\"/requests/{lists}\"")),
        "not those of C, which alpha does not connect"
    );
    assert_eq!(alpha.get(&format!("/requests/{lists}")).status, 404);
    let own = alpha.get(&format!("/requests/{late}"));
    assert!(own.body.contains("value=\"ready\"") && !own.body.contains("value=\"connect\""));
    assert_eq!(alpha.post(&act, &[("verb", "ready")]).status, 303);
    assert_eq!(show(&env, "2026-03-02", &late)["request"]["state"], "checking");
}

#[test]
fn editing_the_calendar_moves_the_due_days_of_open_applications() {
    let sink = SmtpSink::start(&[]);
    let mut env = Env::new();
    let cast = env.cast();
    let calendar = env.write("kz.cal", "holiday 01-01 New Year\n");
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         [calendar]\nfile = \"{}\"\n",
        sink.port,
        calendar.display()
    ));
    let sets = ["categories=news".to_string(), "networks=192.0.2.0/24".to_string()];
    let id = file(&env, "2026-03-02", "yearly-lists", &format!("org:{}", cast.a), &sets);
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let due = || server.get(&format!("/api/v1/requests/{id}"), &duty).json()["request"]["due"].clone();
    // Ten working days from Monday 2 March with no holiday in March: 3–6, 9–13, 16.
    assert_eq!(due(), "2026-03-16");
    assert_eq!(show(&env, "2026-03-02", &id)["request"]["due"], "2026-03-16");
    env.write("kz.cal", "holiday 01-01 New Year\noff 2026-03-10 a day off decreed later\n");
    assert_eq!(show(&env, "2026-03-02", &id)["request"]["due"], "2026-03-17", "the CLI reads the file in force");
    eventually("the running service follows the file", || due() == "2026-03-17");
}

#[test]
fn the_web_gateway_enforces_an_applied_yearly_list_without_a_restart() {
    use common::netns::{HOST_SIDE, Netns, WORKSTATION};
    assert!(common::netns::is_root(), "this test needs root to create a network namespace");
    let sink = SmtpSink::start(&[]);
    let mut env = Env::new();
    let cast = env.cast();
    let port = common::free_port();
    let _origin = common::origin::origin(&env, port);
    std::fs::create_dir_all(env.path("categories")).unwrap();
    env.write("categories/test.csv", "news.test,news\n");
    let dir = env.dir.path().display().to_string();
    env.configure(&format!(
        r#"
[notices]
smtp_url = "smtp://127.0.0.1:{smtp}"
from = "Desk <desk@gateway.example>"
[catalog]
refresh = "200ms"
[policies]
categories_dir = "{dir}/categories"
reload = "1s"
[proxy.explicit]
link = "alpha-1"
[proxy.upstream]
extra_anchors = ["{dir}/origin-ca.pem"]
[proxy.destinations]
ports = [{port}]
deny = []
[proxy.dns]
[proxy.dns.hosts]
"news.test" = ["127.0.0.1"]
"#,
        smtp = sink.port
    ));
    env.write("list.csv", &format!("{WORKSTATION}/32,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", env.path("list.csv").to_str().unwrap()]);
    env.ok(&["ca", "init"]);
    env.ok(&["ca", "export", "-o", env.path("gateway-root.pem").to_str().unwrap()]);
    let ns = Netns::new("pmtdesk");
    let server =
        env.up_with("warn", std::process::Stdio::inherit(), &[("PERIMETER_PROXY_LISTEN", &format!("{HOST_SIDE}:0"))]);
    let proxy = format!("http://{}", server.proxy.as_deref().expect("the web proxy runs"));
    let root = env.path("gateway-root.pem").display().to_string();
    let news = format!("https://news.test:{port}/");
    let fetch = || ns.curl(WORKSTATION, &["-x", &proxy, "--cacert", &root, "-w", "\n%{http_code}", &news]).1;
    let before = fetch();
    assert!(before.ends_with("403") && before.contains("news"), "no policy yet: {before}");

    let applicant = format!("org:{}", cast.a);
    let args = [
        "request",
        "file",
        "yearly-lists",
        "--applicant",
        &applicant,
        "--contact",
        "it@a.example",
        "--set",
        "categories=news",
        "--set",
        "networks=198.51.100.0/24",
        "--json",
    ];
    let view: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    let id = view["id"].as_i64().unwrap().to_string();
    assert!(fetch().ends_with("403"), "filed is not applied");
    env.ok(&["request", "apply", &id]);
    eventually("the applied list reaches the running gateway", || {
        let page = fetch();
        page.ends_with("200") && page.contains("s_server")
    });
}

#[test]
fn an_organisation_is_reminded_once_before_its_policy_lapses() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let sets = ["categories=news".to_string(), "networks=192.0.2.0/24".to_string()];
    let id = file(&env, "2026-03-02", "yearly-lists", &format!("org:{}", cast.a), &sets);
    ok(&env, "2026-03-04", &["apply", &id]);
    // In force through 3 March 2027: reminded from 1 February (30 days ahead), once.
    assert!(ok(&env, "2027-01-31", &["sweep"]).contains("reminded of lapsing policies: []"));
    assert!(ok(&env, "2027-02-01", &["sweep"]).contains(&format!("reminded of lapsing policies: [{id}]")));
    assert!(ok(&env, "2027-02-02", &["sweep"]).contains("reminded of lapsing policies: []"));
    eventually("the reminder is e-mailed", || {
        sink.readable().iter().any(|m| m.contains("reminder: in force through 2027-03-03"))
    });
    let timeline = show(&env, "2027-02-02", &id)["timeline"].clone();
    assert_eq!(timeline.as_array().unwrap().iter().filter(|t| t["verb"] == "remind").count(), 1);
}

/// openssl in the test's directory.
fn openssl(env: &Env, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(env.dir.path()).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A trust anchor (RSA), and a document signed (CMS, DER, content attached) by a signer
/// whose key is `key_args` (RSA or ECDSA) and whose subject names a BIN; `cms_args` go
/// to `openssl cms -sign` (`-keyid`: the signer named by its subject key identifier).
fn signed_document(env: &Env, name: &str, key_args: &[&str], bin: &str, cms_args: &[&str]) -> std::path::PathBuf {
    if !env.path("anchor.pem").exists() {
        openssl(
            env,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "anchor.key",
                "-out",
                "anchor.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Test National CA",
            ],
        );
    }
    let key = format!("{name}.key");
    let mut req = vec!["req", "-newkey"];
    req.extend_from_slice(key_args);
    let subject = format!("/CN=Signer {name}/OU=BIN{bin}/O=Akimat");
    req.extend(["-nodes", "-keyout", &key, "-out", "s.csr", "-subj", &subject]);
    openssl(env, &req);
    let cert = format!("{name}.pem");
    env.write("signer.ext", "subjectKeyIdentifier = hash\n");
    openssl(
        env,
        &[
            "x509",
            "-req",
            "-extfile",
            "signer.ext",
            "-in",
            "s.csr",
            "-CA",
            "anchor.pem",
            "-CAkey",
            "anchor.key",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "30",
        ],
    );
    env.write("letter.txt", "We ask to connect our mail system.\n");
    let out = format!("{name}.p7s");
    let mut sign = vec!["cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", "letter.txt", "-signer"];
    sign.extend([cert.as_str(), "-inkey", &key, "-outform", "DER", "-out", &out]);
    sign.extend_from_slice(cms_args);
    openssl(env, &sign);
    env.path(&out)
}

#[test]
fn signed_documents_are_verified_against_the_trust_anchors_and_their_signer_recorded() {
    let sink = SmtpSink::start(&[]);
    let mut env = env_with_smtp(sink.port);
    let cast = env.cast();
    let rsa = signed_document(&env, "rsa", &["rsa:2048"], &cast.b, &[]);
    let ec = signed_document(&env, "ec", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], &cast.b, &[]);
    let keyid = signed_document(&env, "keyid", &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"], &cast.b, &["-keyid"]);
    std::fs::copy(env.path("anchor.pem"), env.path("trusted.pem")).unwrap();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         [desk]\ntrust_anchors = \"{}\"\n",
        sink.port,
        env.path("trusted.pem").display()
    ));
    let (_, applicant, fields, _) = kinds(&cast.a, &cast.b).pop().unwrap();
    let id = file(&env, "2026-03-02", "mail-connection", &applicant, &fields);
    for (doc, what) in [(&rsa, "RSA"), (&ec, "ECDSA"), (&keyid, "named by key identifier")] {
        let out = env.ok(&["request", "attach", &id, doc.to_str().unwrap()]);
        assert!(out.contains(&format!("(BIN {})", cast.b)) && out.contains("Signer"), "{what}: {out}");
    }
    let shown = show(&env, "2026-03-02", &id);
    let attachments = shown["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 3);
    assert!(attachments.iter().all(|a| a["signer_bin"] == cast.b.as_str()), "{shown}");

    // A changed byte in the signed content, or a signer from another authority: refused.
    let mut bytes = std::fs::read(&rsa).unwrap();
    let at = bytes.windows(7).position(|w| w == b"connect").expect("the content is attached");
    bytes[at] = b'C';
    let tampered = env.write("tampered.p7s", "");
    std::fs::write(&tampered, bytes).unwrap();
    let refused = env.fails(&["request", "attach", &id, tampered.to_str().unwrap()]);
    assert!(refused.contains("does not match its signed digest"), "{refused}");

    // A detached signature is verified over the attachment it signs, and names it.
    let letter = env.ok(&["request", "attach", &id, env.path("letter.txt").to_str().unwrap()]);
    assert!(letter.contains("attached letter.txt"), "{letter}");
    let sign = ["cms", "-sign", "-binary", "-md", "sha256", "-in", "letter.txt", "-signer", "rsa.pem", "-inkey"];
    let mut detached = sign.to_vec();
    detached.extend(["rsa.key", "-outform", "DER", "-out", "detached.p7s"]);
    openssl(&env, &detached);
    let out = env.ok(&["request", "attach", &id, env.path("detached.p7s").to_str().unwrap()]);
    assert!(out.contains("a detached signature of attachment") && out.contains(&cast.b), "{out}");
    env.write("other.txt", "A document nobody attached.\n");
    let mut other = sign.to_vec();
    other[6] = "other.txt";
    other.extend(["rsa.key", "-outform", "DER", "-out", "other.p7s"]);
    openssl(&env, &other);
    let refused = env.fails(&["request", "attach", &id, env.path("other.p7s").to_str().unwrap()]);
    assert!(refused.contains("signs none of the application's attachments"), "{refused}");
    let attached = show(&env, "2026-03-02", &id)["attachments"].as_array().unwrap().clone();
    let letter_id = attached.iter().find(|a| a["name"] == "letter.txt").unwrap()["id"].clone();
    assert_eq!(attached.iter().find(|a| a["name"] == "detached.p7s").unwrap()["signs"], letter_id);

    std::fs::remove_file(env.path("anchor.pem")).unwrap(); // another authority from here on
    let stranger = signed_document(&env, "stranger", &["rsa:2048"], &cast.b, &[]);
    let refused = env.fails(&["request", "attach", &id, stranger.to_str().unwrap()]);
    assert!(refused.contains("does not chain to a configured trust anchor"), "{refused}");
    assert_eq!(show(&env, "2026-03-02", &id)["attachments"].as_array().unwrap().len(), 5);
}

/// Where rules 15 and 15-2 ask for the organisation's signature and trust anchors are
/// set, a yearly list is filed only with the application signed for the applicant's own
/// BIN: unsigned, or signed for another organisation's BIN, it is refused saying so and
/// nothing is recorded; signed by the applicant, it is filed with the signed
/// application attached under its signer.
#[test]
fn with_trust_anchors_a_yearly_list_is_filed_only_signed_for_the_applicants_own_bin() {
    let sink = SmtpSink::start(&[]);
    let mut env = env_with_smtp(sink.port);
    let cast = env.cast();
    let own = signed_document(&env, "own", &["rsa:2048"], &cast.a, &[]);
    let other = signed_document(&env, "other", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], &cast.b, &[]);
    std::fs::copy(env.path("anchor.pem"), env.path("trusted.pem")).unwrap();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         [desk]\ntrust_anchors = \"{}\"\n",
        sink.port,
        env.path("trusted.pem").display()
    ));
    let applicant = format!("org:{}", cast.a);
    let lists = |signed: Option<&std::path::Path>| {
        let mut args = vec!["file", "yearly-lists", "--applicant", &applicant, "--contact", "it@a.example", "--json"];
        args.extend(["--set", "categories=news", "--set", "networks=192.0.2.0/24"]);
        if let Some(path) = signed {
            args.extend(["--signed", path.to_str().unwrap()]);
        }
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };

    let unsigned = lists(None);
    let refused = fails(&env, "2026-03-02", &strs(&unsigned));
    assert!(refused.contains("IQBSH rules 15 and 15-2") && refused.contains(".p7s"), "{refused}");
    let for_b = lists(Some(&other));
    let refused = fails(&env, "2026-03-02", &strs(&for_b));
    assert!(
        refused.contains(&format!("signed for BIN {}", cast.b)) && refused.contains(&applicant),
        "another organisation's signature is refused, naming both: {refused}"
    );
    let listed: Value = serde_json::from_str(&ok(&env, "2026-03-02", &["list", "--json"])).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "nothing is recorded: {listed}");

    let signed = lists(Some(&own));
    let view: Value = serde_json::from_str(&ok(&env, "2026-03-02", &strs(&signed))).expect("JSON");
    let id = view["id"].as_i64().expect("filed").to_string();
    let attachments = show(&env, "2026-03-02", &id)["attachments"].as_array().unwrap().clone();
    assert_eq!(attachments.len(), 1, "the signed application is kept: {attachments:?}");
    assert_eq!(attachments[0]["name"], "own.p7s");
    assert_eq!(attachments[0]["signer_bin"], cast.a.as_str());
    assert!(attachments[0]["signer"].as_str().unwrap().contains("Signer own"), "{attachments:?}");
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
