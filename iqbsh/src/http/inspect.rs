//! Where bumped and plain-HTTP traffic meets the ICAP client: an upload (a
//! request body) is scanned before it goes to the origin (REQMOD), a download
//! before the client gets it (RESPMOD). A threat, a refusal by the scanning
//! service, a failure of a service that fails closed, or content too large to
//! scan gets the block page naming the threat and the reference; every scan
//! leaves a note in the access-log record.
//!
//! Must not: scan spliced tunnels or WebSocket frames (their records say they
//! were not scanned), or send an upload on before its verdict.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Method as HttpMethod, Request, Response, StatusCode, Uri};
use hyper::body::{Body, Incoming};

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::http::answer::{refuse, scan_denial, to_client};
use crate::http::forward::strip_hop_by_hop;
use crate::http::page::ProxyBody;
use crate::icap::{AdaptedHead, LateNote, Method, ScanNote, ScanOutcome, Scanned, Subject, wire};
use crate::report::accesslog::Record;

/// What a download's scan needs from its request, taken before the request is forwarded.
pub(crate) struct RequestView {
    method: HttpMethod,
    url: String,
    /// The encapsulated HTTP request head.
    head: Bytes,
}

/// The request's view for RESPMOD, when a service scans downloads.
pub(crate) fn view<B>(conn: &Conn, req: &Request<B>, url: &str) -> Option<RequestView> {
    if !conn.shared.icap.scans(Method::Respmod) {
        return None;
    }
    // The request only gives the download its context: the user's credentials stay out of it.
    let mut headers = clean(req.headers());
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    let head = Bytes::from(wire::http_request_head(req.method().as_str(), url, &headers));
    Some(RequestView { method: req.method().clone(), url: url.to_owned(), head })
}

/// `headers` without the hop-by-hop ones.
fn clean(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    strip_hop_by_hop(&mut headers);
    headers
}

/// The refusal to show when sending an upload to the origin failed: the scan's,
/// if it stopped the upload while it streamed (its note goes into `record`), else `failed`.
pub(crate) fn upload_stopped(record: &mut Record, late: Option<&LateNote>, failed: Denial) -> Denial {
    match late.and_then(|l| l.get()) {
        Some(note) if note.outcome.blocks() => {
            record.scans.push(note.clone());
            scan_denial(note)
        }
        Some(note) => {
            record.scans.push(note.clone());
            failed
        }
        None => failed,
    }
}

/// A note for a transfer the gateway does not scan (WebSocket frames,
/// spliced tunnels), when any service scans downloads.
pub(crate) fn unscanned(conn: &Conn, why: &str) -> Option<ScanNote> {
    conn.shared.icap.scans(Method::Respmod).then(|| ScanNote {
        method: Method::Respmod,
        outcome: ScanOutcome::Skipped,
        service: "-".into(),
        threat: None,
        detail: why.to_owned(),
        passed: 0,
    })
}

/// A request that may go on to the origin, with the note of its upload scan.
pub(crate) struct Upload {
    pub request: Request<ProxyBody>,
    pub record: Record,
    /// The verdict of an upload scanned while it streams to the origin.
    pub late: Option<LateNote>,
}

/// Scans the body of `req` (REQMOD) before it goes to the origin; `Err` is the
/// answer for the client (the block page, or the scanning service's own answer).
pub(crate) async fn upload(
    conn: &Arc<Conn>,
    mut record: Record,
    req: Request<ProxyBody>,
    url: &str,
    close: bool,
) -> Result<Upload, Response<ProxyBody>> {
    let icap = &conn.shared.icap;
    if !icap.scans(Method::Reqmod) || req.body().is_end_stream() || req.body().size_hint().exact() == Some(0) {
        return Ok(Upload { request: req, record, late: None });
    }
    let (parts, body) = req.into_parts();
    let subject = Subject {
        method: Method::Reqmod,
        url: url.to_owned(),
        client: conn.client.ip,
        req_head: Bytes::from(wire::http_request_head(parts.method.as_str(), url, &clean(&parts.headers))),
        res_head: None,
        content_type: content_type(&parts.headers),
        hold: Arc::clone(&conn.hold),
    };
    match icap.scan(subject, body).await {
        Scanned::Deliver { body, note, late } => {
            record.scans.extend(note);
            Ok(Upload { request: Request::from_parts(parts, body), record, late })
        }
        Scanned::Replace { head: AdaptedHead::Request { method, target, headers }, body, note } => {
            record.scans.push(note);
            match replaced_request(parts, &method, &target, headers) {
                Some(parts) => Ok(Upload { request: Request::from_parts(parts, body), record, late: None }),
                None => {
                    let why = format!("the scanning service {} sent back an unusable request", record_service(&record));
                    Err(refuse(conn, record, &Denial::new(DenyKind::ScanFailed, why), close))
                }
            }
        }
        Scanned::Replace { head: AdaptedHead::Response(status, headers), body, note } => {
            record.scans.push(note);
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            Err(to_client(Arc::clone(conn), record, response, Arc::new(AtomicU64::new(0)), None))
        }
        Scanned::Refuse(note) => {
            let denial = scan_denial(&note);
            record.scans.push(note);
            Err(refuse(conn, record, &denial, close))
        }
    }
}

fn record_service(record: &Record) -> &str {
    record.scans.last().map_or("-", |n| n.service.as_str())
}

/// The request the service sent back: its method, path and headers, kept on the
/// same origin (the authority and protocol form stay as they were).
fn replaced_request(mut parts: Parts, method: &str, target: &str, mut headers: HeaderMap) -> Option<Parts> {
    parts.method = HttpMethod::from_bytes(method.as_bytes()).ok()?;
    let target: Uri = target.parse().ok()?;
    let path = target.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let uri = match parts.uri.authority() {
        Some(authority) => format!("{}://{authority}{path}", parts.uri.scheme_str().unwrap_or("https")),
        None => path,
    };
    parts.uri = uri.parse().ok()?;
    strip_hop_by_hop(&mut headers);
    match parts.headers.get(header::HOST).cloned() {
        Some(host) => drop(headers.insert(header::HOST, host)),
        None => drop(headers.remove(header::HOST)),
    }
    parts.headers = headers;
    Some(parts)
}

fn content_type(headers: &HeaderMap) -> String {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream").to_owned()
}

/// Whether a response carries a body to scan.
fn has_body(view: &RequestView, response: &Response<Incoming>) -> bool {
    let status = response.status();
    !(view.method == HttpMethod::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || response.body().is_end_stream())
}

/// Answers the client with the origin's `response`, scanned (RESPMOD) first when
/// `view` says a service scans downloads.
pub(crate) async fn download(
    conn: &Arc<Conn>,
    mut record: Record,
    view: Option<RequestView>,
    response: Response<Incoming>,
    from_client: Arc<AtomicU64>,
    close: bool,
) -> Response<ProxyBody> {
    let Some(view) = view.filter(|v| has_body(v, &response)) else {
        return to_client(Arc::clone(conn), record, response, from_client, None);
    };
    let (mut parts, body) = response.into_parts();
    let res_head = wire::http_response_head(parts.status, &clean(&parts.headers));
    let subject = Subject {
        method: Method::Respmod,
        url: view.url,
        client: conn.client.ip,
        req_head: view.head,
        res_head: Some(Bytes::from(res_head)),
        content_type: content_type(&parts.headers),
        hold: Arc::clone(&conn.hold),
    };
    match conn.shared.icap.scan(subject, body).await {
        Scanned::Deliver { body, note, late } => {
            record.scans.extend(note);
            to_client(Arc::clone(conn), record, Response::from_parts(parts, body), from_client, late)
        }
        Scanned::Replace { head: AdaptedHead::Response(status, headers), body, note } => {
            record.scans.push(note);
            parts.status = status;
            parts.headers = headers;
            to_client(Arc::clone(conn), record, Response::from_parts(parts, body), from_client, None)
        }
        Scanned::Replace { note, .. } => {
            let denial =
                Denial::new(DenyKind::ScanFailed, format!("{} answered a download with a request", note.service));
            record.scans.push(note);
            refuse(conn, record, &denial, close)
        }
        Scanned::Refuse(note) => {
            let denial = scan_denial(&note);
            record.scans.push(note);
            refuse(conn, record, &denial, close)
        }
    }
}
