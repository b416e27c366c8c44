//! The applicants' side of the request desk through the binary: an organisation's token
//! and an organisation's console login reach only the desk and only its own
//! applications, an operator follows the applications of the organisations it
//! connects, attachments come back byte for byte, and the desk's e-mails wait in the
//! outbox while the SMTP server is down and are sent once when it returns; an
//! applicant cannot flood the desk (or make it e-mail) beyond its undecided limit.

mod common;

use common::console::Browser;
use common::{Env, SmtpSink, eventually, free_port};
use serde_json::Value;

fn env_with_smtp(smtp_port: u16, extra: &str) -> Env {
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Desk <desk@gateway.example>\"\n\
         send_timeout = \"2s\"\n{extra}"
    ));
    env
}

fn lists_body(bin: &str) -> String {
    format!(
        r#"{{"kind": "yearly-lists", "applicant": "org:{bin}", "contacts": ["it@org.example"],
        "fields": {{"categories": ["news"], "networks": ["198.51.100.0/24"]}}}}"#
    )
}

#[test]
fn an_organisation_token_files_and_follows_only_its_own_applications() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port, "");
    let cast = env.cast();
    let duty = env.token("duty", &["--duty"]);
    let org_a = env.token("ministry-a", &["--organisation", &cast.a]);
    let org_c = env.token("agency-c", &["--organisation", &cast.c]);
    let alpha = env.token("alpha-noc", &["--operator", "alpha"]);
    let beta = env.token("beta-noc", &["--operator", "beta"]);
    let server = env.up();
    let post = |path: &str, token: &str, body: &str| server.post_json(path, token, body);

    let filed = post("/api/v1/requests", &org_a, &lists_body(&cast.a));
    assert_eq!(filed.status, 201, "{}", filed.body);
    let a_id = filed.json()["id"].as_i64().unwrap();
    assert_eq!(post("/api/v1/requests", &org_a, &lists_body(&cast.c)).status, 403, "not for another organisation");
    let c_id = post("/api/v1/requests", &org_c, &lists_body(&cast.c)).json()["id"].as_i64().unwrap();
    let link = r#"{"kind": "operator-link", "applicant": "operator:alpha", "contacts": ["noc@alpha.example"],
        "fields": {"object_name": "Akimat B", "object_address": "Astana", "main_gbps": 1, "backup_gbps": 1,
        "planned": "2099-01-01"}}"#;
    let link_id = post("/api/v1/requests", &alpha, link).json()["id"].as_i64().unwrap();

    let ids = |token: &str| -> Vec<i64> {
        let list = server.get("/api/v1/requests", token).json();
        let mut ids: Vec<i64> = list.as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&org_a), [a_id], "an organisation sees only its own");
    assert_eq!(ids(&org_c), [c_id]);
    assert_eq!(ids(&alpha), [a_id, link_id], "alpha connects A, not C");
    assert_eq!(ids(&beta), [c_id], "beta connects C");
    assert_eq!(ids(&duty), [a_id, c_id, link_id]);
    for (token, id) in [(&org_a, c_id), (&org_a, link_id), (&org_c, a_id), (&beta, a_id)] {
        let shown = server.get(&format!("/api/v1/requests/{id}"), token);
        assert_eq!(shown.status, 404, "another's application is as if missing: {}", shown.body);
    }

    // Nothing outside the desk: not even the operators' names or the audit trail.
    for path in ["/api/v1/operators", "/api/v1/organisations", "/api/v1/blocks", "/api/v1/audit", "/api/v1/mail"] {
        let refused = server.get(path, &org_a);
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        assert!(!refused.body.contains("alpha"), "{path} says nothing of operators: {}", refused.body);
    }

    let actions = format!("/api/v1/requests/{a_id}/actions");
    assert_eq!(post(&actions, &org_a, r#"{"action": "apply"}"#).status, 403, "only the duty team answers");
    let applied = post(&actions, &duty, r#"{"action": "apply"}"#);
    assert_eq!((applied.status, applied.json()["state"].as_str()), (200, Some("applied")), "{}", applied.body);

    // An attachment comes back as it went in, to those who see the application only.
    let pdf_text = "%PDF-1.7\nthe organisation's signed letter\n";
    let pdf = env.write("letter.pdf", pdf_text);
    let attach = format!("/api/v1/requests/{a_id}/attachments?name=letter%20(final).pdf");
    let attached = server.call("POST", &attach, Some(&org_a), Some((&pdf, "application/pdf")));
    assert_eq!(attached.status, 201, "{}", attached.body);
    let file_id = attached.json()["id"].as_i64().unwrap();
    let path = format!("/api/v1/requests/{a_id}/attachments/{file_id}");
    let back = server.get(&path, &org_a);
    assert_eq!((back.status, back.body.as_str()), (200, pdf_text));
    assert_eq!(server.get(&path, &alpha).body, pdf_text, "the connecting operator reads it too");
    assert_eq!(server.get(&path, &org_c).status, 404);
    assert_eq!(server.get(&format!("/api/v1/requests/{c_id}/attachments/{file_id}"), &org_c).status, 404);
    let uploaded_by_other = server.call("POST", &attach, Some(&alpha), Some((&pdf, "application/pdf")));
    assert_eq!(uploaded_by_other.status, 403, "an operator follows an organisation's application, it does not act");

    let shown = server.get(&format!("/api/v1/requests/{a_id}"), &org_a).json();
    assert_eq!(shown["request"]["state"], "applied");
    eventually("the filing and the answer are e-mailed", || {
        let shown = server.get(&format!("/api/v1/requests/{a_id}"), &org_a).json();
        let mail = shown["mail"].as_array().cloned().unwrap_or_default();
        mail.len() == 2 && mail.iter().all(|m| m["status"] == "sent")
    });
}

#[test]
fn an_applicant_files_at_most_its_undecided_limit_and_the_refusals_send_nothing() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port, "[desk]\nmax_undecided_per_applicant = 3\n");
    let cast = env.cast();
    let duty = env.token("duty", &["--duty"]);
    let org_a = env.token("ministry-a", &["--organisation", &cast.a]);
    let org_c = env.token("agency-c", &["--organisation", &cast.c]);
    let server = env.up();
    let file = |token: &str, bin: &str| server.post_json("/api/v1/requests", token, &lists_body(bin));
    let mut filed = Vec::new();
    for _ in 0..3 {
        let answer = file(&org_a, &cast.a);
        assert_eq!(answer.status, 201, "{}", answer.body);
        filed.push(answer.json()["id"].as_i64().unwrap());
    }
    for _ in 0..5 {
        let refused = file(&org_a, &cast.a);
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert!(refused.body.contains("3 applications not yet decided"), "{}", refused.body);
    }
    assert_eq!(file(&org_c, &cast.c).status, 201, "another applicant has its own room");
    let applied = server.post_json(&format!("/api/v1/requests/{}/actions", filed[0]), &duty, r#"{"action": "apply"}"#);
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert_eq!(file(&org_a, &cast.a).status, 201, "an answer makes room");
    assert_eq!(file(&org_a, &cast.a).status, 409);
    // Bodies: read only once the caller is known, and only as large as the route needs.
    let padded = format!(r#"{{"kind": "yearly-lists", "pad": "{}"}}"#, "a".repeat(2 << 20));
    let big = env.write("big.json", &padded);
    assert_eq!(server.call("POST", "/api/v1/requests", None, Some((&big, "application/json"))).status, 401);
    let refused = server.call("POST", "/api/v1/requests", Some(&org_c), Some((&big, "application/json")));
    assert_eq!(refused.status, 413, "{}", refused.body);
    let text = env.write("big.txt", &"a".repeat(10 * 1024 * 1024 + 1));
    let attach = format!("/api/v1/requests/{}/attachments?name=big.txt", filed[1]);
    assert_eq!(server.call("POST", &attach, Some(&org_a), Some((&text, "text/plain"))).status, 413);
    let listed = server.get("/api/v1/requests", &duty).json();
    assert_eq!(listed.as_array().unwrap().len(), 5, "nothing recorded for a refused filing");
    // Five filings and one answer are e-mailed; the six refused filings are not.
    eventually("the recorded events are e-mailed", || sink.readable().len() == 6);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(sink.readable().len(), 6);
}

#[test]
fn an_organisations_staff_see_only_the_desk_in_the_console() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port, "");
    let cast = env.cast();
    env.user("ministry-a", "ministry password a", &["--organisation", &cast.a]);
    let (mine, theirs) =
        (env.file_yearly_lists(&cast.a, "it@a.example"), env.file_yearly_lists(&cast.c, "it@c.example"));
    let server = env.up();
    let mut org = Browser::new(&env, &server, "ministry-a");
    assert_eq!(org.login("ministry-a", "ministry password a").status, 303);
    let home = org.get("/");
    assert_eq!(home.header("location").as_deref(), Some("/requests"), "an organisation lands on its applications");
    let list = org.get("/requests");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&format!("href=\"/requests/{mine}\"")));
    assert!(!list.body.contains(&format!("href=\"/requests/{theirs}\"")), "not another organisation's");
    assert!(!list.body.contains("href=\"/operators\"") && !list.body.contains("href=\"/audit\""), "desk-only menu");
    assert_eq!(org.get(&format!("/requests/{theirs}")).status, 404);
    let detail = org.get(&format!("/requests/{mine}"));
    assert!(detail.status == 200 && !detail.body.contains("value=\"apply\""), "an applicant does not answer");
    for path in ["/today", "/operators", "/operators/alpha", "/organisations", "/audit", "/blocks", "/mail", "/lookup"]
    {
        assert_eq!(org.get(path).status, 403, "{path}");
    }
    let act = format!("/requests/{mine}/act");
    assert_eq!(org.post(&act, &[("verb", "apply")]).status, 403);
    assert_eq!(org.get("/ca").status, 200, "the root certificate to install");

    // Filing from the console: the kinds an organisation files, every problem shown.
    let kinds = org.get("/requests/new");
    assert!(kinds.body.contains("kind=yearly-lists") && !kinds.body.contains("kind=operator-link"), "{}", kinds.body);
    let form = org.get("/requests/new?kind=waf");
    assert!(form.body.contains("name=\"f.private_key\"") && form.body.contains("name=\"f.specialists.0.email\""));
    assert!(form.body.contains("3.7. ") && form.body.contains("3.9. "), "the appendix's item numbers");
    let wrong = org.post(
        "/requests/new",
        &[("kind", "waf"), ("contacts", "it@a.example"), ("f.site", "min.example.kz"), ("f.addresses", "not-an-ip")],
    );
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    for field in ["addresses", "operator", "web_server", "dbms", "cms", "specialists"] {
        assert!(wrong.body.contains(field), "the problem with {field} is named: {}", wrong.body);
    }
    assert!(wrong.body.contains("value=\"min.example.kz\""), "what was typed is kept");
    let filed = org.post(
        "/requests/new",
        &[
            ("kind", "waf"),
            ("contacts", "it@a.example"),
            ("f.site", "min.example.kz"),
            ("f.addresses", "192.0.2.80, 192.0.2.81"),
            ("f.operator", "alpha"),
            ("f.web_server", "nginx 1.24.0"),
            ("f.dbms", "PostgreSQL 15"),
            ("f.cms", "WordPress 6.4"),
            ("f.specialists.0.name", "A. Admin"),
            ("f.specialists.0.email", "admin@min.example.kz"),
            ("f.specialists.0.work_phone", "+7 7172 000000"),
            ("f.specialists.0.mobile", "+7 701 0000000"),
        ],
    );
    assert_eq!(filed.status, 303, "{}", filed.body);
    let page = filed.header("location").expect("to the new application");
    let waf = org.get(&page);
    assert!(waf.body.contains("min.example.kz") && waf.body.contains("admin@min.example.kz"), "{}", waf.body);
    let forged = org.post_raw("/requests/new", &[("kind", "waf"), ("contacts", "it@a.example")]);
    assert_eq!(forged.status, 403, "a form without its token is refused");

    // Attaching a file to it, and downloading it again.
    let letter = env.write("letter.pdf", "%PDF-1.7\nthe request letter\n");
    assert_eq!(org.upload_as(&format!("{page}/attach"), "file", &letter).status, 303);
    let waf = org.get(&page);
    let link = waf.body.split("href=\"").find(|h| h.starts_with(&format!("{page}/attachments/"))).expect("a link");
    let link = link.split('"').next().unwrap().to_string();
    assert_eq!(org.get(&link).body, "%PDF-1.7\nthe request letter\n");
    let theirs_attach = format!("/requests/{theirs}/attach");
    assert_eq!(org.upload_as(&theirs_attach, "file", &letter).status, 404, "not on another's application");
}

#[test]
fn desk_e_mails_wait_in_the_outbox_while_smtp_is_down_and_are_sent_once() {
    let port = free_port();
    let env = env_with_smtp(port, "retry_base = \"1s\"\ninterval = \"1s\"\n");
    let cast = env.cast();
    let args = [
        "request",
        "file",
        "yearly-lists",
        "--applicant",
        &format!("org:{}", cast.a),
        "--contact",
        "it@a.example",
        "--set",
        "categories=news",
        "--set",
        "networks=192.0.2.0/24",
        "--json",
    ];
    let out = env.run(&args);
    assert!(out.status.success(), "the filing stands without SMTP: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stays in the outbox"), "{stderr}");
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"].as_i64().unwrap().to_string();
    let shown: Value = serde_json::from_str(&env.ok(&["request", "show", &id, "--json"])).unwrap();
    let mail = &shown["mail"][0];
    assert_eq!((mail["status"].as_str(), mail["attempts"].as_i64()), (Some("pending"), Some(1)), "{shown}");
    assert!(mail["last_error"].is_string());

    let sink = SmtpSink::start_on(port, &[]);
    let _server = env.up();
    eventually("the outbox sends the message when SMTP returns", || sink.messages().len() == 1);
    eventually("and records it sent", || {
        let shown: Value = serde_json::from_str(&env.ok(&["request", "show", &id, "--json"])).unwrap();
        shown["mail"][0]["status"] == "sent"
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(sink.messages().len(), 1, "sent once, not again on the next passes");
    assert!(sink.readable()[0].contains(&format!("Request {id} (")), "{:?}", sink.readable());
}

/// Bad input in the console's filing form is shown in the person's language, each
/// problem beside its field and listed above the form with the field's label: Russian
/// for one organisation's staff, Kazakh for another's, never the English text.
#[test]
fn bad_input_in_the_console_form_is_shown_in_russian_and_kazakh_beside_its_field() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port, "");
    let cast = env.cast();
    for (name, bin, lang) in [("ministry-ru", &cast.a, "ru"), ("akimat-kk", &cast.b, "kk")] {
        let args = ["user", "add", name, "--organisation", bin.as_str(), "--lang", lang];
        env.with_stdin(&args, &format!("{name} password one\n"));
    }
    let server = env.up();
    let bad = [
        ("kind", "waf"),
        ("contacts", "it@org.example"),
        ("f.site", "min.example.kz"),
        ("f.addresses", "not-an-ip"),
        ("f.operator", "alpha"),
        ("f.dbms", "none"),
        ("f.cms", "none"),
        ("f.specialists.0.name", "А. Админ"),
        ("f.specialists.0.email", "nope"),
        ("f.specialists.0.work_phone", "+7 7172 000000"),
        ("f.specialists.0.mobile", "+7 701 0000000"),
    ];
    // (person, the label of `addresses`, what is wrong with each field, English never shown)
    let cases = [
        (
            "ministry-ru",
            "IP-адреса веб-ресурса",
            [
                ("addresses", "«not-an-ip» не IP-адрес"),
                ("web_server", "не заполнено"),
                ("specialists.0.email", "«nope» не адрес электронной почты"),
            ],
        ),
        (
            "akimat-kk",
            "Веб-ресурстың IP-мекенжайлары",
            [
                ("addresses", "«not-an-ip» IP-мекенжай емес"),
                ("web_server", "толтырылмаған"),
                ("specialists.0.email", "«nope» электрондық пошта мекенжайы емес"),
            ],
        ),
    ];
    for (name, label, problems) in cases {
        let mut person = Browser::new(&env, &server, name);
        assert_eq!(person.login(name, &format!("{name} password one")).status, 303);
        assert_eq!(person.get("/requests/new?kind=waf").status, 200);
        let answer = person.post("/requests/new", &bad);
        assert_eq!(answer.status, 422, "{}", answer.body);
        let body = &answer.body;
        for (field, why) in problems {
            let beside = format!("<span class=\"problem\" data-field=\"{field}\">{why}</span>");
            assert!(body.contains(&beside), "{name}: {field} says '{why}' beside it: {body}");
        }
        let listed = body.split("id=\"problems\"").nth(1).expect("the problems listed above the form");
        let listed = listed.split("</ul>").next().unwrap();
        assert!(listed.contains(label) && listed.contains("«not-an-ip»"), "{name}: {listed}");
        for english in ["is not an IP address", "missing: fill it in", "is not an e-mail address"] {
            assert!(!body.contains(english), "{name}: no English ('{english}'): {body}");
        }
        assert!(body.contains("value=\"min.example.kz\"") && body.contains("value=\"А. Админ\""), "typed text kept");
    }
    let none: Value = serde_json::from_str(&env.ok(&["request", "list", "--json"])).unwrap();
    assert_eq!(none.as_array().map(Vec::len), Some(0), "nothing is filed: {none}");
}
