//! One RESPMOD or REQMOD exchange with one service (RFC 3507 section 4): the
//! encapsulated HTTP heads, a Preview when the service wants one, then, after
//! `100 Continue`, the rest of the body as it arrives from the feeder, and the
//! answer read as a [`Verdict`]. A body that ends within the preview size goes
//! whole without a preview (c-icap answers that sooner), or, for a service set
//! to `ieof_previews`, as a preview ending in `ieof`. Verdicts:
//! `204` (in or after the preview) clean, `200` with a named threat, a
//! replacement message (adapted), or a failure.
//!
//! Must not: hold the body (the feeder keeps it and sends slices of the same
//! buffers), or wait on the service longer than its time limit per step.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::ExchangeError;
use super::options::{Method, Transfer};
use super::pool::Lease;
use super::service::Service;
use super::threat::threat;
use super::wire::{self, Chunked, Encapsulated, Head, Piece, Section};

/// The feeder's input to an exchange; a channel closed without `End` aborts it.
#[derive(Debug)]
pub(crate) enum Feed {
    Data(Bytes),
    End,
}

/// What is sent besides the body.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub method: Method,
    /// The encapsulated HTTP request head.
    pub req_head: Bytes,
    /// The encapsulated HTTP response head (RESPMOD only).
    pub res_head: Option<Bytes>,
    pub transfer: Transfer,
    pub client: IpAddr,
}

/// A replacement the service answered with.
#[derive(Debug)]
pub(crate) struct Adapted {
    pub head: AdaptedHead,
    /// Its body, streamed from the service's connection.
    pub body: Option<mpsc::Receiver<Result<Bytes, ExchangeError>>>,
}

/// The head of a replacement message.
#[derive(Debug, Clone)]
pub(crate) enum AdaptedHead {
    Response(StatusCode, HeaderMap),
    Request { method: String, target: String, headers: HeaderMap },
}

/// What one service made of a message.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Nothing found (`204`).
    Clean,
    /// A threat, by the name the service gave.
    Threat(String),
    /// The service put an HTTP error in place of the message, without naming a threat.
    Refused(String),
    /// The service answered with a replacement message.
    Adapted(Adapted),
    /// No verdict.
    Failed(ExchangeError),
    /// The feeder stopped before the body's end (over the limit, or the peer went away).
    Aborted,
}

/// Runs one exchange to its verdict, counting it on the service.
pub(crate) async fn run(service: Arc<Service>, msg: Message, mut feed: mpsc::Receiver<Feed>) -> Verdict {
    let verdict = exchange(&service, &msg, &mut feed).await.unwrap_or_else(Verdict::Failed);
    let (detected, failed) = (matches!(verdict, Verdict::Threat(_)), matches!(verdict, Verdict::Failed(_)));
    if !matches!(verdict, Verdict::Aborted) {
        service.count(msg.method, detected, failed);
    }
    verdict
}

/// The `Encapsulated` value and the heads, in order.
fn encapsulation(msg: &Message) -> (String, Vec<Bytes>) {
    let mut sections = Vec::new();
    let mut heads = Vec::new();
    let mut offset = 0;
    sections.push((Section::ReqHdr, 0));
    offset += msg.req_head.len();
    heads.push(msg.req_head.clone());
    let body = match (&msg.res_head, msg.method) {
        (Some(res), Method::Respmod) => {
            sections.push((Section::ResHdr, offset));
            offset += res.len();
            heads.push(res.clone());
            Section::ResBody
        }
        _ => Section::ReqBody,
    };
    sections.push((body, offset));
    (Encapsulated(sections).render(), heads)
}

/// Reads up to `size` bytes of body from the feed: (preview slices, the rest of
/// the last frame, whether the body ended). `None` when the feeder aborted.
async fn take_preview(feed: &mut mpsc::Receiver<Feed>, size: usize) -> Option<(Vec<Bytes>, Option<Bytes>, bool)> {
    let (mut slices, mut got) = (Vec::new(), 0);
    while got < size {
        match feed.recv().await? {
            Feed::Data(b) => {
                let take = (size - got).min(b.len());
                slices.push(b.slice(..take));
                got += take;
                if take < b.len() {
                    return Some((slices, Some(b.slice(take..)), false));
                }
            }
            Feed::End => return Some((slices, None, true)),
        }
    }
    Some((slices, None, false))
}

async fn exchange(
    service: &Arc<Service>,
    msg: &Message,
    feed: &mut mpsc::Receiver<Feed>,
) -> Result<Verdict, ExchangeError> {
    let preview = match msg.transfer {
        Transfer::Preview => service.options.load().as_ref().and_then(|o| o.preview),
        _ => None,
    };
    let (mut carry, mut ended, mut slices) = (None, false, Vec::new());
    if let Some(size) = preview {
        let Some(taken) = take_preview(feed, size).await else { return Ok(Verdict::Aborted) };
        (slices, carry, ended) = taken;
    }
    // A body that ended within the preview size is in hand: sent whole, unless the
    // service is to get such bodies as a preview ending in `ieof`.
    let previewing = preview.is_some() && (!ended || service.ieof_previews);
    let mut lease = service.pool.get(service.timeout).await?;
    let (enc, heads) = encapsulation(msg);
    let mut headers = vec![("Allow", "204".to_owned()), ("X-Client-IP", msg.client.to_string())];
    if previewing {
        headers.push(("Preview", slices.iter().map(Bytes::len).sum::<usize>().to_string()));
    }
    let head = wire::request_head(msg.method.as_str(), &service.uri, &service.host, &headers, &enc);
    let parts: Vec<&[u8]> = std::iter::once(&head[..]).chain(heads.iter().map(|h| &h[..])).collect();
    lease.conn.write(&parts, service.timeout).await?;
    for slice in &slices {
        lease.conn.write_chunk(slice, service.timeout).await?;
    }
    if previewing {
        lease.conn.write(&[wire::last_chunk(ended)], service.timeout).await?;
        let answer = verdict(service, &mut lease).await?;
        if answer.status != 100 || ended {
            return answer_of(service, lease, answer, msg.method, true).await;
        }
    }
    if let Some(rest) = carry.take() {
        lease.conn.write_chunk(&rest, service.timeout).await?;
    }
    while !ended {
        let next = tokio::select! {
            biased;
            early = lease.conn.answer_waiting() => match early? {
                true => None,
                false => continue,
            },
            next = feed.recv() => Some(next),
        };
        match next {
            // The service answered before the end of the body.
            None => {
                let answer = verdict(service, &mut lease).await?;
                return answer_of(service, lease, answer, msg.method, false).await;
            }
            Some(Some(Feed::Data(b))) => lease.conn.write_chunk(&b, service.timeout).await?,
            Some(Some(Feed::End)) => ended = true,
            Some(None) => return Ok(Verdict::Aborted),
        }
    }
    lease.conn.write(&[wire::last_chunk(false)], service.timeout).await?;
    let answer = verdict(service, &mut lease).await?;
    answer_of(service, lease, answer, msg.method, true).await
}

/// Reads the answer head, counting the wait as time spent on the service.
async fn verdict(service: &Service, lease: &mut Lease) -> Result<Head, ExchangeError> {
    let started = Instant::now();
    let head = lease.conn.read_head(started + service.timeout).await;
    service.waited(started);
    head
}

/// Turns an answer into a verdict; `clean_end` when the request was sent to a
/// proper end (so the connection can serve another exchange).
async fn answer_of(
    service: &Arc<Service>,
    lease: Lease,
    answer: Head,
    method: Method,
    clean_end: bool,
) -> Result<Verdict, ExchangeError> {
    let reusable = clean_end && !answer.closes();
    match answer.status {
        204 => {
            if reusable {
                service.pool.put(lease);
            }
            Ok(Verdict::Clean)
        }
        200 => modified(service, lease, answer, method, reusable).await,
        100 => Err(ExchangeError::Status(100, "Continue after the whole body".into())),
        status => Err(ExchangeError::Status(status, answer.reason)),
    }
}

/// A `200`: a named threat, an HTTP error in place of the message, or a replacement.
async fn modified(
    service: &Arc<Service>,
    mut lease: Lease,
    answer: Head,
    method: Method,
    reusable: bool,
) -> Result<Verdict, ExchangeError> {
    let deadline = Instant::now() + service.timeout;
    let enc = Encapsulated::parse(answer.get("encapsulated").unwrap_or_default())?;
    let mut req_hdr = None;
    if let Some(len) = enc.header_len(Section::ReqHdr) {
        req_hdr = Some(lease.conn.read_exact(len, deadline).await?);
    }
    let mut res_hdr = None;
    if let Some(len) = enc.header_len(Section::ResHdr) {
        res_hdr = Some(lease.conn.read_exact(len, deadline).await?);
    }
    let has_body = matches!(enc.body(), Section::ResBody | Section::ReqBody);
    if let Some(name) = threat(&answer) {
        drain(service, lease, has_body, reusable).await;
        return Ok(Verdict::Threat(name));
    }
    let head = if let Some(res) = &res_hdr {
        let (status, headers) = wire::parse_http_response(res)?;
        if status.as_u16() >= 400 {
            drain(service, lease, has_body, reusable).await;
            let what = if method == Method::Reqmod { "upload" } else { "download" };
            return Ok(Verdict::Refused(format!("the service answered the {what} with HTTP {status}")));
        }
        AdaptedHead::Response(status, headers)
    } else if let Some(req) = req_hdr.as_ref().filter(|_| method == Method::Reqmod) {
        let (method, target, headers) = wire::parse_http_request(req)?;
        AdaptedHead::Request { method, target, headers }
    } else {
        return Err(ExchangeError::Protocol(wire::WireError::Http("200 without the message to deliver".into())));
    };
    let body = has_body.then(|| stream_body(service, lease, reusable));
    Ok(Verdict::Adapted(Adapted { head, body }))
}

/// Reads a small answer body to its end so the connection can be reused.
async fn drain(service: &Arc<Service>, mut lease: Lease, has_body: bool, reusable: bool) {
    const MAX_DRAIN: usize = 256 * 1024;
    let deadline = Instant::now() + service.timeout;
    let mut dec = Chunked::default();
    let mut seen = 0;
    if has_body {
        loop {
            match lease.conn.read_piece(&mut dec, deadline).await {
                Ok(Piece::Data(b)) if seen + b.len() <= MAX_DRAIN => seen += b.len(),
                Ok(Piece::End { .. }) => break,
                _ => return,
            }
        }
    }
    if reusable {
        service.pool.put(lease);
    }
}

/// Streams a replacement body from the connection into a channel (its own task).
fn stream_body(
    service: &Arc<Service>,
    mut lease: Lease,
    reusable: bool,
) -> mpsc::Receiver<Result<Bytes, ExchangeError>> {
    let (tx, rx) = mpsc::channel(8);
    let (timeout, pool_service) = (service.timeout, Arc::clone(service));
    tokio::spawn(async move {
        let mut dec = Chunked::default();
        loop {
            match lease.conn.read_piece(&mut dec, Instant::now() + timeout).await {
                Ok(Piece::Data(b)) => {
                    if tx.send(Ok(b)).await.is_err() {
                        return;
                    }
                }
                Ok(Piece::End { .. }) => break,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        if reusable {
            pool_service.pool.put(lease);
        }
    });
    rx
}
