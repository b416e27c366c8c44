//! A name the policy denies is refused before any origin is contacted, on
//! every way in: `CONNECT` (HTTP/1.1 and HTTP/2 inside), the transparent
//! listener, a ClientHello naming a denied host inside a `CONNECT` to an
//! allowed one, and the reverse. The client still gets the block page with
//! the reason over TLS under the gateway root; the origin, which counts the
//! TCP connections it accepts, sees none. An allowed name is still bumped
//! through to the origin (the counter moves).

mod common;

use std::sync::atomic::Ordering::Relaxed;

use common::curl::curl;
use common::world::{TRANSPARENT_LINK, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn world() -> World {
    World::start(|cfg, origin| {
        cfg.transparent = Some(iqbsh::TransparentConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            link: TRANSPARENT_LINK.into(),
            upstream_port: origin.addr.port(),
            ..iqbsh::TransparentConfig::default()
        });
    })
    .await
}

const REASON: &str = "category gambling is not in the policy of organisation";

/// One request over TLS as `sni` inside a `CONNECT` to `authority`; the answer as text.
async fn inside(w: &World, authority: &str, sni: &str) -> String {
    let tcp = common::tunnel::connect(w.proxy.explicit_addr(), authority).await;
    let mut tls = common::tunnel::tls(tcp, sni, &w.gateway_pem).await;
    tls.write_all(format!("GET /x HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("w");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_name_costs_no_origin_connection_on_any_way_in() {
    let w = world().await;
    let gw = w.gateway_pem.to_str().expect("path");
    let port = w.origin.addr.port();
    let url = format!("https://casino.test:{port}/page");
    for version in ["--http1.1", "--http2"] {
        let out = curl(&[version, "-x", &w.proxy_url(), "--cacert", gw, "-w", "\n%{http_code}", &url]).await;
        assert!(out.stdout.ends_with("\n403") && out.stdout.contains(REASON), "{version}: {out:?}");
    }
    let t = w.proxy.transparent_addr().expect("transparent");
    let to = format!("casino.test:443:{}:{}", t.ip(), t.port());
    let out = curl(&["--connect-to", &to, "--cacert", gw, "-w", "\n%{http_code}", "https://casino.test/"]).await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains(REASON), "transparent: {out:?}");
    let answer = inside(&w, &format!("news.test:{port}"), "casino.test").await;
    assert!(
        answer.starts_with("HTTP/1.1 403") && answer.contains(REASON),
        "denied SNI in an allowed CONNECT: {answer}"
    );
    let answer = inside(&w, &format!("casino.test:{port}"), "news.test").await;
    assert!(answer.starts_with("HTTP/1.1 403") && answer.contains(REASON), "a denied CONNECT host: {answer}");
    assert_eq!(w.origin.connections.load(Relaxed), 0, "the origin saw no connection");
    let r = w.wait_record("refused tunnel", |r| r["method"] == "CONNECT" && r["deny"] == "policy").await;
    assert_eq!((r["categories"][0].as_str(), r["upstream"].as_str()), (Some("gambling"), None), "{r}");

    let allowed = curl(&["-x", &w.proxy_url(), "--cacert", gw, &format!("https://news.test:{port}/page")]).await;
    assert!(allowed.stdout.starts_with("origin=news.test"), "{allowed:?}");
    assert_eq!(w.origin.connections.load(Relaxed), 1, "an allowed name is bumped through");
}
