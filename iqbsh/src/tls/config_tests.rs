//! Client-facing TLS: the proxy's suite order wins over the client's, and a
//! client resumes across connections (the session cache is shared).

use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use rustls::client::Resumption;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConnection};

use super::*;

/// A self-signed certificate for `news.test` and the client trusting it.
fn key_and_client() -> (Arc<CertifiedKey>, Arc<ClientConfig>) {
    let pair = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["news.test".to_owned()]).expect("params").self_signed(&pair).expect("cert");
    let der = CertificateDer::from(cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pair.serialize_der()));
    let signer = aws_lc_rs::sign::any_supported_type(&key).expect("signing key");
    let mut roots = RootCertStore::empty();
    roots.add(der.clone()).expect("anchor");
    // The client prefers AES-256 first, as rustls and OpenSSL clients do by default.
    let client_provider = CryptoProvider {
        cipher_suites: vec![cipher_suite::TLS13_AES_256_GCM_SHA384, cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..aws_lc_rs::default_provider()
    };
    let mut client = ClientConfig::builder_with_provider(Arc::new(client_provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = Resumption::in_memory_sessions(8);
    (Arc::new(CertifiedKey::new(vec![der], signer)), Arc::new(client))
}

/// Runs one handshake in memory, then lets the client read the server's tickets.
fn handshake(side: &ClientSide, key: &Arc<CertifiedKey>, client: &Arc<ClientConfig>) -> ClientConnection {
    let name = ServerName::try_from("news.test").expect("name");
    let mut c = ClientConnection::new(Arc::clone(client), name).expect("client");
    let mut s = ServerConnection::new(side.config(Arc::clone(key), None)).expect("server");
    for _ in 0..10 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client write");
        }
        s.read_tls(&mut buf.as_slice()).expect("server read");
        s.process_new_packets().expect("server handshake");
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server write");
        }
        c.read_tls(&mut buf.as_slice()).expect("client read");
        c.process_new_packets().expect("client handshake");
        if !c.is_handshaking() && !s.is_handshaking() && !s.wants_write() {
            break;
        }
    }
    assert!(!c.is_handshaking(), "the handshake completes");
    c
}

#[test]
fn the_proxy_order_wins_and_clients_resume_across_connections() {
    let side = ClientSide::new(provider()).expect("client side");
    let (key, client) = key_and_client();
    let first = handshake(&side, &key, &client);
    assert_eq!(first.negotiated_cipher_suite(), Some(cipher_suite::TLS13_AES_128_GCM_SHA256));
    assert_eq!(first.handshake_kind(), Some(HandshakeKind::Full));
    let second = handshake(&side, &key, &client);
    assert_eq!(second.handshake_kind(), Some(HandshakeKind::Resumed), "the shared cache resumes the session");
}
