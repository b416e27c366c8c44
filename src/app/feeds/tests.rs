//! The loader with real files and a real HTTP server on loopback: dropped
//! files are read, a bad edit keeps the old lists, a removed file takes its
//! entries with it; a fetched feed arrives, a bad download keeps the old one,
//! and a restart has the last good download before fetching.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// Polls `check` until it holds (at most 10 s).
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn listed(handle: &ThreatsHandle, host: &str) -> bool {
    handle.current().host(host).is_some()
}

#[tokio::test]
async fn dropped_files_load_and_a_bad_edit_keeps_the_lists_in_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = dir.path().join("feeds");
    std::fs::create_dir_all(feeds.join("phishing")).expect("dir");
    std::fs::create_dir_all(feeds.join("malware")).expect("dir");
    std::fs::write(feeds.join("phishing/openphish.domains"), "login-bank.example\n").expect("write");
    std::fs::write(feeds.join("malware/drop.cidr"), "; DROP\n198.51.100.0/24 ; SBL1\n").expect("write");
    let config = ThreatsConfig { dir: Some(feeds.clone()), check: Duration::from_millis(50), ..Default::default() };
    let handle = ThreatsHandle::default();
    let loader = FeedLoader::start(&config, dir.path(), handle.clone(), CancellationToken::new()).await;
    assert!(listed(&handle, "www.login-bank.example"), "read at start");
    assert!(handle.current().ip("198.51.100.9".parse().expect("ip")).is_some());

    std::fs::write(feeds.join("phishing/openphish.domains"), "new-phish.example\nnot a domain\n").expect("write");
    until("the bad edit is refused", || loader.stats.refused.load(Relaxed) == 1).await;
    assert!(listed(&handle, "login-bank.example"), "the old list stays in force");
    assert!(!listed(&handle, "new-phish.example"), "nothing of the bad file was taken");

    std::fs::write(feeds.join("phishing/openphish.domains"), "new-phish.example\n").expect("write");
    until("the fixed file is in force", || listed(&handle, "new-phish.example")).await;
    assert!(!listed(&handle, "login-bank.example"), "the file's old entries are replaced");
    std::fs::remove_file(feeds.join("malware/drop.cidr")).expect("remove");
    until("the removed file's ranges are gone", || handle.current().ip("198.51.100.9".parse().expect("ip")).is_none())
        .await;
}

/// A one-URL HTTP server on loopback answering with the current `body`.
async fn feed_server(body: Arc<Mutex<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let body = body.lock().expect("body").clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/downloads/csv_recent/")
}

const URLHAUS: &str = "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n\
\"1\",\"2026-12-01 00:00:00\",\"http://dropper.example/a.exe\",\"online\",\"\",\"malware_download\",\"exe\",\"https://urlhaus.abuse.ch/url/1/\",\"x\"\n";

#[tokio::test]
async fn fetched_feeds_arrive_and_a_bad_download_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = Arc::new(Mutex::new(URLHAUS.to_owned()));
    let url = feed_server(Arc::clone(&body)).await;
    let fetch = FetchConfig {
        url: url.clone(),
        category: ThreatCategory::Malware,
        format: FeedFormat::Csv,
        every: Duration::from_millis(100),
    };
    let config = ThreatsConfig { fetch: BTreeMap::from([("urlhaus".to_owned(), fetch.clone())]), ..Default::default() };
    let handle = ThreatsHandle::default();
    let loader = FeedLoader::start(&config, dir.path(), handle.clone(), CancellationToken::new()).await;
    until("the feed is fetched", || handle.current().url("http://dropper.example/a.exe").is_some()).await;
    assert!(dir.path().join("threats/urlhaus.feed").is_file(), "a good download is kept");

    *body.lock().expect("body") = "\"2\",\"2026-12-01\",\"not a url\"\n".to_owned();
    until("the bad download is refused", || loader.stats.refused.load(Relaxed) >= 1).await;
    assert!(handle.current().url("http://dropper.example/a.exe").is_some(), "the last good version stays");

    // A restart with the server gone starts from the kept copy.
    let gone = FetchConfig { url: "http://127.0.0.1:9/feed".into(), ..fetch };
    let config = ThreatsConfig { fetch: BTreeMap::from([("urlhaus".to_owned(), gone)]), ..Default::default() };
    let handle = ThreatsHandle::default();
    let _loader = FeedLoader::start(&config, dir.path(), handle.clone(), CancellationToken::new()).await;
    assert!(handle.current().url("http://dropper.example/a.exe").is_some(), "from the kept copy");
}

#[test]
fn the_config_names_bad_keys() {
    let ok: ThreatsConfig = toml::from_str(
        "dir = \"/etc/perimeter/threats\"\ncheck = \"30s\"\n[fetch.urlhaus]\nurl = \"https://urlhaus.abuse.ch/downloads/csv_recent/\"\ncategory = \"malware\"\nformat = \"csv\"\n",
    )
    .expect("parses");
    assert_eq!(ok.fetch["urlhaus"].every, Duration::from_secs(3600));
    for bad in ["junk = 1", "[fetch.x]\nurl = \"http://a/\"\ncategory = \"spam\"\nformat = \"csv\"\n", "check = \"10\""]
    {
        assert!(toml::from_str::<ThreatsConfig>(bad).is_err(), "{bad}");
    }
}
