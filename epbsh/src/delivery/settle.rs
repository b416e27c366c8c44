//! The end of a delivery attempt: spool marks, reports to the guard and the metrics,
//! DSNs, and the hold or reschedule. Only a connected system's (authenticated) sender gets
//! a DSN; a failure of mail from outside is logged and counted, never reported to its
//! sender. Must not: send anything itself (a DSN is spooled and queued like any message).

use time::OffsetDateTime;

use super::Shared;
use super::dsn::{self, Failure};
use crate::envelope::Envelope;
use crate::hooks::{Delivery, Outcome};
use crate::metrics::bump;
use crate::spool::{MessageId, RecipientOutcome, RecipientState, Retry};

/// The result for one recipient (by index) and the server that gave it.
pub(crate) struct RcptResult {
    pub index: usize,
    pub outcome: Outcome,
    pub remote: Option<String>,
}

/// Records the results of an attempt: delivered marks, then the DSN (spooled before the
/// failed marks, so a crash in between repeats the DSN rather than losing it), guard
/// reports, then the hold (`held`, or the system suspended meanwhile) or the reschedule
/// (recorded in the spool, so that a restart keeps the retry schedule).
pub(crate) async fn settle(shared: &Shared, id: MessageId, env: &Envelope, results: Vec<RcptResult>, held: bool) {
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
    let hold = held || shared.sender_suspended(env);
    let (now, wall) = (tokio::time::Instant::now(), OffsetDateTime::now_utc());
    let retry = {
        let mut queue = shared.queue();
        if hold {
            queue.hold(id);
        }
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
    if let Some(system) = env.system_id.filter(|_| hold) {
        let still_queued = shared.queue().get(id).is_some_and(|i| i.held);
        if still_queued {
            shared.persist_holds(&[id]).await;
        }
        shared.hold_system(system).await;
    }
}

/// Ends an attempt that tried nothing because every destination of the message was
/// full: no attempt is counted and nothing is recorded; the message is looked at again
/// after [`BUSY_RECHECK`](super::queue::BUSY_RECHECK).
pub(crate) fn later(shared: &Shared, id: MessageId) {
    shared.queue().busy(id, tokio::time::Instant::now());
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

/// Queues the DSN to the sender; false when it could not be spooled. None for the null
/// sender (never bounce a bounce), and none for mail that came from outside: its sender
/// is not authenticated and may be forged, so a report would be backscatter. Such a
/// failure is logged and counted instead (the relay refuses in the dialogue whatever it
/// can know then: recipients, size, content, hops).
async fn bounce(shared: &Shared, id: MessageId, env: &Envelope, failures: &[(usize, Failure)]) -> bool {
    if env.sender.is_none() {
        return true;
    }
    if env.system_id.is_none() {
        for (_, f) in failures {
            let sender = env.sender.as_ref().map(ToString::to_string).unwrap_or_default();
            tracing::warn!(%id, %sender, rcpt = %f.rcpt, status = %f.status, diagnostic = %f.diagnostic, "mail from outside failed; no DSN to its unauthenticated sender");
            bump(&shared.metrics.dsns_suppressed);
        }
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
