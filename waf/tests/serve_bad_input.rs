//! Bad input as a class, with raw bytes on a TLS connection and an origin that records
//! every byte it receives: malformed heads, oversize heads (431), request smuggling
//! (CL.TE, TE.CL, duplicate and conflicting Content-Length, Transfer-Encoding variants,
//! obs-fold, bare LF), invalid UTF-8, deep multipart, and slow clients (heads and bodies
//! under the minimum rate). Every case gets a clear answer or a closed connection in
//! bounded time, and the origin never sees a smuggled request.

mod serve_support;

use std::time::{Duration, Instant};

use serve_support::origin::Origin;
use serve_support::{TestCa, Waf, engine, exchange, site};
use waf::engine::Mode;

const SITE: &str = "portal.example.kz";

struct World {
    waf: Waf,
    origin: Origin,
    ca: TestCa,
    _origin_rt: tokio::runtime::Runtime,
}

fn world() -> Option<World> {
    let engine = engine()?;
    let ca = TestCa::new();
    let origin_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let origin = origin_rt.block_on(Origin::start("127.0.0.1:0"));
    let mut protected = site(&ca, SITE, &[origin.addr], Mode::Block);
    protected.rules.body_limit = 64 * 1024;
    let waf = Waf::start(engine, "127.0.0.1", vec![protected], |c| {
        c.timeouts.header = Duration::from_secs(1);
        c.timeouts.body_idle = Duration::from_secs(1);
        c.timeouts.body_grace = Duration::from_millis(500);
        c.limits.body_min_rate = 200;
    });
    Some(World { waf, origin, ca, _origin_rt: origin_rt })
}

impl World {
    fn send(&self, bytes: &[u8]) -> String {
        self.waf.runtime.block_on(exchange(&self.ca.pem, SITE, self.waf.https, bytes, Duration::from_secs(3)))
    }

    fn origin_saw(&self, needle: &str) -> bool {
        self.origin.raw_text().contains(needle)
    }

    /// Whether the origin parsed a request for a path starting with `path`.
    fn origin_got(&self, path: &str) -> bool {
        self.origin.requests().iter().any(|r| r.uri.starts_with(path))
    }
}

fn status(answer: &str) -> &str {
    answer.get(9..12).unwrap_or("closed")
}

#[test]
fn smuggling_variants_get_a_clear_answer_and_never_reach_the_origin_as_requests() {
    let Some(w) = world() else { return };
    // An attack the engine refuses whenever the WAF reads it as a request of its own; read
    // as body bytes it reaches the origin only as body bytes.
    let smuggled = "GET /smuggled?id=1%27%20or%20%271%27%3D%271 HTTP/1.1\r\nHost: portal.example.kz\r\n\r\n";
    let cases: Vec<(&str, String, &[&str])> = vec![
        // Identical values could be read as one length (RFC 9110 §8.6 lets a recipient
        // refuse them instead): a WAF refuses every head framed more than one way.
        (
            "duplicate Content-Length",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nq=abc{smuggled}"
            ),
            &["400"],
        ),
        (
            "conflicting Content-Length",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nq=abc{smuggled}"
            ),
            &["400"],
        ),
        (
            "Content-Length with a sign",
            format!("POST /a HTTP/1.1\r\nHost: {SITE}\r\nContent-Length: +5\r\n\r\nq=abc{smuggled}"),
            &["400"],
        ),
        (
            "Transfer-Encoding not chunked",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nq=abc{smuggled}"
            ),
            &["400"],
        ),
        (
            "chunked then identity",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            &["400"],
        ),
        (
            "two codings ending in chunked",
            format!("POST /a HTTP/1.1\r\nHost: {SITE}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &["400"],
        ),
        (
            "xchunked",
            format!("POST /a HTTP/1.1\r\nHost: {SITE}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &["400"],
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            format!("POST /a HTTP/1.0\r\nHost: {SITE}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
            &["400"],
        ),
        ("obs-fold", format!("GET /a HTTP/1.1\r\nHost: {SITE}\r\nX-A: b\r\n c\r\n\r\n{smuggled}"), &["400"]),
        (
            "space before colon",
            format!("GET /a HTTP/1.1\r\nHost: {SITE}\r\nTransfer-Encoding : chunked\r\n\r\n{smuggled}"),
            &["400"],
        ),
        (
            "bare LF in a chunk size line",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nTransfer-Encoding: chunked\r\n\r\n3\nq=a\r\n0\r\n\r\n{smuggled}"
            ),
            &["400", "closed"],
        ),
        // CL.TE and TE.CL, in either order of the fields: refused with 400 (RFC 9112 §6.3
        // lets a server reject them), and the connection closed after the answer, so the
        // bytes past the chunked body never become a request.
        (
            "CL.TE",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            &["400"],
        ),
        (
            "TE.CL",
            format!(
                "POST /a HTTP/1.1\r\nHost: {SITE}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
            &["400"],
        ),
    ];
    for (name, bytes, allowed) in &cases {
        let answer = w.send(bytes.as_bytes());
        assert!(allowed.contains(&status(&answer)), "{name}: {answer}");
        assert!(!w.origin_got("/smuggled"), "{name}: the origin got the smuggled request:\n{}", w.origin.raw_text());
    }
    // What did reach the origin was framed by the WAF: one request per exchange, CRLF only.
    for raw in w.origin.raw() {
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.replace("\r\n", "").contains('\n'), "a bare LF reached the origin: {text:?}");
        assert!(!text.to_ascii_lowercase().contains("transfer-encoding: chunked\r\ncontent-length"), "{text}");
    }
}

#[test]
fn a_bare_lf_head_is_read_as_one_request_and_reframed() {
    let Some(w) = world() else { return };
    let answer = w.send(format!("GET /lf HTTP/1.1\nHost: {SITE}\n\n").as_bytes());
    assert!(matches!(status(&answer), "200" | "400"), "{answer}");
    let seen: Vec<_> = w.origin.requests().into_iter().filter(|r| r.uri == "/lf").collect();
    assert!(seen.len() <= 1);
    for raw in w.origin.raw() {
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.replace("\r\n", "").contains('\n'), "a bare LF reached the origin: {text:?}");
    }
}

#[test]
fn oversize_heads_get_431_and_malformed_ones_400() {
    let Some(w) = world() else { return };
    let long = format!("GET / HTTP/1.1\r\nHost: {SITE}\r\nX-Long: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(status(&w.send(long.as_bytes())), "431");
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(status(&w.send(format!("GET / HTTP/1.1\r\nHost: {SITE}\r\n{many}\r\n").as_bytes())), "431");
    for malformed in
        ["GET / HTTP/1.1\r\nHost portal\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n", "\x16\x03\x01garbage\r\n\r\n"]
    {
        let answer = w.send(malformed.as_bytes());
        assert!(matches!(status(&answer), "400" | "closed"), "{malformed:?}: {answer}");
    }
    let no_host = w.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status(&no_host), "400", "{no_host}");
    assert!(w.origin.requests().is_empty(), "{:?}", w.origin.requests());
}

#[test]
fn invalid_utf8_and_deep_multipart_are_decided_in_bounded_time() {
    let Some(w) = world() else { return };
    let body = b"q=%D0%9F%FF%FE%C0%AF&name=\xff\xfe\xd0";
    let head = format!(
        "POST /form HTTP/1.1\r\nHost: {SITE}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    let answer = w.send(&bytes);
    assert!(matches!(status(&answer), "200" | "400" | "403"), "{answer}");

    let mut multipart = String::new();
    for depth in 0..200 {
        multipart.push_str(&format!("--b{depth}\r\nContent-Type: multipart/mixed; boundary=b{}\r\n\r\n", depth + 1));
    }
    multipart.push_str("--b200--\r\n");
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {SITE}\r\nContent-Type: multipart/form-data; boundary=b0\r\nContent-Length: {}\r\n\r\n",
        multipart.len()
    );
    let started = Instant::now();
    let answer = w.send(format!("{head}{multipart}").as_bytes());
    assert!(matches!(status(&answer), "200" | "400" | "403"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn slow_heads_and_slow_bodies_are_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(w) = world() else { return };
    let (ca, addr) = (w.ca.pem.clone(), w.waf.https);
    let (head_answer, body_answer) = w.waf.runtime.block_on(async move {
        // A head that never ends: the connection is closed after the head timeout.
        let mut slow = serve_support::tls_connect(&ca, SITE, addr).await;
        slow.write_all(format!("GET / HTTP/1.1\r\nHost: {SITE}\r\nX-A: ").as_bytes()).await.expect("sent");
        let started = Instant::now();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
        assert!(started.elapsed() < Duration::from_secs(4), "the slow head was not cut");
        let head_answer = String::from_utf8_lossy(&buf).into_owned();
        // A body at a few bytes a second, under the minimum rate: 408.
        let mut drip = serve_support::tls_connect(&ca, SITE, addr).await;
        let head = format!("POST /form HTTP/1.1\r\nHost: {SITE}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n");
        drip.write_all(head.as_bytes()).await.expect("head");
        for _ in 0..20 {
            if drip.write_all(b"q=aaaaa").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(3), drip.read(&mut answer)).await.ok().and_then(Result::ok).unwrap_or(0);
        (head_answer, String::from_utf8_lossy(&answer[..n]).into_owned())
    });
    assert!(matches!(status(&head_answer), "408" | "closed"), "{head_answer}");
    assert_eq!(status(&body_answer), "408", "{body_answer}");
    assert!(!w.origin_saw("/form"), "a body cut for its pace reached the origin");
}
