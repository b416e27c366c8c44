//! A client's own TLS through the proxy, for tests that drive the bytes
//! themselves: `CONNECT` and its answer, then TLS trusting one root only
//! (the gateway's for a bumped tunnel, the test CA's for a spliced one).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// `CONNECT authority` through the proxy at `proxy`; panics unless it answers 200.
pub async fn connect(proxy: std::net::SocketAddr, authority: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(proxy).await.expect("proxy");
    tcp.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    reader.read_line(&mut line).await.expect("answer");
    assert!(line.contains(" 200"), "CONNECT {authority}: {line}");
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).await.expect("head");
    }
    assert!(reader.buffer().is_empty(), "bytes after the CONNECT answer");
    reader.into_inner()
}

/// A TLS client configuration trusting only the PEM certificates in `pem`, offering HTTP/1.1.
pub fn client_config(pem: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.expect("certificate")).expect("anchor");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// TLS as `host` over `tcp`, trusting only the PEM certificates in the file `root`, offering HTTP/1.1.
pub async fn tls(tcp: TcpStream, host: &str, root: &Path) -> TlsStream<TcpStream> {
    let config = client_config(&std::fs::read(root).expect("root PEM"));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.to_owned()).expect("name");
    connector.connect(name, tcp).await.expect("TLS through the proxy")
}
