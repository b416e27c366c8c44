//! Headless Chromium driven over WebDriver (Debian's `chromedriver`, package
//! `chromium-driver`), for tests of what a person sees in a real browser. Each test
//! starts its own chromedriver on a free loopback port and its own browser with a fresh
//! profile; screenshots go to the test's output directory for a person to look at.
//! In CI (`CI=true`) a missing chromedriver fails the test; elsewhere it is skipped
//! with a printed reason.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// A running chromedriver, stopped when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    profiles: tempfile::TempDir,
}

const CHROMEDRIVER: [&str; 2] = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

impl Driver {
    /// Starts chromedriver, or says why it cannot (a failure in CI).
    pub fn start() -> Option<Driver> {
        let Some(binary) = CHROMEDRIVER.into_iter().find(|p| Path::new(p).exists()) else {
            let why = "chromedriver (Debian package chromium-driver) is not installed; scripts/test installs it";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        };
        let port = super::free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        super::eventually("chromedriver listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        Some(Driver { child, port, profiles: tempfile::tempdir().expect("profile dir") })
    }

    /// A new headless Chromium with a fresh profile.
    pub async fn browser(&self, name: &str) -> Client {
        let profile = self.profiles.path().join(name);
        std::fs::create_dir_all(&profile).expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where this run's screenshots go.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves a screenshot of the page as `NAME.png` and returns its path.
pub async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot written");
    path
}

/// Waits (at most 20 s) until the element `css` exists and its text contains `needle`;
/// returns the text.
pub async fn text_of(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    panic!("'{css}' on {url} never contained '{needle}'; last text: {last:?}");
}

/// Fills the named fields of the form `form` and submits it with its submit button.
pub async fn submit(c: &Client, form: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let input = c.find(Locator::Css(&format!("{form} [name=\"{name}\"]"))).await.unwrap_or_else(|e| {
            panic!("{form} has no field {name}: {e}");
        });
        input.clear().await.ok();
        input.send_keys(value).await.expect("typed");
    }
    c.find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .expect("a submit button")
        .click()
        .await
        .expect("clicked");
}

/// The runtime the browser journeys run in.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Opens the console's login page at `base` and logs in, and waits for the answer (a
/// page for the person, or the login page with its problem), so that the next
/// navigation does not overtake the login and land on the login page again.
pub async fn login(c: &Client, base: &str, name: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.expect("login page");
    submit(c, "form[action=\"/login\"]", &[("name", name), ("password", password)]).await;
    text_of(c, ".who, .problem", "").await;
}
