//! The request desk in a real browser (headless Chromium over WebDriver): an
//! organisation's staff file their yearly lists through the console's form (a mistake
//! first, every problem shown), attach the signed letter, and follow the application;
//! the duty team finds it on the desk with its due day and applies it; the organisation
//! sees it applied and is e-mailed at each step. Screenshots go to
//! `target/tmp/console-screenshots/`.
//!
//! A second journey fills the regulation's WAF form in Russian: specialists added and
//! removed in the form's repeating group, a mistake shown beside its field in Russian,
//! then filed; the duty team issues an operator's technical conditions item by item in
//! the console and the operator's staff download them as a PDF from the application.
//!
//! Needs chromium and chromedriver (chromium-driver), Postfix's smtp-sink and pdftotext
//! (poppler-utils); the test script installs them. Outside CI a missing chromedriver
//! skips the test with a message.

mod common;

use std::time::{Duration, Instant};

use common::webdriver::{Driver, login, runtime, screenshot, submit, text_of};
use common::{Env, SmtpSink, eventually};
use fantoccini::{Client, Locator};

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

/// Types `fields` into the inputs of `form` by name (what was there is cleared).
async fn fill(c: &Client, form: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let input = c.find(Locator::Css(&format!("{form} [name=\"{name}\"]"))).await;
        let input = input.unwrap_or_else(|e| panic!("{form} has no field {name}: {e}"));
        input.clear().await.ok();
        input.send_keys(value).await.expect("typed");
    }
}

/// Clicks the element `css`.
async fn click(c: &Client, css: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.click().await.expect("clicked");
}

/// Waits (at most 20 s) until the page has (`true`) or lacks (`false`) an element `css`.
async fn wait_for(c: &Client, css: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if c.find(Locator::Css(css)).await.is_ok() == present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = c.source().await.unwrap_or_default();
    panic!("'{css}' never {}; the page:\n{page}", if present { "appeared" } else { "went away" });
}

/// The current value of the input named `name`.
async fn value_of(c: &Client, name: &str) -> String {
    let input = c.find(Locator::Css(&format!("[name=\"{name}\"]"))).await.expect("the input");
    input.prop("value").await.expect("its value").unwrap_or_default()
}

/// `url` fetched by the page itself (its session cookie goes with it): the status, the
/// content type and the bytes.
async fn fetch_in_page(c: &Client, url: &str) -> (u64, String, Vec<u8>) {
    let script = "const done = arguments[arguments.length - 1];\
        fetch(arguments[0], {credentials: 'same-origin'})\
          .then(r => r.arrayBuffer().then(b => done({status: r.status, type: r.headers.get('content-type'),\
                                                      bytes: Array.from(new Uint8Array(b))})))\
          .catch(e => done({status: 0, type: String(e), bytes: []}));";
    let got = c.execute_async(script, vec![serde_json::json!(url)]).await.expect("the page fetches");
    let bytes = got["bytes"].as_array().expect("bytes").iter().map(|b| b.as_u64().unwrap() as u8).collect();
    (got["status"].as_u64().unwrap_or(0), got["type"].as_str().unwrap_or("").to_string(), bytes)
}

const RU_PW: &str = "ministry password ru";
const NOC_PW: &str = "alpha noc password";

#[test]
fn a_waf_form_is_filled_in_russian_and_the_operator_downloads_its_technical_conditions() {
    let Some(driver) = Driver::start() else { return };
    let sink = SmtpSink::start(&[]);
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Desk <desk@gateway.example>\"\n",
        sink.port
    ));
    let cast = env.cast();
    env.user("duty1", DUTY_PW, &["--duty"]);
    env.user("alpha-noc", NOC_PW, &["--operator", "alpha"]);
    env.with_stdin(&["user", "add", "ministry-ru", "--organisation", &cast.a, "--lang", "ru"], &format!("{RU_PW}\n"));
    let link: serde_json::Value = serde_json::from_str(&env.ok(&[
        "request",
        "file",
        "operator-link",
        "--applicant",
        "operator:alpha",
        "--contact",
        "noc@alpha.example",
        "--json",
        "--set",
        "object_name=Akimat B",
        "--set",
        "object_address=Astana, 1 Beibitshilik",
        "--set",
        "main_gbps=10",
        "--set",
        "backup_gbps=10",
        "--set",
        "planned=2099-06-01",
    ]))
    .expect("JSON");
    let link = link["id"].as_i64().expect("the link's number");
    let server = env.up();
    let base = server.base.clone();
    runtime().block_on(async {
        // The organisation's staff fill the WAF form (appendix 3) in Russian.
        let org = driver.browser("ministry-ru").await;
        login(&org, &base, "ministry-ru", RU_PW).await;
        org.goto(&format!("{base}/requests/new?kind=waf")).await.unwrap();
        let form = "form.filing";
        text_of(&org, form, "3.9. ").await;
        let first = [
            ("f.specialists.0.name", "Айгерим Садыкова"),
            ("f.specialists.0.email", "aigerim@min.example.kz"),
            ("f.specialists.0.work_phone", "+7 7172 000001"),
            ("f.specialists.0.mobile", "+7 701 0000001"),
        ];
        let mut typed = vec![
            ("contacts", "it@min.example.kz"),
            ("f.site", "min.example.kz"),
            ("f.addresses", "192.0.2.300"),
            ("f.operator", "alpha"),
            ("f.web_server", "nginx 1.24.0"),
            ("f.dbms", "PostgreSQL 15"),
            ("f.cms", "none"),
        ];
        typed.extend(first);
        fill(&org, form, &typed).await;
        // A second and a third specialist added, the second removed again.
        click(&org, "button[name=\"op\"][value=\"add\"]").await;
        wait_for(&org, "div.specialist[data-row=\"1\"]", true).await;
        assert_eq!(value_of(&org, "f.site").await, "min.example.kz", "what was typed is kept");
        assert_eq!(value_of(&org, "f.specialists.0.name").await, "Айгерим Садыкова");
        fill(
            &org,
            form,
            &[("f.specialists.1.name", "Removed Person"), ("f.specialists.1.email", "gone@min.example.kz")],
        )
        .await;
        click(&org, "button[name=\"op\"][value=\"add\"]").await;
        wait_for(&org, "div.specialist[data-row=\"2\"]", true).await;
        let third = [
            ("f.specialists.2.name", "Нурлан Абенов"),
            ("f.specialists.2.email", "nurlan@min.example.kz"),
            ("f.specialists.2.work_phone", "+7 7172 000002"),
            ("f.specialists.2.mobile", "+7 701 0000002"),
        ];
        fill(&org, form, &third).await;
        screenshot(&org, "desk-waf-specialists").await;
        click(&org, "button[name=\"op\"][value=\"remove:1\"]").await;
        wait_for(&org, "div.specialist[data-row=\"2\"]", false).await;
        assert_eq!(value_of(&org, "f.specialists.1.email").await, "nurlan@min.example.kz", "the third moves up");
        assert_eq!(value_of(&org, "f.specialists.0.email").await, "aigerim@min.example.kz");
        // Filed with a mistake: shown beside its field, in Russian; then corrected.
        click(&org, "form.filing > button[type=submit]").await;
        let beside = text_of(&org, "span.problem[data-field=\"addresses\"]", "не IP-адрес").await;
        assert!(beside.contains("«192.0.2.300»"), "{beside}");
        let listed = text_of(&org, "#problems", "IP-адреса веб-ресурса").await;
        assert!(!listed.contains("is not an IP address"), "{listed}");
        screenshot(&org, "desk-waf-problem-ru").await;
        fill(&org, form, &[("f.addresses", "192.0.2.80, 192.0.2.81")]).await;
        click(&org, "form.filing > button[type=submit]").await;
        text_of(&org, "#state", "filed").await;
        let page = text_of(&org, "main", "nurlan@min.example.kz").await;
        assert!(page.contains("aigerim@min.example.kz") && !page.contains("gone@min.example.kz"), "{page}");
        screenshot(&org, "desk-waf-filed").await;
        org.close().await.ok();

        // The duty team issues the link's technical conditions item by item.
        let duty = driver.browser("duty").await;
        login(&duty, &base, "duty1", DUTY_PW).await;
        duty.goto(&format!("{base}/requests/{link}")).await.unwrap();
        let conditions = "form.transition:has(input[value=\"conditions\"])";
        submit(&duty, conditions, &[("number", "TC-2099-7"), ("connection_point", "rack 4, shelf 2, ports 7-8")]).await;
        text_of(&duty, "#state", "conditions").await;
        duty.close().await.ok();

        // The operator's staff download them as a PDF from the application.
        let noc = driver.browser("alpha-noc").await;
        login(&noc, &base, "alpha-noc", NOC_PW).await;
        noc.goto(&format!("{base}/requests/{link}")).await.unwrap();
        text_of(&noc, "main", "technical-conditions-TC-2099-7").await;
        screenshot(&noc, "desk-conditions-issued").await;
        let anchor = noc.find(Locator::Css("a[href*=\"/attachments/\"]")).await.expect("the PDF's link");
        assert!(anchor.text().await.unwrap().contains("technical-conditions-TC-2099-7"));
        let href = anchor.attr("href").await.unwrap().expect("a link");
        let (status, content_type, pdf) = fetch_in_page(&noc, &href).await;
        assert_eq!(status, 200, "the PDF downloads");
        assert!(content_type.starts_with("application/pdf"), "{content_type}");
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        let path = env.write("downloaded.pdf", "");
        std::fs::write(&path, &pdf).unwrap();
        let text = pdf_text(&path);
        for expected in [
            "ТЕХНИЧЕСКИЕ УСЛОВИЯ № TC-2099-7",
            "ТЕХНИКАЛЫҚ ШАРТТАР № TC-2099-7",
            "rack 4, shelf 2, ports 7-8",
            "Akimat B",
        ] {
            assert!(text.contains(expected), "'{expected}' in the downloaded PDF:\n{text}");
        }
        noc.close().await.ok();
    });
}

/// The text of a PDF, read back with pdftotext (poppler-utils, installed by the test script).
fn pdf_text(path: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext").arg(path).arg("-").output();
    let out = out.expect("pdftotext is required by this test: install poppler-utils (the test script does)");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}
