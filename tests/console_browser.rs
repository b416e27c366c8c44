//! The console in a real browser: headless Chromium driven over WebDriver through the
//! journeys people make every day. The duty team logs in, sees an unknown address with
//! its deadline on Today, blocks an address with a reason and finds it in the audit
//! trail, suspends a mail system and resumes it; a form sent without its CSRF token is
//! refused. An operator uploads a bad list and sees every problem by line with nothing
//! applied, uploads a good one and confirms the diff, gets 403 opening another
//! operator's page, and five wrong passwords lock the account. Screenshots of the main
//! pages are written to `target/tmp/console-screenshots/`.
//!
//! Needs chromium and chromedriver (chromium-driver) and Postfix's smtp-sink; the test
//! script installs them. Outside CI a missing chromedriver skips the test with a message.

mod common;

use common::webdriver::{Driver, login, runtime, screenshot, submit, text_of};
use common::{Env, Server, SmtpSink};
use fantoccini::Locator;
use policies::calendar::{Calendar, Date, today};
use serde_json::json;

const DUTY_PW: &str = "duty password one";
const ALPHA_PW: &str = "alpha password one";

/// A day before today whose notice deadline (five working days later) falls within
/// the next three working days, so Today lists it.
fn notice_day() -> Date {
    let cal = Calendar::kazakhstan_default();
    let (today, horizon) = (today(), Calendar::kazakhstan_default().add_working_days(today(), 3));
    (1..30)
        .map(|k| today.add_days(-k))
        .find(|d| {
            let deadline = cal.add_working_days(*d, 5);
            deadline >= today && deadline <= horizon
        })
        .expect("such a day exists")
}

/// An installation with an unknown address noticed (through a real SMTP server), a
/// connected mail system, and the people of the journeys.
fn installation(sink: &SmtpSink) -> (Env, common::Cast, Server) {
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Duty <duty@gateway.example>\"\ninterval = \"1d\"\n",
        sink.port
    ));
    let cast = env.cast();
    env.user("duty1", DUTY_PW, &["--duty"]);
    env.user("alpha1", ALPHA_PW, &["--operator", "alpha"]);
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
    let duty = env.token("gateway", &["--duty"]);
    // The gateways report through a first run; the notice goes out on a past day (the
    // test clock) while no server runs, so no reconciler pass of the real clock intervenes.
    let first = env.up();
    let day = notice_day();
    let seen = catalog::reconcile::kz_midnight(day) + 8 * 3_600_000;
    let batch = env.write(
        "batch.json",
        &json!([{"ip": "198.51.100.5", "link": "alpha-1", "first_seen": seen, "last_seen": seen + 60_000, "count": 4}])
            .to_string(),
    );
    let reply = first.call("POST", "/api/v1/observations", Some(&duty), Some((&batch, "application/json")));
    assert_eq!(reply.status, 200, "{reply:?}");
    drop(first);
    let at = format!("{day}T10:00:00+05:00");
    let out = env.run_with_env(&["reconcile", "--at", &at, "--json"], &[("PERIMETER_TEST_CLOCK", "1")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    common::eventually("the notice reaches the SMTP server", || !sink.messages().is_empty());
    let server = env.up();
    (env, cast, server)
}

#[test]
fn the_duty_team_works_through_the_day_in_a_browser() {
    let Some(driver) = Driver::start() else { return };
    let sink = SmtpSink::start(&[]);
    let (env, _cast, server) = installation(&sink);
    let base = server.base.clone();
    runtime().block_on(async {
        let c = driver.browser("duty").await;
        login(&c, &base, "duty1", DUTY_PW).await;
        let due = text_of(&c, "main", "198.51.100.5").await;
        assert!(due.contains("alpha"), "{due}");
        let row = text_of(&c, "main table", "198.51.100.5").await;
        let expected = Calendar::kazakhstan_default().add_working_days(notice_day(), 5).to_string();
        assert!(row.contains(&expected), "the deadline {expected} is shown: {row}");
        screenshot(&c, "today").await;

        c.goto(&format!("{base}/unknown")).await.unwrap();
        text_of(&c, "#unknown", "198.51.100.5").await;
        screenshot(&c, "unknown").await;
        c.goto(&format!("{base}/notices")).await.unwrap();
        text_of(&c, "#notices", "alpha").await;
        screenshot(&c, "notices").await;

        c.goto(&format!("{base}/blocks")).await.unwrap();
        submit(&c, "#add-blocks", &[("targets", "192.0.2.77"), ("reason", "abuse report 1234")]).await;
        text_of(&c, "#results", "192.0.2.77").await;
        c.goto(&format!("{base}/blocks")).await.unwrap();
        text_of(&c, "#blocks", "abuse report 1234").await;
        screenshot(&c, "blocks").await;
        c.goto(&format!("{base}/audit?actor=user%3Aduty1")).await.unwrap();
        let audit = text_of(&c, "#audit", "block.add").await;
        assert!(audit.contains("block:192.0.2.77/32") && audit.contains("abuse report 1234"), "{audit}");
        screenshot(&c, "audit").await;

        c.goto(&format!("{base}/blocks")).await.unwrap();
        c.execute("document.querySelector('#add-blocks input[name=csrf]').remove()", vec![]).await.unwrap();
        submit(&c, "#add-blocks", &[("targets", "192.0.2.78"), ("reason", "no token")]).await;
        text_of(&c, "body", "security token").await;
        assert!(!env.ok(&["block", "list"]).contains("192.0.2.78"), "the form without its token changed nothing");

        c.goto(&format!("{base}/mail/minfin-mail")).await.unwrap();
        submit(&c, "#status-form", &[("reason", "phishing wave")]).await;
        text_of(&c, "#status", "suspended").await;
        screenshot(&c, "mail-suspended").await;
        submit(&c, "#status-form", &[("reason", "account cleaned")]).await;
        text_of(&c, "#status", "active").await;
        let history = text_of(&c, "#history", "mail.resume").await;
        assert!(history.contains("user:duty1"), "{history}");

        for (page, name) in [
            ("/mail", "mail"),
            ("/operators", "operators"),
            ("/operators/alpha", "operator"),
            ("/organisations", "organisations"),
            ("/lookup?ip=198.51.100.5", "lookup"),
            ("/ca", "ca"),
            ("/policies", "policies"),
            ("/calendar", "calendar"),
        ] {
            c.goto(&format!("{base}{page}")).await.unwrap();
            text_of(&c, "h1", "").await;
            screenshot(&c, name).await;
        }

        // The language is the person's: chosen once (the script submits the choice), kept.
        c.goto(&format!("{base}/today")).await.unwrap();
        let select = c.find(Locator::Css("select[name=lang]")).await.unwrap();
        select.select_by_value("ru").await.unwrap();
        text_of(&c, "h1", "Сегодня").await;
        text_of(&c, "main", "Сроки в ближайшие три рабочих дня").await;
        screenshot(&c, "today-ru").await;
        assert!(env.ok(&["user", "list"]).lines().any(|l| l.starts_with("duty1") && l.contains(" ru ")));
        c.close().await.ok();
    });
}

#[test]
fn an_operator_uploads_its_list_in_a_browser_and_sees_nothing_of_others() {
    let Some(driver) = Driver::start() else { return };
    let sink = SmtpSink::start(&[]);
    let (env, cast, server) = installation(&sink);
    let base = server.base.clone();
    let bad = env.write(
        "bad.csv",
        &format!("prefix,bin,comment\n203.0.113.7/24,{a},x\n10.0.0.0/8,{a},y\n10.0.0.0/8,{a},z\n", a = cast.a),
    );
    let good =
        env.write("good.csv", &format!("203.0.113.0/24,{},head office\n198.51.100.0/24,{},branch\n", cast.a, cast.b));
    runtime().block_on(async {
        let c = driver.browser("alpha").await;
        login(&c, &base, "alpha1", ALPHA_PW).await;
        text_of(&c, "h1", "alpha").await;
        screenshot(&c, "portal").await;

        let file = c.find(Locator::Css("#upload input[type=file]")).await.unwrap();
        file.send_keys(bad.to_str().unwrap()).await.unwrap();
        c.find(Locator::Css("#upload button[type=submit]")).await.unwrap().click().await.unwrap();
        let problems = text_of(&c, "#problems", "host bits").await;
        assert!(problems.contains("listed twice"), "{problems}");
        let lines: Vec<_> = problems.lines().filter_map(|l| l.split_whitespace().next()?.parse::<u32>().ok()).collect();
        assert_eq!(lines, vec![2, 4], "each problem with its line: {problems}");
        screenshot(&c, "upload-problems").await;
        assert!(!env.ok(&["catalog", "export", "--operator", "alpha"]).contains("10.0.0.0/8"), "nothing applied");

        let file = c.find(Locator::Css("#upload input[type=file]")).await.unwrap();
        file.send_keys(good.to_str().unwrap()).await.unwrap();
        c.find(Locator::Css("#upload button[type=submit]")).await.unwrap().click().await.unwrap();
        let diff = text_of(&c, "#diff-counts", "added 2").await;
        assert!(diff.contains("removed 0"), "{diff}");
        screenshot(&c, "upload-diff").await;
        assert!(
            !env.ok(&["catalog", "export", "--operator", "alpha"]).contains("203.0.113.0/24"),
            "not before confirming"
        );
        c.find(Locator::Css("#confirm button[type=submit]")).await.unwrap().click().await.unwrap();
        text_of(&c, "#applied", "applied").await;
        let export = env.ok(&["catalog", "export", "--operator", "alpha"]);
        assert!(export.contains("203.0.113.0/24") && export.contains("198.51.100.0/24"), "{export}");
        c.goto(&format!("{base}/unknown")).await.unwrap();
        screenshot(&c, "portal-unknown").await;

        c.goto(&format!("{base}/operators/beta")).await.unwrap();
        let refused = text_of(&c, "h1", "403").await;
        assert!(refused.contains("Forbidden"), "{refused}");
        screenshot(&c, "portal-forbidden").await;

        c.goto(&format!("{base}/operators/alpha")).await.unwrap();
        c.find(Locator::Css("form[action=\"/logout\"] button")).await.unwrap().click().await.unwrap();
        text_of(&c, "main", "perimeter").await;
        for _ in 0..4 {
            login(&c, &base, "alpha1", "not my password").await;
            text_of(&c, ".problem", "Wrong name or password").await;
        }
        login(&c, &base, "alpha1", "not my password").await;
        text_of(&c, ".problem", "Wrong name or password").await;
        // Locked now: the right password is refused with the same words (a prober learns nothing).
        login(&c, &base, "alpha1", ALPHA_PW).await;
        text_of(&c, ".problem", "locked for a while").await;
        let users = env.ok(&["user", "list"]);
        assert!(users.lines().any(|l| l.contains("alpha1") && l.contains("locked until")), "{users}");
        screenshot(&c, "locked").await;
        c.close().await.ok();
    });
}
