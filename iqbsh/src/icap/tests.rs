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
    assert_eq!(cfg.limit_for("application/zip; x=y"), (8 << 20, OverLimit::Stream));
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
