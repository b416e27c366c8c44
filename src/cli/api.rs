//! What a verb asks the running `perimeter up` through its API, for what only the running
//! service knows (a WAF site's origin health): one GET to `[api] listen` on this machine
//! with the duty token in `PERIMETER_TOKEN`, answered within five seconds.
//!
//! Must not: change anything through the API (verbs change the store themselves); print
//! the token.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::config::Config;

/// Why the running service was not asked, or did not answer.
#[derive(Debug, thiserror::Error)]
pub enum Unasked {
    #[error(
        "no token: set PERIMETER_TOKEN to a duty-team token (`perimeter token create NAME --duty`) to ask the running service"
    )]
    NoToken,
    #[error("the API speaks TLS here; ask it with a client that trusts [api] tls_cert: GET {0}")]
    Tls(String),
    #[error("the running service does not answer at {0}: {1} (is `perimeter up` running?)")]
    Unreachable(String, String),
    #[error("the API answered {0}: {1}")]
    Refused(u16, String),
}

/// `GET /api/v1{path}` of the service on this machine, as JSON.
pub async fn get(config: &Config, path: &str) -> Result<serde_json::Value, Unasked> {
    let token = std::env::var("PERIMETER_TOKEN").ok().filter(|t| !t.trim().is_empty()).ok_or(Unasked::NoToken)?;
    let mut addr = config.api.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let url = format!("http://{addr}/api/v1{path}");
    if config.api.tls_cert.is_some() {
        return Err(Unasked::Tls(url.replacen("http:", "https:", 1)));
    }
    let unreachable = |e: &dyn std::fmt::Display| Unasked::Unreachable(url.clone(), e.to_string());
    let asked = async {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| unreachable(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
        tokio::spawn(conn);
        let request = http::Request::get(format!("/api/v1{path}"))
            .header(http::header::HOST, addr.to_string())
            .header(http::header::AUTHORIZATION, format!("Bearer {}", token.trim()))
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| unreachable(&e))?;
        let response = sender.send_request(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| unreachable(&e))?.to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status != 200 {
            let message = value["error"].as_str().unwrap_or("no message").to_string();
            return Err(Unasked::Refused(status, message));
        }
        Ok(value)
    };
    tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .unwrap_or_else(|_| Err(unreachable(&"no answer within 5 s")))
}
