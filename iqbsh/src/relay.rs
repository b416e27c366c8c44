//! Relaying the requests of a bumped connection: each request's host must be
//! the one the TLS connection was verified for (else 421), the rules decide
//! on its host and URL (else the block page), and allowed requests go to the
//! origin over the connection opened during the bump, reopened (and its
//! certificate verified again) when the origin has closed it. A WebSocket
//! handshake goes to `upgrade`.
//!
//! Must not: send a request to an origin under another name than the one
//! whose certificate was verified.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use http::{Request, Response, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;

use crate::conn::Conn;
use crate::denial::{Denial, DenyKind};
use crate::forward::{Answer, Pending, Upstream, refuse, to_client, to_origin};
use crate::origin::{H2, OriginError};

/// The origin side of a bumped connection.
pub(crate) struct OriginLink {
    /// The name the origin's certificate was verified for.
    name: String,
    port: u16,
    /// The ALPN protocol the origin chose (and the client was given).
    alpn: Option<Vec<u8>>,
    addr: Option<SocketAddr>,
    upstream: Mutex<Upstream>,
}

impl OriginLink {
    pub(crate) fn new(
        name: String,
        port: u16,
        alpn: Option<Vec<u8>>,
        addr: Option<SocketAddr>,
        upstream: Upstream,
    ) -> Self {
        Self { name, port, alpn, addr, upstream: Mutex::new(upstream) }
    }

    /// Starts `req` on the origin connection, reopening it first if the origin closed it.
    async fn start(&self, conn: &Conn, req: Request<crate::page::ProxyBody>) -> Result<Pending, Denial> {
        let mut upstream = self.upstream.lock().await;
        if upstream.is_closed() || upstream.ready().await.is_err() {
            *upstream = self.reopen(conn).await?;
            let failed = |e: hyper::Error| Denial::new(DenyKind::Upstream, format!("{}: {e}", self.name));
            upstream.ready().await.map_err(failed)?;
        }
        Ok(upstream.start(req))
    }

    /// A new verified connection to the same origin, speaking the same protocol.
    pub(crate) async fn reopen(&self, conn: &Conn) -> Result<Upstream, Denial> {
        let (shared, name) = (&conn.shared, self.name.as_str());
        let settings = &shared.settings;
        let tcp = shared.resolver.connect(name, self.port, settings.connect_timeout).await?;
        let offered: Vec<Vec<u8>> = self.alpn.iter().cloned().collect();
        let tls =
            shared.origin.connect(tcp, name, &offered, settings.handshake_timeout).await.map_err(|e| match e {
                OriginError::Certificate(why) => Denial::new(DenyKind::UpstreamCert, why),
                OriginError::Handshake(why) => {
                    Denial::new(DenyKind::Upstream, format!("TLS with {name} failed: {why}"))
                }
            })?;
        if tls.get_ref().1.alpn_protocol() != self.alpn.as_deref() {
            return Err(Denial::new(DenyKind::Upstream, format!("{name} no longer speaks the negotiated protocol")));
        }
        let h2 = self.alpn.as_deref() == Some(H2);
        Upstream::handshake(tls, h2).await.map_err(|e| Denial::new(DenyKind::Upstream, format!("{name}: {e}")))
    }

    fn authority(&self) -> String {
        if self.port == 443 { self.name.clone() } else { format!("{}:{}", self.name, self.port) }
    }
}

/// One bumped connection.
struct Bumped {
    conn: Arc<Conn>,
    origin: OriginLink,
    h2: bool,
}

/// Serves the client's HTTP (HTTP/2 when `h2`) until it closes.
pub(crate) async fn serve<S>(conn: Arc<Conn>, origin: OriginLink, client: S, h2: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = conn.shared.settings.clone();
    let bumped = Arc::new(Bumped { conn, origin, h2 });
    let io = TokioIo::new(client);
    let service = service_fn(move |req| request(Arc::clone(&bumped), req));
    let result = if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout)
            .max_buf_size(settings.max_header_bytes)
            .serve_connection(io, service)
            .with_upgrades()
            .await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "bumped client connection ended");
    }
}

/// The request's authority: from the URI (HTTP/2, absolute form) or the `Host` header.
pub(crate) fn authority_of<B>(req: &Request<B>) -> Option<String> {
    if let Some(authority) = req.uri().authority() {
        return Some(authority.as_str().to_owned());
    }
    req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The host part of an authority, lower case, without brackets or trailing dot.
pub(crate) fn host_of(authority: &str) -> String {
    let host = match authority.parse::<http::uri::Authority>() {
        Ok(a) => a.host().to_owned(),
        Err(_) => authority.to_owned(),
    };
    host.trim_matches(['[', ']']).trim_end_matches('.').to_ascii_lowercase()
}

async fn request(bumped: Arc<Bumped>, req: Request<Incoming>) -> Answer {
    let (conn, origin) = (&bumped.conn, &bumped.origin);
    let authority = authority_of(&req).unwrap_or_else(|| origin.authority());
    let host = host_of(&authority);
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("https://{authority}{path}");
    let mut record = conn.record(SystemTime::now(), req.method().as_str(), &host, url.clone());
    if host != origin.name.trim_matches(['[', ']']) {
        let why = format!("this connection was made for {}, not {host}; open a new one", origin.name);
        return Ok(refuse(conn, record, &Denial::new(DenyKind::Misdirected, why), !bumped.h2));
    }
    let categorized = conn.rules.categorize(&host);
    let decision = conn.rules.decide(conn.bin(), &host, &url, &categorized.categories);
    record.categories = categorized.categories;
    record.reason = decision.reason;
    if !decision.allow {
        let denial = Denial::new(DenyKind::Policy, record.reason.clone());
        return Ok(refuse(conn, record, &denial, false));
    }
    record.upstream = origin.addr;
    if !bumped.h2 && crate::upgrade::is_websocket(&req) {
        return Ok(crate::upgrade::websocket(conn, origin, req, &authority, record).await);
    }
    let from_client = Arc::new(AtomicU64::new(0));
    let sent = match to_origin(req, &authority, bumped.h2, Arc::clone(&from_client)) {
        Ok(upstream_req) => origin.start(conn, upstream_req).await,
        Err(denial) => Err(denial),
    };
    let response = match sent {
        Ok(pending) => pending.await.map_err(|e| Denial::new(DenyKind::Upstream, format!("{url}: {e}"))),
        Err(denial) => Err(denial),
    };
    Ok(match response {
        Ok(response) => to_client(Arc::clone(conn), record, response, from_client),
        Err(denial) => failed(conn, record, &denial, bumped.h2),
    })
}

/// Answers a request the origin could not serve.
fn failed(
    conn: &Conn,
    mut record: crate::accesslog::Record,
    denial: &Denial,
    h2: bool,
) -> Response<crate::page::ProxyBody> {
    if denial.kind == DenyKind::UpstreamCert {
        record.cert_error = Some(denial.reason.clone());
    }
    refuse(conn, record, denial, !h2)
}
