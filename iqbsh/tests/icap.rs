//! Content scanning with a real antivirus: c-icap with its virus-scan module
//! and ClamAV, started by the test, and curl through the proxy. The EICAR
//! test file is blocked with its name on the page over bumped HTTPS (HTTP/1.1
//! and HTTP/2) and plain HTTP; a clean 50 MiB download arrives byte-identical
//! (held whole, held on disk above the limit, or streamed while scanned when
//! chosen); an EICAR upload
//! is refused before the origin sees it; a service that is down fails closed
//! with a clear page, or open with a log line when configured so; bodies
//! above the scan limit get what their content type's rule says.

mod common;

use std::path::Path;

use common::curl::curl;
use common::icap::{EICAR_NAME, Scanner};
use common::origin::{EICAR, pattern};
use common::world::World;
use iqbsh::{IcapConfig, IcapServiceConfig, OnFailure, OverLimit, ProxyConfig, Size};

/// The proxy's ICAP settings: one service `av` at `url`.
fn service(cfg: &mut ProxyConfig, url: &str, on_failure: Option<OnFailure>) {
    let text = format!("url = \"{url}\"\ntimeout = \"10s\"\n");
    let mut svc: IcapServiceConfig = toml::from_str(&text).expect("service config");
    svc.on_failure = on_failure;
    cfg.icap.services.insert("av".into(), svc);
}

fn https(w: &World, path: &str) -> String {
    format!("https://news.test:{}{path}", w.origin.addr.port())
}

fn http(w: &World, path: &str) -> String {
    format!("http://news.test:{}{path}", w.plain.addr.port())
}

/// curl's status and body size for `url` fetched through `w`.
async fn status_and_size(w: &World, url: String) -> common::curl::Curl {
    curl(&["-x", &w.proxy_url(), "-o", "/dev/null", "-w", "%{http_code} %{size_download}", &url]).await
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_downloads_are_blocked_with_the_threat_named() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| service(cfg, &scanner.url(), None)).await;
    let gw = w.gateway_pem.to_str().expect("path");
    for version in ["--http1.1", "--http2"] {
        let out =
            curl(&[version, "-x", &w.proxy_url(), "--cacert", gw, "-w", "\n%{http_code}", &https(&w, "/eicar")]).await;
        assert!(out.stdout.ends_with("\n403"), "{version}: {out:?}");
        assert!(out.stdout.contains(&format!("Threat: <strong>{EICAR_NAME}</strong>")), "{version}: {out:?}");
        assert!(!out.stdout.contains("EICAR-STANDARD"), "not a byte of the file: {out:?}");
    }
    let out = curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &http(&w, "/eicar")]).await;
    assert!(out.stdout.ends_with("\n403") && out.stdout.contains(EICAR_NAME), "plain HTTP: {out:?}");
    // The same as a preview ending in `ieof` (the 68 bytes fit in c-icap's 1024-byte preview).
    let ieof = World::start(|cfg, _| {
        service(cfg, &scanner.url(), None);
        cfg.icap.services.get_mut("av").expect("av").ieof_previews = true;
    })
    .await;
    let previewed = curl(&["-x", &ieof.proxy_url(), "-w", "\n%{http_code}", &http(&ieof, "/eicar")]).await;
    assert!(previewed.stdout.ends_with("\n403") && previewed.stdout.contains(EICAR_NAME), "ieof: {previewed:?}");
    let clean = curl(&["-x", &ieof.proxy_url(), "-w", "\n%{http_code}", &http(&ieof, "/bulk/500")]).await;
    assert!(clean.stdout.ends_with("\n200"), "ieof, clean: {clean:?}");
    let reference = out.stdout.split("Reference: <code>").nth(1).and_then(|r| r.split('<').next()).expect("ref");
    let r = w.wait_record("plain detection", |r| r["reference"] == reference).await;
    assert_eq!((r["deny"].as_str(), r["status"].as_u64()), (Some("threat"), Some(403)), "{r}");
    let scan = &r["scans"][0];
    assert_eq!((scan["method"].as_str(), scan["outcome"].as_str()), (Some("respmod"), Some("threat")), "{r}");
    assert_eq!((scan["service"].as_str(), scan["threat"].as_str()), (Some("av"), Some(EICAR_NAME)), "{r}");
    let squid = w.squid_lines().await;
    let line = squid.iter().find(|l| l.contains(&format!("ref={reference}"))).expect("squid line");
    assert!(line.contains(&format!("respmod=threat:av threat=\"{EICAR_NAME}\"")), "{line}");
    let metrics = w.proxy.render_metrics();
    assert!(metrics.contains("iqbsh_icap_detections_total{service=\"av\"} 3"), "{metrics}");
    assert!(metrics.contains("iqbsh_denials_total{kind=\"threat\"} 3"), "{metrics}");
    // Exempt traffic is spliced, never scanned, and the log says so.
    let ca = w.test_ca_pem.to_str().expect("path");
    let url = format!("https://bank.test:{}/page", w.origin.addr.port());
    let out = curl(&["-x", &w.proxy_url(), "--cacert", ca, &url]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = w.wait_record("splice", |r| r["action"] == "splice").await;
    assert_eq!(r["scans"][0]["outcome"], "skipped", "{r}");
    assert!(r["scans"][0]["detail"].as_str().unwrap_or_default().contains("not decrypted or scanned"), "{r}");
}

/// Downloads `url` through `w` into `dir/name` and returns curl's status code line.
async fn download(w: &World, url: &str, dir: &Path, name: &str) -> (i32, String, Vec<u8>) {
    let path = dir.join(name);
    let gw = w.gateway_pem.to_str().expect("path");
    let out =
        curl(&["-x", &w.proxy_url(), "--cacert", gw, "-o", path.to_str().expect("path"), "-w", "%{http_code}", url])
            .await;
    (out.code, out.stdout, std::fs::read(&path).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_50_mib_download_arrives_byte_identical_held_or_streamed() {
    let Some(scanner) = Scanner::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let size = 50 << 20;
    let expected = pattern(size);
    let ways = [
        (Size(64 << 20), OverLimit::Hold, "held whole"),
        (Size(32 << 20), OverLimit::Hold, "held on disk until scanned whole"),
        (Size(32 << 20), OverLimit::Stream, "scanned while it streamed"),
    ];
    for (limit, over, how) in ways {
        let w = World::start(|cfg, _| {
            service(cfg, &scanner.url(), None);
            cfg.icap.scan_limit = limit;
            cfg.icap.over_limit = over;
        })
        .await;
        let (code, status, got) = download(&w, &https(&w, &format!("/bulk/{size}")), dir.path(), "clean.bin").await;
        assert_eq!((code, status.as_str(), got.len()), (0, "200", size), "{how}");
        assert!(got == expected[..], "{how}: the bytes differ");
        let r = w.wait_record("clean download", |r| r["url"].as_str().is_some_and(|u| u.contains("/bulk/"))).await;
        assert_eq!(r["scans"][0]["outcome"], "clean", "{how}: {r}");
        assert_eq!(r["bytes_to_client"].as_u64(), Some(size as u64), "{how}: {r}");
        if limit.0 < size as u64 {
            let detail = r["scans"][0]["detail"].as_str().unwrap_or_default();
            assert!(detail.starts_with(&format!("larger than the scan limit: {how}")), "{r}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eicar_upload_is_refused_before_the_origin_sees_it() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| service(cfg, &scanner.url(), None)).await;
    let (dir, gw) = (tempfile::tempdir().expect("tempdir"), w.gateway_pem.to_str().expect("path"));
    let (virus, clean) = (dir.path().join("eicar.com"), dir.path().join("report.pdf"));
    std::fs::write(&virus, EICAR).expect("write");
    std::fs::write(&clean, pattern(100_000)).expect("write");
    let proxy = w.proxy_url();
    let post = |url: String, file: &Path| {
        let file = format!("@{}", file.display());
        let args =
            ["-x", &proxy, "--cacert", gw, "-w", "\n%{http_code}", "--data-binary", &file, &url].map(str::to_owned);
        async move { curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    for url in [https(&w, "/upload"), http(&w, "/upload")] {
        let out = post(url.clone(), &virus).await;
        assert!(out.stdout.ends_with("\n403") && out.stdout.contains(EICAR_NAME), "{url}: {out:?}");
        assert!(out.stdout.contains("the upload contains the threat"), "{out:?}");
        let ok = post(url.clone(), &clean).await;
        assert!(ok.stdout.starts_with("received 100000\n") && ok.stdout.ends_with("\n200"), "{url}: {ok:?}");
    }
    assert_eq!(*w.origin.uploads.lock().expect("uploads"), [100_000], "only the clean upload reached the TLS origin");
    assert_eq!(*w.plain.uploads.lock().expect("uploads"), [100_000], "only the clean upload reached the plain origin");
    let r = w.wait_record("upload refusal", |r| r["scans"][0]["method"] == "reqmod" && r["deny"] == "threat").await;
    assert_eq!(r["scans"][0]["threat"], EICAR_NAME, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_is_down_fails_closed_or_open_as_configured() {
    let down = format!("icap://127.0.0.1:{}/avscan", closed_port());
    let w = World::start(|cfg, _| service(cfg, &down, None)).await;
    let out = curl(&["-x", &w.proxy_url(), "-w", "\n%{http_code}", &http(&w, "/bulk/1000")]).await;
    assert!(out.stdout.ends_with("\n503"), "{out:?}");
    assert!(out.stdout.contains("could not be scanned for malicious content (av: cannot connect"), "{out:?}");
    let r = w.wait_record("failed closed", |r| r["deny"] == "scan_failed").await;
    assert_eq!(r["scans"][0]["outcome"], "failed-blocked", "{r}");
    assert!(w.proxy.render_metrics().contains("iqbsh_icap_failures_total{service=\"av\"} 1"));

    let w = World::start(|cfg, _| service(cfg, &down, Some(OnFailure::Pass))).await;
    let out = status_and_size(&w, http(&w, "/bulk/1000")).await;
    assert_eq!(out.stdout, "200 1000", "the body passed: {out:?}");
    let r = w.wait_record("failed open", |r| r["action"] == "allow").await;
    let scan = &r["scans"][0];
    assert_eq!((scan["outcome"].as_str(), scan["service"].as_str()), (Some("failed-passed"), Some("av")), "{r}");
    assert!(scan["detail"].as_str().unwrap_or_default().contains("cannot connect"), "{r}");
    let line = w.squid_lines().await.into_iter().find(|l| l.contains("respmod=failed-passed:av")).expect("squid line");
    assert!(line.contains("scan_detail=\"cannot connect"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_above_the_limit_get_their_content_types_rule() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| {
        service(cfg, &scanner.url(), None);
        cfg.icap = IcapConfig { scan_limit: Size(1 << 20), over_limit: OverLimit::Stream, ..cfg.icap.clone() };
        let rule = "types = [\"application/octet-stream\"]\nover_limit = \"block\"\n";
        cfg.icap.content.push(toml::from_str(rule).expect("rule"));
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, status, body) = download(&w, &https(&w, &format!("/bulk/{}", 2 << 20)), dir.path(), "big.bin").await;
    assert_eq!(status, "403", "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("larger than the scan limit of 1MiB"), "{body:?}");

    // Streaming chosen for other types: scanned while it streams; a threat at the end cuts the transfer short.
    let w = World::start(|cfg, _| {
        service(cfg, &scanner.url(), None);
        cfg.icap.scan_limit = Size(1 << 20);
        cfg.icap.over_limit = OverLimit::Stream;
    })
    .await;
    let size = 3 << 20;
    let (code, _, got) = download(&w, &https(&w, &format!("/bulk-eicar/{size}")), dir.path(), "cut.bin").await;
    assert_ne!(code, 0, "curl reports the transfer failed");
    assert!(got.len() < size, "the end never arrived: {} bytes", got.len());
    let r = w.wait_record("cut download", |r| r["scans"][0]["outcome"] == "threat").await;
    assert!(r["reason"].as_str().unwrap_or_default().contains(&format!("cut short by the content scan: {EICAR_NAME}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_passed_above_the_limit_is_logged_unscanned() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| {
        service(cfg, &scanner.url(), None);
        let rule = "types = [\"application/*\"]\nscan_limit = \"64KiB\"\nover_limit = \"pass\"\n";
        cfg.icap.content.push(toml::from_str(rule).expect("rule"));
    })
    .await;
    let out = status_and_size(&w, http(&w, "/bulk-eicar/100000")).await;
    assert_eq!(out.stdout, format!("200 {}", 100_000 + EICAR.len()), "passed unscanned, whole: {out:?}");
    let r = w.wait_record("passed", |r| r["action"] == "allow").await;
    assert_eq!(r["scans"][0]["outcome"], "skipped", "{r}");
    assert_eq!(
        r["scans"][0]["detail"],
        "larger than the scan limit of 64KiB for application/octet-stream: passed unscanned"
    );
    assert!(w.proxy.render_metrics().contains("iqbsh_icap_unscanned_total{reason=\"over_limit\"} 1"));
}
