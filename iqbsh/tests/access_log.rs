//! Access-log fidelity with raw sockets and curl: every decision gets one
//! line, refusals by the HTTP parser included; nothing a client writes into
//! a Host header can forge a field of the Squid-format line; and the
//! `CONNECT` host stays in the line when the ClientHello names another server.

mod common;

use std::time::Duration;

use common::curl::curl;
use common::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(w: &World, bytes: &[u8]) -> String {
    let mut tcp = TcpStream::connect(w.proxy.explicit_addr()).await.expect("proxy");
    tcp.write_all(bytes).await.expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_parser_refuses_get_one_line_each() {
    let w = World::start(|cfg, _| cfg.max_header_bytes = 8192).await;
    let answer = exchange(&w, b"GET  http://news.test/ HTTP/1.1 junk\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let huge = format!("GET http://news.test/ HTTP/1.1\r\nHost: news.test\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    let answer = exchange(&w, huge.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);
    // A connection's refusal is logged when it has ended (after the client has closed).
    for status in [400, 431] {
        w.wait_record(&format!("status {status}"), |r| r["status"] == status).await;
    }
    let records = w.json_records().await;
    let refused: Vec<_> = records.iter().filter(|r| r["deny"] == "bad_request").collect();
    let statuses: Vec<_> = refused.iter().map(|r| r["status"].as_u64().unwrap_or_default()).collect();
    assert_eq!(statuses, [400, 431], "{records:#?}");
    assert!(refused.iter().all(|r| r["client"] == "127.0.0.1" && r["org"] == common::world::BIN), "{refused:#?}");
    assert_eq!(w.squid_lines().await.len(), records.len(), "one line in each log per decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_header_cannot_forge_fields_of_the_squid_line() {
    let w = World::start(|_, _| {}).await;
    let port = w.origin.addr.port();
    let tcp = common::tunnel::connect(w.proxy.explicit_addr(), &format!("news.test:{port}")).await;
    let mut tls = common::tunnel::tls(tcp, "news.test", &w.gateway_pem).await;
    let forged = "news.test\" 200 1 GET https://x/ - HIER_NONE/- - ref=0 action=allow category=news reason=\"ok";
    tls.write_all(format!("GET /p HTTP/1.1\r\nHost: {forged}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut answer)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 421"), "{}", String::from_utf8_lossy(&answer));
    w.wait_record("the refusal", |r| r["deny"] == "misdirected").await;
    let lines = w.squid_lines().await;
    let line = lines.iter().find(|l| l.contains("deny=misdirected")).expect("the line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields[..10].iter().all(|f| !f.contains('"')), "{line}");
    assert!(fields[6].starts_with("https://news.test%22%20200%201%20GET%20https://x/"), "{line}");
    assert_eq!(line.matches(" action=").count(), 1, "one action field: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_host_stays_in_the_line_when_the_sni_differs() {
    let w = World::start(|_, _| {}).await;
    let port = w.origin.addr.port();
    let gw = w.gateway_pem.to_str().expect("path");
    let to = format!("news.test:{port}:bank.test:{port}");
    let url = format!("https://news.test:{port}/page");
    let out = curl(&["-x", &w.proxy_url(), "--connect-to", &to, "--cacert", gw, &url]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = w.wait_record("the tunnel", |r| r["method"] == "CONNECT" && r["action"] == "bump").await;
    assert_eq!(
        (&r["host"], &r["url"], &r["sni"]),
        (&"news.test".into(), &format!("bank.test:{port}").into(), &"news.test".into()),
        "{r}"
    );
    let lines = w.squid_lines().await;
    let line = lines.iter().find(|l| l.contains(" CONNECT ")).expect("the tunnel's line");
    assert!(line.contains(&format!(" bank.test:{port} ")) && line.contains(" sni=news.test "), "{line}");
}
