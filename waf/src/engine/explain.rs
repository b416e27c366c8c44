//! `perimeter waf test`: one request through a site's rules, nothing sent anywhere; the
//! verdict, the anomaly score and the matched rule ids (the WAF's "policy explain").
//!
//! Must not: open a socket; decide anything the engine did not.

use std::net::{Ipv4Addr, SocketAddr};

use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;

use super::{Mode, Outcome, SiteRules, Step};

/// A request to explain.
#[derive(Debug, Clone)]
pub struct TestRequest {
    pub method: String,
    pub uri: String,
    /// Without `Host`, the site's name is used.
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The client address the engine sees (default 192.0.2.10).
    pub client: SocketAddr,
}

impl TestRequest {
    pub fn new(method: &str, uri: &str) -> TestRequest {
        TestRequest {
            method: method.into(),
            uri: uri.into(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            client: SocketAddr::from((Ipv4Addr::new(192, 0, 2, 10), 40000)),
        }
    }
}

/// What the site's rules do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictKind {
    /// Refused (block mode).
    Block,
    /// Would be refused, only recorded (detect mode).
    Detect,
    /// Passed.
    Pass,
}

/// `{"verdict":"block","score":10,"rules":[942100,949110]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub verdict: VerdictKind,
    /// The inbound anomaly score.
    pub score: u32,
    /// The ids of the matched rules, in order.
    pub rules: Vec<u32>,
    /// The refusal's status, when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Everything the engine said.
    #[serde(skip)]
    pub outcome: Outcome,
}

/// Runs `req` through the request phases and the logging phase of `rules`.
pub fn explain(rules: &SiteRules, req: &TestRequest) -> Verdict {
    let settings = rules.settings();
    let mut headers = req.headers.clone();
    if !headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&rules.inner.site)
    {
        headers.insert(header::HOST, host);
    }
    let server = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 443));
    let mut tx = rules.begin("explain", req.client, server);
    let mut step = tx.request_head(&req.method, &req.uri, "1.1", &headers);
    if step == Step::Continue {
        step = tx.request_body(&req.body);
    }
    let outcome = tx.finish();
    let would_block =
        outcome.inbound_score >= settings.inbound_threshold || outcome.matches.iter().any(|m| m.id == 949110);
    let verdict = match (step, settings.mode) {
        (Step::Intervene { .. }, _) => VerdictKind::Block,
        (Step::Continue, Mode::Detect) if would_block => VerdictKind::Detect,
        _ => VerdictKind::Pass,
    };
    Verdict {
        verdict,
        score: outcome.inbound_score,
        rules: outcome.matches.iter().map(|m| m.id).collect(),
        status: match step {
            Step::Intervene { status } => Some(status),
            Step::Continue => None,
        },
        outcome,
    }
}
