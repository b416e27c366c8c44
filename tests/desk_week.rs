//! A week of the regulation's work at the desk, run as the duty team runs it (the CLI
//! on the days of the week, under the test clock) and followed by the applicants over
//! the API: a new operator link taken from conditions to connection, two organisations'
//! yearly lists applied on time, a mail system connected and another refused, a WAF
//! application answered; every day ends with nothing overdue, every step is e-mailed
//! to its applicant over real SMTP, and each applicant sees its own applications and
//! no one else's. Also: the policy file brought to the desk, all or nothing.

mod common;

use common::{Env, SmtpSink, eventually};
use serde_json::Value;

/// One technical specialist, as `--set` pairs.
const SPECIALIST: [&str; 4] = [
    "specialists.0.name=Aigerim Seitkali",
    "specialists.0.email=a.seitkali@example.kz",
    "specialists.0.work_phone=+7 7172 55 00 11",
    "specialists.0.mobile=+7 701 000 00 01",
];

/// Appendix 3 items 3.2–3.6 and 3.9 (no HTTPS), as `--set` pairs.
const SITE: [&str; 8] = [
    "operator=alpha",
    "web_server=nginx 1.24.0",
    "dbms=PostgreSQL 15",
    "cms=none",
    "specialists.0.name=Aigerim Seitkali",
    "specialists.0.email=a.seitkali@example.kz",
    "specialists.0.work_phone=+7 7172 55 00 11",
    "specialists.0.mobile=+7 701 000 00 01",
];

fn env_with_smtp(smtp_port: u16) -> Env {
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Desk <desk@gateway.example>\"\n"
    ));
    env
}

/// `perimeter request --at DAY ARGS…`, which must succeed; its standard output.
fn on(env: &Env, day: &str, args: &[&str]) -> String {
    let mut all = vec!["request", "--at", day];
    all.extend_from_slice(args);
    let out = env.run_with_env(&all, &[("PERIMETER_TEST_CLOCK", "1")]);
    assert!(out.status.success(), "request {args:?} on {day}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Files an application on `day` and returns its number.
fn file(env: &Env, day: &str, kind: &str, applicant: &str, contact: &str, fields: &[&str]) -> String {
    let mut args = vec!["file", kind, "--applicant", applicant, "--contact", contact, "--json"];
    for f in fields {
        args.extend(["--set", f]);
    }
    let view: Value = serde_json::from_str(&on(env, day, &args)).expect("JSON");
    view["id"].as_i64().expect("a number").to_string()
}

fn state(env: &Env, day: &str, id: &str) -> String {
    let shown: Value = serde_json::from_str(&on(env, day, &["show", id, "--json"])).expect("JSON");
    shown["request"]["state"].as_str().unwrap_or_default().to_string()
}

/// The end of a working day: nothing is past its due day.
fn nothing_overdue(env: &Env, day: &str) {
    let overdue: Value = serde_json::from_str(&on(env, day, &["list", "--overdue", "--json"])).expect("JSON");
    assert_eq!(overdue, Value::Array(vec![]), "overdue at the end of {day}");
}

#[test]
fn the_duty_team_runs_a_week_of_the_desk_and_every_applicant_sees_its_own() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let (a, b, c) = (format!("org:{}", cast.a), format!("org:{}", cast.b), format!("org:{}", cast.c));

    // Monday 2 March 2026: the applications arrive.
    let mon = "2026-03-02";
    let link = file(
        &env,
        mon,
        "operator-link",
        "operator:alpha",
        "noc@alpha.example",
        &[
            "object_name=Akimat B",
            "object_address=Astana, 1 Beibitshilik",
            "main_gbps=2",
            "backup_gbps=1",
            "planned=2026-06-01",
        ],
    );
    let lists_a =
        file(&env, mon, "yearly-lists", &a, "it@a.example", &["categories=news,education", "networks=192.0.2.0/24"]);
    let lists_b = file(&env, mon, "yearly-lists", &b, "it@b.example", &["categories=news", "networks=198.51.100.0/24"]);
    let mut mail_fields = vec!["system=b-mail", "domains=b.example.kz", "servers=192.0.2.25"];
    mail_fields.extend(SPECIALIST);
    let mail_b = file(&env, mon, "mail-connection", &b, "it@b.example", &mail_fields);
    let mut mail_fields = vec!["system=c-mail", "domains=c.example.kz", "servers=192.0.2.26"];
    mail_fields.extend(SPECIALIST);
    let mail_c = file(&env, mon, "mail-connection", &c, "it@c.example", &mail_fields);
    let mut waf_fields = vec!["site=a.example.kz", "addresses=192.0.2.80"];
    waf_fields.extend(SITE);
    let waf = file(&env, mon, "waf", &a, "it@a.example", &waf_fields);
    nothing_overdue(&env, mon);

    // Tuesday: conditions for the link, A's lists applied, both mail systems checked.
    let tue = "2026-03-03";
    on(&env, tue, &["conditions", &link, "--number", "TC-2026-7", "--connection-point", "port 3, LC/UPC"]);
    on(&env, tue, &["apply", &lists_a]);
    on(&env, tue, &["check", &mail_b]);
    on(&env, tue, &["check", &mail_c]);
    nothing_overdue(&env, tue);

    // Wednesday: B's lists applied, B's mail system connected, C's refused; alpha ready.
    let wed = "2026-03-04";
    on(&env, wed, &["apply", &lists_b]);
    on(&env, wed, &["connect", &mail_b]);
    on(&env, wed, &["refuse", &mail_c, "--reason", "the owner is not a government body"]);
    on(&env, wed, &["ready", &link]);
    nothing_overdue(&env, wed);

    // Thursday: the WAF connected, the link connected after its check.
    let thu = "2026-03-05";
    on(&env, thu, &["connect", &waf]);
    on(&env, thu, &["connect", &link]);
    nothing_overdue(&env, thu);

    // Friday: C tries again too early and is told from when; nothing is due or open.
    let fri = "2026-03-06";
    let mut again = vec!["request", "--at", fri, "file", "mail-connection", "--applicant", &c];
    again.extend(["--contact", "it@c.example", "--set", "system=c-mail", "--set", "domains=c.example.kz"]);
    again.extend(["--set", "servers=192.0.2.26"]);
    SPECIALIST.iter().for_each(|s| again.extend(["--set", s]));
    let early = env.run_with_env(&again, &[("PERIMETER_TEST_CLOCK", "1")]);
    assert!(!early.status.success());
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(said.contains("a new one for c.example.kz is accepted from 2026-04-04"), "{said}");
    nothing_overdue(&env, fri);
    let expected = [
        (&link, "connected"),
        (&lists_a, "applied"),
        (&lists_b, "applied"),
        (&mail_b, "connected"),
        (&mail_c, "refused"),
        (&waf, "connected"),
    ];
    for (id, want) in expected {
        assert_eq!(state(&env, fri, id), want, "request {id}");
    }
    let system: Value = serde_json::from_str(&env.ok(&["mail", "show", "b-mail", "--json"])).expect("JSON");
    assert_eq!(system["system"]["status"], "active", "{system}");
    assert!(env.run(&["mail", "show", "c-mail"]).status.code() != Some(0), "the refused system is not connected");
    let policy = env.ok(&["policy", "export"]);
    for bin in [&cast.a, &cast.b] {
        assert!(policy.contains(&format!("bin = \"{bin}\"")), "{bin} has its policy: {policy}");
    }

    // Every step reached its applicant: 6 filings and 10 answers, each once.
    eventually("every step is e-mailed", || sink.messages().len() == 16);
    let mails = sink.readable();
    assert!(mails.iter().any(|m| m.contains("Reason: the owner is not a government body")));
    assert!(mails.iter().any(|m| m.contains("A new application is accepted from 2026-04-04")));

    // Each applicant follows its own, over the API.
    let tokens = [
        ("org-a", vec!["--organisation", cast.a.as_str()], vec![&lists_a, &waf]),
        ("org-b", vec!["--organisation", cast.b.as_str()], vec![&lists_b, &mail_b]),
        ("org-c", vec!["--organisation", cast.c.as_str()], vec![&mail_c]),
        ("alpha", vec!["--operator", "alpha"], vec![&link, &lists_a, &lists_b, &mail_b, &waf]),
        ("beta", vec!["--operator", "beta"], vec![&lists_b, &mail_b, &mail_c]),
    ];
    let secrets: Vec<(String, Vec<&String>)> =
        tokens.into_iter().map(|(name, role, sees)| (env.token(name, &role), sees)).collect();
    let server = env.up();
    for (token, sees) in &secrets {
        let list = server.get("/api/v1/requests", token).json();
        let mut ids: Vec<String> =
            list.as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap().to_string()).collect();
        ids.sort();
        let mut want: Vec<String> = sees.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(ids, want, "what this applicant sees");
    }
    let refused = server.get(&format!("/api/v1/requests/{mail_c}"), &secrets[2].0).json();
    assert_eq!(refused["request"]["reason"], "the owner is not a government body");
    assert_eq!(refused["request"]["resubmit_from"], "2026-04-04");
}

#[test]
fn the_policy_file_is_brought_to_the_desk_whole_or_not_at_all() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let list = env.write("list.csv", &format!("192.0.2.0/24,{},hq\n198.51.100.0/24,{},branch\n", cast.a, cast.b));
    env.ok(&["catalog", "import", "--operator", "alpha", list.to_str().unwrap()]);
    let book = |extra: &str| {
        format!(
            "[default]\ncategories = []\n\n[[organisation]]\nbin = \"{a}\"\nname = \"Ministry A\"\n\
             received = 2026-01-05\ngranted = 2026-01-12\ncategories = [\"news\", \"education\"]\n\n\
             [[organisation.grant]]\ncategory = \"vpn\"\nrequest = \"REQ-2026-014\"\ngranted = 2026-02-02\n\n\
             [[organisation]]\nbin = \"{b}\"\nname = \"Akimat B\"\nreceived = 2026-11-20\n\
             categories = [\"education\"]\n{extra}",
            a = cast.a,
            b = cast.b
        )
    };
    let count = || -> usize {
        let list: Value = serde_json::from_str(&env.ok(&["request", "list", "--json"])).expect("JSON");
        list.as_array().unwrap().len()
    };

    // C has no networks in the catalog: every problem is named, nothing is imported.
    let with_c = env.write(
        "with-c.toml",
        &book(&format!("\n[[organisation]]\nbin = \"{}\"\nreceived = 2026-02-01\ncategories = [\"news\"]\n", cast.c)),
    );
    let refused = env.fails(&["request", "import", with_c.to_str().unwrap(), "--contact", "duty@gateway.example"]);
    assert!(refused.contains(&format!("organisation {}", cast.c)) && refused.contains("networks"), "{refused}");
    assert_eq!(count(), 0, "nothing imported");

    let good = env.write("policies.toml", &book(""));
    let done = env.ok(&["request", "import", good.to_str().unwrap(), "--contact", "duty@gateway.example"]);
    assert!(done.contains("imported 2 organisations as 3 applications"), "{done}");
    let list: Value = serde_json::from_str(&env.ok(&["request", "list", "--json"])).expect("JSON");
    let mut made: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("applicant"), s("kind"), s("state"))
        })
        .collect();
    made.sort();
    let (a, b) = (format!("org:{}", cast.a), format!("org:{}", cast.b));
    assert_eq!(
        made,
        [
            (a.clone(), "risky-service".into(), "applied".into()),
            (a.clone(), "yearly-lists".into(), "applied".into()),
            (b.clone(), "yearly-lists".into(), "filed".into()),
        ]
    );
    let export = env.ok(&["policy", "export"]);
    let own = export.split("[[organisation]]").find(|o| o.contains(&cast.a)).expect("A's policy");
    assert!(own.contains("granted = 2026-01-12") && own.contains("education") && own.contains("vpn"), "{export}");
    let again = env.fails(&["request", "import", good.to_str().unwrap(), "--contact", "duty@gateway.example"]);
    assert!(again.contains("already has a yearly-lists application"), "{again}");
    assert_eq!(count(), 3, "an import never duplicates");
    assert!(sink.messages().is_empty(), "imported applications are not e-mailed");
}

/// `perimeter request --at DAY ARGS…`, which must fail; its standard error.
fn refused(env: &Env, day: &str, args: &[&str]) -> String {
    let mut all = vec!["request", "--at", day];
    all.extend_from_slice(args);
    let out = env.run_with_env(&all, &[("PERIMETER_TEST_CLOCK", "1")]);
    assert!(!out.status.success(), "request {args:?} on {day} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).expect("utf-8")
}

fn file_args<'a>(kind: &'a str, applicant: &'a str, fields: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["file", kind, "--applicant", applicant, "--contact", "it@a.example", "--json"];
    fields.iter().for_each(|f| args.extend(["--set", f]));
    args
}

/// openssl in the test's directory.
fn openssl(env: &Env, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(env.dir.path()).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A certificate for `site` and its key (`NAME.pem`, `NAME.key`).
fn site_certificate(env: &Env, name: &str, site: &str) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let (subject, san) = (format!("/CN={site}"), format!("subjectAltName=DNS:{site}"));
    openssl(
        env,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "30",
            "-subj",
            &subject,
            "-addext",
            &san,
        ],
    );
}

/// The text of a PDF, read back with pdftotext (poppler-utils, installed by the test script).
fn pdf_text(path: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext").arg(path).arg("-").output();
    let out = out.expect("pdftotext is required by this test: install poppler-utils (the test script does)");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_regulations_forms_are_filed_item_by_item_and_the_waits_are_the_regulations() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let (a, b) = (format!("org:{}", cast.a), format!("org:{}", cast.b));
    let mon = "2026-03-02";

    // An operator's link with itemised conditions: the PDF is attached to the application
    // and its e-mail, in Russian and Kazakh, every Kazakh letter in place.
    let link = file(
        &env,
        mon,
        "operator-link",
        "operator:alpha",
        "noc@alpha.example",
        &[
            "object_name=Шаһар әкімдігінің ғимараты",
            "object_address=Астана, Бейбітшілік көшесі 1, Құрылыс үйі",
            "main_gbps=10",
            "backup_gbps=10",
            "planned=2026-06-01",
        ],
    );
    on(
        &env,
        mon,
        &[
            "conditions",
            &link,
            "--number",
            "TC-2026-9",
            "--connection-point",
            "стойка 4, кросс ODF-2, порты 7–8",
            "--works",
            "Работы согласовываются за 3 рабочих дня",
        ],
    );
    let shown: Value = serde_json::from_str(&on(&env, mon, &["show", &link, "--json"])).unwrap();
    let pdf = shown["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["content_type"] == "application/pdf")
        .unwrap_or_else(|| panic!("the conditions are attached: {shown}"))
        .clone();
    assert_eq!(shown["request"]["conditions"]["connection_point"], "стойка 4, кросс ODF-2, порты 7–8");
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let path = env.path("conditions.pdf");
    let got = std::process::Command::new(common::curl())
        .args(["-sS", "-f", "-o"])
        .arg(&path)
        .args(["-H", &format!("Authorization: Bearer {duty}")])
        .arg(format!("{}/api/v1/requests/{link}/attachments/{}", server.base, pdf["id"]))
        .status()
        .unwrap();
    assert!(got.success(), "the PDF downloads from the application");
    let text = pdf_text(&path);
    for expected in [
        "ТЕХНИЧЕСКИЕ УСЛОВИЯ № TC-2026-9",
        "ТЕХНИКАЛЫҚ ШАРТТАР № TC-2026-9",
        "10G, full-duplex, SM",
        "стойка 4, кросс ODF-2, порты 7–8",
        "гофрированной трубе",
        "гофрленген құбырда",
        "Шаһар әкімдігінің",
        "Работы согласовываются за 3 рабочих дня",
        "60 календарных дней",
        "60 күнтізбелік күн",
        "alpha",
    ] {
        assert!(text.contains(expected), "'{expected}' in the PDF:\n{text}");
    }
    for letter in ["ә", "ғ", "қ", "ң", "ө", "ұ", "ү", "һ", "і"] {
        assert!(text.contains(letter), "the Kazakh letter {letter} reads back from the PDF:\n{text}");
    }
    eventually("the conditions are e-mailed with the PDF", || {
        sink.readable().iter().any(|m| {
            m.contains("TC-2026-9") && m.contains("application/pdf") && m.contains("technical-conditions-TC-2026-9")
        })
    });

    // A WAF with every appendix-3 item; a certificate that is not its key's is refused, saying why.
    site_certificate(&env, "site", "a.example.kz");
    site_certificate(&env, "other", "a.example.kz");
    let (cert, key, wrong) = (env.path("site.pem"), env.path("site.key"), env.path("other.key"));
    let cert_arg = format!("certificate=@{}", cert.display());
    let mut waf = vec![
        "site=a.example.kz",
        "addresses=192.0.2.80,192.0.2.81",
        "balancer=HAProxy 2.8",
        "app_server=php-fpm 8.2",
        &cert_arg,
    ];
    waf.extend(SITE);
    let wrong_arg = format!("private_key=@{}", wrong.display());
    let mut bad = waf.clone();
    bad.push(&wrong_arg);
    let said = refused(&env, mon, &file_args("waf", &a, &bad));
    assert!(
        said.contains("certificate: the certificate and the private key do not fit")
            && said.contains("not the certificate's"),
        "{said}"
    );
    let key_arg = format!("private_key=@{}", key.display());
    waf.push(&key_arg);
    let waf_id = file(&env, mon, "waf", &a, "it@a.example", &waf);
    let shown = on(&env, mon, &["show", &waf_id, "--json"]);
    let view: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert_eq!(view["request"]["sealed"], serde_json::json!(["private_key"]), "{shown}");

    // A defacement application by key, a mail connection with two specialists.
    let deface_key = format!("access_key=@{}", key.display());
    let mut deface = vec![
        "site=b.example.kz",
        "addresses=192.0.2.90",
        "access=sftp://deploy@192.0.2.90:22/var/www",
        "login=deploy",
        &deface_key,
    ];
    deface.extend(SITE);
    let deface_id = file(&env, mon, "defacement", &b, "it@b.example", &deface);
    assert!(!on(&env, mon, &["show", &deface_id, "--json"]).contains("BEGIN PRIVATE KEY"));
    let mut mail = vec!["system=b-mail", "domains=b.example.kz", "servers=192.0.2.25", "owner=Akimat B"];
    mail.extend(SPECIALIST);
    mail.extend([
        "specialists.1.name=Nurlan Abenov",
        "specialists.1.email=n.abenov@example.kz",
        "specialists.1.work_phone=+7 7172 55 00 12",
        "specialists.1.mobile=+7 701 000 00 02",
    ]);
    let mail_id = file(&env, mon, "mail-connection", &b, "it@b.example", &mail);
    let shown: Value = serde_json::from_str(&on(&env, mon, &["show", &mail_id, "--json"])).unwrap();
    assert_eq!(shown["request"]["fields"]["specialists"].as_array().unwrap().len(), 2, "{shown}");
    on(&env, mon, &["check", &mail_id]);
    on(&env, "2026-03-03", &["connect", &mail_id]);

    // The owner's letter disconnects the system when applied (EPBSH rule 11).
    let letter = file(
        &env,
        "2026-03-04",
        "mail-disconnection",
        &b,
        "it@b.example",
        &["system=b-mail", "reason=the akimat moves to another mail system"],
    );
    on(&env, "2026-03-04", &["apply", &letter]);
    let system: Value = serde_json::from_str(&env.ok(&["mail", "show", "b-mail", "--json"])).unwrap();
    assert_eq!(system["system"]["status"], "disconnected", "{system}");
    let other = refused(&env, "2026-03-04", &file_args("mail-disconnection", &a, &["system=b-mail", "reason=x"]));
    assert!(other.contains("system: 'b-mail (") && other.contains("belongs to another organisation"), "{other}");

    // A refused link is filed again the next day.
    let link2 = file(
        &env,
        mon,
        "operator-link",
        "operator:beta",
        "noc@beta.example",
        &["object_name=School 5", "object_address=Kosshy", "main_gbps=1", "backup_gbps=1", "planned=2026-06-01"],
    );
    on(&env, "2026-03-05", &["refuse", &link2, "--reason", "no free port at the point asked for"]);
    file(
        &env,
        "2026-03-06",
        "operator-link",
        "operator:beta",
        "noc@beta.example",
        &["object_name=School 5", "object_address=Kosshy", "main_gbps=1", "backup_gbps=1", "planned=2026-06-01"],
    );

    // A refused WAF: another site the next day is accepted; the same site on the last of
    // the 30 calendar days is refused, on the first day after them accepted.
    on(&env, "2026-03-05", &["refuse", &waf_id, "--reason", "the site is not a government resource"]);
    let mut another = vec!["site=c.example.kz", "addresses=192.0.2.82"];
    another.extend(SITE);
    file(&env, "2026-03-06", "waf", &a, "it@a.example", &another);
    let same = file_args("waf", &b, &waf);
    let early = refused(&env, "2026-04-04", &same);
    assert!(
        early.contains(
            "for a.example.kz was refused on 2026-03-05; a new one for a.example.kz is accepted from 2026-04-05"
        ),
        "{early}"
    );
    on(&env, "2026-04-05", &same);

    // Every bad field says which and why, all at once: the CLI and the API.
    let bad_fields = [
        "site=nodot",
        "addresses=192.0.2.300",
        "operator=gamma",
        "web_server=nginx",
        "dbms=PostgreSQL 15",
        "cms=none",
        "specialists.0.name=A",
        "specialists.0.email=not-mail",
        "specialists.0.work_phone=x",
        "specialists.0.mobile=+7 701 000 00 01",
    ];
    let said = refused(&env, mon, &file_args("waf", &a, &bad_fields));
    for line in [
        "site: 'nodot' is not a domain name",
        "addresses: '192.0.2.300' is not an IP address",
        "operator: 'gamma' is not an operator",
        "web_server: 'nginx' names no version",
        "specialists.0.email: 'not-mail' is not an e-mail address",
        "specialists.0.work_phone: 'x' is not a phone number",
    ] {
        assert!(said.contains(line), "{line} in:\n{said}");
    }
    let body = serde_json::json!({"kind": "waf", "applicant": a, "contacts": ["it@a.example"], "fields": {
        "site": "nodot", "addresses": "192.0.2.300", "operator": "gamma", "web_server": "nginx", "dbms": "PostgreSQL 15",
        "cms": "none", "specialists": [{"name": "A", "email": "not-mail", "work_phone": "x", "mobile": "1"}]}});
    let answer = server.post_json("/api/v1/requests", &duty, &body.to_string());
    assert_eq!(answer.status, 422, "{}", answer.body);
    let fields: Vec<String> =
        answer.json()["fields"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap().to_string()).collect();
    for f in [
        "site",
        "addresses",
        "operator",
        "web_server",
        "specialists.0.email",
        "specialists.0.work_phone",
        "specialists.0.mobile",
    ] {
        assert!(fields.iter().any(|g| g == f), "{f} in {fields:?}");
    }
    let shown = server.get(&format!("/api/v1/requests/{waf_id}"), &duty).json();
    assert_eq!(shown["signatures"], "not verified", "without anchors the desk says so");
}
