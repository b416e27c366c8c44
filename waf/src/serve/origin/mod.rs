//! A site's origin servers: one keep-alive pool per address (hyper's, HTTP/1.1), a
//! health mark per address set by the periodic check (a connection, with the TLS
//! handshake when the site uses TLS) and by failed connections, round-robin over the
//! healthy ones, and failover: a request whose connection could not be made goes to the
//! next address (a request whose body is already streaming cannot be replayed and gets
//! one address). Addresses marked down are tried last, so a stale mark never makes a site
//! unreachable.
//!
//! Must not: send a request to an address that is not the site's; retry a request
//! after any byte of it may have reached an origin.

mod connect;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub(crate) use connect::Trust;
use connect::{Connector, OriginIo, Unverified};

use crate::serve::body::{ForwardBody, OriginBody};
use crate::site::Site;

/// How long a connection to an origin (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// Idle connections kept per origin address.
const POOL_MAX_IDLE: usize = 64;

struct Member {
    addr: SocketAddr,
    healthy: AtomicBool,
    connector: Connector,
    client: Client<Connector, OriginBody>,
}

/// A site's origin servers.
pub(crate) struct Origins {
    members: Vec<Member>,
    next: AtomicUsize,
}

/// Why a request did not get an answer from any origin.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OriginError {
    #[error("no origin could be reached: {0}")]
    Unreachable(String),
    #[error("origin {addr} failed: {why}")]
    Failed { addr: SocketAddr, why: String },
    #[error("origin {addr} sent no answer within {secs} s")]
    Timeout { addr: SocketAddr, secs: u64 },
}

impl Origins {
    /// The pools of `site`'s origins, with its TLS settings; the error says what is wrong with them.
    pub(crate) fn new(site: &Site, trust: &Trust) -> Result<Origins, String> {
        let tls = match &site.origin_tls {
            None => None,
            Some(t) => {
                let config = client_config(t, trust)?;
                let name = t.server_name.clone().unwrap_or_else(|| site.domain.clone());
                let name = ServerName::try_from(name).map_err(|e| format!("server name: {e}"))?;
                Some((tokio_rustls::TlsConnector::from(config), name))
            }
        };
        let members = site
            .origins
            .iter()
            .map(|&addr| {
                let connector = Connector { addr, tls: tls.clone(), timeout: CONNECT_TIMEOUT };
                let client = Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .pool_max_idle_per_host(POOL_MAX_IDLE)
                    .pool_timer(TokioTimer::new())
                    .set_host(false)
                    .build(connector.clone());
                Member { addr, healthy: AtomicBool::new(true), connector, client }
            })
            .collect();
        Ok(Origins { members, next: AtomicUsize::new(0) })
    }

    /// The order to try the addresses in: healthy ones round-robin, then the others.
    fn order(&self) -> Vec<&Member> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Relaxed) % n.max(1);
        let rotated = (0..n).map(|i| &self.members[(start + i) % n]);
        let (mut up, down): (Vec<_>, Vec<_>) = rotated.partition(|m| m.healthy.load(Relaxed));
        up.extend(down);
        up
    }

    /// Sends `head` with `body` to an origin, failing over while the body can be replayed.
    pub(crate) async fn send(
        &self,
        head: &http::request::Parts,
        body: ForwardBody,
        response_timeout: Duration,
    ) -> Result<(SocketAddr, Response<Incoming>), OriginError> {
        let mut failures = Vec::new();
        let mut body = Some(body);
        for member in self.order() {
            let Some(this) = body.take() else { break };
            let (attempt, again) = this.attempt();
            body = again;
            let request = build(head, member.addr, attempt);
            let sent = tokio::time::timeout(response_timeout, member.client.request(request)).await;
            match sent {
                Ok(Ok(response)) => return Ok((member.addr, response)),
                Ok(Err(e)) if e.is_connect() => {
                    if member.healthy.swap(false, Relaxed) {
                        tracing::warn!(origin = %member.addr, error = %source_chain(&e), "origin unreachable; marked down");
                    }
                    failures.push(format!("{}: {}", member.addr, source_chain(&e)));
                }
                Ok(Err(e)) => return Err(OriginError::Failed { addr: member.addr, why: source_chain(&e) }),
                Err(_) => return Err(OriginError::Timeout { addr: member.addr, secs: response_timeout.as_secs() }),
            }
        }
        Err(OriginError::Unreachable(failures.join("; ")))
    }

    /// A connection of its own to a healthy origin (for a WebSocket, which leaves HTTP).
    pub(crate) async fn dedicated(&self) -> Result<(SocketAddr, OriginIo), OriginError> {
        let mut failures = Vec::new();
        for member in self.order() {
            match member.connector.open().await {
                Ok(io) => return Ok((member.addr, io)),
                Err(e) => {
                    member.healthy.store(false, Relaxed);
                    failures.push(format!("{}: {e}", member.addr));
                }
            }
        }
        Err(OriginError::Unreachable(failures.join("; ")))
    }

    /// Checks every address once (a connection, and TLS if used) and marks it.
    pub(crate) async fn check(&self) {
        for member in &self.members {
            let up = member.connector.open().await.is_ok();
            if member.healthy.swap(up, Relaxed) != up {
                tracing::info!(origin = %member.addr, up, "origin health changed");
            }
        }
    }

    /// Whether each address is marked healthy now.
    pub(crate) fn health(&self) -> Vec<(SocketAddr, bool)> {
        self.members.iter().map(|m| (m.addr, m.healthy.load(Relaxed))).collect()
    }
}

/// The request as it goes to `addr`: the client's head, the pool's URI.
fn build(head: &http::request::Parts, addr: SocketAddr, body: OriginBody) -> Request<OriginBody> {
    let path = head.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = Uri::try_from(format!("http://{addr}{path}")).unwrap_or_else(|_| Uri::from_static("/"));
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = head.headers.clone();
    request
}

fn client_config(t: &crate::site::OriginTls, trust: &Trust) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = crate::serve::tls::provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if !t.verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(Unverified(provider))).with_no_client_auth()
    } else {
        let roots = match &t.ca_pem {
            None => Arc::clone(&trust.system),
            Some(pem) => Arc::new(roots_from(pem)?),
        };
        if roots.is_empty() {
            return Err("no trust anchors: the system has none and the site gives no ca_pem".into());
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn roots_from(pem: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("ca_pem: invalid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("ca_pem: no CERTIFICATE block".into());
    }
    for cert in certs {
        roots.add(cert).map_err(|e| format!("ca_pem: not a usable trust anchor: {e}"))?;
    }
    Ok(roots)
}

/// An error with its causes, for logs and pages.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
