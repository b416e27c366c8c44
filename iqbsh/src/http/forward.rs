//! Relaying HTTP requests to an origin and responses back: the upstream
//! connection (HTTP/1.1 or HTTP/2, hyper client), header hygiene, request
//! rewriting for the upstream protocol, byte counting, and the access-log
//! record written when a response body has been sent (or abandoned).
//!
//! Must not: decide; the caller has applied the rules before forwarding.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use clientio::Framing;

use crate::decide::denial::{Denial, DenyKind};
use crate::http::page::{BoxError, ProxyBody};

/// An open connection to an origin.
pub(crate) enum Upstream {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<ProxyBody>),
    /// HTTP/2: multiplexed; clones share the connection.
    H2(http2::SendRequest<ProxyBody>),
}

impl Upstream {
    /// Starts HTTP on `io` (HTTP/2 when `h2`), driving the connection on its own task.
    pub(crate) async fn handshake<I>(io: I, h2: bool) -> Result<Self, hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if h2 {
            let (send, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
                }
            });
            return Ok(Self::H2(send));
        }
        let (send, conn) = http1::handshake(io).await?;
        tokio::spawn(async move {
            // With upgrades, a 101 hands the connection to `upgrade` instead of closing it.
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream HTTP/1.1 connection ended");
            }
        });
        Ok(Self::H1(send))
    }

    /// The origin has closed the connection; a new one is needed.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::H1(send) => send.is_closed(),
            Self::H2(send) => send.is_closed(),
        }
    }

    /// Waits until the connection can take a request; an error means it is gone.
    pub(crate) async fn ready(&mut self) -> Result<(), hyper::Error> {
        match self {
            Self::H1(send) => send.ready().await,
            Self::H2(send) => send.ready().await,
        }
    }

    /// Sends one request and waits for the response head.
    pub(crate) async fn send(&mut self, req: Request<ProxyBody>) -> Result<Response<Incoming>, hyper::Error> {
        self.ready().await?;
        self.start(req).await
    }

    /// Starts sending `req` on a ready connection; the returned future (which
    /// does not borrow `self`) yields the response head.
    pub(crate) fn start(&mut self, req: Request<ProxyBody>) -> Pending {
        match self {
            Self::H1(send) => Box::pin(send.send_request(req)),
            Self::H2(send) => Box::pin(send.clone().send_request(req)),
        }
    }
}

/// A request under way to an origin.
pub(crate) type Pending = Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
/// `TE: trailers` survives (gRPC over HTTP/2 needs it).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let te_trailers = headers.get(header::TE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_trailers {
        headers.remove(header::TE);
    }
}

/// The transfer codings of a request body other than the final `chunked` (which
/// hyper has already decoded), as written: `gzip` of `Transfer-Encoding: gzip, chunked`.
fn transfer_codings(headers: &HeaderMap) -> Option<String> {
    let codings: Vec<String> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "chunked")
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

/// Rewrites a client request for the origin: origin-form URI and `Host` for
/// HTTP/1.1, absolute URI without `Host` for HTTP/2; the body is counted into `from_client`.
pub(crate) fn to_origin(
    req: Request<Incoming>,
    authority: &str,
    h2: bool,
    from_client: Arc<AtomicU64>,
) -> Result<Request<ProxyBody>, Denial> {
    let (mut parts, body) = req.into_parts();
    let codings = transfer_codings(&parts.headers);
    strip_hop_by_hop(&mut parts.headers);
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let bad = || Denial::new(DenyKind::BadRequest, format!("cannot forward to {authority}{path}"));
    if h2 {
        parts.uri = Uri::try_from(format!("https://{authority}{path}")).map_err(|_| bad())?;
        parts.headers.remove(header::HOST);
        parts.version = Version::HTTP_2;
    } else {
        parts.uri = Uri::try_from(path.as_str()).map_err(|_| bad())?;
        let host = HeaderValue::from_str(authority).map_err(|_| bad())?;
        parts.headers.insert(header::HOST, host);
        parts.version = Version::HTTP_11;
    }
    if let Some(codings) = codings {
        if h2 {
            let why = format!("a body in transfer coding {codings:?} cannot be forwarded over HTTP/2");
            return Err(Denial::new(DenyKind::BadRequest, why));
        }
        // The origin decodes what the client encoded: hyper re-chunks the body, the codings under it stay.
        let value = HeaderValue::from_str(&format!("{codings}, chunked")).map_err(|_| bad())?;
        parts.headers.insert(header::TRANSFER_ENCODING, value);
    }
    let body = body
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                from_client.fetch_add(data.len() as u64, Relaxed);
            }
            frame
        })
        .map_err(BoxError::from)
        .boxed();
    Ok(Request::from_parts(parts, body))
}

/// The refusal of a request whose head was framed two ways (the framing watch's note):
/// hyper would read it one way and close, but a request smuggled past another reader
/// starts exactly so, and a gateway answers it 400 (RFC 9112 §6.3).
pub(crate) fn ambiguous(note: Option<Framing>) -> Option<Denial> {
    match note {
        Some(Framing::Ambiguous(why)) => {
            Some(Denial::new(DenyKind::BadRequest, format!("the request is framed two ways: {why}")))
        }
        _ => None,
    }
}

/// The infallible result type of the proxy's HTTP services.
pub(crate) type Answer = Result<Response<ProxyBody>, Infallible>;
