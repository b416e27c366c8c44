//! Threat feeds in the proxy: a host in `phishing` or `malware` is denied for
//! every organisation before any byte moves, even when its category is exempt
//! (on `CONNECT`, on the transparent listener's SNI, and on an address
//! literal); a host whose address is in a listed range is refused before a
//! connection is tried; a listed URL is refused while its host's other URLs
//! pass; and a reload reaches connections already open (a spliced tunnel is
//! cut, a bumped connection's next request is refused).

mod common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::curl::curl;
use common::world::{TRANSPARENT_LINK, World};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use policies::threat::{FeedFormat, ThreatCategory, ThreatDb, parse_feed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A database of `(category, format, text)` feeds.
fn feeds(feeds: &[(ThreatCategory, FeedFormat, &str)]) -> ThreatDb {
    let mut db = ThreatDb::builder();
    for (i, (category, format, text)) in feeds.iter().enumerate() {
        let entries = parse_feed(*format, text, "test feed").expect("valid feed");
        db.add(&format!("feed{i}"), *category, &entries);
    }
    db.build()
}

fn https(w: &World, host: &str, path: &str) -> String {
    format!("https://{host}:{}{path}", w.origin.addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_exempt_host_is_denied_at_connect_and_by_sni() {
    let w = World::start(|cfg, origin| {
        let listen = "127.0.0.1:0".parse().expect("addr");
        let link = TRANSPARENT_LINK.into();
        let upstream_port = origin.addr.port();
        cfg.transparent = Some(iqbsh::TransparentConfig { listen, link, upstream_port, ..Default::default() });
    })
    .await;
    w.threats.replace(feeds(&[(ThreatCategory::Phishing, FeedFormat::Domains, "bank.test\n")]));
    let ca = w.test_ca_pem.to_str().expect("path");
    let out = curl(&["-v", "-x", &w.proxy_url(), "--cacert", ca, &https(&w, "bank.test", "/page")]).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("HTTP/1.1 403"), "refused at CONNECT: {out:?}");
    let r = w.wait_record("CONNECT denial", |r| r["deny"] == "threat_feed").await;
    assert_eq!((r["method"].as_str(), r["host"].as_str()), (Some("CONNECT"), Some("bank.test")), "{r}");
    assert!(r["categories"].as_array().expect("list").iter().any(|c| c == "phishing"), "{r}");
    assert!(r["reason"].as_str().unwrap_or_default().contains("listed as phishing by the threat feed feed0"), "{r}");

    // The transparent listener: the SNI names the listed host.
    let addr = w.proxy.transparent_addr().expect("transparent");
    let to = format!("bank.test:443:{}:{}", addr.ip(), addr.port());
    let out = curl(&["--connect-to", &to, "--cacert", ca, "https://bank.test/page"]).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("origin="), "{out:?}");
    w.wait_record("SNI denial", |r| r["deny"] == "threat_feed" && r["listener"] == "transparent").await;
    // A CONNECT to an unlisted host whose ClientHello names the listed one.
    let gw = w.gateway_pem.to_str().expect("path");
    let resolve = format!("bank.test:{}:127.0.0.1", w.origin.addr.port());
    let out =
        curl(&["--resolve", &resolve, "--proxy", &w.proxy_url(), "--cacert", gw, &https(&w, "bank.test", "/")]).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(w.origin.connections.load(std::sync::atomic::Ordering::Relaxed), 0, "no byte reached the origin");
    assert!(w.proxy.render_metrics().contains("iqbsh_denials_total{kind=\"threat_feed\"} 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_addresses_are_denied_as_literals_and_when_resolved() {
    let w = World::start(|cfg, _| {
        cfg.dns.hosts.insert("evilip.test".into(), vec!["198.51.100.7".parse().expect("ip")]);
    })
    .await;
    let cidr = "; DROP-style\n198.51.100.0/24 ; SBL1\n127.0.0.1/32\n";
    w.threats.replace(feeds(&[(ThreatCategory::Malware, FeedFormat::Cidr, cidr)]));
    let plain = w.plain.addr.port();
    let out = curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &format!("http://127.0.0.1:{plain}/x")]).await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains("127.0.0.1 is listed as malware"), "{out:?}");
    let out = curl(&["-v", "-x", &w.proxy_url(), &format!("https://127.0.0.1:{}/", w.origin.addr.port())]).await;
    assert!(out.stderr.contains("HTTP/1.1 403"), "CONNECT to a listed address: {out:?}");
    let out = curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &format!("http://evilip.test:{plain}/x")]).await;
    assert!(out.stdout.ends_with("\n403"), "{out:?}");
    assert!(out.stdout.contains("evilip.test (198.51.100.7) is listed as malware"), "{out:?}");
    assert_eq!(w.plain.connections.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing was connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_url_is_denied_and_its_host_stays_open() {
    let w = World::start(|_, _| {}).await;
    let plain = w.plain.addr.port();
    let urls = format!("http://news.test:{plain}/dl/invoice.exe\nhttp://news.test/other\n");
    w.threats.replace(feeds(&[(ThreatCategory::Malware, FeedFormat::Urls, &urls)]));
    let out =
        curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &format!("http://news.test:{plain}/dl/invoice.exe")])
            .await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains("listed as malware"), "{out:?}");
    let out = curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &format!("http://news.test:{plain}/page")]).await;
    assert!(out.stdout.ends_with("\n200"), "{out:?}");
    // However the request spells the listed URL (Safe Browsing's canonical form and its
    // expressions), plain or bumped, it is refused before the origin sees it.
    let bumped = https(&w, "news.test", "");
    let ca = w.gateway_pem.to_str().expect("path");
    for path in [
        "/dl/invoice.exe?x",
        "/dl/invoice%2eexe",
        "/dl/invoice%252Eexe",
        "//dl//invoice.exe",
        "/./dl/./invoice.exe",
        "/dl/x/../invoice.exe",
        "/%64l/invoice.exe",
        "/dl/invoice.exe#frag",
    ] {
        for base in [format!("http://NEWS.test.:{plain}"), format!("http://www.news.test:{plain}"), bumped.clone()] {
            let url = format!("{base}{path}");
            let out = curl(&["-x", &w.proxy_url(), "--cacert", ca, "--path-as-is", "-w", "\n%{http_code}", &url]).await;
            assert!(out.stdout.ends_with("\n403") && out.stdout.contains("listed as malware"), "{url}: {out:?}");
        }
    }
    let out =
        curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &format!("http://news.test:{plain}/dl/invoice.exe.txt")])
            .await;
    assert!(out.stdout.ends_with("\n200"), "a longer name is another file: {out:?}");
}

/// `CONNECT host:port` through the proxy, then TLS trusting only the PEM at `root`.
async fn tunnel(w: &World, host: &str, root: &Path) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = common::tunnel::connect(w.proxy.explicit_addr(), &format!("{host}:{}", w.origin.addr.port())).await;
    common::tunnel::tls(tcp, host, root).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_reaches_open_connections() {
    let w = World::start(|_, _| {}).await;
    // A spliced tunnel to an exempt host, in use.
    let mut spliced = tunnel(&w, "bank.test", &w.test_ca_pem).await;
    spliced.write_all(b"GET /page HTTP/1.1\r\nHost: bank.test\r\n\r\n").await.expect("request");
    let mut buf = vec![0u8; 4096];
    let n = spliced.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("origin=bank.test"), "spliced and answered");
    // A bumped connection, one request answered.
    let bumped = tunnel(&w, "news.test", &w.gateway_pem).await;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(bumped)).await.expect("http");
    tokio::spawn(conn);
    let get = |path: &str| {
        hyper::Request::get(path)
            .header("host", format!("news.test:{}", w.origin.addr.port()))
            .body(Empty::<Bytes>::new())
    };
    let first = send.send_request(get("/page").expect("request")).await.expect("answer");
    assert_eq!(first.status(), 200);
    let _ = first.into_body().collect().await;

    w.threats.replace(feeds(&[
        (ThreatCategory::Phishing, FeedFormat::Domains, "bank.test\n"),
        (ThreatCategory::Malware, FeedFormat::Hosts, "0.0.0.0 news.test\n"),
    ]));
    let ended = tokio::time::timeout(Duration::from_secs(10), spliced.read(&mut buf)).await.expect("cut in time");
    assert!(matches!(ended, Ok(0) | Err(_)), "the spliced tunnel was cut: {ended:?}");
    let r = w.wait_record("cut tunnel", |r| r["action"] == "splice").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains("(cut: bank.test is listed as phishing"), "{r}");
    assert_eq!(r["deny"], "threat_feed", "{r}");

    send.ready().await.expect("still open");
    let second = send.send_request(get("/page").expect("request")).await.expect("answer");
    assert_eq!(second.status(), 403, "the bumped connection's next request is refused");
    let page = second.into_body().collect().await.expect("page").to_bytes();
    assert!(String::from_utf8_lossy(&page).contains("listed as malware"), "{page:?}");
}
