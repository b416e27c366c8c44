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
    let mail_b = file(
        &env,
        mon,
        "mail-connection",
        &b,
        "it@b.example",
        &["system=b-mail", "domains=b.example.kz", "servers=192.0.2.25"],
    );
    let mail_c = file(
        &env,
        mon,
        "mail-connection",
        &c,
        "it@c.example",
        &["system=c-mail", "domains=c.example.kz", "servers=192.0.2.26"],
    );
    let waf = file(
        &env,
        mon,
        "waf",
        &a,
        "it@a.example",
        &["site=a.example.kz", "addresses=192.0.2.80", "responsible=A. Admin", "phone=+7 7172 000000"],
    );
    nothing_overdue(&env, mon);

    // Tuesday: conditions for the link, A's lists applied, both mail systems checked.
    let tue = "2026-03-03";
    on(&env, tue, &["conditions", &link, "--number", "TC-2026-7", "--details", "port 3, LC/UPC"]);
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
    let early = env.run_with_env(&again, &[("PERIMETER_TEST_CLOCK", "1")]);
    assert!(!early.status.success());
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(said.contains("a new one is accepted from 2026-04-04"), "{said}");
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
