//! Relaying the requests of a bumped connection: each request's host must be
//! the one the TLS connection was verified for (else 421), the rules decide
//! on its host and URL (else the block page), and allowed requests go to the
//! origin over the connection opened during the bump, reopened (and its
//! certificate verified again) when the origin has closed it. A WebSocket
//! handshake goes to `upgrade`.
//!
//! Must not: send a request to an origin under another name than the one
//! whose certificate was verified.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use http::{Request, Response, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::decide::threats::threat;
use crate::http::answer::refuse;
use crate::http::forward::{Answer, ambiguous, to_origin};
use crate::http::inspect::{self, Upload};
use crate::http::link::OriginLink;
use crate::http::quiet::Busy;
use clientio::{FramingWatch, Lingering, Watched};

/// One bumped connection.
struct Bumped {
    conn: Arc<Conn>,
    origin: OriginLink,
    h2: bool,
    /// Requests in flight (HTTP/2 closes after the idle limit without any).
    busy: Arc<Busy>,
    /// The notes on each HTTP/1.1 request's framing, in order (none over HTTP/2).
    framing: Option<FramingWatch>,
}

/// Serves the client's HTTP (HTTP/2 when `h2`) until it closes.
pub(crate) async fn serve<S>(conn: Arc<Conn>, origin: OriginLink, client: S, h2: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = conn.shared.settings.clone();
    let busy = Busy::new();
    // HTTP/1.1 framing is watched for what hyper hides (HTTP/2 frames its own messages).
    let (client, watch) = Watched::new(client, if h2 { 0 } else { settings.max_header_bytes });
    let framing = (!h2).then_some(watch);
    let bumped = Arc::new(Bumped { conn: Arc::clone(&conn), origin, h2, busy: Arc::clone(&busy), framing });
    let io = TokioIo::new(Lingering::new(client));
    let service = service_fn(move |req| request(Arc::clone(&bumped), req));
    let result = if h2 {
        // Pings keep a client waiting for a body held for its scan from timing the connection out.
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(std::time::Duration::from_secs(30)))
            .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
            .serve_connection(io, service);
        tokio::pin!(connection);
        // Like HTTP/1.1 between requests: closed (GOAWAY) after the header limit without a request.
        tokio::select! {
            result = connection.as_mut() => result,
            () = busy.idle_for(settings.header_timeout) => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
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
        conn.note_unreadable(&e);
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
    let in_flight = bumped.busy.enter();
    let answer = decide_and_forward(&bumped, req).await;
    Ok(crate::http::quiet::hold(answer.unwrap_or_else(|never| match never {}), in_flight))
}

async fn decide_and_forward(bumped: &Bumped, req: Request<Incoming>) -> Answer {
    let (conn, origin) = (&bumped.conn, &bumped.origin);
    let authority = authority_of(&req).unwrap_or_else(|| origin.authority());
    let host = host_of(&authority);
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("https://{authority}{path}");
    let mut record = conn.record(SystemTime::now(), req.method().as_str(), &host, url.clone());
    if let Some(denial) = ambiguous(bumped.framing.as_ref().and_then(FramingWatch::next)) {
        return Ok(refuse(conn, record, &denial, true));
    }
    if host != origin.name.trim_matches(['[', ']']) {
        let why = format!("this connection was made for {}, not {host}; open a new one", origin.name);
        return Ok(refuse(conn, record, &Denial::new(DenyKind::Misdirected, why), !bumped.h2));
    }
    if let Some(denial) = threat(&conn.shared.threats.current(), &mut record, &host, Some(&url)) {
        return Ok(refuse(conn, record, &denial, false));
    }
    // The rules in force now: a reload reaches the next request of an open connection.
    let rules = conn.rules();
    let categorized = conn.categorize(&*rules, &host);
    let decision = rules.decide(conn.bin(), &host, &url, &categorized.categories);
    record.categories = categorized.categories;
    record.reason = decision.reason;
    if !decision.allow {
        let denial = Denial::new(DenyKind::Policy, record.reason.clone());
        return Ok(refuse(conn, record, &denial, false));
    }
    record.upstream = origin.addr;
    if !bumped.h2 && crate::http::upgrade::is_websocket(&req) {
        return Ok(crate::http::upgrade::websocket(conn, origin, req, &authority, record).await);
    }
    let view = inspect::view(conn, &req, &url);
    let from_client = Arc::new(AtomicU64::new(0));
    let upstream_req = match to_origin(req, &authority, bumped.h2, Arc::clone(&from_client)) {
        Ok(upstream_req) => upstream_req,
        Err(denial) => return Ok(failed(conn, record, &denial, bumped.h2)),
    };
    let Upload { request, mut record, late } = match inspect::upload(conn, record, upstream_req, &url, !bumped.h2).await
    {
        Ok(upload) => upload,
        Err(answer) => return Ok(answer),
    };
    let response = match origin.start(conn, request).await {
        Ok(pending) => pending.await.map_err(|e| Denial::new(DenyKind::Upstream, format!("{url}: {e}"))),
        Err(denial) => Err(denial),
    };
    Ok(match response {
        Ok(response) => inspect::download(conn, record, view, response, from_client, false).await,
        Err(denial) => {
            let denial = inspect::upload_stopped(&mut record, late.as_ref(), denial);
            failed(conn, record, &denial, bumped.h2)
        }
    })
}

/// Answers a request the origin could not serve.
fn failed(
    conn: &Conn,
    mut record: crate::report::accesslog::Record,
    denial: &Denial,
    h2: bool,
) -> Response<crate::http::page::ProxyBody> {
    if denial.kind == DenyKind::UpstreamCert {
        record.cert_error = Some(denial.reason.clone());
    }
    refuse(conn, record, denial, !h2)
}
