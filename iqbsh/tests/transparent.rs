//! The transparent listeners with curl (`--connect-to` stands in for the
//! redirecting firewall). TLS: splice by SNI, bump with HTTP/2, block page,
//! refusals without SNI, for bad origin certificates and unknown sources.
//! Plain HTTP: decided by its Host like the explicit proxy's requests.

mod common;

use common::curl::{curl, issuers};
use common::origin::TEST_CA_NAME;
use common::world::{TRANSPARENT_LINK, UNKNOWN, World};

async fn world() -> World {
    World::start(|cfg, origin| {
        let t = iqbsh::TransparentConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            link: TRANSPARENT_LINK.into(),
            upstream_port: origin.addr.port(),
            http_listen: Some("127.0.0.1:0".parse().expect("addr")),
            ..iqbsh::TransparentConfig::default()
        };
        cfg.transparent = Some(t);
    })
    .await
}

/// `--connect-to` arguments sending `host:443` to the transparent listener.
fn redirect(w: &World, host: &str) -> String {
    let addr = w.proxy.transparent_addr().expect("transparent listener");
    format!("{host}:443:{}:{}", addr.ip(), addr.port())
}

/// `--connect-to` arguments sending `host:80` to the transparent plain-HTTP listener.
fn redirect_http(w: &World, host: &str) -> String {
    let addr = w.proxy.transparent_http_addr().expect("transparent HTTP listener");
    format!("{host}:80:{}:{}", addr.ip(), addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirected_plain_http_is_decided_by_its_host() {
    let w = world().await;
    let port = w.plain.addr.port();
    let out = curl(&["--connect-to", &redirect_http(&w, "news.test"), "http://news.test/x?y=1"]).await;
    // The origin gets the Host of the port it listens on (80 in production).
    assert!(out.stdout.starts_with(&format!("origin=news.test:{port} proto=HTTP/1.1 path=/x")), "{out:?}");
    let r = w.wait_record("allowed", |r| r["host"] == "news.test" && r["method"] == "GET").await;
    assert_eq!((r["listener"].as_str(), r["action"].as_str()), (Some("transparent"), Some("allow")), "{r}");
    assert_eq!(r["url"], format!("http://news.test:{port}/x?y=1"), "{r}");

    let args = ["--connect-to", &redirect_http(&w, "casino.test"), "-w", "\n%{http_code}", "http://casino.test/"];
    let out = curl(&args).await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains("category gambling"), "{out:?}");

    // The origin is the Host on the redirected port: a Host naming another port, none
    // at all, or CONNECT (the explicit proxy's) are refused.
    let to = redirect_http(&w, "news.test");
    for extra in [&["-H", "Host: news.test:8080"][..], &["-H", "Host:"][..]] {
        let args = [&["--connect-to", &to, "-w", "\n%{http_code}"][..], extra, &["http://news.test/"][..]].concat();
        let out = curl(&args).await;
        assert!(out.stdout.ends_with("\n400"), "{extra:?}: {out:?}");
    }
    let addr = w.proxy.transparent_http_addr().expect("listener");
    let out = curl(&["-p", "-x", &format!("http://{addr}"), "-k", "https://news.test/"]).await;
    assert_ne!(out.code, 0, "{out:?}");
    let r = w.wait_record("CONNECT refused", |r| r["method"] == "CONNECT" && r["deny"] == "bad_request").await;
    assert_eq!(r["listener"], "transparent", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirected_plain_http_from_an_unknown_source_is_refused_and_reported() {
    let w = world().await;
    let to = redirect_http(&w, "news.test");
    let out = curl(&["--interface", UNKNOWN, "--connect-to", &to, "-w", "\n%{http_code}", "http://news.test/"]).await;
    assert!(out.stdout.ends_with("\n403"), "{out:?}");
    let unknown: std::net::IpAddr = UNKNOWN.parse().expect("ip");
    let seen = w.catalog.wait_sightings("the unknown source", |s| s.iter().any(|o| o.ip == unknown)).await;
    assert_eq!(seen.iter().find(|o| o.ip == unknown).expect("reported").link, TRANSPARENT_LINK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_host_is_spliced_by_sni() {
    let w = world().await;
    let ca = w.test_ca_pem.to_str().expect("path");
    let to = redirect(&w, "bank.test");
    let out = curl(&["--connect-to", &to, "--cacert", ca, "-w", "%{certs}", "https://bank.test/"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("origin=bank.test"), "{out:?}");
    let issuers = issuers(&out.stdout);
    assert!(!issuers.is_empty() && issuers.iter().all(|i| i.contains(TEST_CA_NAME)), "{issuers:?}");
    let r = w.wait_record("splice", |r| r["action"] == "splice").await;
    assert_eq!((r["listener"].as_str(), r["host"].as_str()), (Some("transparent"), Some("bank.test")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_exempt_host_is_bumped_with_http2_and_checked_per_request() {
    let w = world().await;
    let gw = w.gateway_pem.to_str().expect("path");
    let to = redirect(&w, "news.test");
    let args =
        ["--http2", "--connect-to", &to, "--cacert", gw, "-w", "%{http_version}\n%{certs}", "https://news.test/x"];
    let out = curl(&args).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("origin=news.test proto=HTTP/2.0 path=/x"), "{out:?}");
    assert_eq!(out.stdout.lines().nth(1), Some("2"), "{out:?}");
    assert!(issuers(&out.stdout)[0].contains("Perimeter Gateway Root CA"), "{out:?}");
    assert!(w.origin.saw("news.test", "HTTP/2.0"));

    let to = redirect(&w, "casino.test");
    let out = curl(&["--connect-to", &to, "--cacert", gw, "-w", "\n%{http_code}", "https://casino.test/"]).await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains("category gambling"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_without_sni_is_refused() {
    let w = world().await;
    let addr = w.proxy.transparent_addr().expect("listener");
    let out = curl(&["-k", &format!("https://{addr}/")]).await;
    assert_ne!(out.code, 0, "{out:?}");
    let r = w.wait_record("no SNI", |r| r["deny"] == "bad_request").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("SNI"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_origin_certificate_is_refused() {
    let w = world().await;
    let to = redirect(&w, "expired.test");
    let out = curl(&["-k", "--connect-to", &to, "-w", "%{certs}", "https://expired.test/"]).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(issuers(&out.stdout).is_empty(), "{out:?}");
    let r = w.wait_record("cert error", |r| r["deny"] == "upstream_cert").await;
    assert!(r["cert_error"].as_str().unwrap_or_default().to_lowercase().contains("expired"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_source_is_closed_and_reported() {
    let w = world().await;
    let to = redirect(&w, "news.test");
    let out = curl(&["--interface", UNKNOWN, "-k", "--connect-to", &to, "https://news.test/"]).await;
    assert_ne!(out.code, 0, "{out:?}");
    let unknown: std::net::IpAddr = UNKNOWN.parse().expect("ip");
    let seen = w.catalog.wait_sightings("the unknown source", |s| s.iter().any(|o| o.ip == unknown)).await;
    let found = seen.iter().find(|o| o.ip == unknown).expect("reported");
    assert_eq!(found.link, TRANSPARENT_LINK);
    let r = w.wait_record("unknown source", |r| r["deny"] == "unknown_source").await;
    assert_eq!(r["listener"], "transparent");
}
