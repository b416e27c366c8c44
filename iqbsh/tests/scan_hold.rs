//! Content scanning never lets an unscanned byte of a body it scans through,
//! tried as a class with a real antivirus (c-icap with ClamAV) and curl
//! through the proxy: EICAR at the start, middle and end of bodies under and
//! over the scan limit, sent with a length and chunked, downloaded and
//! uploaded, over plain HTTP and bumped HTTPS (HTTP/1.1 and HTTP/2). A body
//! over the limit is held on disk until its verdict (the client gets nothing,
//! not even the head, before it; an upload reaches the origin only after
//! it), within bounds that refuse, never pass; uploads and downloads fail
//! closed when the scanner dies; `stream` remains an explicit choice whose
//! partly scanned transfers the log marks and whose pages say what went
//! through; server-sent events pass piece by piece, each scanned.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::curl::{Curl, curl};
use common::icap::{EICAR_NAME, Scanner};
use common::origin::pattern;
use common::shaped::placed;
use common::world::World;
use iqbsh::{IcapServiceConfig, OverLimit, ProxyConfig, Size};

const LIMIT: Size = Size(256 << 10);
const OVER: usize = 2 << 20;
const UNDER: usize = 100_000;

/// One service `av` at `url`, a 256 KiB scan limit, the default over-limit handling.
fn scanning(cfg: &mut ProxyConfig, url: &str) {
    let svc: IcapServiceConfig = toml::from_str(&format!("url = \"{url}\"\ntimeout = \"10s\"\n")).expect("service");
    cfg.icap.services.insert("av".into(), svc);
    cfg.icap.scan_limit = LIMIT;
}

/// The ways a request goes: plain HTTP, bumped HTTPS over HTTP/1.1 and HTTP/2.
const WAYS: [&str; 3] = ["plain", "http1.1", "http2"];

/// curl arguments and the URL of `path` the `way` goes.
fn route(w: &World, way: &str, path: &str) -> (Vec<String>, String) {
    let gw = w.gateway_pem.display().to_string();
    match way {
        "plain" => (vec![], format!("http://news.test:{}{path}", w.plain.addr.port())),
        _ => (
            vec![format!("--{way}"), "--cacert".into(), gw],
            format!("https://news.test:{}{path}", w.origin.addr.port()),
        ),
    }
}

async fn fetch(w: &World, way: &str, path: &str, extra: &[&str]) -> Curl {
    let (mut args, url) = route(w, way, path);
    args.extend(["-x".to_owned(), w.proxy_url(), "-w".to_owned(), "\n%{http_code}".to_owned()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push(url);
    curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// POSTs the file at `file` (chunked when asked) and returns curl's answer.
async fn post(w: &World, way: &str, file: &Path, chunked: bool) -> Curl {
    let data = format!("@{}", file.display());
    let mut extra = vec!["--data-binary", &data, "-H", "content-type: application/octet-stream"];
    if chunked {
        extra.extend(["-H", "transfer-encoding: chunked"]);
    }
    fetch(w, way, "/upload", &extra).await
}

fn uploads(w: &World) -> Vec<usize> {
    let mut all = w.origin.uploads.lock().expect("uploads").clone();
    all.extend(w.plain.uploads.lock().expect("uploads").iter());
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_anywhere_in_a_download_never_reaches_the_client() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| scanning(cfg, &scanner.url())).await;
    for way in WAYS {
        for size in [UNDER, OVER] {
            for pos in ["start", "middle", "end"] {
                for query in ["", "?chunked"] {
                    let what = format!("{way} {pos} of {size}{query}");
                    let out = fetch(&w, way, &format!("/at/{pos}/{size}{query}"), &[]).await;
                    assert!(out.stdout.ends_with("\n403") && out.stdout.contains(EICAR_NAME), "{what}: {out:?}");
                    assert!(!out.stdout.contains("EICAR-STANDARD"), "{what}: not a byte of the file");
                    assert!(out.stdout.len() < 16 << 10, "{what}: the page only, {} bytes", out.stdout.len());
                }
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clean.bin");
    for way in WAYS {
        for query in ["", "?chunked"] {
            // The clean body of the same shape: the pattern with no EICAR in it.
            let out =
                fetch(&w, way, &format!("/at/none/{}{query}", 3 << 20), &["-o", file.to_str().expect("path")]).await;
            assert_eq!(out.stdout.trim(), "200", "{way}{query}: {out:?}");
            assert!(std::fs::read(&file).expect("file") == pattern(3 << 20)[..], "{way}{query}: the bytes differ");
        }
    }
    let r =
        w.wait_record("held clean", |r| r["scans"][0]["outcome"] == "clean" && r["bytes_to_client"] == 3 << 20).await;
    let detail = r["scans"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("larger than the scan limit: held on disk until scanned whole"), "{r}");
    assert_eq!(r["scans"][0]["passed_before_verdict"], 0, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_anywhere_in_an_upload_never_reaches_the_origin() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| scanning(cfg, &scanner.url())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("upload.bin");
    for size in [UNDER, OVER] {
        for pos in ["start", "middle", "end"] {
            std::fs::write(&file, placed(pos, size).expect("body")).expect("write");
            for way in WAYS {
                for chunked in [false, true] {
                    let what = format!("{way} {pos} of {size}, chunked {chunked}");
                    let out = post(&w, way, &file, chunked).await;
                    assert!(out.stdout.ends_with("\n403") && out.stdout.contains(EICAR_NAME), "{what}: {out:?}");
                    assert!(out.stdout.contains("the upload contains the threat"), "{what}: {out:?}");
                    assert!(!out.stdout.contains("had already gone on"), "{what}: nothing went on: {out:?}");
                    assert_eq!(uploads(&w), Vec::<usize>::new(), "{what}: the origin saw no upload");
                }
            }
        }
    }
    std::fs::write(&file, pattern(OVER)).expect("write");
    for way in WAYS {
        let out = post(&w, way, &file, true).await;
        assert!(out.stdout.starts_with(&format!("received {OVER}\n")), "{way}: {out:?}");
    }
    assert_eq!(uploads(&w), vec![OVER; 3], "the clean uploads arrived whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_body_gives_the_client_nothing_before_its_verdict() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| scanning(cfg, &scanner.url())).await;
    let hold = w.dir.path().join("scan-hold");
    assert_eq!(std::fs::metadata(&hold).expect("hold dir").permissions().mode() & 0o777, 0o700);
    for way in WAYS {
        // 1 MiB arrives from the origin, which then sends nothing more: no verdict yet.
        let (mut args, url) = route(&w, way, "/stall/1048576");
        args.extend(["-x", &w.proxy_url(), "--max-time", "8", "-o", "/dev/null"].map(str::to_owned));
        args.extend(["-w".to_owned(), "%{http_code} %{size_download}".to_owned(), url]);
        let watch = async {
            // While curl waits, the body is on disk, in no file anyone can open.
            for _ in 0..300 {
                if w.proxy.render_metrics().contains("iqbsh_icap_held_bytes 0\n") {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                return std::fs::read_dir(&hold).expect("dir").count();
            }
            let m = w.proxy.render_metrics();
            let held = m.lines().filter(|l| l.contains("held") || l.contains("icap_scans")).collect::<Vec<_>>();
            panic!("nothing was held: {held:?} {:#?}", w.json_records().await);
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, files) = tokio::join!(curl(&args), watch);
        assert_eq!((out.code, out.stdout.as_str()), (28, "000 0"), "{way}: no head, no byte: {out:?}");
        assert_eq!(files, 0, "{way}: held files are unlinked once opened");
    }
    for _ in 0..100 {
        if w.proxy.render_metrics().contains("iqbsh_icap_held_bytes 0\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(w.proxy.render_metrics().contains("iqbsh_icap_held_bytes 0\n"), "the space is given back");

    // The explicit choice `stream` lets the beginning go, and the log marks the transfer.
    let w = World::start(|cfg, _| {
        scanning(cfg, &scanner.url());
        cfg.icap.over_limit = OverLimit::Stream;
    })
    .await;
    let out = fetch(&w, "plain", "/stall/1048576", &["--max-time", "3", "-o", "/dev/null"]).await;
    assert_eq!(out.code, 28, "{out:?}");
    let r = w.wait_record("partly scanned", |r| r["scans"][0]["passed_before_verdict"].as_u64() > Some(0)).await;
    let squid = w.squid_lines().await;
    assert!(squid.iter().any(|l| l.contains(" scan_partial=")), "{squid:?}");
    assert!(r["bytes_to_client"].as_u64() > Some(0), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_hold_bounds_content_is_refused_never_passed() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| {
        scanning(cfg, &scanner.url());
        cfg.icap.hold.per_connection = Size(1 << 20);
        cfg.icap.hold.total = Size(1 << 20);
    })
    .await;
    let out = fetch(&w, "http1.1", &format!("/bulk/{}", 3 << 20), &[]).await;
    assert!(out.stdout.ends_with("\n403"), "{out:?}");
    assert!(out.stdout.contains("past the 1MiB it may hold for scanning"), "{out:?}");
    // One connection holds most of the space; the next one finds it full.
    let holding = fetch(&w, "plain", "/stall/900000", &["--max-time", "4", "-o", "/dev/null"]);
    let next = async {
        for _ in 0..100 {
            if !w.proxy.render_metrics().contains("iqbsh_icap_held_bytes 0\n") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        fetch(&w, "http2", &format!("/bulk/{}", 2 << 20), &[]).await
    };
    let (_, out) = tokio::join!(holding, next);
    assert!(out.stdout.ends_with("\n503"), "{out:?}");
    assert!(out.stdout.contains("space for holding content until it is scanned (1MiB) is full"), "{out:?}");
    let r = w.wait_record("space full", |r| r["scans"][0]["service"] == "hold").await;
    assert_eq!((r["deny"].as_str(), r["scans"][0]["outcome"].as_str()), (Some("scan_failed"), Some("failed-blocked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_scanner_dies_uploads_and_downloads_fail_closed_and_say_what_happened() {
    let Some(mut scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| scanning(cfg, &scanner.url())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("upload.bin");
    std::fs::write(&file, pattern(OVER)).expect("write");
    let ok = post(&w, "http2", &file, false).await;
    assert!(ok.stdout.starts_with(&format!("received {OVER}")), "scanned and passed first: {ok:?}");
    for (i, stop) in ["clamd", "c-icap"].into_iter().enumerate() {
        match stop {
            "clamd" => scanner.stop_clamd(),
            _ => scanner.stop_c_icap(),
        }
        for way in WAYS {
            for size in [UNDER, OVER] {
                std::fs::write(&file, pattern(size)).expect("write");
                let what = format!("{stop} down, {way}, {size}");
                let out = post(&w, way, &file, size == OVER).await;
                assert!(out.stdout.ends_with("\n503"), "{what}: {out:?}");
                assert!(
                    out.stdout.contains("the upload could not be scanned for malicious content"),
                    "{what}: {out:?}"
                );
                assert!(!out.stdout.contains("had already gone on"), "{what}: {out:?}");
                let got = fetch(&w, way, &format!("/bulk/{size}"), &[]).await;
                assert!(got.stdout.ends_with("\n503"), "{what}, download: {got:?}");
            }
        }
        assert_eq!(uploads(&w), vec![OVER], "after {stop} stopped ({i}), no upload reached the origin");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_is_an_explicit_choice_and_its_pages_say_what_went_through() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| {
        scanning(cfg, &scanner.url());
        cfg.icap.over_limit = OverLimit::Stream;
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("upload.bin");
    std::fs::write(&file, placed("end", 3 << 20).expect("body")).expect("write");
    let out = post(&w, "http1.1", &file, false).await;
    assert!(out.stdout.contains(EICAR_NAME), "{out:?}");
    assert!(out.stdout.contains("bytes had already gone on to the site before the verdict"), "{out:?}");
    let r = w.wait_record("cut upload", |r| r["scans"][0]["method"] == "reqmod").await;
    assert!(r["scans"][0]["passed_before_verdict"].as_u64() > Some(0), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_pass_piece_by_piece_each_scanned() {
    let Some(scanner) = Scanner::start() else { return };
    let w = World::start(|cfg, _| scanning(cfg, &scanner.url())).await;
    for way in WAYS {
        // A stream far longer than curl waits: events arrive while it goes on.
        let out = fetch(&w, way, "/events/1000/0", &["-N", "--max-time", "2"]).await;
        assert_eq!(out.code, 28, "{way}: {out:?}");
        assert!(out.stdout.contains("data: tick 1\n") && out.stdout.contains("data: tick 3\n"), "{way}: {out:?}");
        // The fifth event carries EICAR: the four before it arrive, then the stream is cut.
        let out = fetch(&w, way, "/events/8/5", &["-N"]).await;
        assert_ne!(out.code, 0, "{way}: cut: {out:?}");
        assert!(out.stdout.contains("data: tick 4\n"), "{way}: {out:?}");
        assert!(!out.stdout.contains("EICAR") && !out.stdout.contains("tick 6"), "{way}: {out:?}");
    }
    let r = w.wait_record("cut stream", |r| r["scans"][0]["outcome"] == "threat").await;
    assert!(r["scans"][0]["detail"].as_str().unwrap_or_default().contains("scanned piece by piece"), "{r}");
    assert_eq!(r["scans"][0]["threat"], EICAR_NAME, "{r}");
}
