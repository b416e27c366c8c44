//! Test harness: runs the real `perimeter` binary against a fresh database (SQLite, or
//! PostgreSQL when the test run provides one), starts `perimeter up` on a free
//! loopback port, and talks to its API with curl.
#![allow(dead_code)]

pub mod console;
/// The antivirus of the web gateway's own tests (clamd behind c-icap), shared with them.
#[path = "../../iqbsh/tests/common/icap.rs"]
pub mod icap;
pub mod netns;
pub mod origin;
pub mod postgres;
pub mod swaks;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A BIN with a valid check digit, built from 11 digits.
pub fn bin(first11: &str) -> String {
    let d: Vec<u32> = first11.chars().map(|c| c.to_digit(10).expect("digits")).collect();
    let sum = |w: &[u32]| d.iter().zip(w).map(|(a, b)| a * b).sum::<u32>() % 11;
    let mut check = sum(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if check == 10 {
        check = sum(&[3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
    }
    assert!(check < 10, "{first11} has no check digit; pick another");
    format!("{first11}{check}")
}

/// One isolated installation: a data directory and an empty catalog database.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store_url: String,
    /// A configuration file given to every command, if set.
    pub config: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store_url = rt.block_on(store::testing::fresh_database(dir.path()));
        Env { dir, store_url, config: None }
    }

    /// An installation on a SQLite file of its own, whatever the test run's backend: for
    /// `up` inside a network namespace, which cannot reach the run's PostgreSQL on the
    /// host's loopback (the store is not what such tests are about).
    pub fn local() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let store_url = format!("sqlite://{}", dir.path().join("catalog.db").display());
        Env { dir, store_url, config: None }
    }

    /// An installation of its own (data directory) on the given store: one node of
    /// several sharing one database.
    pub fn on_store(store_url: &str) -> Env {
        Env { dir: tempfile::tempdir().expect("temp dir"), store_url: store_url.to_string(), config: None }
    }

    /// Uses this TOML as the configuration file of every later command.
    pub fn configure(&mut self, toml: &str) {
        self.config = Some(self.write("perimeter.toml", toml));
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write test file");
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_perimeter"));
        cmd.args(args)
            .env("PERIMETER_DATA_DIR", self.dir.path().join("data"))
            .env("PERIMETER_STORE_URL", &self.store_url)
            .env("USER", "tester")
            .env("PERIMETER_PROXY_LISTEN", "127.0.0.1:0")
            .env("PERIMETER_RELAY_LISTEN", "127.0.0.1:0")
            .env_remove("PERIMETER_CONFIG")
            .env_remove("PERIMETER_ACTOR")
            .env_remove("RUST_LOG");
        if let Some(config) = &self.config {
            cmd.env("PERIMETER_CONFIG", config);
        }
        cmd
    }

    /// Runs the binary and returns its whole output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the perimeter binary runs")
    }

    /// Runs the binary with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.envs(vars.iter().copied());
        cmd.output().expect("the perimeter binary runs")
    }

    /// Runs the binary in network namespace `netns` (`ip netns exec`, as the README does),
    /// killed if it has not ended within `secs`; its whole output.
    pub fn run_in(&self, netns: &str, args: &[&str], secs: u64) -> Output {
        let mut child = in_netns(&self.command(args), netns)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the perimeter binary runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait_with_output().expect("the perimeter binary's output")
    }

    /// Runs the binary, asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "perimeter {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs the binary, asserts failure and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "perimeter {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    /// Two operators, three organisations: the usual cast of the tests.
    /// alpha connects A and B, beta connects B and C.
    pub fn cast(&self) -> Cast {
        let cast = Cast { a: bin("98014000001"), b: bin("98014000002"), c: bin("98014000003") };
        self.ok(&["operator", "add", "alpha", "--contact", "noc@alpha.example", "--link", "alpha-1"]);
        self.ok(&["operator", "add", "beta", "--link", "beta-1"]);
        self.ok(&["org", "add", "--bin", &cast.a, "--name", "Ministry A", "--operator", "alpha"]);
        self.ok(&["org", "add", "--bin", &cast.b, "--name", "Akimat B", "--operator", "alpha", "--operator", "beta"]);
        self.ok(&["org", "add", "--bin", &cast.c, "--name", "Agency C", "--operator", "beta"]);
        cast
    }

    /// Files a yearly-lists application of organisation `bin` (news, 192.0.2.0/24)
    /// through the CLI and returns its number.
    pub fn file_yearly_lists(&self, bin: &str, contact: &str) -> String {
        let applicant = format!("org:{bin}");
        let args = ["request", "file", "yearly-lists", "--applicant", &applicant, "--contact", contact, "--json"];
        let mut args = args.to_vec();
        args.extend(["--set", "categories=news", "--set", "networks=192.0.2.0/24"]);
        let view: serde_json::Value = serde_json::from_str(&self.ok(&args)).expect("the filed request as JSON");
        view["id"].as_i64().expect("a request number").to_string()
    }

    /// Creates a token and returns its secret.
    pub fn token(&self, name: &str, role: &[&str]) -> String {
        let mut args = vec!["token", "create", name];
        args.extend_from_slice(role);
        self.ok(&args).trim().to_string()
    }

    /// Starts `perimeter up` on a free loopback port.
    pub fn up(&self) -> Server {
        self.up_logging("warn", Stdio::inherit())
    }

    /// Starts `perimeter up` with a log level and a destination for its log.
    pub fn up_logging(&self, level: &str, log: Stdio) -> Server {
        self.up_with(level, log, &[])
    }

    /// Starts `perimeter up` with extra environment variables.
    pub fn up_with(&self, level: &str, log: Stdio, vars: &[(&str, &str)]) -> Server {
        self.up_in(None, level, log, vars)
    }

    /// Starts `perimeter up` inside network namespace `netns` (`ip netns exec`, which
    /// execs the binary: the child is `perimeter` itself), or in this one.
    pub fn up_in(&self, netns: Option<&str>, level: &str, log: Stdio, vars: &[(&str, &str)]) -> Server {
        let mut cmd = self.command(&["up", "--listen", "127.0.0.1:0"]);
        if let Some(ns) = netns {
            cmd = in_netns(&cmd, ns);
        }
        let mut child = cmd
            .envs(vars.iter().copied())
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("perimeter up starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("perimeter up prints its address");
        let after =
            |label: &str| line.split(label).nth(1).and_then(|s| s.split_whitespace().next()).map(str::to_string);
        let base = after("API on ")
            .map(|s| s.trim_end_matches("/api/v1").to_string())
            .unwrap_or_else(|| panic!("unexpected first line from perimeter up: {line:?}"));
        let (proxy, relay, waf) = (after("web proxy on "), after("mail relay on "), after("WAF on https://"));
        Server { child, base, proxy, relay, waf, line: line.trim_end().to_string() }
    }
}

/// `cmd` run through `ip netns exec NETNS`, with the same arguments and environment.
fn in_netns(cmd: &Command, netns: &str) -> Command {
    let mut wrapped = Command::new("ip");
    wrapped.args(["netns", "exec", netns]).arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// The BINs of the standard cast.
pub struct Cast {
    pub a: String,
    pub b: String,
    pub c: String,
}

/// A running `perimeter up`, stopped when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// The explicit web proxy's address, when it runs.
    pub proxy: Option<String>,
    /// The mail relay's address, when it runs.
    pub relay: Option<String>,
    /// The WAF's HTTPS address, when it runs.
    pub waf: Option<String>,
    /// The line `up` printed when it started.
    pub line: String,
}

impl Server {
    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, `HUP`) to the running service.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name}");
    }

    /// Waits (bounded by `secs`) for the service to exit; its status, or `None`.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Server {
    /// Stops the server as a supervisor would (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("perimeter up exits")
    }

    /// Calls the API with curl: method, path under the base, optional token, optional
    /// body file with its content type.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<(&Path, &str)>) -> Reply {
        let mut cmd = Command::new(curl());
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}"]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some((file, content_type)) = body {
            cmd.args([
                "-H",
                &format!("Content-Type: {content_type}"),
                "--data-binary",
                &format!("@{}", file.display()),
            ]);
        }
        cmd.arg(format!("{}{path}", self.base));
        let out = cmd.output().expect("curl runs");
        assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("utf-8 reply");
        let (body, status) = text.rsplit_once('\n').expect("status line");
        Reply { status: status.trim().parse().expect("status code"), body: body.to_string() }
    }

    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None)
    }

    /// Posts `json` (text) to `path` with `token`.
    pub fn post_json(&self, path: &str, token: &str, json: &str) -> Reply {
        let file = tempfile::NamedTempFile::new().expect("a body file");
        std::fs::write(file.path(), json).expect("body written");
        self.call("POST", path, Some(token), Some((file.path(), "application/json")))
    }
}

/// The curl binary; its absence fails the test (it is installed by the test script).
pub fn curl() -> &'static str {
    let found = Command::new("curl").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "curl is required by this test: install it (the test script does) ");
    "curl"
}

/// Polls `check` until it returns true, for at most ten seconds.
pub fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_within(what, 10, check)
}

/// `eventually`, with a deadline of `secs` seconds.
pub fn eventually_within(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

/// A real SMTP server on loopback (Postfix's `smtp-sink`) that writes every message it
/// accepts to a file; optionally refusing a command (`-f data`: 5xx at DATA).
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start(extra: &[&str]) -> SmtpSink {
        let port = free_port();
        SmtpSink::start_on(port, extra)
    }

    pub fn start_on(port: u16, extra: &[&str]) -> SmtpSink {
        let binary = ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"].into_iter().find(|p| Path::new(p).exists());
        let binary =
            binary.expect("smtp-sink (Debian package postfix) is required by this test: the test script installs it");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(binary);
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            let chown = Command::new("chown").args(["nobody", &dir.path().display().to_string()]).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown the sink directory");
            cmd.args(["-u", "nobody"]);
        }
        cmd.args(extra)
            .arg("-d")
            .arg(format!("{}/%M.", dir.path().display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("10");
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("smtp-sink starts");
        eventually("smtp-sink listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        SmtpSink { child, port, dir }
    }

    /// The messages received so far, with folded headers unfolded and base64 parts
    /// decoded, so a test can search them as a person reads them.
    pub fn readable(&self) -> Vec<String> {
        self.messages().iter().map(|m| readable(m)).collect()
    }

    /// The messages received so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> =
            std::fs::read_dir(self.dir.path()).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort();
        files.iter().map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Unfolds header lines and decodes base64 MIME parts.
pub fn readable(message: &str) -> String {
    use base64::Engine;
    let unfolded = message.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ");
    // Quoted-printable soft line breaks: a text line (it has spaces or colons) ending in '='.
    let mut text = String::new();
    for line in unfolded.lines() {
        match line.strip_suffix('=') {
            Some(head) if line.contains(' ') || line.contains(':') => text.push_str(&head.replace("=3D", "=")),
            _ => {
                text.push_str(&line.replace("=3D", "="));
                text.push('\n');
            }
        }
    }
    let mut out = String::new();
    let mut block = String::new();
    let flush = |block: &mut String, out: &mut String| {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(block.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        out.push_str(&decoded.unwrap_or_else(|| block.clone()));
        out.push('\n');
        block.clear();
    };
    for line in text.lines() {
        let looks_b64 = line.len() >= 16 && !line.contains(' ') && !line.contains(':') && !line.starts_with("--");
        if looks_b64 {
            block.push_str(line);
            continue;
        }
        if !block.is_empty() {
            flush(&mut block, &mut out);
        }
        out.push_str(line);
        out.push('\n');
    }
    if !block.is_empty() {
        flush(&mut block, &mut out);
    }
    out
}
