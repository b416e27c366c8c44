//! Fetching one page of a protected site: one HTTP/1.1 `GET` over TLS verified against
//! the system's roots (and `[deface] extra_roots`), to the site's own addresses when the
//! application gave them (else through DNS), within a time and size limit. Redirects are
//! not followed: the status is part of what is compared.
//!
//! Must not: accept a certificate that fails verification, or read past the size limit.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;

use crate::DefaceConfig;

/// Why a page could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}: not an https:// page")]
    Scheme(String),
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: TLS failed (the certificate is verified): {reason}")]
    Tls { url: String, reason: String },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{url}: no complete answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}

/// A page's status and body (lossy UTF-8).
#[derive(Clone, Debug)]
pub struct Fetched {
    pub status: u16,
    pub body: String,
}

/// Fetches pages; cheap to share.
pub struct Fetcher {
    tls: tokio_rustls::TlsConnector,
    resolver: Option<TokioResolver>,
    timeout: Duration,
    max_bytes: usize,
}

impl Fetcher {
    /// A fetcher trusting the system's roots and `cfg.extra_roots`.
    pub fn new(cfg: &DefaceConfig) -> Result<Fetcher, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = &cfg.extra_roots {
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("deface.extra_roots {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("deface.extra_roots {}: {e}", path.display()))?;
                roots.add(cert).map_err(|e| format!("deface.extra_roots {}: {e}", path.display()))?;
            }
        }
        if roots.is_empty() {
            return Err("no trusted root certificates for sites' HTTPS (system or deface.extra_roots)".into());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Fetcher {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            resolver: TokioResolver::builder_tokio().ok().map(|b| b.build()),
            timeout: cfg.timeout,
            max_bytes: usize::try_from(cfg.max_page_bytes).unwrap_or(usize::MAX),
        })
    }

    /// `GET url`, connecting to one of `addresses` (or the host's DNS addresses).
    pub async fn get(&self, url: &url::Url, addresses: &[IpAddr]) -> Result<Fetched, FetchError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.fetch(url, addresses))
            .await
            .map_err(|_| FetchError::Timeout { url: url.to_string(), timeout })?
    }

    async fn fetch(&self, url: &url::Url, addresses: &[IpAddr]) -> Result<Fetched, FetchError> {
        let u = url.to_string();
        if url.scheme() != "https" {
            return Err(FetchError::Scheme(u));
        }
        let host = url.host_str().ok_or_else(|| FetchError::Scheme(u.clone()))?.trim_matches(['[', ']']).to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let targets = self
            .targets(&host, port, addresses)
            .await
            .map_err(|reason| FetchError::Connect { url: u.clone(), reason })?;
        let tcp = connect_any(&targets).await.map_err(|reason| FetchError::Connect { url: u.clone(), reason })?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| FetchError::Tls { url: u.clone(), reason: e.to_string() })?;
        let tls =
            self.tls.connect(name, tcp).await.map_err(|e| FetchError::Tls { url: u.clone(), reason: e.to_string() })?;
        let http = |reason: String| FetchError::Http { url: u.clone(), reason };
        let (mut send, conn) = http1::handshake(TokioIo::new(tls)).await.map_err(|e| http(e.to_string()))?;
        let driver = tokio::spawn(conn);
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let req = http::Request::get(if path.is_empty() { "/" } else { path })
            .header(http::header::HOST, authority)
            .header(http::header::USER_AGENT, "perimeter-deface")
            .header(http::header::ACCEPT, "text/html,*/*")
            .body(Empty::<Bytes>::new())
            .map_err(|e| http(e.to_string()))?;
        let response = send.send_request(req).await.map_err(|e| http(e.to_string()));
        let result = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                match Limited::new(response.into_body(), self.max_bytes).collect().await {
                    Ok(body) => Ok(Fetched { status, body: String::from_utf8_lossy(&body.to_bytes()).into_owned() }),
                    Err(e) => Err(http(format!("reading the body (at most {} bytes): {e}", self.max_bytes))),
                }
            }
            Err(e) => Err(e),
        };
        driver.abort();
        result
    }

    async fn targets(&self, host: &str, port: u16, addresses: &[IpAddr]) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if !addresses.is_empty() {
            return Ok(addresses.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        let resolver = self.resolver.as_ref().ok_or("no DNS resolver configured on this system")?;
        let found = resolver.lookup_ip(host).await.map_err(|e| format!("{host}: {e}"))?;
        Ok(found.iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }
}

async fn connect_any(targets: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for t in targets {
        match TcpStream::connect(t).await {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{t}: {e}"),
        }
    }
    Err(last)
}
