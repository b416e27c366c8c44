//! Rule 1 end to end with a real SMTP server: unknown addresses observed on a link lead
//! to one notice to the right operator with the right deadline; when time passes the
//! deadline the still-unknown addresses are blocked; an import that covers some of them
//! unblocks exactly those at once. Time is moved with the test-only `--at`.

mod common;

use common::{Env, Server, SmtpSink, eventually, free_port};
use serde_json::{Value, json};

/// A configured installation whose notices go to `smtp_port`.
fn env_with_smtp(smtp_port: u16) -> Env {
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"Gateway duty <duty@gateway.example>\"\n\
         send_at = \"09:00\"\nretry_base = \"1m\"\ninterval = \"1d\"\n"
    ));
    env
}

fn reconcile(env: &Env, at: &str) -> Value {
    let out = env.run_with_env(&["reconcile", "--at", at, "--json"], &[("PERIMETER_TEST_CLOCK", "1")]);
    assert!(out.status.success(), "reconcile at {at}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn observe(server: &Server, token: &str, env: &Env, batch: Value) -> Value {
    let file = env.write("batch.json", &batch.to_string());
    let reply = server.call("POST", "/api/v1/observations", Some(token), Some((&file, "application/json")));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

fn status(server: &Server, token: &str, ip: &str) -> Value {
    server.get(&format!("/api/v1/lookup/{ip}"), token).json()
}

const FRIDAY_10: &str = "2026-11-20T10:00:00+05:00";

#[test]
fn unknown_addresses_are_noticed_then_blocked_then_unblocked_by_registration() {
    let sink = SmtpSink::start(&[]);
    let env = env_with_smtp(sink.port);
    let cast = env.cast();
    let known = env.write("known.csv", &format!("203.0.113.0/24,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", known.to_str().unwrap()]);
    let duty = env.token("duty", &["--duty"]);
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let server = env.up();

    let t = 1_763_600_000_000i64;
    let sighting =
        |ip: &str, link: &str| json!({"ip": ip, "link": link, "first_seen": t, "last_seen": t + 5000, "count": 3});
    let report = observe(
        &server,
        &duty,
        &env,
        json!([
            sighting("198.51.100.5", "alpha-1"),
            sighting("198.51.100.6", "alpha-1"),
            sighting("2001:db8:ff::7", "alpha-1"),
            sighting("198.51.100.5", "alpha-1"),
            sighting("192.0.2.1", "no-such-link"),
            sighting("203.0.113.9", "alpha-1"),
        ]),
    );
    assert_eq!(report["accepted"], 4, "{report}");
    assert_eq!(report["already_known"], 1);
    assert!(report["refused"][0].as_str().unwrap().contains("no-such-link"), "{report}");
    assert_eq!(server.call("POST", "/api/v1/observations", Some(&alpha), None).status, 403, "operators cannot report");
    let garbage = env.write("garbage.json", "[{\"ip\": \"198.51.100.1\", \"link\": \"alpha-1\"}]");
    let refused = server.call("POST", "/api/v1/observations", Some(&duty), Some((&garbage, "application/json")));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.json()["error"].as_str().unwrap().contains("missing field `first_seen`"), "{refused:?}");

    let unknown = server.get("/api/v1/unknown", &alpha).json();
    assert_eq!(unknown.as_array().unwrap().len(), 3, "{unknown}");
    let merged = unknown.as_array().unwrap().iter().find(|u| u["ip"] == "198.51.100.5").unwrap();
    assert_eq!(merged["seen"], 6, "duplicate sightings merge: {merged}");

    // Friday 2026-11-20: the notice goes out; five working days from Monday end on Friday 27.
    let first = reconcile(&env, FRIDAY_10);
    assert_eq!(first["sent"].as_array().unwrap().len(), 1, "{first}");
    let again = reconcile(&env, FRIDAY_10);
    assert!(
        again["notices_created"].as_array().unwrap().is_empty() && again["sent"].as_array().unwrap().is_empty(),
        "{again}"
    );
    eventually("the notice arrives", || sink.messages().len() == 1);
    let mail = &sink.readable()[0];
    assert!(mail.contains("noc@alpha.example"), "{mail}");
    assert!(mail.contains("register by 2026-11-27"), "{mail}");
    assert!(mail.contains("unregistered-alpha-notice-1.csv"), "{mail}");
    assert!(mail.contains("Deadline: 2026-11-27"), "{mail}");
    assert!(
        mail.contains("до 2026-11-27") && mail.contains("198.51.100.6,alpha-1,"),
        "Russian summary and the CSV: {mail}"
    );
    let notices: Value = serde_json::from_str(&env.ok(&["notices", "--json"])).unwrap();
    assert_eq!(notices[0]["status"], "sent");
    assert_eq!(notices[0]["deadline_day"], "2026-11-27");
    assert_eq!(notices[0]["addresses"], 3);

    // Still within the deadline: nothing is blocked.
    let last_day = reconcile(&env, "2026-11-27T23:59:00+05:00");
    assert!(last_day["deadlines"]["blocked"].as_array().unwrap().is_empty(), "{last_day}");

    // The operator registers one of the three before the deadline.
    let list = env.write("v2.csv", &format!("203.0.113.0/24,{a}\n198.51.100.4/31,{a}\n", a = cast.a));
    let imported =
        server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&list, "text/csv"))).json();
    assert_eq!(imported["resolved"], json!(["198.51.100.5"]), "{imported}");

    // The deadline passes: the other two are blocked, and the lookup says so.
    let after = reconcile(&env, "2026-11-28T00:00:01+05:00");
    let mut blocked: Vec<&str> =
        after["deadlines"]["blocked"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    blocked.sort();
    assert_eq!(blocked, vec!["198.51.100.6", "2001:db8:ff::7"], "{after}");
    assert!(
        reconcile(&env, "2026-11-29T12:00:00+05:00")["deadlines"]["blocked"].as_array().unwrap().is_empty(),
        "never twice"
    );
    eventually("the block reaches the gateway snapshot", || {
        status(&server, &duty, "198.51.100.6")["status"] == "blocked"
    });
    let looked = status(&server, &duty, "2001:db8:ff::7");
    assert_eq!(looked["reason"], "unregistered after notice 1", "{looked}");
    assert_eq!(status(&server, &duty, "198.51.100.5")["status"], "known");

    // The operator covers one blocked address: exactly that one is unblocked at once.
    let list =
        env.write("v3.csv", &format!("203.0.113.0/24,{a}\n198.51.100.4/31,{a}\n198.51.100.6/32,{a}\n", a = cast.a));
    let imported =
        server.call("PUT", "/api/v1/operators/alpha/prefixes", Some(&alpha), Some((&list, "text/csv"))).json();
    assert_eq!(imported["unblocked"], json!(["198.51.100.6"]), "{imported}");
    eventually("the unblock reaches the snapshot", || status(&server, &duty, "198.51.100.6")["status"] == "known");
    assert_eq!(status(&server, &duty, "2001:db8:ff::7")["status"], "blocked");

    // History: the block on .6 was lifted by the import, with its reason.
    let blocks = server.get("/api/v1/blocks?all=true&ip=198.51.100.6", &duty).json();
    assert_eq!(blocks[0]["kind"], "auto");
    assert!(blocks[0]["lift_reason"].as_str().unwrap().starts_with("registered in change"), "{blocks}");
    assert_eq!(blocks[0]["lifted_by"], "token:alpha");
    assert_eq!(sink.messages().len(), 1, "one notice in all");
    let history = env.ok(&["catalog", "history", "198.51.100.6"]);
    assert!(history.contains("198.51.100.6/32") && history.contains("unregistered after notice 1"), "{history}");
    assert!(history.contains("lifted") && history.contains("registered in change"), "{history}");
}

#[test]
fn the_duty_team_blocks_and_unblocks_by_hand_with_a_reason() {
    let env = Env::new();
    let cast = env.cast();
    let list = env.write("a.csv", &format!("203.0.113.0/24,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", list.to_str().unwrap()]);
    let duty = env.token("duty", &["--duty"]);
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let server = env.up();

    assert!(env.fails(&["block", "add", "203.0.113.0/25", "--reason", " "]).contains("a reason is required"));
    env.ok(&["block", "add", "203.0.113.0/25", "--reason", "compromised hosts, ticket 42"]);
    assert!(env.fails(&["block", "add", "203.0.113.0/25", "--reason", "again"]).contains("already blocked"));
    eventually("the manual block applies", || status(&server, &duty, "203.0.113.7")["status"] == "blocked");
    assert_eq!(status(&server, &duty, "203.0.113.200")["status"], "known", "outside the blocked half");

    let req = env.write("lift.json", r#"{"target": "203.0.113.0/25", "reason": "cleaned"}"#);
    assert_eq!(server.call("POST", "/api/v1/blocks/lift", Some(&alpha), Some((&req, "application/json"))).status, 403);
    let lifted = server.call("POST", "/api/v1/blocks/lift", Some(&duty), Some((&req, "application/json")));
    assert_eq!(lifted.status, 200, "{lifted:?}");
    eventually("the lift applies", || status(&server, &duty, "203.0.113.7")["status"] == "known");
    assert!(env.fails(&["block", "lift", "203.0.113.0/25", "--reason", "x"]).contains("does not exist"));
    let history = env.ok(&["block", "list", "--all"]);
    assert!(history.contains("compromised hosts, ticket 42") && history.contains("cleaned"), "{history}");
}

#[test]
fn a_notice_that_cannot_be_delivered_is_kept_and_retried() {
    let port = free_port();
    let env = env_with_smtp(port);
    let cast = env.cast();
    let _ = cast;
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let t = 1_763_600_000_000i64;
    observe(&server, &duty, &env, json!([{"ip": "198.51.100.77", "link": "alpha-1", "first_seen": t, "last_seen": t}]));

    // Nobody listens: the notice is recorded and waits for a retry.
    let down = reconcile(&env, FRIDAY_10);
    assert_eq!(down["failed"].as_array().unwrap().len(), 1, "{down}");
    let notices: Value = serde_json::from_str(&env.ok(&["notices", "--json"])).unwrap();
    assert_eq!(notices[0]["status"], "pending");
    assert!(notices[0]["last_error"].as_str().unwrap().len() > 3);

    // A server that refuses the message: still pending, retried after the backoff.
    let refusing = SmtpSink::start_on(port, &["-f", "data"]);
    let refused = reconcile(&env, "2026-11-20T10:01:00+05:00");
    assert_eq!(refused["failed"].as_array().unwrap().len(), 1, "{refused}");
    assert!(refusing.messages().is_empty());
    drop(refusing);

    // A working server on Monday: sent, and the deadline counts from the day it went out.
    let sink = SmtpSink::start_on(port, &[]);
    let early = reconcile(&env, "2026-11-20T10:02:00+05:00");
    assert!(early["sent"].as_array().unwrap().is_empty(), "not before its backoff: {early}");
    let monday = reconcile(&env, "2026-11-23T10:00:00+05:00");
    assert_eq!(monday["sent"].as_array().unwrap().len(), 1, "{monday}");
    let notices: Value = serde_json::from_str(&env.ok(&["notices", "--json"])).unwrap();
    assert_eq!(notices.as_array().unwrap().len(), 1, "one notice, retried, never duplicated");
    assert_eq!(notices[0]["deadline_day"], "2026-11-30");
    eventually("the notice arrives", || sink.messages().len() == 1);
    assert!(env.fails(&["reconcile", "--at", FRIDAY_10]).contains("for tests only"), "no clock override outside tests");
}

#[test]
fn the_calendar_file_is_checked_whole_and_moves_deadlines() {
    let mut env = Env::new();
    let bad = env.write("bad.cal", "holiday 01-01 New Year\nholiday 13-01 Nonsense\noff 2026-11-28 Saturday\n");
    let out = env.run(&["calendar", "check", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.cal:2: '13-01' is not a day of the year")
            && err.contains("bad.cal:3: 2026-11-28 is a Saturday"),
        "{err}"
    );
    assert_eq!(env.ok(&["calendar", "deadline", "2026-11-20"]).trim(), "2026-11-27");
    let own = env.write("own.cal", &format!("{}\noff 2026-11-25 extra day off\n", policies_default()));
    env.configure(&format!("[calendar]\nfile = \"{}\"\n", own.display()));
    assert_eq!(
        env.ok(&["calendar", "deadline", "2026-11-20"]).trim(),
        "2026-11-30",
        "the extra day off moves the deadline"
    );
    std::fs::write(&own, "holiday 99-99 broken\n").unwrap();
    assert!(
        env.fails(&["calendar", "show", "2026"]).contains("has errors"),
        "a broken calendar is refused, not half-used"
    );
}

fn policies_default() -> &'static str {
    include_str!("../policies/data/calendar/kz.cal")
}

/// Reports name their times in RFC 3339 or Unix milliseconds; seconds sent as
/// milliseconds, reserved addresses and the gateway's own address are refused with the
/// reason instead of being recorded as unknown sources.
#[test]
fn implausible_reports_are_refused_with_the_reason() {
    let env = Env::new();
    env.cast();
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let report = observe(
        &server,
        &duty,
        &env,
        json!([
            {"ip": "198.51.100.5", "link": "alpha-1", "first_seen": "2026-11-20T10:00:00+05:00", "last_seen": now},
            {"ip": "198.51.100.6", "link": "alpha-1", "first_seen": now / 1000, "last_seen": now / 1000},
            {"ip": "127.0.0.9", "link": "alpha-1", "first_seen": now, "last_seen": now},
            {"ip": "::ffff:127.0.0.9", "link": "alpha-1", "first_seen": now, "last_seen": now},
            {"ip": "fe80::1", "link": "alpha-1", "first_seen": now, "last_seen": now},
            {"ip": "198.51.100.7", "link": "alpha-1", "first_seen": "yesterday", "last_seen": now},
        ]),
    );
    assert_eq!(report["accepted"], 1, "{report}");
    let refused: Vec<&str> = report["refused"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(refused.len(), 5, "{report}");
    assert!(refused[0].contains("not seconds"), "{report}");
    assert!(refused[1].contains("loopback") && refused[2].contains("loopback"), "{report}");
    assert!(refused[3].contains("link-local") && refused[4].contains("RFC 3339"), "{report}");
    let unknown = server.get("/api/v1/unknown", &duty).json();
    let first = unknown.as_array().unwrap().iter().find(|u| u["ip"] == "198.51.100.5").expect("recorded");
    assert_eq!(first["first_seen"], 1_795_150_800_000i64, "RFC 3339 read as the instant it names: {first}");
}

#[test]
fn a_link_that_spoofs_sources_fills_only_its_operators_share_of_the_records() {
    let mut env = Env::new();
    env.configure("[catalog]\nmax_unknown_per_operator = 3\n");
    env.cast();
    let duty = env.token("duty", &["--duty"]);
    let alpha = env.token("alpha", &["--operator", "alpha"]);
    let beta = env.token("beta", &["--operator", "beta"]);
    let server = env.up();
    let t = 1_763_600_000_000i64;
    let sighting =
        |ip: String, link: &str| json!({"ip": ip, "link": link, "first_seen": t, "last_seen": t, "count": 1});
    let spoofed: Vec<Value> = (1..=3).map(|i| sighting(format!("198.51.100.{i}"), "alpha-1")).collect();
    assert_eq!(observe(&server, &duty, &env, Value::from(spoofed))["over_limit"], 0);
    let more: Vec<Value> = (10..=14).map(|i| sighting(format!("198.51.100.{i}"), "alpha-1")).collect();
    let report = observe(&server, &duty, &env, Value::from(more));
    assert_eq!((report["accepted"].as_i64(), report["over_limit"].as_i64()), (Some(5), Some(5)), "{report}");
    let again = observe(&server, &duty, &env, json!([sighting("198.51.100.1".into(), "alpha-1")]));
    assert_eq!(again["over_limit"], 0, "an address on record is still counted");
    let other = observe(&server, &duty, &env, json!([sighting("192.0.2.77".into(), "beta-1")]));
    assert_eq!(other["over_limit"], 0, "another operator has its own share");
    let listed = |token: &str| server.get("/api/v1/unknown", token).json().as_array().unwrap().len();
    assert_eq!((listed(&alpha), listed(&beta)), (3, 1));
}
