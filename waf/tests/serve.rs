//! The proxy on loopback with the real engine (libmodsecurity and Debian's CRS), curl as
//! the client and the tests' recording origin: a protected page over HTTPS with the
//! site's certificate, an SQL injection refused with a transaction id found in the audit
//! log with its 942xxx rules (and reaching the origin in detect mode), HTTP/2, the HTTP
//! listener's redirect, misdirected hosts, the checks before the engine (address lists,
//! rate limit, body limit), the engine's budget failing closed, and metrics.

mod serve_support;

use std::net::SocketAddr;
use std::path::PathBuf;

use serve_support::origin::{Origin, PAGE};
use serve_support::{TestCa, Waf, curl, engine, site, transaction_of};
use waf::engine::Mode;

const SITE: &str = "portal.example.kz";
const OTHER: &str = "e-gov.example.kz";
const INJECTION: &str = "q=1%27%20or%20%271%27%3D%271";

struct World {
    waf: Waf,
    origin: Origin,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    fn start(
        mode: Mode,
        adjust: impl FnOnce(&mut waf::Site),
        config: impl FnOnce(&mut waf::WafConfig),
    ) -> Option<World> {
        let engine = engine()?;
        let ca = TestCa::new();
        let dir = tempfile::tempdir().expect("dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.pem).expect("ca file");
        let origin_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let origin = origin_rt.block_on(Origin::start("127.0.0.1:0"));
        std::mem::forget(origin_rt);
        let mut main = site(&ca, SITE, &[origin.addr], mode);
        adjust(&mut main);
        let other = site(&ca, OTHER, &[origin.addr], mode);
        let waf = Waf::start(engine, "127.0.0.1", vec![main, other], config);
        Some(World { waf, origin, ca_file, _dir: dir })
    }

    /// curl over HTTP/1.1 unless the arguments ask for HTTP/2.
    fn curl(&self, args: &[&str]) -> (String, String) {
        let version = if args.contains(&"--http2") { "--http2" } else { "--http1.1" };
        let args: Vec<&str> = std::iter::once(version).chain(args.iter().copied()).collect();
        let out = curl(&self.ca_file, SITE, self.waf.https, &args);
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn url(&self, path: &str) -> String {
        format!("https://{SITE}:{}{path}", self.waf.https.port())
    }
}

#[test]
fn a_protected_page_is_served_and_an_injection_is_refused_with_its_transaction_id() {
    let Some(world) = World::start(Mode::Block, |_| {}, |_| {}) else { return };
    let (page, err) = world.curl(&["-H", "Accept-Language: kk", &world.url("/")]);
    assert_eq!(page, PAGE, "{err}");
    let seen = world.origin.requests();
    let first = seen.last().expect("the origin got the page request");
    assert_eq!(first.headers["host"], format!("{SITE}:{}", world.waf.https.port()));
    assert_eq!(first.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(first.headers["x-forwarded-proto"], "https");
    assert_eq!(first.headers["forwarded"], format!("for=127.0.0.1;proto=https;host=\"{SITE}\""));

    let (answer, err) =
        world.curl(&["-i", "-H", "Accept-Language: en-GB,ru;q=0.5", "--data", INJECTION, &world.url("/search")]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}{err}");
    let id = transaction_of(&answer);
    assert!(answer.contains(&format!("<code class=\"tx\">{id}</code>")), "{answer}");
    assert!(answer.contains("<html lang=\"en\">") && answer.contains("Запрос отклонён"), "{answer}");
    assert!(world.origin.requests().iter().all(|r| !r.uri.starts_with("/search")), "the injection reached the origin");

    let line = world.waf.audit_of(&id);
    assert_eq!(line["action"], "blocked");
    assert_eq!(line["site"], SITE);
    assert_eq!(line["status"], 403);
    assert_eq!(line["mode"], "block");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["uri"], "/search");
    assert_eq!(line["client"], "127.0.0.1");
    assert!(line["score"].as_u64().unwrap_or(0) >= 5, "{line}");
    let rules: Vec<u64> = line["rules"].as_array().expect("rules").iter().filter_map(|r| r["id"].as_u64()).collect();
    assert!(rules.iter().any(|id| (942000..943000).contains(id)), "{line}");
    assert!(line["rules"][0]["data"].as_str().unwrap_or("").contains("1' or '1'='1"), "{line}");

    let metrics = world.waf.metrics();
    assert!(metrics.contains(&format!("waf_blocked_total{{site=\"{SITE}\"}} 1")), "{metrics}");
    assert!(metrics.contains("waf_rule_matches_total{rule=\"942100\"} 1"), "{metrics}");
    assert!(metrics.contains("waf_engine_seconds_count 2"), "{metrics}");
}

#[test]
fn in_detect_mode_the_injection_reaches_the_origin_and_is_logged() {
    let Some(world) = World::start(Mode::Detect, |_| {}, |_| {}) else { return };
    let (answer, err) = world.curl(&["--data", INJECTION, &world.url("/search")]);
    assert_eq!(answer, "origin saw POST /search with 28 body bytes", "{err}");
    let seen = world.origin.requests();
    assert_eq!(seen.last().map(|r| r.body.as_slice()), Some(INJECTION.as_bytes()));
    let lines = world.waf.audit_lines();
    let line = lines.iter().find(|l| l["uri"] == "/search").expect("an audit line");
    assert_eq!(
        (line["action"].as_str(), line["mode"].as_str(), line["status"].as_u64()),
        (Some("matched"), Some("detect"), Some(200))
    );
    assert!(line["rules"].as_array().expect("rules").iter().any(|r| r["id"] == 942100), "{line}");
}

#[test]
fn http2_redirects_and_misdirected_hosts() {
    let Some(world) = World::start(Mode::Block, |_| {}, |_| {}) else { return };
    let (answer, err) = world.curl(&["-i", "--http2", &world.url("/news?page=2")]);
    assert!(answer.starts_with("HTTP/2 200"), "{answer}{err}");
    let seen = world.origin.requests();
    assert_eq!(seen.last().map(|r| (r.version, r.uri.as_str())), Some((http::Version::HTTP_11, "/news?page=2")));

    let (answer, _) = world.curl(&["-i", "--http2", "--data", INJECTION, &world.url("/search")]);
    assert!(answer.starts_with("HTTP/2 403"), "{answer}");
    assert_eq!(world.waf.audit_of(&transaction_of(&answer))["action"], "blocked");

    // SNI of one site, Host of another: 421, nothing forwarded.
    let before = world.origin.requests().len();
    let other_host = format!("Host: {OTHER}");
    let (answer, _) = world.curl(&["-i", "-H", &other_host, &world.url("/")]);
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    assert_eq!(world.origin.requests().len(), before);

    let http = world.waf.http.expect("the HTTP listener");
    let out = curl(&world.ca_file, SITE, http, &["-i", &format!("http://{SITE}:{}/a?b=1", http.port())]);
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(answer.contains(&format!("location: https://{SITE}:{}/a?b=1", world.waf.https.port())), "{answer}");
}

#[test]
fn address_lists_rate_limit_and_body_limit_come_before_the_engine() {
    let limited = |s: &mut waf::Site| {
        s.rate_limit = Some(waf::RateLimit { per_second: 1, burst: 2 });
        s.rules.body_limit = 1000;
    };
    let Some(world) = World::start(Mode::Block, limited, |_| {}) else { return };
    let (answer, _) = world.curl(&["-i", "--data-binary", &"x=".repeat(600), &world.url("/upload")]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let line = world.waf.audit_of(&transaction_of(&answer));
    assert_eq!((line["action"].as_str(), line["status"].as_u64()), (Some("refused"), Some(413)));
    // Ten requests on one connection: past a burst of 2 (the 413 took one), at one a
    // second, most get 429 unless they took eight seconds.
    let url = world.url("/");
    let mut args = vec!["-w", "%{http_code} "];
    for _ in 0..10 {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let (codes, _) = world.curl(&args);
    let codes: Vec<&str> = codes.split_whitespace().collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(codes.iter().filter(|c| **c == "429").count() >= 2, "{codes:?}");
    assert!(codes.iter().all(|c| *c == "200" || *c == "429"), "{codes:?}");

    // The deny list, applied by a reload.
    let mut sites: Vec<waf::Site> = world
        .waf
        .sites
        .load()
        .domains()
        .iter()
        .map(|d| world.waf.sites.load().site(d).cloned().expect("site"))
        .collect();
    for s in &mut sites {
        s.deny = vec!["127.0.0.0/8".parse().expect("net")];
    }
    world.waf.apply(sites).expect("the reload applies");
    let (answer, _) = world.curl(&["-i", &world.url("/")]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(world.waf.audit_of(&transaction_of(&answer))["reason"], "client address in the site's deny list");
}

#[test]
fn an_engine_out_of_time_fails_closed() {
    let tight = |c: &mut waf::WafConfig| c.engine.budget = std::time::Duration::from_micros(50);
    let Some(world) = World::start(Mode::Block, |_| {}, tight) else { return };
    let before = world.origin.requests().len();
    let (answer, _) = world.curl(&["-i", &world.url("/")]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Сервис временно недоступен"), "{answer}");
    assert_eq!(world.origin.requests().len(), before, "an undecided request reached the origin");
    let line = world.waf.audit_of(&transaction_of(&answer));
    assert_eq!(line["reason"], "the rule engine did not decide within the time budget");
}

#[test]
fn a_list_with_a_bad_site_is_refused_whole_and_the_old_one_stays() {
    let Some(world) = World::start(Mode::Block, |_| {}, |_| {}) else { return };
    let ca = TestCa::new();
    let origin: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let mut wrong_cert = site(&ca, "a.example.kz", &[origin], Mode::Block);
    (wrong_cert.certificate_pem, wrong_cert.key_pem) = ca.leaf(&["b.example.kz"]);
    let mut wrong_key = site(&ca, "d.example.kz", &[origin], Mode::Block);
    wrong_key.key_pem = ca.leaf(&["d.example.kz"]).1;
    let mut bad_patch = site(&ca, "c.example.kz", &[origin], Mode::Block);
    bad_patch.rules.patches = vec!["SecRule ARGS \"@rx x\" \"id:1000001,phase:2,deny,nonsense\"".into()];
    let err = world.waf.apply(vec![wrong_cert, wrong_key, bad_patch]).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("site a.example.kz certificate_pem: the certificate does not name a.example.kz"), "{text}");
    assert!(text.contains("site d.example.kz key_pem: the key does not belong to the certificate"), "{text}");
    assert!(text.contains("site c.example.kz rules: site c.example.kz: virtual patch 0 does not load"), "{text}");
    assert_eq!(world.waf.sites.load().domains(), [OTHER, SITE]);
    let (page, _) = world.curl(&[&world.url("/")]);
    assert_eq!(page, PAGE);
}

#[test]
fn a_websocket_is_decided_then_relayed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(world) = World::start(Mode::Block, |_| {}, |_| {}) else { return };
    let ca = std::fs::read_to_string(&world.ca_file).expect("ca");
    let handshake = |query: &str| {
        format!(
            "GET /ws{query} HTTP/1.1\r\nHost: {SITE}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    let https = world.waf.https;
    let (refused, echoed) = world.waf.runtime.block_on(async {
        let refused = serve_support::exchange(
            &ca,
            SITE,
            https,
            handshake(&format!("?{INJECTION}")).as_bytes(),
            std::time::Duration::from_secs(2),
        )
        .await;
        let mut ws = serve_support::tls_connect(&ca, SITE, https).await;
        ws.write_all(handshake("").as_bytes()).await.expect("handshake");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            ws.read_exact(&mut byte).await.expect("the answer");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        for field in ["upgrade: websocket", "connection: upgrade", "sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="]
        {
            assert!(head.contains(field), "{field} missing: {head}");
        }
        // A masked text frame "hi", echoed back unmasked.
        let mask = [1u8, 2, 3, 4];
        let frame = [0x81, 0x82, mask[0], mask[1], mask[2], mask[3], b'h' ^ mask[0], b'i' ^ mask[1]];
        ws.write_all(&frame).await.expect("frame");
        let mut echo = [0u8; 4];
        ws.read_exact(&mut echo).await.expect("echo");
        (refused, echo)
    });
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert_eq!(echoed, [0x81, 0x02, b'h', b'i']);
}

#[test]
fn past_the_limit_the_first_part_decides_and_responses_are_inspected_when_asked() {
    let settings = |s: &mut waf::Site| {
        s.rules.body_limit = 1000;
        s.rules.over_body_limit = waf::engine::OverLimit::InspectPart;
        s.rules.inspect_responses = true;
    };
    let Some(world) = World::start(Mode::Block, settings, |_| {}) else { return };
    let long = format!("note={}", "a".repeat(5000));
    let (answer, err) = world.curl(&["--data", &long, &world.url("/notes")]);
    assert_eq!(answer, "origin saw POST /notes with 5005 body bytes", "{err}");
    assert_eq!(world.origin.requests().last().map(|r| r.body.len()), Some(5005), "the rest streamed after the part");
    let attack = format!("{INJECTION}&note={}", "a".repeat(5000));
    let (answer, _) = world.curl(&["-i", "--data", &attack, &world.url("/notes")]);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    let (answer, _) = world.curl(&["-i", &world.url("/leak")]);
    assert!(answer.starts_with("HTTP/1.1 403"), "the leak passed: {answer}");
    assert!(!answer.contains("SQL syntax"), "{answer}");
    let line = world.waf.audit_of(&transaction_of(&answer));
    assert!(line["outbound_score"].as_u64().unwrap_or(0) >= 4, "{line}");
    assert!(
        line["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| (951000..952000).contains(&r["id"].as_u64().unwrap_or(0))),
        "{line}"
    );
}

#[test]
fn shutdown_lets_a_request_in_flight_finish_and_closes_the_listeners() {
    let Some(mut world) = World::start(Mode::Block, |_| {}, |_| {}) else { return };
    let (ca_file, https) = (world.ca_file.clone(), world.waf.https);
    let slow = std::thread::spawn(move || {
        let url = format!("https://{SITE}:{}/slow", https.port());
        let out = curl(&ca_file, SITE, https, &["--http1.1", &url]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    serve_support::eventually("the slow request reached the origin", || world.origin.raw_text().contains("GET /slow"));
    world.waf.shutdown();
    assert_eq!(slow.join().expect("the client"), "origin saw GET /slow with 0 body bytes");
    assert!(std::net::TcpStream::connect(https).is_err(), "still listening after shutdown");
}

#[test]
fn the_audit_log_is_reopened_after_rotation() {
    let Some(world) = World::start(Mode::Block, |_| {}, |_| {}) else { return };
    let (first, _) = world.curl(&["-i", &world.url(&format!("/search?{INJECTION}"))]);
    let first = transaction_of(&first);
    world.waf.audit_of(&first);
    let rotated = world.waf.audit.with_extension("jsonl.1");
    std::fs::rename(&world.waf.audit, &rotated).expect("rotated");
    let handle = world.waf.handle.as_ref().expect("running");
    world.waf.runtime.block_on(handle.reopen_audit());
    let (second, _) = world.curl(&["-i", &world.url(&format!("/search?{INJECTION}"))]);
    let second = transaction_of(&second);
    let lines = world.waf.audit_lines();
    assert_eq!(lines.len(), 1, "the new file holds only the new line: {lines:?}");
    assert_eq!(lines[0]["transaction"], second.as_str());
    let old = std::fs::read_to_string(&rotated).expect("the rotated file");
    assert!(old.contains(&first) && !old.contains(&second), "{old}");
}
