//! Unit tests of the pure parts: the wire format as c-icap writes it, OPTIONS,
//! threats, the transfer rules, the verdict precedence and the configuration.

use bytes::{Bytes, BytesMut};

use super::config::{IcapConfig, OverLimit, Size, type_matches};
use super::exchange::Verdict;
use super::options::{Method, ServiceOptions, Transfer, extension};
use super::threat::threat;
use super::verdicts::{ScanOutcome, judge};
use super::wire::{self, Chunked, Encapsulated, Piece, Section};
use super::{ExchangeError, OnFailure};

/// c-icap 0.5.10's answer to OPTIONS, byte for byte.
const OPTIONS: &[u8] =
    b"ICAP/1.0 200 OK\r\nMethods: RESPMOD, REQMOD\r\nService: C-ICAP/0.5.10 server - Antivirus service\r\n\
ISTag: \"CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA\"\r\nTransfer-Preview: *\r\nOptions-TTL: 3600\r\n\
Date: Tue, 01 Dec 2026 23:00:49 GMT\r\nPreview: 1024\r\nAllow: 204\r\nEncapsulated: null-body=0\r\n\r\n";

/// c-icap's answer to a RESPMOD carrying EICAR (head only; the body follows).
const INFECTED: &[u8] = b"ICAP/1.0 200 OK\r\nServer: C-ICAP/0.5.10\r\nConnection: keep-alive\r\n\
ISTag: \"CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA\"\r\n\
X-Infection-Found: Type=0; Resolution=2; Threat=Eicar-Test-Signature.UNOFFICIAL;\r\n\
X-Violations-Found: 1\r\n\t-\r\n\tEicar-Test-Signature.UNOFFICIAL\r\n\t0\r\n\t0\r\n\
Encapsulated: res-hdr=0, res-body=161\r\n\r\n";

fn head(bytes: &[u8]) -> wire::Head {
    let end = wire::head_end(bytes).expect("size").expect("complete");
    wire::parse_head(&bytes[..end]).expect("parses")
}

#[test]
fn options_of_c_icap() {
    let o = ServiceOptions::from_head(&head(OPTIONS)).expect("options");
    assert_eq!(o.methods, vec![Method::Respmod, Method::Reqmod]);
    assert_eq!(o.preview, Some(1024));
    assert_eq!(o.ttl, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(o.istag.as_deref(), Some("CI0001-L5CkDhq+qWNs+PZ5DxxXsAAA"));
    assert!(o.allow_204);
    assert_eq!(o.max_connections, None);
    assert_eq!(o.transfer("exe"), Transfer::Preview);
}

#[test]
fn transfer_lists_pick_by_extension_then_star() {
    let text = b"ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nPreview: 10\r\nTransfer-Preview: *\r\n\
Transfer-Ignore: jpg, .PNG\r\nTransfer-Complete: exe\r\nMax-Connections: 7\r\n\r\n";
    let o = ServiceOptions::from_head(&head(text)).expect("options");
    assert_eq!(o.transfer("png"), Transfer::Ignore);
    assert_eq!(o.transfer("exe"), Transfer::Complete);
    assert_eq!(o.transfer("zip"), Transfer::Preview);
    assert_eq!(o.transfer(""), Transfer::Preview);
    assert_eq!(o.max_connections, Some(7));
    let bad = b"ICAP/1.0 200 OK\r\nPreview: many\r\n\r\n";
    assert!(ServiceOptions::from_head(&head(bad)).is_err());
}

#[test]
fn extensions_come_from_the_last_path_segment() {
    assert_eq!(extension("http://h.test/dl/setup.EXE?x=1.zip"), "exe");
    assert_eq!(extension("https://h.test/a.b/file"), "");
    assert_eq!(extension("https://h.test/.hidden"), "");
    assert_eq!(extension("https://h.test"), "");
}

#[test]
fn the_threat_of_c_icap_and_other_scanners() {
    let h = head(INFECTED);
    assert_eq!(h.status, 200);
    assert_eq!(threat(&h).as_deref(), Some("Eicar-Test-Signature.UNOFFICIAL"));
    let enc = Encapsulated::parse(h.get("encapsulated").expect("enc")).expect("valid");
    assert_eq!((enc.header_len(Section::ResHdr), enc.body()), (Some(161), Section::ResBody));
    let virus_id = head(b"ICAP/1.0 200 OK\r\nX-Virus-ID: Win.Test.EICAR_HDB-1\r\n\r\n");
    assert_eq!(threat(&virus_id).as_deref(), Some("Win.Test.EICAR_HDB-1"));
    let violations =
        head(b"ICAP/1.0 200 OK\r\nX-Violations-Found: 1\r\n\tfile.exe\r\n\tTrojan.X\r\n\t1\r\n\t0\r\n\r\n");
    assert_eq!(threat(&violations).as_deref(), Some("Trojan.X"));
    assert_eq!(threat(&head(b"ICAP/1.0 204 No Content\r\nISTag: x\r\n\r\n")), None);
}

#[test]
fn bad_heads_are_named() {
    for (bytes, want) in [
        (&b"HTTP/1.1 200 OK\r\n\r\n"[..], "status line"),
        (b"ICAP/1.0 2x0 OK\r\n\r\n", "status line"),
        // Found by fuzzing: a leading zero read as a two-digit status.
        (b"ICAP/1.0 020 OK\r\n\r\n", "status line"),
        (b"ICAP/1.0 600 OK\r\n\r\n", "status line"),
        (b"ICAP/1.0 200 OK\r\nno colon here\r\n\r\n", "header line"),
        (b"ICAP/1.0 200 OK\r\n continuation first\r\n\r\n", "header line"),
    ] {
        let err = wire::parse_head(bytes).expect_err("invalid").to_string();
        assert!(err.contains(want), "{err}");
    }
    let big = vec![b'a'; wire::MAX_HEAD + 1];
    assert!(wire::head_end(&big).is_err());
}

#[test]
fn encapsulated_rules() {
    assert!(Encapsulated::parse("req-hdr=0, res-hdr=45, res-body=100").is_ok());
    assert!(Encapsulated::parse("null-body=0").is_ok());
    for bad in [
        "",
        "res-body=0, res-hdr=4",
        "res-hdr=10, res-body=20",
        "res-hdr=0, res-body=x",
        "foo=0",
        "res-hdr=5, res-body=2",
    ] {
        assert!(Encapsulated::parse(bad).is_err(), "{bad}");
    }
    let enc = Encapsulated(vec![(Section::ReqHdr, 0), (Section::ResHdr, 40), (Section::ResBody, 90)]);
    assert_eq!(enc.render(), "req-hdr=0, res-hdr=40, res-body=90");
}

#[test]
fn chunked_bodies_decode_in_pieces_without_copying() {
    let mut dec = Chunked::default();
    let mut buf = BytesMut::from(&b"5\r\nhel"[..]);
    assert_eq!(dec.next(&mut buf).expect("ok"), Some(Piece::Data(Bytes::from_static(b"hel"))));
    assert_eq!(dec.next(&mut buf).expect("ok"), None);
    buf.extend_from_slice(b"lo\r\n0; ieof\r\n\r\n");
    assert_eq!(dec.next(&mut buf).expect("ok"), Some(Piece::Data(Bytes::from_static(b"lo"))));
    assert_eq!(dec.next(&mut buf).expect("ok"), Some(Piece::End { ieof: true }));
    assert!(buf.is_empty());
    let mut bad = BytesMut::from(&b"zz\r\n"[..]);
    assert!(Chunked::default().next(&mut bad).is_err());
    let mut no_crlf = BytesMut::from(&b"1\r\nxyz"[..]);
    let mut dec = Chunked::default();
    let _ = dec.next(&mut no_crlf);
    assert!(dec.next(&mut no_crlf).is_err());
    assert_eq!(wire::parse_chunk_size(b"400").expect("size"), (1024, false));
    assert!(wire::parse_chunk_size(b"ffffffffffffffffff").is_err());
}

#[test]
fn the_worst_verdict_decides() {
    let threat = Verdict::Threat("EICAR".into());
    let failed = Verdict::Failed(ExchangeError::Closed);
    let clean = Verdict::Clean;
    let j = judge(Method::Respmod, &[("a", OnFailure::Block, &clean), ("b", OnFailure::Pass, &threat)]);
    assert_eq!(
        (j.note.outcome, j.note.service.as_str(), j.note.threat.as_deref()),
        (ScanOutcome::Threat, "b", Some("EICAR"))
    );
    let j = judge(Method::Respmod, &[("a", OnFailure::Pass, &failed), ("b", OnFailure::Block, &clean)]);
    assert_eq!(j.note.outcome, ScanOutcome::FailedPassed);
    let j = judge(Method::Respmod, &[("a", OnFailure::Block, &failed), ("b", OnFailure::Block, &clean)]);
    assert_eq!(j.note.outcome, ScanOutcome::FailedBlocked);
    assert!(j.note.detail.contains("closed"), "{:?}", j.note);
    let j = judge(Method::Reqmod, &[("a", OnFailure::Block, &clean), ("b", OnFailure::Block, &clean)]);
    assert_eq!((j.note.outcome, j.note.service.as_str()), (ScanOutcome::Clean, "a,b"));
}

#[test]
fn config_sizes_types_and_problems() {
    let text = r#"
        scan_limit = "8MiB"
        [services.av]
        url = "icap://127.0.0.1:1344/avscan"
        timeout = "5s"
        on_failure = "pass"
        [services.dlp]
        url = "icap://dlp.example/reqmod"
        methods = ["reqmod"]
        [[content]]
        types = ["video/*", "audio/mpeg"]
        scan_limit = 0
        over_limit = "pass"
    "#;
    let cfg: IcapConfig = toml::from_str(text).expect("parses");
    assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
    assert_eq!(cfg.scan_limit, Size(8 << 20));
    assert_eq!(cfg.limit_for("video/mp4"), (0, OverLimit::Pass));
    assert_eq!(cfg.limit_for("application/zip; x=y"), (8 << 20, OverLimit::Hold));
    assert_eq!(cfg.services["dlp"].parts().expect("url"), ("dlp.example".into(), 1344, "/reqmod".into()));
    assert_eq!(cfg.services["av"].timeout, std::time::Duration::from_secs(5));
    assert!(type_matches("*", "anything/at-all"));
    let bad = r#"
        [services.x]
        url = "http://nope/"
        methods = []
        max_connections = 0
        [[content]]
        types = ["video"]
    "#;
    let cfg: IcapConfig = toml::from_str(bad).expect("parses");
    let fields: Vec<String> = cfg.problems().into_iter().map(|(f, _)| f).collect();
    for want in
        ["icap.services.x.url", "icap.services.x.methods", "icap.services.x.max_connections", "icap.content[0].types"]
    {
        assert!(fields.iter().any(|f| f == want), "{want} missing from {fields:?}");
    }
    assert!(toml::from_str::<IcapConfig>("[services.a]\nurl = \"icap://h/s\"\njunk = 1").is_err());
    assert_eq!(Size::parse("1GiB"), Ok(Size(1 << 30)));
    assert!(Size::parse("5MB").is_err());
    assert_eq!(Size(32 << 20).to_string(), "32MiB");
}

/// A scripted ICAP server (bytes in, replies out): OPTIONS advertise a 4-byte
/// preview, two connections and a one-second TTL; RESPMOD answers 204 right
/// after the preview. Records the body bytes each request carried.
async fn scripted_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let record = std::sync::Arc::clone(&record);
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                loop {
                    let Some(end) = read_until(&mut tcp, &mut buf, b"\r\n\r\n").await else { return };
                    let head = String::from_utf8_lossy(&buf.split_to(end)).into_owned();
                    if head.starts_with("OPTIONS") {
                        let answer = "ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\nPreview: 4\r\nTransfer-Preview: *\r\n\
                                      Max-Connections: 2\r\nOptions-TTL: 1\r\nAllow: 204\r\nEncapsulated: null-body=0\r\n\r\n";
                        let _ = tcp.write_all(answer.as_bytes()).await;
                        continue;
                    }
                    // The encapsulated heads, then the chunked preview up to its last chunk.
                    let Some(heads) = read_until(&mut tcp, &mut buf, b"\r\n\r\n").await else { return };
                    let _ = buf.split_to(heads);
                    let Some(heads) = read_until(&mut tcp, &mut buf, b"\r\n\r\n").await else { return };
                    let _ = buf.split_to(heads);
                    let mut dec = Chunked::default();
                    let mut body = Vec::new();
                    loop {
                        match dec.next(&mut buf).expect("chunked") {
                            Some(Piece::Data(d)) => body.extend_from_slice(&d),
                            Some(Piece::End { .. }) => break,
                            None => {
                                if tcp.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                                    return;
                                }
                            }
                        }
                    }
                    record.lock().expect("seen").push(body);
                    let _ = tcp.write_all(b"ICAP/1.0 204 No Content\r\nISTag: \"x\"\r\n\r\n").await;
                }
            });
        }
    });
    (addr, seen)
}

/// Reads into `buf` until `marker` is in it; the index just past it.
async fn read_until(tcp: &mut tokio::net::TcpStream, buf: &mut BytesMut, marker: &[u8]) -> Option<usize> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(i) = buf.windows(marker.len()).position(|w| w == marker) {
            return Some(i + marker.len());
        }
        if tcp.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

#[tokio::test]
async fn a_204_after_the_preview_delivers_the_whole_body_and_options_set_the_pool() {
    use http_body_util::BodyExt;
    let (addr, seen) = scripted_server().await;
    let text = format!("[services.s]\nurl = \"icap://{addr}/scan\"\nmax_connections = 8\n");
    let mut config: IcapConfig = toml::from_str(&text).expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    config.hold.dir = dir.path().join("hold");
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let icap = super::Icap::start(&config, &stop).await.expect("starts");
    let service = std::sync::Arc::clone(&icap.services[0]);
    for _ in 0..500 {
        if service.options.load().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(service.pool.limit(), 2, "Max-Connections caps the configured 8");
    let subject = super::Subject {
        method: Method::Respmod,
        url: "http://h.test/file.bin".into(),
        client: "127.0.0.1".parse().expect("ip"),
        req_head: Bytes::from_static(b"GET http://h.test/file.bin HTTP/1.1\r\nHost: h.test\r\n\r\n"),
        res_head: Some(Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n")),
        content_type: "application/octet-stream".into(),
        hold: Default::default(),
    };
    let body = http_body_util::Full::new(Bytes::from_static(b"0123456789abcdef"));
    let super::Scanned::Deliver { body, note, .. } = icap.scan(subject, body).await else { panic!("delivered") };
    assert_eq!(note.map(|n| n.outcome), Some(ScanOutcome::Clean));
    assert_eq!(body.collect().await.expect("body").to_bytes(), Bytes::from_static(b"0123456789abcdef"));
    assert_eq!(*seen.lock().expect("seen"), [b"0123".to_vec()], "only the preview went to the service");
}

#[tokio::test]
async fn the_pool_waits_for_a_free_connection_within_its_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            open.push(tcp);
        }
    });
    let pool = super::pool::Pool::new(addr, 4);
    pool.set_limit(Some(2));
    let limit = std::time::Duration::from_millis(200);
    let first = pool.get(limit).await.expect("first");
    let _second = pool.get(limit).await.expect("second");
    assert_eq!(pool.get(limit).await.err(), Some(ExchangeError::Busy(2)));
    pool.put(first);
    let again = pool.get(limit).await.expect("a returned connection is reused");
    assert!(again.conn.reused);
    pool.set_limit(None);
    assert_eq!(pool.limit(), 4, "back to the configured ceiling when the service advertises none");
}

/// Found by fuzzing: a chunk-size line over the limit was refused in pieces but
/// accepted whole (the bound was on the buffer, not the line).
#[test]
fn a_chunk_line_over_the_limit_is_refused_however_it_arrives() {
    let with_line = |len: usize| {
        let mut input = b"5;".to_vec();
        input.resize(len, b'x');
        input.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        input
    };
    for reads in [&[usize::MAX][..], &[1], &[700, 3]] {
        let long = crate::fuzzing::dechunk(&with_line(4097), reads);
        assert!(long.error.as_deref().is_some_and(|e| e.contains("longer than 4096")), "{reads:?}: {long:?}");
        assert!(long.data.is_empty(), "{reads:?}");
        let longest = crate::fuzzing::dechunk(&with_line(4096), reads);
        assert_eq!((longest.data.as_slice(), longest.end, longest.error), (&b"hello"[..], Some(false), None));
    }
}
