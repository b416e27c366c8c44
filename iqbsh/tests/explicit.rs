//! The explicit proxy with curl: CONNECT splice and bump (HTTP/1.1 and
//! HTTP/2), policy denials with the block page, refused origin certificates,
//! plain HTTP, and the access log of each.

mod common;

use common::curl::{curl, issuers};
use common::origin::TEST_CA_NAME;
use common::world::{BLOCK_REASON, BLOCKED, EXPLICIT_LINK, KNOWN, UNKNOWN, World};
use iqbsh::{Action, DenyKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const GATEWAY_CA_NAME: &str = "Perimeter Gateway Root CA";

fn https(w: &World, host: &str) -> String {
    format!("https://{host}:{}/page", w.origin.addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_host_is_spliced_and_shows_the_origin_certificate() {
    let w = World::start(|_, _| {}).await;
    let ca = w.test_ca_pem.to_str().expect("path");
    let out = curl(&["-x", &w.proxy_url(), "--cacert", ca, "-w", "%{certs}", &https(&w, "bank.test")]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("origin=bank.test"), "{out:?}");
    let issuers = issuers(&out.stdout);
    assert!(!issuers.is_empty() && issuers.iter().all(|i| i.contains(TEST_CA_NAME)), "{issuers:?}");
    let r = w.wait_record("splice of bank.test", |r| r["action"] == "splice").await;
    assert_eq!(r["host"], "bank.test");
    assert_eq!(r["categories"][0], "finance");
    assert_eq!(r["org"], common::world::BIN);
    assert_eq!(r["client"], KNOWN);
    assert!(r["bytes_to_client"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(w.proxy.metrics().connections(Action::Splice), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_exempt_host_is_bumped_under_the_gateway_root_with_http2() {
    let w = World::start(|_, _| {}).await;
    let gw = w.gateway_pem.to_str().expect("path");
    let fmt = "%{http_version}\n%{certs}";
    let out = curl(&["--http2", "-x", &w.proxy_url(), "--cacert", gw, "-w", fmt, &https(&w, "news.test")]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("origin=news.test proto=HTTP/2.0 path=/page"), "{out:?}");
    assert_eq!(out.stdout.lines().nth(1), Some("2"), "curl spoke HTTP/2 to the gateway: {out:?}");
    let issuers = issuers(&out.stdout);
    assert!(!issuers.is_empty() && issuers[0].contains(GATEWAY_CA_NAME), "{issuers:?}");
    assert!(w.origin.saw("news.test", "HTTP/2.0"), "the origin saw h2");

    let out = curl(&["--http1.1", "-x", &w.proxy_url(), "--cacert", gw, "-w", fmt, &https(&w, "news.test")]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("origin=news.test proto=HTTP/1.1"), "{out:?}");
    assert_eq!(out.stdout.lines().nth(1), Some("1.1"), "{out:?}");
    assert!(w.origin.saw("news.test", "HTTP/1.1"));

    let r = w.wait_record("allowed GET", |r| r["action"] == "allow" && r["method"] == "GET").await;
    assert_eq!(r["url"], format!("https://news.test:{}/page", w.origin.addr.port()));
    assert_eq!(r["status"], 200);
    assert!(r["bytes_to_client"].as_u64().unwrap_or(0) > 0, "{r}");
    w.wait_record("bump", |r| r["action"] == "bump" && r["host"] == "news.test").await;
    let metrics = w.proxy.render_metrics();
    assert!(metrics.contains("iqbsh_connections_total{action=\"bump\"} 2"), "{metrics}");
    assert!(metrics.contains("iqbsh_forge_cache_hits_total 1"), "{metrics}");
    assert!(metrics.contains("iqbsh_forge_cache_misses_total 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_host_gets_the_block_page_with_reason_and_reference() {
    let w = World::start(|_, _| {}).await;
    let gw = w.gateway_pem.to_str().expect("path");
    let out = curl(&["-x", &w.proxy_url(), "--cacert", gw, "-w", "\n%{http_code}", &https(&w, "casino.test")]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.ends_with("\n403"), "{out:?}");
    let reason = format!("category gambling is not in the policy of organisation {}", common::world::BIN);
    assert!(out.stdout.contains(&reason), "{out:?}");
    let r = w.wait_record("policy denial", |r| r["deny"] == "policy").await;
    let reference = r["reference"].as_str().expect("reference");
    assert!(out.stdout.contains(reference), "the page shows the logged reference {reference}: {out:?}");
    assert_eq!(r["reason"], reason.as_str());
    assert_eq!(r["categories"][0], "gambling");
    let squid = w.squid_lines().await;
    let line = squid.iter().find(|l| l.contains(&format!("ref={reference}"))).expect("squid line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[2..6], [KNOWN, "TCP_DENIED/403", fields[4], "GET"], "{line}");
    assert_eq!(fields[7], common::world::BIN, "{line}");
    assert!(line.contains("action=deny category=gambling deny=policy"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_exempt_host_is_refused_at_connect() {
    let w = World::start(|_, _| {}).await;
    let out = curl(&["-v", "-x", &w.proxy_url(), &https(&w, "doctor.test")]).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("HTTP/1.1 403"), "{out:?}");
    let r = w.wait_record("CONNECT denial", |r| r["deny"] == "policy").await;
    assert_eq!((r["method"].as_str(), r["host"].as_str()), (Some("CONNECT"), Some("doctor.test")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_origin_certificates_are_refused_never_forged() {
    let w = World::start(|_, _| {}).await;
    let gw = w.gateway_pem.to_str().expect("path");
    for host in ["expired.test", "wrongname.test", "selfsigned.test"] {
        let out = curl(&["-x", &w.proxy_url(), "--cacert", gw, &https(&w, host)]).await;
        assert_ne!(out.code, 0, "{host}: {out:?}");
        assert!(!out.stdout.contains("origin="), "{host}: {out:?}");
        // Even a client that accepts any certificate gets none: nothing was forged.
        let out = curl(&["-k", "-x", &w.proxy_url(), "-w", "%{certs}", &https(&w, host)]).await;
        assert_ne!(out.code, 0, "{host} with -k: {out:?}");
        assert!(issuers(&out.stdout).is_empty(), "{host}: no certificate at all: {out:?}");
    }
    let records = w.json_records().await;
    let errors: Vec<_> = records.iter().filter(|r| r["deny"] == "upstream_cert").collect();
    assert_eq!(errors.len(), 6, "{records:#?}");
    for r in &errors {
        let err = r["cert_error"].as_str().expect("cert_error logged");
        assert!(err.contains("certificate"), "{err}");
    }
    let expired = errors.iter().find(|r| r["host"] == "expired.test").expect("expired");
    assert!(expired["cert_error"].as_str().unwrap_or_default().to_lowercase().contains("expired"), "{expired}");
    assert_eq!(w.proxy.metrics().denials(DenyKind::UpstreamCert), 6);
    let metrics = w.proxy.render_metrics();
    assert!(metrics.contains("iqbsh_upstream_cert_errors_total 6"), "{metrics}");
    assert!(metrics.contains("iqbsh_forge_cache_misses_total 0"), "nothing was sent to the forge: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_forwarded_or_blocked_per_request() {
    let w = World::start(|_, _| {}).await;
    let port = w.plain.addr.port();
    let out = curl(&["-x", &w.proxy_url(), &format!("http://news.test:{port}/plain")]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with(&format!("origin=news.test:{port} proto=HTTP/1.1 path=/plain")), "{out:?}");
    let out = curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &format!("http://casino.test:{port}/")]).await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains("category gambling"), "{out:?}");
    let r = w.wait_record("plain allow", |r| r["action"] == "allow").await;
    assert_eq!(r["url"], format!("http://news.test:{port}/plain"));
    assert_eq!(r["upstream"], format!("127.0.0.1:{port}"));
    let squid = w.squid_lines().await;
    assert!(squid.iter().any(|l| l.contains(" TCP_MISS/200 ") && l.contains(" HIER_DIRECT/127.0.0.1 ")), "{squid:?}");

    // Two requests on one client connection share one origin connection.
    let before = w.plain.connections.load(std::sync::atomic::Ordering::Relaxed);
    let (a, b) = (format!("http://news.test:{port}/a"), format!("http://news.test:{port}/b"));
    let out = curl(&["-x", &w.proxy_url(), &a, &b]).await;
    assert!(out.stdout.contains("path=/a") && out.stdout.contains("path=/b"), "{out:?}");
    assert_eq!(w.plain.connections.load(std::sync::atomic::Ordering::Relaxed), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_source_is_denied_and_reported_to_the_catalog() {
    let w = World::start(|_, _| {}).await;
    let url = https(&w, "news.test");
    let out = curl(&["--interface", UNKNOWN, "-v", "-x", &w.proxy_url(), &url]).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("HTTP/1.1 403"), "{out:?}");
    let port = w.plain.addr.port();
    let plain = format!("http://news.test:{port}/");
    let out = curl(&["--interface", UNKNOWN, "-x", &w.proxy_url(), &plain]).await;
    assert!(out.stdout.contains("is not in the IP catalog"), "{out:?}");
    let r = w.wait_record("unknown source", |r| r["deny"] == "unknown_source").await;
    assert_eq!((r["client"].as_str(), r["org"].is_null()), (Some(UNKNOWN), true));
    let unknown: std::net::IpAddr = UNKNOWN.parse().expect("ip");
    let seen =
        w.catalog.wait_sightings("both connections", |s| s.iter().filter(|o| o.ip == unknown).count() >= 2).await;
    let found: Vec<_> = seen.iter().filter(|o| o.ip == unknown).collect();
    assert!(found.iter().all(|o| o.link == EXPLICIT_LINK), "{found:?}");
    assert_eq!(found.len(), 2, "one sighting per connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_source_is_denied_with_the_block_reason() {
    let w = World::start(|_, _| {}).await;
    let port = w.plain.addr.port();
    let url = format!("http://news.test:{port}/");
    let out = curl(&["--interface", BLOCKED, "-x", &w.proxy_url(), "-w", "\n%{http_code}", &url]).await;
    assert!(out.stdout.ends_with("\n403"), "{out:?}");
    assert!(out.stdout.contains(BLOCK_REASON), "{out:?}");
    let r = w.wait_record("blocked source", |r| r["deny"] == "blocked_source").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains(BLOCK_REASON), "{r}");
    assert!(w.catalog.sightings.lock().expect("sightings").is_empty(), "blocked is not unknown");
}

/// Sends `head` and then `len` body bytes without reading anything, then reads the
/// answer to its end: how many body bytes went out, and the answer.
async fn upload_before_reading<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, head: &str, len: usize) -> (usize, String) {
    s.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b'u'; 64 << 10];
    let mut sent = 0;
    while sent < len {
        match s.write(&chunk[..(len - sent).min(chunk.len())]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    let _ = s.flush().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut answer)).await;
    (sent, String::from_utf8_lossy(&answer).into_owned())
}

/// A request refused before its body is read (by policy, plain and bumped; a blocked
/// source), its body far larger than the sockets' buffers, sent by a client that reads
/// nothing until it has sent everything: the proxy keeps reading and discarding until
/// the client is done, so the client gets the whole block page, never a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_gets_its_whole_block_page_however_large() {
    const LEN: usize = 24 << 20;
    let w = World::start(|_, _| {}).await;
    let proxy = w.proxy.explicit_addr();
    let head = |target: &str, host: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {LEN}\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
    };
    let port = w.plain.addr.port();
    let from = |source: &str| {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(format!("{source}:0").parse().expect("source")).expect("bind");
        socket.connect(proxy)
    };
    let plain = |host: &str| head(&format!("http://{host}:{port}/upload"), &format!("{host}:{port}"));
    let mut answers = vec![
        ("policy, plain", upload_before_reading(from(KNOWN).await.expect("connect"), &plain("casino.test"), LEN).await),
        (
            "blocked source",
            upload_before_reading(from(BLOCKED).await.expect("connect"), &plain("news.test"), LEN).await,
        ),
    ];
    let authority = format!("casino.test:{}", w.origin.addr.port());
    let tcp = common::tunnel::connect(proxy, &authority).await;
    let tls = common::tunnel::tls(tcp, "casino.test", &w.gateway_pem).await;
    answers.push(("policy, bumped", upload_before_reading(tls, &head("/upload", &authority), LEN).await));
    for (what, (sent, answer)) in answers {
        assert_eq!(sent, LEN, "{what}: the client could send its whole body; answer {answer:?}");
        assert!(answer.starts_with("HTTP/1.1 403") && answer.contains("</html>"), "{what}: {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_over_its_rate_limit_gets_429() {
    let w = World::start(|cfg, _| {
        cfg.rate_limit.per_second = 1;
        cfg.rate_limit.burst = 2;
    })
    .await;
    let url = format!("http://news.test:{}/", w.plain.addr.port());
    let mut codes = Vec::new();
    for _ in 0..4 {
        let out = curl(&["-x", &w.proxy_url(), "-o", "/dev/null", "-w", "%{http_code}", &url]).await;
        codes.push(out.stdout);
    }
    assert_eq!(codes[..2], ["200", "200"], "{codes:?}");
    assert!(codes.iter().any(|c| c == "429"), "{codes:?}");
    let metrics = w.proxy.render_metrics();
    assert!(!metrics.contains("iqbsh_rate_limited_total 0"), "{metrics}");
    w.wait_record("rate limited", |r| r["deny"] == "rate_limited" && r["status"] == 429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_rules_apply_to_new_connections() {
    let w = World::start(|_, _| {}).await;
    let url = format!("http://news.test:{}/", w.plain.addr.port());
    let before = curl(&["-x", &w.proxy_url(), "-o", "/dev/null", "-w", "%{http_code}", &url]).await;
    let mut stricter = common::world::TestRules::standard();
    stricter.denied.insert("news");
    w.rules.replace(std::sync::Arc::new(stricter));
    let after = curl(&["-x", &w.proxy_url(), "-o", "/dev/null", "-w", "%{http_code}", &url]).await;
    assert_eq!((before.stdout.as_str(), after.stdout.as_str()), ("200", "403"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_connect_host_with_another_sni_is_bumped_not_spliced() {
    let w = World::start(|_, _| {}).await;
    let port = w.origin.addr.port();
    let gw = w.gateway_pem.to_str().expect("path");
    // curl sends CONNECT bank.test (exempt) but its ClientHello names news.test.
    let to = format!("news.test:{port}:bank.test:{port}");
    let args = ["-v", "-x", &w.proxy_url(), "--connect-to", &to, "--cacert", gw, "-w", "%{certs}"];
    let out = curl(&[&args[..], &[https(&w, "news.test").as_str()]].concat()).await;
    assert!(out.stderr.contains("CONNECT bank.test:"), "the tunnel named the exempt host: {out:?}");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("origin=news.test"), "{out:?}");
    assert!(issuers(&out.stdout)[0].contains(GATEWAY_CA_NAME), "bumped under the gateway root: {out:?}");
    w.wait_record("bump", |r| r["action"] == "bump" && r["host"] == "news.test").await;
    assert_eq!(w.proxy.metrics().connections(Action::Splice), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bumped_connection_reopens_the_origin_when_it_closes() {
    let w = World::start(|_, _| {}).await;
    let gw = w.gateway_pem.to_str().expect("path");
    let port = w.origin.addr.port();
    let (first, second) = (format!("https://news.test:{port}/close"), format!("https://news.test:{port}/again"));
    let out = curl(&["--http1.1", "-x", &w.proxy_url(), "--cacert", gw, &first, &second]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("path=/close") && out.stdout.contains("path=/again"), "{out:?}");
    assert_eq!(w.proxy.metrics().connections(Action::Bump), 1, "one client connection for both requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_outside_the_configured_ports() {
    let w = World::start(|_, _| {}).await;
    let out = curl(&["-v", "-x", &w.proxy_url(), "https://news.test:22/"]).await;
    assert!(out.stderr.contains("HTTP/1.1 403"), "{out:?}");
    let r = w.wait_record("port refusal", |r| r["deny"] == "destination").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("port 22"), "{r}");
}

/// Reads from `stream` up to the end of an HTTP head.
async fn read_head(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.expect("read head"), 1, "closed inside a head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_through_a_bumped_connection_is_relayed_and_logged() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = World::start(|_, _| {}).await;
    let target = format!("news.test:{}", w.origin.addr.port());
    let mut tcp = tokio::net::TcpStream::connect(w.proxy.explicit_addr()).await.expect("connect");
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).await.expect("CONNECT");
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // A browser's WebSocket: TLS trusting the gateway root, HTTP/1.1, Upgrade.
    let mut tls = common::tunnel::tls(tcp, "news.test", &w.gateway_pem).await;
    let handshake = format!(
        "GET /chat HTTP/1.1\r\nHost: {target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tls.write_all(handshake.as_bytes()).await.expect("handshake");
    let head = read_head(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");

    let message = b"frames through the gateway";
    for _ in 0..3 {
        tls.write_all(message).await.expect("send");
        let mut echoed = vec![0u8; message.len()];
        tls.read_exact(&mut echoed).await.expect("echo");
        assert_eq!(echoed, message);
    }
    tls.shutdown().await.expect("close");
    drop(tls);

    let r = w.wait_record("the WebSocket", |r| r["status"] == 101).await;
    assert_eq!((r["action"].as_str(), r["host"].as_str()), (Some("allow"), Some("news.test")), "{r}");
    assert_eq!(r["url"], format!("https://{target}/chat"));
    assert_eq!(r["bytes_from_client"], 3 * message.len() as u64, "{r}");
    assert_eq!(r["bytes_to_client"], 3 * message.len() as u64, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_coded_chunked_upload_keeps_its_coding_on_the_way_to_the_origin() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An origin that records the request head it receives, byte for byte.
    let origin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let origin_port = origin.local_addr().expect("addr").port();
    let received = tokio::spawn(async move {
        let (mut tcp, _) = origin.accept().await.expect("accept");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.ends_with(b"0\r\n\r\n") {
            let n = tcp.read(&mut buf).await.expect("read");
            assert_ne!(n, 0, "the request ended early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.expect("answer");
        String::from_utf8_lossy(&seen).into_owned()
    });
    let w = World::start(|cfg, _| {
        cfg.destinations.ports.push(origin_port);
        cfg.dns.hosts.insert("upload.test".into(), vec!["127.0.0.1".parse().expect("ip")]);
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(w.proxy.explicit_addr()).await.expect("proxy");
    let authority = format!("upload.test:{origin_port}");
    let head =
        format!("POST http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.expect("head");
    tcp.write_all(b"5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n").await.expect("body");
    let request =
        tokio::time::timeout(std::time::Duration::from_secs(20), received).await.expect("forwarded").expect("join");
    let te: Vec<&str> = request.lines().filter(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:")).collect();
    assert_eq!(te, ["transfer-encoding: gzip, chunked"], "{request}");
    assert!(request.contains("\r\n\r\n5\r\n\x1f\u{fffd}"), "the coded bytes pass untouched: {request:?}");
}
