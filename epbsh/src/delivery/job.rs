//! One delivery attempt of one queued message: expire it if its lifetime is over, else
//! route its pending recipients, resolve each route and send one transaction per route
//! (trying the route's addresses in order). Then [`settle`] records the results: spool
//! marks, guard reports, a DSN for permanent failures, and the reschedule.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use super::Shared;
use super::client::{Client, ClientOptions, SendError};
use super::dsn::{self, Failure};
use super::resolve::{Target, Unresolved};
use super::route::{self, Route};
use super::tls::TlsState;
use crate::envelope::{Envelope, Mailbox};
use crate::hooks::{Delivery, Outcome};
use crate::relay::metrics::bump;
use crate::spool::{MessageId, RecipientOutcome, RecipientState, Retry};

/// The result for one recipient (by index) and the server that gave it.
pub(crate) struct RcptResult {
    pub index: usize,
    pub outcome: Outcome,
    pub remote: Option<String>,
}

/// Runs one attempt of message `id` (marked in flight by the scheduler).
pub(crate) async fn run(shared: Arc<Shared>, id: MessageId) {
    let Some((envelope, pending, expires_at)) =
        shared.queue().get(id).map(|i| (i.envelope.clone(), i.pending(), i.expires_at))
    else {
        return;
    };
    let results = if OffsetDateTime::now_utc() >= expires_at {
        same(&pending, Outcome::Expired)
    } else {
        match shared.spool.read(id).await {
            Ok(msg) => deliver(&shared, &envelope, &pending, &msg.body).await,
            Err(e) => {
                tracing::error!(%id, error = %e, "cannot read queued message; deferring");
                same(&pending, Outcome::Deferred { reply: format!("4.3.0 spool read failed: {e}") })
            }
        }
    };
    settle(&shared, id, &envelope, results).await;
    shared.wake.notify_one();
}

/// The same outcome for every recipient in `pending`.
fn same(pending: &[usize], outcome: Outcome) -> Vec<RcptResult> {
    pending.iter().map(|&index| RcptResult { index, outcome: outcome.clone(), remote: None }).collect()
}

/// Most `Received:` headers a message may carry before it is taken for a mail loop.
const MAX_HOPS: usize = 50;

/// Groups the pending recipients by route and sends each group.
async fn deliver(shared: &Shared, env: &Envelope, pending: &[usize], body: &[u8]) -> Vec<RcptResult> {
    if hops(body) > MAX_HOPS {
        let reply = format!("5.4.6 mail forwarding loop: more than {MAX_HOPS} Received headers");
        return same(pending, Outcome::Rejected { code: 554, reply });
    }
    let registry = shared.registry.load();
    let mut groups: BTreeMap<Route, Vec<usize>> = BTreeMap::new();
    for &i in pending {
        let r = route::choose(&env.recipients[i], &registry, &shared.cfg.transport, shared.cfg.smarthost.as_ref());
        groups.entry(r).or_default().push(i);
    }
    drop(registry);
    let mut out = Vec::with_capacity(pending.len());
    for (route, idx) in groups {
        let rcpts: Vec<&Mailbox> = idx.iter().map(|&i| &env.recipients[i]).collect();
        let (outcomes, remote) = match shared.resolver.targets(&route).await {
            Err(Unresolved::Permanent(why)) => (vec![Outcome::Rejected { code: 550, reply: why }; idx.len()], None),
            Err(Unresolved::Temporary(why)) => (vec![Outcome::Deferred { reply: why }; idx.len()], None),
            Ok(targets) => transmit(shared, &targets, env.sender.as_ref(), &rcpts, body).await,
        };
        out.extend(idx.into_iter().zip(outcomes).map(|(index, outcome)| RcptResult {
            index,
            outcome,
            remote: remote.clone(),
        }));
    }
    out
}

/// `Received:` header fields in the header section.
fn hops(body: &[u8]) -> usize {
    let end = memchr::memmem::find(body, b"\r\n\r\n").unwrap_or(body.len());
    body[..end].split(|b| *b == b'\n').filter(|l| l.len() >= 9 && l[..9].eq_ignore_ascii_case(b"received:")).count()
}

/// Tries the targets in order until one takes the transaction (or commits to it).
async fn transmit(
    shared: &Shared,
    targets: &[Target],
    sender: Option<&Mailbox>,
    rcpts: &[&Mailbox],
    body: &[u8],
) -> (Vec<Outcome>, Option<String>) {
    let mut last = String::from("no address to try");
    for t in targets {
        if shared.is_self(t.addr) {
            let reply = format!("5.4.6 mail for {} loops back to myself", t.name);
            return (vec![Outcome::Rejected { code: 554, reply }; rcpts.len()], None);
        }
        let mut client = match connect(shared, t).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(target_addr = %t.addr, error = %e, "delivery connection failed");
                last = e;
                continue;
            }
        };
        match client.send(sender, rcpts, body).await {
            Ok(outcomes) => {
                shared.pool.put(client).await;
                return (outcomes, Some(t.name.clone()));
            }
            Err(SendError { error, committed }) => {
                last = format!("{} [{}]: {error}", t.name, t.addr);
                if committed {
                    break;
                }
            }
        }
    }
    (vec![Outcome::Deferred { reply: format!("4.4.1 {last}") }; rcpts.len()], None)
}

async fn connect(shared: &Shared, t: &Target) -> Result<Client, String> {
    if let Some(c) = shared.pool.take(t.addr).await {
        bump(&shared.metrics.connections_reused);
        return Ok(c);
    }
    let opts = ClientOptions {
        helo: &shared.hostname,
        tls: shared.tls.as_ref(),
        connect_timeout: shared.cfg.connect_timeout,
        command_timeout: shared.cfg.command_timeout,
    };
    let c = Client::connect(t.addr, &t.name, &opts).await.map_err(|e| format!("{} [{}]: {e}", t.name, t.addr))?;
    match &c.tls {
        TlsState::Plain => bump(&shared.metrics.tls_none),
        TlsState::Verified => bump(&shared.metrics.tls_verified),
        TlsState::Unverified(why) => {
            tracing::info!(host = %t.name, addr = %t.addr, reason = %why, "TLS certificate not verified; sending encrypted anyway");
            bump(&shared.metrics.tls_unverified);
        }
    }
    Ok(c)
}

/// Records the results: delivered marks, then the DSN (spooled before the failed marks, so
/// a crash in between repeats the DSN rather than losing it), guard reports, reschedule
/// (recorded in the spool, so that a restart keeps the retry schedule).
async fn settle(shared: &Shared, id: MessageId, env: &Envelope, results: Vec<RcptResult>) {
    let mut settled = Vec::new();
    let mut failures = Vec::new();
    let mut last_error = None;
    let last_known = shared.queue().get(id).and_then(|i| i.last_error.clone());
    for r in &results {
        report(shared, id, env, r);
        let rcpt = env.recipients[r.index].clone();
        match &r.outcome {
            Outcome::Delivered => {
                mark(shared, id, r.index, RecipientOutcome::Delivered).await;
                settled.push((r.index, RecipientState::Delivered));
            }
            Outcome::Deferred { reply } => last_error = Some(reply.clone()),
            Outcome::Rejected { reply, .. } => {
                failures.push((r.index, Failure::from_text(rcpt, reply, r.remote.clone())))
            }
            Outcome::Expired => {
                let why = last_known.clone().unwrap_or_else(|| "no attempt succeeded".into());
                let diagnostic = format!("delivery time expired; last error: {why}");
                failures.push((r.index, Failure { rcpt, status: "4.4.7".into(), diagnostic, remote: None }));
            }
        }
    }
    // A failure whose DSN could not be spooled stays pending: it fails (and reports)
    // again at the next attempt rather than vanishing without a report.
    if !failures.is_empty() && bounce(shared, id, env, &failures).await {
        for (index, _) in &failures {
            mark(shared, id, *index, RecipientOutcome::Failed).await;
            settled.push((*index, RecipientState::Failed));
        }
    }
    let (now, wall) = (tokio::time::Instant::now(), OffsetDateTime::now_utc());
    let retry = {
        let mut queue = shared.queue();
        queue.finish_attempt(id, &settled, last_error, now, wall);
        queue.get(id).filter(|i| !i.held).and_then(|i| {
            let next_at = Some(wall + i.next_at?.saturating_duration_since(now));
            Some(Retry { attempts: i.attempts, next_at, last_error: i.last_error.clone() })
        })
    };
    if let Some(retry) = retry
        && let Err(e) = shared.spool.defer(id, &retry).await
    {
        tracing::warn!(%id, error = %e, "cannot record the retry time; after a restart it is retried at once");
    }
}

fn report(shared: &Shared, id: MessageId, env: &Envelope, r: &RcptResult) {
    let m = &shared.metrics;
    bump(match r.outcome {
        Outcome::Delivered => &m.recipients_delivered,
        Outcome::Deferred { .. } => &m.recipients_deferred,
        Outcome::Rejected { .. } => &m.recipients_failed,
        Outcome::Expired => &m.recipients_expired,
    });
    if let Some(system) = env.system_id {
        let recipient = &env.recipients[r.index];
        let d = Delivery { id, system, recipient, outcome: r.outcome.clone(), bounce: env.sender.is_none() };
        shared.guard.delivered(&d);
    }
}

async fn mark(shared: &Shared, id: MessageId, index: usize, outcome: RecipientOutcome) {
    if let Err(e) = shared.spool.mark(id, index, outcome).await {
        tracing::error!(%id, index, error = %e, "cannot record delivery outcome; it may be repeated after a restart");
    }
}

/// Queues the DSN to the sender (none for the null sender); false when it could not be
/// spooled.
async fn bounce(shared: &Shared, id: MessageId, env: &Envelope, failures: &[(usize, Failure)]) -> bool {
    if env.sender.is_none() {
        return true;
    }
    let body = match shared.spool.read(id).await {
        Ok(m) => m.body,
        Err(e) => {
            tracing::error!(%id, error = %e, "cannot read the original for its DSN; reporting without headers");
            bytes::Bytes::new()
        }
    };
    let list: Vec<Failure> = failures.iter().map(|(_, f)| f.clone()).collect();
    let Some((dsn_env, dsn_body)) = dsn::build(&shared.hostname, id, env, &body, &list, OffsetDateTime::now_utc())
    else {
        return true;
    };
    match shared.spool.accept(dsn_env.clone(), dsn_body).await {
        Ok(dsn_id) => {
            tracing::info!(%id, dsn = %dsn_id, "queued delivery status notification");
            bump(&shared.metrics.dsns_queued);
            shared.enqueue(dsn_id, dsn_env, None);
            true
        }
        Err(e) => {
            tracing::error!(%id, error = %e, "cannot queue the DSN; the failures stay pending");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_received_headers_only_in_the_header_section() {
        let m = b"Received: a\r\nreceived: b\r\n\tcont\r\nSubject: x\r\n\r\nReceived: body\r\n";
        assert_eq!(super::hops(m), 2);
    }
}
