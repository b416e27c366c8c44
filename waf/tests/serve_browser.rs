//! The WAF between real parts in network namespaces of their own: headless Chromium
//! (chromedriver) and curl in a client namespace, the WAF in its own, the tests'
//! recording origin in a third, veth pairs between them, documentation addresses.
//! Chromium trusts the test CA through a private NSS database and loads the protected
//! page over HTTPS with the site's certificate (HTTP/2), opens a WebSocket through the
//! WAF, and submits a form with an SQL injection: it gets the block page with the
//! transaction id that the audit line names with its 942xxx rules. In detect mode (a
//! reload) the same form reaches the origin and is logged. A site added by a new
//! snapshot is served without restart while an HTTP/1.1 connection opened before the
//! reload keeps being served.
//!
//! Needs root (namespaces), chromium, chromedriver and certutil; the test script installs
//! them. Outside CI a missing one skips the test with a message.

mod serve_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serve_support::netns::{self, CLIENT, Namespaces, ORIGIN, WAF_FRONT};
use serve_support::origin::Origin;
use serve_support::{TestCa, Waf, engine, site};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use waf::engine::Mode;

const SITE: &str = "portal.example.kz";
const NEW_SITE: &str = "news.example.kz";
const INJECTION: &str = "1' or '1'='1";

/// Whether the parts are here: in CI a missing one fails the test, elsewhere it skips.
fn required() -> bool {
    let mut missing = Vec::new();
    if !netns::is_root() {
        missing.push("root (network namespaces)");
    }
    for (path, what) in [
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromedriver (chromium-driver)"),
        ("/usr/bin/certutil", "certutil (libnss3-tools)"),
    ] {
        if !Path::new(path).exists() {
            missing.push(what);
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("this test needs {}", missing.join(", "));
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("SKIPPED: {why}");
    false
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// chromedriver and a Chromium session inside the client namespace, trusting `ca_pem`.
struct Browser {
    driver: Child,
    client: Client,
    runtime: tokio::runtime::Runtime,
    _home: tempfile::TempDir,
}

impl Browser {
    fn start(ns: &str, ca_pem: &str) -> Browser {
        let home = tempfile::tempdir().expect("home");
        let db = format!("sql:{}", home.path().join(".pki/nssdb").display());
        std::fs::create_dir_all(home.path().join(".pki/nssdb")).expect("nssdb dir");
        let ca_file = home.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("ca");
        run(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
        run(Command::new("certutil").args(["-A", "-d", &db, "-t", "C,,", "-n", "waf-test-ca", "-i"]).arg(&ca_file));
        let driver = Namespaces::command(ns, "chromedriver")
            .args(["--port=9515", "--allowed-ips=127.0.0.1"])
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = home.path().join("profile");
        let rules = format!("--host-resolver-rules=MAP {SITE} {WAF_FRONT}, MAP {NEW_SITE} {WAF_FRONT}");
        let (client, runtime) = Namespaces::run_in(ns, move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
            let args = [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                &rules,
                &format!("--user-data-dir={}", profile.display()),
            ];
            let mut caps = serde_json::Map::new();
            caps.insert(
                "goog:chromeOptions".into(),
                serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
            );
            let client = runtime.block_on(async {
                let mut last = None;
                for _ in 0..100 {
                    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                    match ClientBuilder::new(connector)
                        .capabilities(caps.clone())
                        .connect("http://127.0.0.1:9515")
                        .await
                    {
                        Ok(client) => return client,
                        Err(e) => last = Some(e),
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                panic!("no Chromium session: {last:?}");
            });
            (client, runtime)
        });
        Browser { driver, client, runtime, _home: home }
    }

    /// Waits (at most 20 s) for `css` and returns its text.
    fn text(&self, css: &str) -> String {
        self.runtime.block_on(async {
            for _ in 0..200 {
                if let Ok(e) = self.client.find(Locator::Css(css)).await {
                    return e.text().await.unwrap_or_default();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let source = self.client.source().await.unwrap_or_default();
            panic!("no {css} on the page: {source}");
        })
    }

    fn goto(&self, url: &str) {
        self.runtime.block_on(self.client.goto(url)).expect("navigates");
    }

    /// Types `value` into the search form and submits it.
    /// The text of `css` once `done` holds for it (the page after a navigation: the old
    /// page's element may still be there right after a click), or the last text seen.
    fn text_once(&self, css: &str, done: impl Fn(&str) -> bool) -> String {
        let mut text = String::new();
        for _ in 0..200 {
            text = self.text(css);
            if done(&text) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        text
    }

    fn search(&self, value: &str) {
        self.runtime.block_on(async {
            let input = self.client.find(Locator::Css("#search [name=q]")).await.expect("the form");
            input.send_keys(value).await.expect("typed");
            self.client.find(Locator::Css("#search button")).await.expect("button").click().await.expect("submitted");
        });
    }

    fn script(&self, js: &str) -> serde_json::Value {
        self.runtime.block_on(self.client.execute_async(js, vec![])).expect("the script runs")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn chromium_through_the_waf_in_namespaces() {
    if !required() {
        return;
    }
    let Some(engine) = engine() else { return };
    let ns = Namespaces::new("b");
    let ca = TestCa::new();
    let (origin, _origin_rt) = Namespaces::run_in(&ns.origin, || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        (rt.block_on(Origin::start(&format!("{ORIGIN}:8080"))), rt)
    });
    let protected = site(&ca, SITE, &[origin.addr], Mode::Block);
    let sites = vec![protected.clone()];
    let waf = Namespaces::run_in(&ns.waf, move || Waf::start(engine, WAF_FRONT, sites, |_| {}));
    let base = format!("https://{SITE}:{}", waf.https.port());
    let browser = Browser::start(&ns.client, &ca.pem);

    // The page, over HTTP/2, with the site's own certificate.
    browser.goto(&format!("{base}/"));
    assert_eq!(browser.text("#welcome"), "Добро пожаловать");
    let protocol = browser.script("arguments[0](performance.getEntriesByType('navigation')[0].nextHopProtocol)");
    assert_eq!(protocol, "h2");
    let seen = origin.requests();
    assert_eq!(
        seen.last().map(|r| r.headers["x-forwarded-for"].to_str().unwrap_or("").to_owned()),
        Some(CLIENT.to_owned())
    );

    // A WebSocket through the WAF: the origin echoes what the browser sends.
    let echo = browser.script(&format!(
        "const done = arguments[0]; const ws = new WebSocket('wss://{SITE}:{}/ws'); \
         ws.onopen = () => ws.send('сәлем'); ws.onmessage = (m) => {{ done(m.data); ws.close(); }}; \
         ws.onerror = () => done('error');",
        waf.https.port()
    ));
    assert_eq!(echo, "сәлем", "audit: {:?}\norigin: {}", waf.audit_lines(), origin.raw_text());

    // The injection: the block page with the transaction id, the same id on the audit line.
    browser.search(INJECTION);
    let id = browser.text("code.tx");
    assert_eq!(id.len(), 16, "{id}");
    let heading = browser.text("h1");
    assert_eq!(heading, "Request refused", "Chromium asks for English first");
    let line = waf.audit_of(&id);
    assert_eq!((line["action"].as_str(), line["client"].as_str()), (Some("blocked"), Some(CLIENT)));
    assert!(
        line["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| (942000..943000).contains(&r["id"].as_u64().unwrap_or(0))),
        "{line}"
    );
    assert!(origin.requests().iter().all(|r| r.uri != "/search"), "the injection reached the origin");

    // An HTTP/1.1 connection opened before the reload, kept open across it.
    let ca_pem = ca.pem.clone();
    let https = waf.https;
    let (client_rt, mut kept) = Namespaces::run_in(&ns.client, move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let conn = rt.block_on(serve_support::tls_connect(&ca_pem, SITE, https));
        (rt, conn)
    });
    let get = format!("GET /kept HTTP/1.1\r\nHost: {SITE}\r\n\r\n");
    let first = client_rt.block_on(request_on(&mut kept, &get));
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    // Reload: detect mode, and a new site.
    let detect =
        waf::Site { rules: waf::engine::RuleSettings { mode: Mode::Detect, ..protected.rules.clone() }, ..protected };
    let news = site(&ca, NEW_SITE, &[origin.addr], Mode::Block);
    waf.apply(vec![detect, news]).expect("the reload applies");
    let again = client_rt.block_on(request_on(&mut kept, &get));
    assert!(again.starts_with("HTTP/1.1 200"), "the connection opened before the reload: {again}");
    let ca_dir = tempfile::tempdir().expect("dir");
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("ca file");
    let out = Namespaces::command(&ns.client, "curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca_file)
        .arg("--resolve")
        .arg(format!("{NEW_SITE}:{}:{WAF_FRONT}", waf.https.port()))
        .arg(format!("https://{NEW_SITE}:{}/fresh", waf.https.port()))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "origin saw GET /fresh with 0 body bytes");

    // Detect mode: the same form reaches the origin and is logged.
    browser.goto(&format!("{base}/"));
    browser.search(INJECTION);
    let answer = browser.text_once("body", |t| t.starts_with("origin saw"));
    assert!(answer.starts_with("origin saw POST /search"), "{answer}");
    let searched = origin.requests().into_iter().rfind(|r| r.uri == "/search").expect("the origin got the form");
    assert_eq!(String::from_utf8_lossy(&searched.body), "q=1%27+or+%271%27%3D%271");
    let lines = waf.audit_lines();
    let line = lines.iter().rfind(|l| l["uri"] == "/search").expect("logged");
    assert_eq!(
        (line["action"].as_str(), line["mode"].as_str(), line["status"].as_u64()),
        (Some("matched"), Some("detect"), Some(200))
    );
    drop(browser);
    drop(client_rt);
}

/// Sends one request on an open connection and reads its answer (up to its body's length).
async fn request_on(conn: &mut (impl AsyncReadExt + AsyncWriteExt + Unpin), request: &str) -> String {
    conn.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n =
            tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await.expect("an answer").expect("read");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if n == 0 || complete(&text) {
            return text;
        }
    }
}

fn complete(text: &str) -> bool {
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head.lines().find_map(|l| {
        l.to_ascii_lowercase().strip_prefix("content-length: ").and_then(|v| v.trim().parse::<usize>().ok())
    });
    length.is_some_and(|n| body.len() >= n)
}
