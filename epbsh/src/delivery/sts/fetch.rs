//! Fetching an MTA-STS policy: `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` over a
//! verified TLS connection (HTTP/1.1 through hyper), the whole exchange within the
//! timeout, at most 64 KiB of body, status 200 only.
//!
//! Must not: follow a redirect, or read past the size limit.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::policy::{self, MAX_POLICY, Policy};
use crate::delivery::resolve::{Resolver, Unresolved};

pub(super) struct Fetcher {
    pub tls: Arc<rustls::ClientConfig>,
    /// 443, but for test rigs.
    pub port: u16,
    pub timeout: Duration,
}

impl Fetcher {
    /// The policy of `domain`, read and checked.
    pub async fn get(&self, domain: &str, resolver: &Resolver) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let body = tokio::time::timeout(self.timeout, self.fetch(&host, resolver))
            .await
            .map_err(|_| format!("{host}: no policy within {:?}", self.timeout))??;
        policy::parse(&body).map_err(|e| format!("{host}: {e}"))
    }

    async fn fetch(&self, host: &str, resolver: &Resolver) -> Result<Bytes, String> {
        let targets = resolver.host_targets(host, self.port).await.map_err(|e| match e {
            Unresolved::Permanent(e) | Unresolved::Temporary(e) => e,
        })?;
        let mut last = format!("{host} has no address");
        for t in targets {
            match self.fetch_from(host, t.addr).await {
                Ok(body) => return Ok(body),
                Err(e) => last = format!("{host} [{}]: {e}", t.addr),
            }
        }
        Err(last)
    }

    async fn fetch_from(&self, host: &str, addr: std::net::SocketAddr) -> Result<Bytes, String> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let tls = TlsConnector::from(self.tls.clone()).connect(name, tcp).await.map_err(|e| e.to_string())?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let result = async {
            let req = http::Request::get("/.well-known/mta-sts.txt")
                .header(http::header::HOST, host)
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            if resp.status() != http::StatusCode::OK {
                return Err(format!("answered {} (redirects are not followed)", resp.status()));
            }
            let body = Limited::new(resp.into_body(), MAX_POLICY).collect().await.map_err(|e| e.to_string())?;
            Ok(body.to_bytes())
        }
        .await;
        driver.abort();
        result
    }
}
