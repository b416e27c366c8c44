//! One transaction's way through the rule engine, in the engine's order: the request
//! head, the request body (always, an empty one too: phase 2 runs there), the response
//! head and body when the site inspects responses, then the end (phase 5) which gives
//! the scores and matched rules. Each call runs on the engine's threads (`pool`) within
//! what is left of the transaction's budget; the calls that follow each other without
//! waiting for the network run as one job.
//!
//! Must not: let a request through when the engine gave no answer; the caller turns
//! [`Verdict::Undecided`] into a 503.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tokio::time::Instant;

use super::pool::{EnginePool, PoolError};
use crate::engine::{Outcome, SiteRules, Step, Transaction};

/// A request head as the engine reads it.
pub(crate) struct Head {
    pub method: String,
    pub uri: String,
    pub version: &'static str,
    pub headers: HeaderMap,
}

/// A response head as the engine reads it.
pub(crate) struct ResponseHead {
    pub status: u16,
    pub version: &'static str,
    pub headers: HeaderMap,
}

/// Where a transaction stands after a call.
pub(crate) enum Verdict {
    /// Passed so far; more calls to come.
    Open,
    /// Passed and ended (the outcome may still hold matched rules, in detect mode or
    /// under the threshold).
    Passed(Outcome),
    /// The engine intervened with this status.
    Refused { status: u16, outcome: Outcome },
    /// The engine gave no answer: its queue was full or the budget spent.
    Undecided(PoolError),
}

/// A transaction on its way through the engine.
pub(crate) struct Inspection {
    pool: EnginePool,
    deadline: Instant,
    tx: Option<Transaction>,
    /// Engine time spent so far (the calls themselves, not the queueing).
    pub spent: Duration,
}

/// What one job does after the transaction begins or resumes.
enum Call {
    Head(Head),
    Body(Bytes),
    ResponseHead(ResponseHead),
    ResponseBody(Bytes),
}

impl Inspection {
    /// A transaction that will begin on its first call, with `budget` for all of them.
    pub(crate) fn new(pool: &EnginePool, budget: Duration) -> Inspection {
        Inspection { pool: pool.clone(), deadline: Instant::now() + budget, tx: None, spent: Duration::ZERO }
    }

    /// Begins the transaction and decides the request head, and the body when it is
    /// already known; ends the transaction when `end` (nothing more to inspect).
    pub(crate) async fn request(
        &mut self,
        rules: &SiteRules,
        ids: (String, SocketAddr, SocketAddr),
        head: Head,
        body: Option<Bytes>,
        end: bool,
    ) -> Verdict {
        let rules = rules.clone();
        let begin = move || {
            let (id, client, server) = ids;
            rules.begin(&id, client, server)
        };
        let mut calls = vec![Call::Head(head)];
        calls.extend(body.map(Call::Body));
        self.job(Some(Box::new(begin)), calls, end).await
    }

    /// Decides the request body (at most the limit); ends the transaction when `end`.
    pub(crate) async fn body(&mut self, body: Bytes, end: bool) -> Verdict {
        self.job(None, vec![Call::Body(body)], end).await
    }

    /// Decides the response head and (the first part of) its body, and ends the transaction.
    pub(crate) async fn response(&mut self, head: ResponseHead, body: Bytes) -> Verdict {
        self.job(None, vec![Call::ResponseHead(head), Call::ResponseBody(body)], true).await
    }

    /// Ends a transaction still open (after an error of the origin, say), for its outcome.
    pub(crate) async fn end(&mut self) -> Option<Outcome> {
        match self.job(None, Vec::new(), true).await {
            Verdict::Passed(outcome) | Verdict::Refused { outcome, .. } => Some(outcome),
            Verdict::Open | Verdict::Undecided(_) => None,
        }
    }

    async fn job(
        &mut self,
        begin: Option<Box<dyn FnOnce() -> Transaction + Send>>,
        calls: Vec<Call>,
        end: bool,
    ) -> Verdict {
        let held = self.tx.take();
        let work = move || {
            let mut tx = match (held, begin) {
                (Some(tx), _) => tx,
                (None, Some(begin)) => begin(),
                (None, None) => return Err(()),
            };
            for call in calls {
                if let Step::Intervene { status } = apply(&mut tx, call) {
                    return Ok((None, Some(status), Some(tx.finish())));
                }
            }
            if end { Ok((None, None, Some(tx.finish()))) } else { Ok((Some(tx), None, None)) }
        };
        match self.pool.run(self.deadline, work).await {
            Err(e) => Verdict::Undecided(e),
            Ok((Err(()), _)) => Verdict::Undecided(PoolError::Budget),
            Ok((Ok((tx, status, outcome)), took)) => {
                self.spent += took;
                self.tx = tx;
                match (status, outcome) {
                    (Some(status), Some(outcome)) => Verdict::Refused { status, outcome },
                    (None, Some(outcome)) => Verdict::Passed(outcome),
                    _ => Verdict::Open,
                }
            }
        }
    }
}

fn apply(tx: &mut Transaction, call: Call) -> Step {
    match call {
        Call::Head(h) => tx.request_head(&h.method, &h.uri, h.version, &h.headers),
        Call::Body(b) => tx.request_body(&b),
        Call::ResponseHead(h) => tx.response_head(h.status, h.version, &h.headers),
        Call::ResponseBody(b) => tx.response_body(&b),
    }
}

/// The engine's spelling of an HTTP version.
pub(crate) fn version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2.0",
        http::Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}
