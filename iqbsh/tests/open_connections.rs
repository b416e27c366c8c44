//! Decisions reach connections already open: a source that becomes blocked
//! loses its spliced tunnels, bumped and keep-alive connections and its
//! WebSockets at once; a
//! policy change decides the next request of an open bumped connection,
//! HTTP/1.1 and HTTP/2 alike; a quiet HTTP/2 connection closes like an idle
//! HTTP/1.1 one; and every connection ends at its maximum lifetime.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::world::{KNOWN, TestRules, World, snapshot};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Bound on waiting for something the proxy must do by itself (never a timing claim).
const BOUND: Duration = Duration::from_secs(20);

async fn tunnel(w: &World, host: &str, root: &Path, alpn: &[u8]) -> TlsStream<TcpStream> {
    let tcp = common::tunnel::connect(w.proxy.explicit_addr(), &format!("{host}:{}", w.origin.addr.port())).await;
    let mut config = common::tunnel::client_config(&std::fs::read(root).expect("root PEM"));
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.to_owned()).expect("name");
    connector.connect(name, tcp).await.expect("TLS through the proxy")
}

/// Reads until the peer closes; panics if it does not within the bound.
async fn closed(stream: &mut (impl AsyncRead + Unpin), what: &str) {
    let mut buf = vec![0u8; 16 * 1024];
    let drained = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(BOUND, drained).await.unwrap_or_else(|_| panic!("{what} is still open"));
}

fn get(w: &World, path: &str, absolute: bool) -> hyper::Request<Empty<Bytes>> {
    let authority = format!("news.test:{}", w.origin.addr.port());
    let req =
        if absolute { hyper::Request::get(format!("https://{authority}{path}")) } else { hyper::Request::get(path) };
    req.header("host", authority).body(Empty::new()).expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_and_keep_alive_connections_of_a_source_that_becomes_blocked_are_cut() {
    let w = World::start(|_, _| {}).await;
    let mut spliced = tunnel(&w, "bank.test", &w.test_ca_pem, b"http/1.1").await;
    spliced.write_all(b"GET /page HTTP/1.1\r\nHost: bank.test\r\n\r\n").await.expect("request");
    let mut buf = vec![0u8; 4096];
    let n = spliced.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("origin=bank.test"), "spliced and answered");

    let bumped = tunnel(&w, "news.test", &w.gateway_pem, b"http/1.1").await;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(bumped)).await.expect("http");
    let bumped_conn = tokio::spawn(conn);
    let first = send.send_request(get(&w, "/page", false)).await.expect("answer");
    assert_eq!(first.status(), 200);
    let _ = first.into_body().collect().await;

    let mut plain = TcpStream::connect(w.proxy.explicit_addr()).await.expect("proxy");
    let authority = format!("news.test:{}", w.plain.addr.port());
    let request = format!("GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    plain.write_all(request.as_bytes()).await.expect("plain request");
    let n = plain.read(&mut buf).await.expect("plain answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "kept alive after a 200");

    w.catalog.snapshot.replace(snapshot(2, &[KNOWN]));
    closed(&mut spliced, "the spliced tunnel").await;
    tokio::time::timeout(BOUND, bumped_conn).await.expect("the bumped connection is still open").expect("join").ok();
    closed(&mut plain, "the keep-alive plain connection").await;

    let r = w.wait_record("the cut tunnel", |r| r["action"] == "splice").await;
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("(cut: source address 127.0.0.1 is blocked"), "{r}");
    assert_eq!(r["deny"], "blocked_source", "{r}");
    let cut = w.wait_record("a cut connection", |r| {
        r["reason"].as_str().unwrap_or_default().starts_with("open connection cut: source address 127.0.0.1 is blocked")
    });
    assert_eq!(cut.await["deny"], "blocked_source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_decides_the_next_request_of_open_bumped_connections() {
    let w = World::start(|_, _| {}).await;
    let h1 = tunnel(&w, "news.test", &w.gateway_pem, b"http/1.1").await;
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(h1)).await.expect("http/1.1");
    tokio::spawn(conn);
    let h2 = tunnel(&w, "news.test", &w.gateway_pem, b"h2").await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 negotiated");
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2)).await.expect("h2");
    tokio::spawn(conn);
    assert_eq!(h1.send_request(get(&w, "/page", false)).await.expect("answer").status(), 200);
    assert_eq!(h2.send_request(get(&w, "/page", true)).await.expect("answer").status(), 200);

    let mut stricter = TestRules::standard();
    stricter.denied.insert("news");
    w.rules.replace(Arc::new(stricter));
    h1.ready().await.expect("still open");
    let again = h1.send_request(get(&w, "/page", false)).await.expect("answer");
    assert_eq!(again.status(), 403, "HTTP/1.1: the rules in force now");
    let again = h2.send_request(get(&w, "/page", true)).await.expect("answer");
    assert_eq!(again.status(), 403, "HTTP/2: the rules in force now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_http2_connection_is_closed_like_an_idle_http1_one() {
    let w = World::start(|cfg, _| cfg.timeouts.header = Duration::from_secs(1)).await;
    let h2 = tunnel(&w, "news.test", &w.gateway_pem, b"h2").await;
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2)).await.expect("h2");
    let conn = tokio::spawn(conn);
    let answer = h2.send_request(get(&w, "/page", true)).await.expect("answer");
    assert_eq!(answer.status(), 200);
    let _ = answer.into_body().collect().await;
    tokio::time::timeout(BOUND, conn).await.expect("the quiet HTTP/2 connection is still open").expect("join").ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_tunnel_ends_at_the_maximum_lifetime() {
    let w = World::start(|cfg, _| cfg.timeouts.max_lifetime = Duration::from_secs(1)).await;
    let mut spliced = tunnel(&w, "bank.test", &w.test_ca_pem, b"http/1.1").await;
    spliced.write_all(b"GET /page HTTP/1.1\r\nHost: bank.test\r\n\r\n").await.expect("request");
    closed(&mut spliced, "the spliced tunnel past its lifetime").await;
    let r = w.wait_record("the ended tunnel", |r| r["action"] == "splice").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("maximum lifetime of 1s"), "{r}");
    assert_eq!(r["deny"], "max_lifetime", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_of_a_source_that_becomes_blocked_is_cut() {
    let w = World::start(|_, _| {}).await;
    let target = format!("news.test:{}", w.origin.addr.port());
    let mut ws = tunnel(&w, "news.test", &w.gateway_pem, b"http/1.1").await;
    let handshake = format!(
        "GET /chat HTTP/1.1\r\nHost: {target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    ws.write_all(handshake.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        ws.read_exact(&mut byte).await.expect("101");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    ws.write_all(b"frame").await.expect("send");
    let mut echoed = [0u8; 5];
    ws.read_exact(&mut echoed).await.expect("echo");

    w.catalog.snapshot.replace(snapshot(2, &[KNOWN]));
    closed(&mut ws, "the WebSocket").await;
    let r = w.wait_record("the cut WebSocket", |r| r["status"] == 101).await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("(cut: source address 127.0.0.1 is blocked"), "{r}");
    assert_eq!(r["deny"], "blocked_source", "{r}");
}
