//! Encrypted Client Hello through the explicit proxy, with crafted ClientHellos (the
//! browser itself is exercised by the binary's Chromium test): a hello with ECH is
//! decided on its outer name, so an exempt site a browser opens is still spliced,
//! while the public name of an ECH provider, which fronts any site behind it, is
//! always inspected, exempt or not; the legacy ESNI extension is treated the same.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::world::{TestRules, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A ClientHello record naming `sni` and carrying extension `hidden` (ECH or ESNI)
/// with a payload shaped like a browser's GREASE ECH.
fn hello_with(sni: &str, hidden: u16) -> Vec<u8> {
    let mut name = vec![0];
    name.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    name.extend_from_slice(sni.as_bytes());
    let mut server_name = (name.len() as u16).to_be_bytes().to_vec();
    server_name.extend_from_slice(&name);
    let versions = vec![2, 0x03, 0x04];
    let ech: Vec<u8> =
        [0u8, 0, 1, 0, 1, 0x2a, 0, 32].into_iter().chain([0x5a; 32]).chain([0, 144]).chain([7; 144]).collect();
    let mut exts = Vec::new();
    for (kind, data) in [(0u16, server_name), (43, versions), (hidden, ech)] {
        exts.extend_from_slice(&kind.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(&data);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut handshake = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 3, 1, (handshake.len() >> 8) as u8, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// Opens a tunnel to `host` through the proxy and sends `hello` into it.
async fn send_through_tunnel(w: &World, host: &str, hello: &[u8]) {
    let port = w.origin.addr.port();
    let mut tcp = TcpStream::connect(w.proxy.explicit_addr()).await.expect("proxy");
    let connect = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    tcp.write_all(connect.as_bytes()).await.expect("connect");
    let mut head = [0u8; 64];
    let n = tcp.read(&mut head).await.expect("answer");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..n]));
    tcp.write_all(hello).await.expect("hello");
    // Whatever comes back (the origin's or the gateway's answer), the decision is logged.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut sink)).await;
}

fn world_with_front_exempt(cfg: &mut iqbsh::ProxyConfig) {
    cfg.dns.hosts.insert("cloudflare-ech.com".into(), vec!["127.0.0.1".parse().expect("ip")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_outer_name_with_ech_is_spliced() {
    let w = World::start(|_, _| {}).await;
    send_through_tunnel(&w, "bank.test", &hello_with("bank.test", 0xfe0d)).await;
    let r = w.wait_record("the decision", |r| r["host"] == "bank.test").await;
    assert_eq!(r["action"], "splice", "spliced to the gateway-resolved origin: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_with_legacy_esni_is_never_spliced_even_for_an_exempt_name() {
    let w = World::start(|_, _| {}).await;
    send_through_tunnel(&w, "bank.test", &hello_with("bank.test", 0xffce)).await;
    let r = w.wait_record("the decision", |r| r["host"] == "bank.test").await;
    assert_ne!(r["action"], "splice", "ESNI's visible name vouches for nothing: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ech_providers_public_name_is_inspected_even_when_categorised_exempt() {
    let w = World::start(|cfg, _| world_with_front_exempt(cfg)).await;
    let mut rules = TestRules::standard();
    rules.categories.insert("cloudflare-ech.com", "finance");
    w.rules.replace(Arc::new(rules));
    send_through_tunnel(&w, "cloudflare-ech.com", &hello_with("cloudflare-ech.com", 0xfe0d)).await;
    let r = w.wait_record("the front's decision", |r| r["host"] == "cloudflare-ech.com").await;
    assert_eq!(r["action"], "bump", "{r}");
    assert!(r["upstream"].is_string(), "the gateway itself connected to the origin: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_exempt_outer_name_with_ech_is_inspected() {
    let w = World::start(|_, _| {}).await;
    send_through_tunnel(&w, "news.test", &hello_with("news.test", 0xfe0d)).await;
    let r = w.wait_record("the decision", |r| r["host"] == "news.test").await;
    assert_eq!(r["action"], "bump", "{r}");
}
