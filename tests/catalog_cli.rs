//! The catalog from the command line, as the duty team and operators use it: register,
//! import (and see bad lists refused whole), export, look up, history.

mod common;

use common::{Env, bin};

#[test]
fn import_lookup_export_round_trip() {
    let env = Env::new();
    let cast = env.cast();
    let list = format!(
        "\u{feff}prefix,bin,comment\r\n# head office\r\n203.0.113.0/24,{a},HQ\r\n\r\n2001:DB8:0:1::/64,{b},\"branch, 2\"\r\n198.51.100.0/25,{b}\r\n198.51.100.128/28,{a},nested? no: adjacent\r\n",
        a = cast.a,
        b = cast.b
    );
    let file = env.write("alpha.csv", &list);
    let out = env.ok(&["catalog", "import", "--operator", "alpha", file.to_str().unwrap()]);
    assert!(out.contains("added 4, removed 0"), "{out}");
    assert!(out.contains("+ 2001:db8:0:1::/64"), "IPv6 printed canonically: {out}");

    let known = env.ok(&["catalog", "lookup", "203.0.113.77"]);
    assert!(known.contains("203.0.113.0/24") && known.contains(&cast.a) && known.contains("alpha"), "{known}");
    let v6: serde_json::Value =
        serde_json::from_str(&env.ok(&["catalog", "lookup", "2001:db8::1:0:0:0:9", "--json"])).unwrap();
    assert_eq!(v6["status"], "known");
    assert_eq!(v6["prefix"], "2001:db8:0:1::/64");
    assert_eq!(v6["organisation"]["bin"], cast.b.as_str());
    let unknown: serde_json::Value =
        serde_json::from_str(&env.ok(&["catalog", "lookup", "192.0.2.1", "--json"])).unwrap();
    assert_eq!(unknown["status"], "unknown");

    for format in ["csv", "json"] {
        let exported = env.ok(&["catalog", "export", "--operator", "alpha", "--format", format]);
        let again = env.write(&format!("again.{format}"), &exported);
        let out = env.ok(&["catalog", "import", "--operator", "alpha", again.to_str().unwrap()]);
        assert!(out.contains("unchanged 4") && out.contains("nothing to change"), "{format}: {out}");
    }
    let csv = env.ok(&["catalog", "export", "--operator", "alpha"]);
    assert!(csv.contains("\"branch, 2\""), "{csv}");
}

#[test]
fn a_bad_list_is_refused_whole_with_every_problem_located() {
    let env = Env::new();
    let cast = env.cast();
    let good = env.write("beta.csv", &format!("198.51.100.0/24,{}\n", cast.c));
    env.ok(&["catalog", "import", "--operator", "beta", good.to_str().unwrap()]);
    let bad = format!(
        "# alpha's list\n203.0.113.0/24,{a}\n198.51.100.128/25,{a}\n192.0.2.7/24,{a}\n127.0.0.0/8,{a}\n\
         224.1.0.0/16,{a}\nfe80::/64,{a}\n10.0.0.0/8,{c}\n10.1.0.0/16,{wrong}\n10.2.0.0/16,{unknown}\n\
         203.0.113.0/24,{b}\nnonsense,{a}\n172.16.0.0/12,{a},a,b\n",
        a = cast.a,
        b = cast.b,
        c = cast.c,
        wrong = "980140000019",
        unknown = bin("98014000009"),
    );
    let file = env.write("alpha.csv", &bad);
    let err = env.fails(&["catalog", "import", "--operator", "alpha", file.to_str().unwrap()]);
    let expect = [
        ":3: prefix: 198.51.100.128/25 overlaps 198.51.100.0/24, which operator 'beta' has registered",
        ":4: prefix: '192.0.2.7/24' has host bits set; the network is 192.0.2.0/24",
        ":5: prefix: 127.0.0.0/8 overlaps the reserved loopback range",
        ":6: prefix: 224.1.0.0/16 overlaps the reserved multicast range",
        ":7: prefix: fe80::/64 overlaps the reserved link-local range",
        &format!(":8: bin: organisation {} (Agency C) is not connected through operator 'alpha'", cast.c),
        ":9: bin: '980140000019' is not a valid BIN: its check digit should be",
        ":10: bin: no organisation with BIN",
        ":11: prefix: 203.0.113.0/24 is listed twice (first on line 2)",
        ":12: prefix: 'nonsense' is not a CIDR prefix",
        ":13: expected prefix,bin[,comment]; found 4 fields",
        "11 problem(s); nothing was applied",
    ];
    for e in expect {
        assert!(err.contains(e), "missing {e:?} in:\n{err}");
    }
    assert!(!err.contains(":2:"), "line 2 is fine:\n{err}");
    let export = env.ok(&["catalog", "export", "--operator", "alpha"]);
    assert_eq!(export.trim(), "prefix,bin,comment", "nothing applied");
    assert!(env.ok(&["catalog", "lookup", "203.0.113.1"]).contains("unknown"));
}

#[test]
fn dry_run_shows_the_diff_and_changes_nothing() {
    let env = Env::new();
    let cast = env.cast();
    let first = env.write(
        "v1.csv",
        &format!("192.0.2.0/24,{a}\n198.51.100.0/24,{a}\n203.0.113.0/24,{b},x\n", a = cast.a, b = cast.b),
    );
    env.ok(&["catalog", "import", "--operator", "alpha", first.to_str().unwrap()]);
    let second = env.write(
        "v2.csv",
        &format!(
            "192.0.2.0/24,{a}\n198.51.100.0/24,{b}\n203.0.113.0/24,{b},y\n2001:db8::/32,{a}\n",
            a = cast.a,
            b = cast.b
        ),
    );
    let out = env.ok(&["catalog", "import", "--operator", "alpha", second.to_str().unwrap(), "--dry-run"]);
    assert!(out.contains(&format!("+ 2001:db8::/32 {}", cast.a)), "{out}");
    assert!(out.contains(&format!("~ 198.51.100.0/24 {} -> {}", cast.a, cast.b)), "{out}");
    assert!(out.contains("* 203.0.113.0/24"), "{out}");
    assert!(
        out.contains("added 1, removed 0, moved 1, comment changed 1, unchanged 1; dry run, nothing applied"),
        "{out}"
    );
    assert!(env.ok(&["catalog", "lookup", "198.51.100.1"]).contains(&cast.a), "dry run applied nothing");

    let json: serde_json::Value = serde_json::from_str(&env.ok(&[
        "catalog",
        "import",
        "--operator",
        "alpha",
        second.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["applied"], true);
    assert_eq!(json["diff"]["moved"][0]["from_bin"], cast.a.as_str());
    assert!(env.ok(&["catalog", "lookup", "198.51.100.1"]).contains(&cast.b));

    let third = env.write("v3.csv", &format!("2001:db8::/32,{a}\n", a = cast.a));
    let out = env.ok(&["catalog", "import", "--operator", "alpha", third.to_str().unwrap(), "--summary"]);
    assert!(out.contains("added 0, removed 3") && !out.contains("- 192.0.2.0/24"), "{out}");
}

#[test]
fn json_lists_report_problems_by_line() {
    let env = Env::new();
    let cast = env.cast();
    let list = format!(
        "[\n  {{\"prefix\": \"192.0.2.0/24\", \"bin\": \"{a}\"}},\n  {{\"prefix\": \"192.0.3.0/23\",\n    \"bin\": \"{a}\"}},\n  {{\"prefix\": \"198.51.100.0/24\", \"bin\": \"{a}\", \"colour\": 1}}\n]\n",
        a = cast.a
    );
    let file = env.write("alpha.json", &list);
    let err = env.fails(&["catalog", "import", "--operator", "alpha", file.to_str().unwrap()]);
    assert!(err.contains(":3: prefix: '192.0.3.0/23' has host bits set; the network is 192.0.2.0/23"), "{err}");
    assert!(err.contains(":5: entry 3: unknown field `colour`"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn history_says_who_held_an_address_and_when() {
    let env = Env::new();
    let cast = env.cast();
    let v1 = env.write("v1.csv", &format!("203.0.113.0/24,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", v1.to_str().unwrap()]);
    let before_move: serde_json::Value =
        serde_json::from_str(&env.ok(&["catalog", "history", "203.0.113.7", "--json"])).unwrap();
    let first_from = before_move[0]["valid_from"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let v2 = env.write("v2.csv", &format!("203.0.113.0/24,{}\n203.0.113.0/28,{}\n", cast.b, cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", v2.to_str().unwrap()]);

    let all: serde_json::Value =
        serde_json::from_str(&env.ok(&["catalog", "history", "203.0.113.7", "--json"])).unwrap();
    let rows = all.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{all}");
    assert_eq!(rows[0]["prefix"], "203.0.113.0/28", "most specific first");
    let old = rows.iter().find(|r| r["bin"] == cast.a.as_str() && r["prefix"] == "203.0.113.0/24").unwrap();
    assert!(old["valid_to"].is_i64(), "the first holder's tenure ended");

    let at = |ms: i64| {
        let secs = ms.div_euclid(1000);
        let t = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{secs}.{:03}", ms.rem_euclid(1000)), "+%Y-%m-%dT%H:%M:%S.%3NZ"])
            .output()
            .unwrap();
        String::from_utf8(t.stdout).unwrap().trim().to_string()
    };
    let then: serde_json::Value =
        serde_json::from_str(&env.ok(&["catalog", "history", "203.0.113.200", "--at", &at(first_from + 1), "--json"]))
            .unwrap();
    assert_eq!(then.as_array().unwrap().len(), 1, "{then}");
    assert_eq!(then[0]["bin"], cast.a.as_str());
    let kz_day = at(first_from + 5 * 3600 * 1000)[..10].to_string();
    let day: serde_json::Value =
        serde_json::from_str(&env.ok(&["catalog", "history", "203.0.113.200", "--on", &kz_day, "--json"])).unwrap();
    let bins: Vec<&str> = day.as_array().unwrap().iter().map(|r| r["bin"].as_str().unwrap()).collect();
    assert!(bins.contains(&cast.a.as_str()) && bins.contains(&cast.b.as_str()), "both held it that day: {day}");
    let text = env.ok(&["catalog", "history", "192.0.2.1"]);
    assert!(text.contains("no operator's list covered it"), "{text}");
}

#[test]
fn registrations_are_validated_and_audited() {
    let env = Env::new();
    let cast = env.cast();
    assert!(env.fails(&["operator", "add", "alpha"]).contains("operator 'alpha' already exists"));
    assert!(env.fails(&["operator", "add", "Bad Name"]).contains("operator name 'Bad Name'"));
    assert!(
        env.fails(&["operator", "add", "gamma", "--link", "alpha-1"])
            .contains("link 'alpha-1' already belongs to operator 'alpha'")
    );
    assert!(
        env.fails(&["operator", "add", "gamma", "--contact", "not-mail"])
            .contains("'not-mail' is not an e-mail address")
    );
    assert!(
        env.fails(&["org", "add", "--bin", "12345", "--name", "X", "--operator", "alpha"])
            .contains("exactly 12 digits")
    );
    assert!(
        env.fails(&["org", "add", "--bin", &cast.a, "--name", "X", "--operator", "alpha"])
            .contains("already registered")
    );
    assert!(
        env.fails(&["org", "add", "--bin", &bin("98014000004"), "--name", "X", "--operator", "nobody"])
            .contains("operator 'nobody' does not exist")
    );
    env.ok(&["org", "connect", &cast.c, "alpha"]);
    let orgs = env.ok(&["org", "list", "--operator", "alpha"]);
    assert!(orgs.contains(&cast.c) && !orgs.contains("nobody"), "{orgs}");

    let audit = env.ok(&["audit", "--json"]);
    let changes: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let connect =
        changes.as_array().unwrap().iter().find(|c| c["action"] == "organisation.connect").expect("connect audited");
    assert_eq!(connect["actor"], "cli:tester");
    assert_eq!(connect["before"]["operators"], serde_json::json!(["beta"]));
    assert_eq!(connect["after"]["operators"], serde_json::json!(["alpha", "beta"]));
    assert_eq!(
        changes.as_array().unwrap().iter().filter(|c| c["action"] == "organisation.add").count(),
        3,
        "failed adds are not audited"
    );
}
