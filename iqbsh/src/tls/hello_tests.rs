//! ClientHello parser tests: real hellos from rustls, hellos split across
//! records, hand-made hellos with ECH, and malformed input.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::*;

/// The records a rustls client sends first, for `name` with `alpn`.
fn rustls_hello(name: &str, alpn: &[&[u8]]) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(name.to_owned()).expect("server name");
    let mut conn = ClientConnection::new(Arc::new(cfg), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write");
    }
    out
}

/// Re-frames one handshake record as two records split at `at`.
fn split_record(record: &[u8], at: usize) -> Vec<u8> {
    let payload = &record[5..];
    let mut out = Vec::new();
    for part in [&payload[..at], &payload[at..]] {
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// A minimal ClientHello record with the given extensions.
fn handmade(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    let mut ext_bytes = Vec::new();
    for (kind, data) in exts {
        ext_bytes.extend_from_slice(&kind.to_be_bytes());
        ext_bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext_bytes.extend_from_slice(data);
    }
    body.extend_from_slice(&(ext_bytes.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext_bytes);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

fn sni_ext(name: &str) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
    entry.extend_from_slice(name.as_bytes());
    let mut data = (entry.len() as u16).to_be_bytes().to_vec();
    data.extend_from_slice(&entry);
    data
}

async fn read_all(bytes: &[u8]) -> Result<ClientHello, HelloError> {
    let mut input = bytes;
    read(&mut input, 64 * 1024).await
}

#[tokio::test]
async fn reads_sni_and_alpn_from_a_real_hello_and_keeps_the_bytes() {
    let bytes = rustls_hello("News.Test", &[b"h2", b"http/1.1"]);
    let hello = read_all(&bytes).await.expect("parses");
    assert_eq!(hello.sni.as_deref(), Some("news.test"));
    assert_eq!(hello.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert!(!hello.ech);
    assert_eq!(hello.raw, bytes, "every byte kept for replay");
}

#[tokio::test]
async fn a_hello_split_across_records_is_reassembled() {
    let bytes = split_record(&rustls_hello("bank.test", &[]), 40);
    let hello = read_all(&bytes).await.expect("parses");
    assert_eq!(hello.sni.as_deref(), Some("bank.test"));
    assert_eq!(hello.raw, bytes);
}

#[tokio::test]
async fn an_ip_address_gives_no_sni() {
    let hello = read_all(&rustls_hello("127.0.0.1", &[])).await.expect("parses");
    assert_eq!(hello.sni, None);
}

#[tokio::test]
async fn ech_drafts_are_detected_and_legacy_esni_told_apart() {
    for kind in [0xfe0d, 0xfe0a, 0xfe08] {
        let bytes = handmade(&[(0, sni_ext("public.test")), (kind, vec![0; 8])]);
        let hello = read_all(&bytes).await.expect("parses");
        assert_eq!(hello.sni.as_deref(), Some("public.test"));
        assert!(hello.ech && !hello.esni, "{kind:#x}");
    }
    let bytes = handmade(&[(0, sni_ext("public.test")), (0xffce, vec![0; 8])]);
    let hello = read_all(&bytes).await.expect("parses");
    assert!(hello.esni && !hello.ech, "ESNI is not ECH");
    // ESNI as browsers sent it: no server_name at all, only the encrypted one.
    let hello = read_all(&handmade(&[(0xffce, vec![0; 8])])).await.expect("parses");
    assert!(hello.esni && hello.sni.is_none());
    // GREASE extension types (0x?a?a) are not ECH.
    let hello = read_all(&handmade(&[(0, sni_ext("a.test")), (0x5a5a, vec![])])).await.expect("parses");
    assert!(!hello.ech);
}

#[tokio::test]
async fn non_tls_and_malformed_input_are_refused() {
    assert!(matches!(read_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await, Err(HelloError::NotTls)));
    let mut truncated = handmade(&[(0, sni_ext("a.test"))]);
    truncated.truncate(truncated.len() - 3);
    assert!(matches!(read_all(&truncated).await, Err(HelloError::Io(_))));
    let bad_name = handmade(&[(0, sni_ext("bad name"))]);
    assert!(matches!(read_all(&bad_name).await, Err(HelloError::Malformed(_))));
    let short_ext = handmade(&[(16, vec![0, 9, 2, b'h'])]);
    assert!(matches!(read_all(&short_ext).await, Err(HelloError::Malformed(_))));
}

#[tokio::test]
async fn a_hello_that_could_name_two_servers_is_refused() {
    // Two server_name extensions, or one with two host names: a server might take the
    // other name than the one the proxy judged (RFC 8446 §4.2, RFC 6066 §3).
    let twice = handmade(&[(0, sni_ext("bank.test")), (16, vec![0, 3, 2, b'h', b'2']), (0, sni_ext("news.test"))]);
    assert!(matches!(read_all(&twice).await, Err(HelloError::Malformed("an extension is repeated"))));
    let mut two_names = sni_ext("bank.test");
    two_names.extend_from_slice(&sni_ext("news.test")[2..]);
    let len = (two_names.len() - 2) as u16;
    two_names[..2].copy_from_slice(&len.to_be_bytes());
    let hello = read_all(&handmade(&[(0, two_names)])).await;
    assert!(matches!(hello, Err(HelloError::Malformed("more than one server name"))), "{hello:?}");
    let alpn_twice = handmade(&[(16, vec![0, 3, 2, b'h', b'2']), (16, vec![0, 3, 2, b'h', b'2'])]);
    assert!(matches!(read_all(&alpn_twice).await, Err(HelloError::Malformed(_))));
}

#[tokio::test]
async fn a_server_name_keeps_no_trailing_dot() {
    // Found by fuzzing: `bank.kz..` came out as `bank.kz.`, a second spelling of the host.
    let hello = read_all(&handmade(&[(0, sni_ext("Bank.KZ."))])).await.expect("one root dot is fine");
    assert_eq!(hello.sni.as_deref(), Some("bank.kz"));
    let two_dots = read_all(&handmade(&[(0, sni_ext("bank.kz.."))])).await;
    assert!(matches!(two_dots, Err(HelloError::Malformed("invalid server name"))), "{two_dots:?}");
}

#[test]
fn parse_body_never_panics_on_prefixes() {
    let rec = rustls_hello("news.test", &[b"h2"]);
    let body = &rec[9..];
    for n in 0..body.len() {
        let _ = parse_body(&body[..n]);
    }
}
