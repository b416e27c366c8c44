//! The request desk in a real browser (headless Chromium over WebDriver): an
//! organisation's staff file their yearly lists through the console's form (a mistake
//! first, every problem shown), attach the signed letter, and follow the application;
//! the duty team finds it on the desk with its due day and applies it; the organisation
//! sees it applied and is e-mailed at each step. Screenshots go to
//! `target/tmp/console-screenshots/`.
//!
//! Needs chromium and chromedriver (chromium-driver) and Postfix's smtp-sink; the test
//! script installs them. Outside CI a missing chromedriver skips the test with a message.

mod common;

use common::webdriver::{Driver, login, runtime, screenshot, submit, text_of};
use common::{Env, SmtpSink, eventually};
use fantoccini::Locator;

const DUTY_PW: &str = "duty password one";
const ORG_PW: &str = "ministry password a";

#[test]
fn an_organisation_files_its_lists_in_a_browser_and_the_duty_team_applies_them() {
    let Some(driver) = Driver::start() else { return };
    let sink = SmtpSink::start(&[]);
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n",
        sink.port
    ));
    let cast = env.cast();
    env.user("duty1", DUTY_PW, &["--duty"]);
    env.user("ministry-a", ORG_PW, &["--organisation", &cast.a]);
    let letter = env.write("letter.pdf", "%PDF-1.7\nyearly lists, signed\n");
    let server = env.up();
    let base = server.base.clone();
    runtime().block_on(async {
        let org = driver.browser("ministry").await;
        login(&org, &base, "ministry-a", ORG_PW).await;
        text_of(&org, "h1", "Requests").await;
        for other in ["/operators", "/audit", "/today", "/blocks"] {
            let link = org.find(Locator::Css(&format!("header nav a[href=\"{other}\"]"))).await;
            assert!(link.is_err(), "the desk only: no link to {other}");
        }
        org.find(Locator::Css("a[href=\"/requests/new\"]")).await.expect("a filing link").click().await.unwrap();
        org.find(Locator::Css("a[href=\"/requests/new?kind=yearly-lists\"]")).await.unwrap().click().await.unwrap();
        let form = "form.filing";
        submit(&org, form, &[("contacts", "it@a.example"), ("f.categories", "news"), ("f.networks", "192.0.2.0/33")])
            .await;
        let problems = text_of(&org, "#problems", "networks").await;
        assert!(problems.contains("192.0.2.0/33"), "{problems}");
        screenshot(&org, "desk-filing-problems").await;
        submit(&org, form, &[("f.networks", "192.0.2.0/24, 198.51.100.0/24")]).await;
        let state = text_of(&org, "#state", "filed").await;
        assert!(!state.is_empty());
        text_of(&org, "#holder", "duty").await;
        let url = org.current_url().await.unwrap().to_string();
        let id = url.rsplit('/').next().unwrap().to_string();
        let file = org.find(Locator::Css("form.attach input[type=file]")).await.unwrap();
        file.send_keys(letter.to_str().unwrap()).await.unwrap();
        org.find(Locator::Css("form.attach button[type=submit]")).await.unwrap().click().await.unwrap();
        text_of(&org, "main", "letter.pdf").await;
        screenshot(&org, "desk-filed").await;

        let duty = driver.browser("duty").await;
        login(&duty, &base, "duty1", DUTY_PW).await;
        duty.goto(&format!("{base}/requests")).await.unwrap();
        let row = text_of(&duty, "#requests", &format!("org:{}", cast.a)).await;
        assert!(row.contains("yearly-lists") || row.contains("yearly lists"), "{row}");
        duty.goto(&format!("{base}/requests/{id}")).await.unwrap();
        text_of(&duty, "#due", "").await;
        submit(&duty, "form.transition:has(input[value=\"apply\"])", &[]).await;
        text_of(&duty, "#state", "applied").await;
        screenshot(&duty, "desk-applied").await;

        org.goto(&url).await.unwrap();
        text_of(&org, "#state", "applied").await;
        let timeline = text_of(&org, "#timeline", "apply").await;
        assert!(timeline.contains("user:duty1"), "{timeline}");
        org.close().await.ok();
        duty.close().await.ok();
    });
    eventually("the filing and the answer are e-mailed to the organisation", || {
        let mails = sink.readable();
        mails.iter().any(|m| m.contains("What happened: file")) && mails.iter().any(|m| m.contains("State: applied"))
    });
    let policy = env.ok(&["policy", "export"]);
    let own = policy.split("[[organisation]]").find(|o| o.contains(&cast.a)).expect("organisation A's policy");
    assert!(own.contains("categories = [\"news\"]"), "the applied lists are the policy: {policy}");
}
