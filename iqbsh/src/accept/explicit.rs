//! Plain HTTP/1.1 from clients: the explicit (forward) proxy, for clients
//! configured to use the gateway, and the transparent plain-HTTP listener, for
//! port-80 connections a firewall redirected to it. Explicit: absolute-form
//! `http://` requests are checked and forwarded one by one; `CONNECT host:port`
//! is checked, answered `200`, and the tunnel handed to the TLS path (splice or
//! bump). Intercepted: the origin is the request's `Host` on the port the
//! redirect captured, resolved by the gateway itself. A refused source gets the
//! block page for every request (and `CONNECT`), then the connection closes.
//!
//! Must not: forward `https://` absolute-form requests, origin-form requests
//! to the explicit listener (the proxy is not a web server), `CONNECT` on the
//! intercepted one, or reach a port or address the destination policy
//! (`[destinations]`) closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, Uri, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::decide::threats::threat;
use crate::http::answer::refuse;
use crate::http::forward::{Answer, Upstream, ambiguous, to_origin};
use crate::http::inspect::{self, Upload};
use crate::http::page;
use crate::http::relay::host_of;
use crate::report::accesslog::Record;
use crate::tls::tunnel::{self, Target, tunnel_url};
use clientio::Lingering;
use clientio::{FramingWatch, Watched};

/// How the client reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Configured to use it: absolute-form requests and `CONNECT`.
    Explicit,
    /// Redirected to it from connections to `port` of an origin: origin-form requests with `Host`.
    Intercepted { port: u16 },
}

/// Serves one client connection of the explicit or the transparent plain-HTTP listener.
pub(crate) async fn serve(conn: Arc<Conn>, denial: Option<Denial>, stream: TcpStream, mode: Mode) {
    let settings = conn.shared.settings.clone();
    let (stream, framing) = Watched::new(stream, settings.max_header_bytes);
    let session = Arc::new(Session { conn: Arc::clone(&conn), denial, mode, kept: Mutex::new(None), framing });
    let service = service_fn(move |req| handle(Arc::clone(&session), req));
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(settings.max_header_bytes)
        .serve_connection(TokioIo::new(Lingering::new(stream)), service)
        .with_upgrades()
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "explicit proxy connection ended");
        conn.note_unreadable(&e);
    }
}

/// One client connection: its admission and the origin connection kept for plain HTTP.
struct Session {
    conn: Arc<Conn>,
    denial: Option<Denial>,
    mode: Mode,
    kept: Mutex<Option<Kept>>,
    /// The notes on each request's framing, one per request in order.
    framing: FramingWatch,
}

/// The origin connection of the previous plain request, reused for the next one to the same authority.
struct Kept {
    authority: String,
    addr: Option<SocketAddr>,
    upstream: Upstream,
}

async fn handle(session: Arc<Session>, req: Request<Incoming>) -> Answer {
    let conn = Arc::clone(&session.conn);
    // One note per request, taken first: hyper serves a connection's requests in order.
    if let Some(denial) = ambiguous(session.framing.next()) {
        let host = req.uri().host().map(str::to_owned).unwrap_or_default();
        let record = conn.record(SystemTime::now(), req.method().as_str(), &host, req.uri().to_string());
        return Ok(refuse(&conn, record, &denial, true));
    }
    if let Some(denial) = &session.denial {
        let host = req.uri().host().map(str::to_owned).unwrap_or_default();
        let record = conn.record(SystemTime::now(), req.method().as_str(), &host, req.uri().to_string());
        return Ok(refuse(&conn, record, denial, true));
    }
    if req.method() == Method::CONNECT {
        if session.mode != Mode::Explicit {
            let record = conn.record(SystemTime::now(), "CONNECT", "", req.uri().to_string());
            let why = "CONNECT is for the explicit proxy, not a redirected connection";
            return Ok(refuse(&conn, record, &Denial::new(DenyKind::BadRequest, why), true));
        }
        return Ok(connect(conn, req));
    }
    Ok(plain(&session, req).await)
}

/// `CONNECT host:port`: checks, answers 200 and hands the tunnel to the TLS path.
fn connect(conn: Arc<Conn>, mut req: Request<Incoming>) -> Response<page::ProxyBody> {
    let target = req.uri().authority().map(|a| (host_of(a.as_str()), a.port_u16().unwrap_or(443)));
    let raw = req.uri().to_string();
    let mut record = conn.record(SystemTime::now(), "CONNECT", "", raw.clone());
    let Some((host, port)) = target.filter(|(host, _)| !host.is_empty()) else {
        let denial = Denial::new(DenyKind::BadRequest, format!("CONNECT needs host:port, not {raw:?}"));
        return refuse(&conn, record, &denial, true);
    };
    record.host.clone_from(&host);
    if let Some(denial) = threat(&conn.shared.threats.current(), &mut record, &host, None) {
        return refuse(&conn, record, &denial, false);
    }
    if let Err(denial) = conn.shared.resolver.destinations().port(port) {
        return refuse(&conn, record, &denial, false);
    }
    let rules = conn.rules();
    let categorized = conn.categorize(&*rules, &host);
    if categorized.exempt {
        let decision = rules.decide(conn.bin(), &host, &tunnel_url(&host, port), &categorized.categories);
        if !decision.allow {
            record.categories = categorized.categories;
            return refuse(&conn, record, &Denial::new(DenyKind::Policy, decision.reason), false);
        }
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let mut stop = conn.shared.stop.clone();
        conn.shared.metrics.opened();
        match upgrade.await {
            Ok(upgraded) => {
                let run = tunnel::run(Arc::clone(&conn), TokioIo::new(upgraded), Target::Connect { host, port });
                tokio::select! {
                    biased;
                    () = crate::accept::standing::guard(&conn, run) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
        conn.shared.metrics.closed();
    });
    Response::new(page::empty())
}

/// Where a plain request goes: the authority sent to the origin, and its port.
struct Origin {
    authority: String,
    port: u16,
    url: String,
}

/// A plain `http://` request: checks and forwards it.
async fn plain(session: &Session, req: Request<Incoming>) -> Response<page::ProxyBody> {
    let conn = &session.conn;
    let origin = match session.mode {
        Mode::Explicit => absolute(req.uri()),
        Mode::Intercepted { port } => intercepted(&req, port),
    };
    let origin = match origin {
        Ok(origin) => origin,
        Err(why) => {
            let host = req.uri().host().map(host_of).unwrap_or_default();
            let record = conn.record(SystemTime::now(), req.method().as_str(), &host, req.uri().to_string());
            return refuse(conn, record, &Denial::new(DenyKind::BadRequest, why), true);
        }
    };
    let record = conn.record(SystemTime::now(), req.method().as_str(), &host_of(&origin.authority), origin.url);
    forward_plain(session, record, req, &origin.authority, origin.port).await
}

/// The origin of an absolute-form request to the explicit proxy.
fn absolute(uri: &Uri) -> Result<Origin, String> {
    let (Some(authority), true) = (uri.authority(), uri.scheme() == Some(&Scheme::HTTP)) else {
        return Err("this is a proxy: send absolute http:// URLs, or CONNECT for https".into());
    };
    Ok(Origin { authority: authority.as_str().to_owned(), port: uri.port_u16().unwrap_or(80), url: uri.to_string() })
}

/// The origin of a redirected request: its `Host` (or absolute-form authority) on the
/// port the redirect captured; a `Host` naming another port is refused.
fn intercepted(req: &Request<Incoming>, port: u16) -> Result<Origin, String> {
    let named = match req.uri().authority() {
        Some(authority) => authority.clone(),
        None => {
            let host = req.headers().get(header::HOST).ok_or("a redirected request needs a Host header")?;
            let text = host.to_str().map_err(|_| "the Host header is not text".to_owned())?;
            text.parse::<Authority>().map_err(|_| format!("Host {text:?} is not a host name"))?
        }
    };
    if named.as_str().contains('@') || host_of(named.host()).is_empty() {
        return Err(format!("Host {:?} is not a host name", named.as_str()));
    }
    if let Some(other) = named.port_u16().filter(|p| *p != port) {
        return Err(format!("Host names port {other}, but the connection was to port {port}"));
    }
    let authority = if port == 80 { named.host().to_owned() } else { format!("{}:{port}", named.host()) };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    Ok(Origin { url: format!("http://{authority}{path}"), authority, port })
}

async fn forward_plain(
    session: &Session,
    mut record: Record,
    req: Request<Incoming>,
    authority: &str,
    port: u16,
) -> Response<page::ProxyBody> {
    let conn = &session.conn;
    let host = record.host.clone();
    let url = record.url.clone();
    if let Some(denial) = threat(&conn.shared.threats.current(), &mut record, &host, Some(&url)) {
        return refuse(conn, record, &denial, false);
    }
    let rules = conn.rules();
    let categorized = conn.categorize(&*rules, &host);
    let decision = rules.decide(conn.bin(), &host, &record.url, &categorized.categories);
    record.categories = categorized.categories;
    record.reason = decision.reason;
    if !decision.allow {
        let denial = Denial::new(DenyKind::Policy, record.reason.clone());
        return refuse(conn, record, &denial, false);
    }
    let view = inspect::view(conn, &req, &record.url);
    let from_client = Arc::new(AtomicU64::new(0));
    let upstream_req = match to_origin(req, authority, false, Arc::clone(&from_client)) {
        Ok(req) => req,
        Err(denial) => return refuse(conn, record, &denial, false),
    };
    let Upload { request, mut record, late } = match inspect::upload(conn, record, upstream_req, &url, true).await {
        Ok(upload) => upload,
        Err(answer) => return answer,
    };
    let mut kept = session.kept.lock().await;
    let mut origin = match reuse_or_connect(conn, kept.take(), authority, &host, port).await {
        Ok(origin) => origin,
        Err(denial) => return refuse(conn, record, &denial, false),
    };
    record.upstream = origin.addr;
    let sent = origin.upstream.send(request).await;
    *kept = Some(origin);
    drop(kept);
    match sent {
        Ok(response) => inspect::download(conn, record, view, response, from_client, false).await,
        Err(e) => {
            let failed = Denial::new(DenyKind::Upstream, format!("{host}: {e}"));
            let denial = inspect::upload_stopped(&mut record, late.as_ref(), failed);
            refuse(conn, record, &denial, false)
        }
    }
}

/// The kept origin connection if it is to `authority` and still usable, else a new one.
async fn reuse_or_connect(
    conn: &Conn,
    kept: Option<Kept>,
    authority: &str,
    host: &str,
    port: u16,
) -> Result<Kept, Denial> {
    if let Some(mut kept) = kept.filter(|k| k.authority == authority && !k.upstream.is_closed())
        && kept.upstream.ready().await.is_ok()
    {
        return Ok(kept);
    }
    let settings = &conn.shared.settings;
    let tcp = conn.shared.resolver.connect(host, port, settings.connect_timeout).await?;
    let addr = tcp.peer_addr().ok();
    let upstream = Upstream::handshake(tcp, false)
        .await
        .map_err(|e| Denial::new(DenyKind::Upstream, format!("HTTP with {host} failed: {e}")))?;
    Ok(Kept { authority: authority.to_owned(), addr, upstream })
}
