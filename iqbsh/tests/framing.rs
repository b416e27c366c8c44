//! Requests framed two ways (CL.TE, TE.CL, a doubled Content-Length), through the
//! explicit proxy's plain HTTP and through a bumped connection, with a request hidden
//! after each: every one is answered 400, the connection ends, and the origin sees
//! neither the request nor the one hidden behind it.

mod common;

use std::time::Duration;

use common::world::World;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `bytes` and reads the answer until the proxy closes (bounded).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, bytes: &str) -> String {
    s.write_all(bytes.as_bytes()).await.expect("request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the proxy closes the connection after the answer: {}", String::from_utf8_lossy(&answer));
    String::from_utf8_lossy(&answer).into_owned()
}

/// The cases for a request to `target` with `Host: host`.
fn cases(target: &str, host: &str) -> Vec<(&'static str, String)> {
    let hidden = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let head = |fields: &str| format!("POST {target} HTTP/1.1\r\nHost: {host}\r\n{fields}\r\n");
    vec![
        ("CL.TE", format!("{}0\r\n\r\n{hidden}", head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"))),
        ("TE.CL", format!("{}0\r\n\r\n{hidden}", head("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"))),
        (
            "TE.CL, the hidden request in the chunk",
            format!(
                "{}{:x}\r\n{hidden}\r\n0\r\n\r\n",
                head("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"),
                hidden.len()
            ),
        ),
        ("doubled length", format!("{}abcde{hidden}", head("Content-Length: 5\r\nContent-Length: 5\r\n"))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_framed_two_ways_is_refused_and_nothing_reaches_the_origin() {
    let w = World::start(|_, _| {}).await;
    let proxy = w.proxy.explicit_addr();
    let plain = format!("news.test:{}", w.plain.addr.port());
    for (what, bytes) in cases(&format!("http://{plain}/upload"), &plain) {
        let answer = exchange(TcpStream::connect(proxy).await.expect("proxy"), &bytes).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "plain, {what}: {answer}");
        assert!(answer.contains("framed two ways"), "plain, {what}: {answer}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "plain, {what}: one answer: {answer}");
    }
    let bumped = format!("news.test:{}", w.origin.addr.port());
    for (what, bytes) in cases("/upload", &bumped) {
        let tcp = common::tunnel::connect(proxy, &bumped).await;
        let tls = common::tunnel::tls(tcp, "news.test", &w.gateway_pem).await;
        let answer = exchange(tls, &bytes).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "bumped, {what}: {answer}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "bumped, {what}: one answer: {answer}");
    }
    for origin in [&w.plain, &w.origin] {
        assert!(origin.uploads.lock().expect("uploads").is_empty(), "no upload reached an origin");
        assert!(origin.seen.lock().expect("seen").is_empty(), "no hidden request reached an origin");
    }
    let refused = w.json_records().await.into_iter().filter(|r| r["deny"] == "bad_request").count();
    assert_eq!(refused, 8, "each refusal logged once");

    // The same requests framed one way go through, on the same kinds of connection.
    let clear =
        format!("POST /upload HTTP/1.1\r\nHost: {bumped}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde");
    let tcp = common::tunnel::connect(proxy, &bumped).await;
    let tls = common::tunnel::tls(tcp, "news.test", &w.gateway_pem).await;
    let answer = exchange(tls, &clear).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("received 5"), "{answer}");
}
