//! STARTTLS: upgrade with a generated certificate, state reset after the
//! handshake, and refusal of input pipelined after STARTTLS.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::harness::*;
use crate::smtp::{SessionConfig, SessionEnd};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let ck = rcgen::generate_simple_self_signed(vec!["gw.test".to_string()]).expect("cert");
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (TlsAcceptor::from(Arc::new(server)), TlsConnector::from(Arc::new(client)))
}

fn tls_config() -> (SessionConfig, TlsConnector) {
    let (acceptor, connector) = tls_pair();
    let mut cfg = config();
    cfg.tls = Some(acceptor);
    (cfg, connector)
}

#[tokio::test]
async fn starttls_upgrades_and_resets_state() {
    let (cfg, connector) = tls_config();
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(cfg, sink.clone(), STRANGER_IP);
    assert!(ehlo(&mut c).await.contains("250-STARTTLS"));
    c.send("MAIL FROM:<a@b.example>\r\n").await;
    c.expect("250 2.1.0").await;
    c.send("STARTTLS\r\n").await;
    c.expect("220 2.0.0").await;
    let name = ServerName::try_from("gw.test").expect("name");
    let tls = connector.connect(name, c.into_inner()).await.expect("handshake");
    let mut c = Client::new(tls);
    // State was reset: the earlier MAIL and EHLO are forgotten.
    c.send("MAIL FROM:<a@b.example>\r\n").await;
    c.expect("503 5.5.1").await;
    c.send("EHLO client.test\r\n").await;
    let ehlo = c.expect("250-gw.test").await;
    assert!(!ehlo.contains("STARTTLS"), "not offered again inside TLS");
    c.send("STARTTLS\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@agency.gov.example>\r\nDATA\r\n").await;
    c.expect("503 5.5.1").await;
    c.expect("250 2.1.0").await;
    c.expect("250 2.1.5").await;
    c.expect("354").await;
    c.send("secret\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0").await;
    c.expect("221").await;
    assert_eq!(end(task).await, SessionEnd::Quit);
    let (_, body) = &sink.messages()[0];
    assert!(String::from_utf8_lossy(body).contains("with ESMTPS;"));
}

#[tokio::test]
async fn commands_pipelined_after_starttls_are_refused() {
    let (cfg, _) = tls_config();
    let sink = Arc::new(MemSink::default());
    let (mut c, task) = start(cfg, sink.clone(), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("STARTTLS\r\nMAIL FROM:<evil@outside.example>\r\n").await;
    c.expect("421 4.5.0").await;
    assert!(c.closed().await);
    assert_eq!(end(task).await, SessionEnd::TlsInjection);
}

#[tokio::test]
async fn starttls_without_tls_config_is_not_implemented() {
    let (mut c, task) = start(config(), Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("STARTTLS\r\nQUIT\r\n").await;
    c.expect("502 5.5.1").await;
    c.expect("221").await;
    end(task).await;
}

#[tokio::test]
async fn failed_handshake_ends_the_session() {
    let (cfg, _) = tls_config();
    let (mut c, task) = start(cfg, Arc::new(MemSink::default()), STRANGER_IP);
    ehlo(&mut c).await;
    c.send("STARTTLS\r\n").await;
    c.expect("220 2.0.0").await;
    c.send("this is not a TLS ClientHello\r\n").await;
    assert_eq!(end(task).await, SessionEnd::TlsFailed);
}
