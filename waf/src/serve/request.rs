//! One request on an HTTPS connection, from its head to its answer: framing checks,
//! the site by Host (and the connection's SNI), the site's address lists and rate
//! limit, then the rule engine on the head and the body, and only then the origin; the
//! response, inspected when the site asks. Every answer the WAF gives itself is a page
//! naming the transaction id, and every transaction decided or matched is one audit line.
//!
//! Must not: send a byte to an origin before the engine has passed the head and the
//! body (or the body's first part, when the site inspects part of large bodies).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use clientio::{Framing, FramingWatch};
use http::{HeaderValue, Request, Response, header};

use hyper::body::{Body, Incoming};

use super::Shared;
use super::audit::{AuditRecord, AuditRule};
use super::body::{self, BodyError, Collected, ForwardBody, OriginBody, Pace};
use super::head::{framing, host_of, transaction_id};
use super::inspect::{Head, Inspection, ResponseHead, Verdict, version};
use super::metrics::Reason;
use super::{forward, page, upgrade};
use crate::engine::{Mode, Outcome, OverLimit};
use crate::sites::Active;

/// An answer that ends a request early (boxed: it is large).
type Early = Box<Response<OriginBody>>;

/// One client connection.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub client: SocketAddr,
    pub local: SocketAddr,
    /// The TLS server name, lower case.
    pub sni: Option<String>,
    pub tls: bool,
    /// The notes on each HTTP/1.1 request's framing, in order (none over HTTP/2).
    pub framing: Option<FramingWatch>,
}

/// Answers one request.
pub(crate) async fn handle(conn: Arc<Conn>, req: Request<Incoming>) -> Response<OriginBody> {
    let mut exchange = Exchange::new(conn, &req);
    let response = exchange.run(req).await;
    if !exchange.spent.is_zero() {
        exchange.conn.shared.metrics.engine_time(exchange.spent);
    }
    response
}

/// One request's transaction: what its audit line and page need.
pub(crate) struct Exchange {
    pub conn: Arc<Conn>,
    pub id: String,
    method: String,
    uri: String,
    language: String,
    site_name: String,
    site: Option<Arc<Active>>,
    spent: Duration,
    started: SystemTime,
}

impl Exchange {
    fn new(conn: Arc<Conn>, req: &Request<Incoming>) -> Exchange {
        let language = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        Exchange {
            conn,
            id: transaction_id(),
            method: req.method().to_string(),
            uri: req.uri().path_and_query().map_or_else(|| req.uri().to_string(), |p| p.to_string()),
            language: language.chars().take(256).collect(),
            site_name: "-".into(),
            site: None,
            spent: Duration::ZERO,
            started: SystemTime::now(),
        }
    }

    fn shared(&self) -> &Shared {
        &self.conn.shared
    }

    async fn run(&mut self, req: Request<Incoming>) -> Response<OriginBody> {
        // One note per request, taken first: hyper serves an HTTP/1.1 connection's requests in order.
        if let Some(Framing::Ambiguous(why)) = self.conn.framing.as_ref().and_then(FramingWatch::next) {
            return self.refuse(400, Reason::BadRequest, why.into(), None);
        }
        if let Err(why) = framing(&req) {
            return self.refuse(400, Reason::BadRequest, why.into(), None);
        }
        let Some(host) = host_of(&req) else {
            return self.refuse(
                400,
                Reason::BadRequest,
                "no Host, two, or one that differs from the target".into(),
                None,
            );
        };
        self.site_name = host.clone();
        let sites = self.shared().sites.load();
        let Some(site) = sites.find(&host).cloned() else {
            return self.refuse(421, Reason::Misdirected, format!("{host} is not a protected site"), None);
        };
        self.site_name = site.config.domain.clone();
        self.site = Some(Arc::clone(&site));
        site.counters.requests.fetch_add(1, Relaxed);
        let sni_site = self.conn.sni.as_deref().and_then(|sni| sites.find(sni));
        if self.conn.tls && !sni_site.is_some_and(|s| Arc::ptr_eq(s, &site)) {
            let why = format!("Host {host} on a connection for {}", self.conn.sni.as_deref().unwrap_or("no name"));
            return self.refuse(421, Reason::Misdirected, why, None);
        }
        if let Err(refusal) = site.access.admit(self.conn.client.ip()) {
            let reason = match refusal {
                super::admit::Refusal::Denied => Reason::DenyList,
                super::admit::Refusal::NotAllowed => Reason::AllowList,
                super::admit::Refusal::RateLimited => Reason::RateLimit,
            };
            return self.refuse(refusal.status(), reason, refusal.reason().into(), None);
        }
        self.decide(&site, &host, req).await
    }

    /// The engine on the head and the body, then the origin.
    async fn decide(&mut self, site: &Arc<Active>, host: &str, mut req: Request<Incoming>) -> Response<OriginBody> {
        let websocket = upgrade::is_websocket(&req);
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        forward::normalise(&mut parts, host);
        let settings = &site.config.rules;
        let shared = Arc::clone(&self.conn.shared);
        let mut inspection = Inspection::new(&shared.pool, shared.config.engine.budget);
        let head = Head {
            method: self.method.clone(),
            uri: self.uri.clone(),
            version: version(parts.version),
            headers: parts.headers.clone(),
        };
        let no_body = body.is_end_stream();
        let end = !settings.inspect_responses || websocket;
        let ids = (self.id.clone(), self.conn.client, self.conn.local);
        let first = if no_body { Some(Bytes::new()) } else { None };
        let verdict = inspection.request(&site.rules, ids, head, first, end && no_body).await;
        let mut outcome = match self.settle(verdict, &inspection) {
            Ok(outcome) => outcome,
            Err(page) => return *page,
        };
        let (forward_body, _held) = if no_body {
            (ForwardBody::Buffered(Bytes::new()), None)
        } else {
            match self.read_body(site, &parts, body, &mut inspection, end).await {
                Ok((forward_body, held, ended)) => {
                    outcome = ended;
                    (forward_body, Some(held))
                }
                Err(page) => return *page,
            }
        };
        if let Some(client_upgrade) = client_upgrade {
            return upgrade::websocket(self, site, host, &parts, client_upgrade, outcome).await;
        }
        let mut upstream = forward::to_origin(&parts, self.conn.client.ip(), host, false);
        match &forward_body {
            ForwardBody::Buffered(bytes) if !no_body => {
                upstream.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            ForwardBody::Streamed { .. } => {
                if let Some(length) = parts.headers.get(header::CONTENT_LENGTH) {
                    upstream.headers.insert(header::CONTENT_LENGTH, length.clone());
                }
            }
            ForwardBody::Buffered(_) => {}
        }
        let sent = site.origins.send(&upstream, forward_body, shared.config.timeouts.origin_response).await;
        let (origin, response) = match sent {
            Ok(answer) => answer,
            Err(e) => {
                if outcome.is_none() {
                    outcome = inspection.end().await;
                }
                let status = if matches!(e, super::origin::OriginError::Timeout { .. }) { 504 } else { 502 };
                return self.refuse(status, Reason::Origin, e.to_string(), outcome.as_ref());
            }
        };
        if let Some(outcome) = outcome {
            return self.pass(response, origin, Some(&outcome));
        }
        self.inspect_response(site, response, origin, &mut inspection).await
    }

    /// Turns an engine verdict into the outcome so far (`None` while the transaction is
    /// open), or the page that ends the request.
    fn settle(&mut self, verdict: Verdict, inspection: &Inspection) -> Result<Option<Outcome>, Early> {
        self.spent = inspection.spent;
        match verdict {
            Verdict::Open => Ok(None),
            Verdict::Passed(outcome) => Ok(Some(outcome)),
            Verdict::Refused { status, outcome } => Err(Box::new(self.blocked(status, &outcome))),
            Verdict::Undecided(why) => Err(Box::new(self.refuse(503, Reason::EngineBusy, why.to_string(), None))),
        }
    }

    /// Reads the body within the site's limit and has the engine decide it; returns what
    /// goes to the origin, the memory it holds, and the outcome if the transaction ended.
    async fn read_body(
        &mut self,
        site: &Arc<Active>,
        parts: &http::request::Parts,
        body: Incoming,
        inspection: &mut Inspection,
        end: bool,
    ) -> Result<(ForwardBody, body::Held, Option<Outcome>), Early> {
        let settings = &site.config.rules;
        let limit = usize::try_from(settings.body_limit).unwrap_or(usize::MAX);
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let refuse_over = settings.over_body_limit == OverLimit::Refuse;
        if refuse_over && declared.is_some_and(|n| n > settings.body_limit) {
            let outcome = inspection.end().await;
            let why = format!("a body of {} bytes, over the site's limit of {limit}", declared.unwrap_or(0));
            return Err(Box::new(self.refuse(413, Reason::BodyLimit, why, outcome.as_ref())));
        }
        let config = &self.shared().config;
        let pace = Pace {
            idle: config.timeouts.body_idle,
            min_rate: config.limits.body_min_rate,
            grace: config.timeouts.body_grace,
        };
        let memory = self.shared().memory.clone();
        let (collected, held) = match body::collect(body, limit, pace, &memory).await {
            Ok(read) => read,
            Err(e) => {
                let outcome = inspection.end().await;
                let reason = if matches!(e, BodyError::Memory) { Reason::EngineBusy } else { Reason::BodyPace };
                return Err(Box::new(self.refuse(e.status(), reason, e.to_string(), outcome.as_ref())));
            }
        };
        let (inspected, forward_body) = match collected {
            Collected::Whole(bytes) => (bytes.clone(), ForwardBody::Buffered(bytes)),
            Collected::Over { .. } if refuse_over => {
                let outcome = inspection.end().await;
                let why = format!("a body over the site's limit of {limit} bytes");
                return Err(Box::new(self.refuse(413, Reason::BodyLimit, why, outcome.as_ref())));
            }
            Collected::Over { read, rest } => (read.slice(..limit), ForwardBody::Streamed { first: read, rest }),
        };
        let verdict = inspection.body(inspected, end).await;
        let outcome = self.settle(verdict, inspection)?;
        Ok((forward_body, held, outcome))
    }

    /// Reads (the first part of) the response and has the engine decide it.
    async fn inspect_response(
        &mut self,
        site: &Arc<Active>,
        response: Response<Incoming>,
        origin: SocketAddr,
        inspection: &mut Inspection,
    ) -> Response<OriginBody> {
        let (parts, body) = response.into_parts();
        let limit = usize::try_from(site.config.rules.body_limit).unwrap_or(usize::MAX);
        let timeouts = &self.shared().config.timeouts;
        let pace = Pace { idle: timeouts.origin_response, min_rate: 0, grace: timeouts.origin_response };
        let memory = self.shared().memory.clone();
        let (inspected, body) = match body::collect(body, limit, pace, &memory).await {
            Ok((Collected::Whole(bytes), _)) => (bytes.clone(), body::full(bytes)),
            Ok((Collected::Over { read, rest }, _)) => {
                (read.slice(..limit), body::streamed(ForwardBody::Streamed { first: read, rest }))
            }
            Err(e) => {
                let outcome = inspection.end().await;
                return self.refuse(502, Reason::Origin, format!("the origin's response: {e}"), outcome.as_ref());
            }
        };
        let head = ResponseHead {
            status: parts.status.as_u16(),
            version: version(parts.version),
            headers: parts.headers.clone(),
        };
        let verdict = inspection.response(head, inspected).await;
        match self.settle(verdict, inspection) {
            Ok(outcome) => self.pass(Response::from_parts(parts, body), origin, outcome.as_ref()),
            Err(page) => *page,
        }
    }

    /// The origin's response to the client, with the audit line when rules matched.
    pub(crate) fn pass<B>(
        &self,
        response: Response<B>,
        origin: SocketAddr,
        outcome: Option<&Outcome>,
    ) -> Response<OriginBody>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<body::BoxError>,
    {
        let (mut parts, body) = response.into_parts();
        let switching = parts.status == http::StatusCode::SWITCHING_PROTOCOLS;
        forward::to_client(&mut parts.headers, switching);
        if let Some(outcome) = outcome.filter(|o| !o.matches.is_empty()) {
            if let Some(site) = &self.site {
                site.counters.matched.fetch_add(1, Relaxed);
            }
            self.record(parts.status.as_u16(), "matched", None, Some(outcome), Some(origin));
        }
        Response::from_parts(parts, body::boxed(body))
    }

    /// The engine refused: the block page with `status`.
    pub(crate) fn blocked(&self, status: u16, outcome: &Outcome) -> Response<OriginBody> {
        self.shared().metrics.refused(Reason::Rules);
        if let Some(site) = &self.site {
            site.counters.blocked.fetch_add(1, Relaxed);
        }
        self.record(status, "blocked", None, Some(outcome), None);
        page::response(status, &self.id, &self.language)
    }

    /// The WAF answers itself for `reason`.
    pub(crate) fn refuse(
        &self,
        status: u16,
        reason: Reason,
        why: String,
        outcome: Option<&Outcome>,
    ) -> Response<OriginBody> {
        self.shared().metrics.refused(reason);
        if let Some(site) = &self.site {
            site.counters.refused.fetch_add(1, Relaxed);
        }
        self.record(status, "refused", Some(why), outcome, None);
        page::response(status, &self.id, &self.language)
    }

    /// Writes the audit line and counts the rules that matched.
    pub(crate) fn record(
        &self,
        status: u16,
        action: &'static str,
        reason: Option<String>,
        outcome: Option<&Outcome>,
        origin: Option<SocketAddr>,
    ) {
        let shared = self.shared();
        if let Some(outcome) = outcome {
            shared.metrics.rules_matched(outcome.matches.iter().map(|m| m.id));
        }
        let mode = match self.site.as_ref().map(|s| s.config.rules.mode) {
            Some(Mode::Block) => "block",
            _ => "detect",
        };
        let time = time::OffsetDateTime::from(self.started);
        shared.audit.write(AuditRecord {
            time: time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            transaction: self.id.clone(),
            site: self.site_name.clone(),
            client: self.conn.client.ip(),
            method: self.method.clone(),
            uri: super::audit::uri(&self.uri),
            status,
            mode,
            action,
            reason,
            score: outcome.map_or(0, |o| o.inbound_score),
            outbound_score: outcome.map_or(0, |o| o.outbound_score),
            rules: outcome.map(|o| o.matches.iter().map(AuditRule::from).collect()).unwrap_or_default(),
            engine_ms: self.spent.as_secs_f64() * 1000.0,
            origin,
        });
    }
}
