//! Downloading a feed: one HTTP/1.1 `GET`, over TLS verified against the
//! system's roots for `https://`, within a time and size limit; anything but
//! `200` is an error (redirects are not followed: configure the final URL).
//!
//! Must not: accept a server certificate that fails verification.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Longest a download may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Largest feed accepted.
const MAX_FEED: usize = 512 << 20;

/// The body of `url` as text.
pub async fn get(url: &str) -> anyhow::Result<String> {
    tokio::time::timeout(TIMEOUT, download(url)).await.map_err(|_| anyhow!("no complete answer within {TIMEOUT:?}"))?
}

async fn download(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url.parse().with_context(|| format!("{url:?} is not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("{url:?}: only http:// and https:// feeds can be fetched"),
    };
    let host = uri.host().context("the URL names no host")?.trim_matches(['[', ']']).to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp =
        TcpStream::connect((host.as_str(), port)).await.with_context(|| format!("cannot connect to {host}:{port}"))?;
    let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if tls {
        let name = ServerName::try_from(host.clone()).with_context(|| format!("{host:?} is not a server name"))?;
        let stream = connector()?.connect(name, tcp).await.with_context(|| format!("TLS with {host} failed"))?;
        request(stream, &authority, &path).await
    } else {
        request(tcp, &authority, &path).await
    }
}

/// A TLS client trusting the system's roots.
fn connector() -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        bail!("the system has no trusted root certificates");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn request<S>(io: S, authority: &str, path: &str) -> anyhow::Result<String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = http1::handshake(TokioIo::new(io)).await.context("HTTP handshake failed")?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::USER_AGENT, "perimeter-threat-feeds")
        .body(Empty::<Bytes>::new())?;
    let response = send.send_request(req).await.context("the request failed")?;
    if response.status() != http::StatusCode::OK {
        bail!("the server answered {}", response.status());
    }
    let body =
        Limited::new(response.into_body(), MAX_FEED).collect().await.map_err(|e| anyhow!("reading the body: {e}"))?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}
