//! One delivery attempt of one queued message: hold it if its system is suspended, expire
//! it if its lifetime is over, else route its pending recipients, resolve each route and
//! send one transaction per route (trying the route's addresses in order). Then
//! [`settle`](super::settle) records the results.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;

use super::Shared;
use super::error::SendError;
use super::resolve::{Target, Unresolved};
use super::route::{self, Route};
use super::settle::{self, RcptResult};
use super::sts::{Mode, Policy};
use super::tls::TlsState;
use crate::envelope::{Envelope, Mailbox};
use crate::hooks::Outcome;
use crate::smtp::{MAX_HOPS, hops};
use crate::spool::MessageId;

/// Runs one attempt of message `id` (marked in flight by the scheduler). A message of a
/// system suspended now (by the registry or the guard) is held instead, also between
/// the transactions of one attempt. Recipients whose destination has all its deliveries
/// running stay pending; when that is all of them (the scheduler checked just before,
/// but slots are taken meanwhile) nothing was tried and the message is looked at again
/// shortly, its attempts and retry schedule untouched.
pub(crate) async fn run(shared: Arc<Shared>, id: MessageId) {
    let Some((envelope, pending, expires_at)) =
        shared.queue().get(id).map(|i| (i.envelope.clone(), i.pending(), i.expires_at))
    else {
        return;
    };
    let (results, held, busy) = if shared.sender_suspended(&envelope) {
        (Vec::new(), true, false)
    } else if OffsetDateTime::now_utc() >= expires_at {
        (same(&pending, Outcome::Expired), false, false)
    } else {
        match shared.spool.read(id).await {
            Ok(msg) => deliver(&shared, &envelope, &pending, &msg.body).await,
            Err(e) => {
                tracing::error!(%id, error = %e, "cannot read queued message; deferring");
                (same(&pending, Outcome::Deferred { reply: format!("4.3.0 spool read failed: {e}") }), false, false)
            }
        }
    };
    match busy && !held && results.is_empty() {
        true => settle::later(&shared, id),
        false => settle::settle(&shared, id, &envelope, results, held).await,
    }
    shared.wake.notify_one();
}

/// The pending recipients grouped by route, as the registry and the configuration say now.
pub(crate) fn routes(shared: &Shared, env: &Envelope, pending: &[usize]) -> BTreeMap<Route, Vec<usize>> {
    let registry = shared.registry.load();
    let mut groups: BTreeMap<Route, Vec<usize>> = BTreeMap::new();
    for &i in pending {
        let r = route::choose(&env.recipients[i], &registry, &shared.cfg.transport, shared.cfg.smarthost.as_ref());
        groups.entry(r).or_default().push(i);
    }
    groups
}

/// Whether every destination of the pending recipients has all its deliveries running.
pub(crate) fn all_full(shared: &Shared, env: &Envelope, pending: &[usize]) -> bool {
    let routes = routes(shared, env, pending);
    !routes.is_empty() && routes.keys().all(|route| shared.busy.full(route))
}

/// The same outcome for every recipient in `pending`.
fn same(pending: &[usize], outcome: Outcome) -> Vec<RcptResult> {
    pending.iter().map(|&index| RcptResult { index, outcome: outcome.clone(), remote: None }).collect()
}

/// Groups the pending recipients by route and sends each group whose destination has
/// room; returns the results, whether the sending system was suspended before a group
/// was sent (then it stops), and whether a group was left for a full destination.
async fn deliver(shared: &Shared, env: &Envelope, pending: &[usize], body: &[u8]) -> (Vec<RcptResult>, bool, bool) {
    if hops(body) > MAX_HOPS {
        let reply = format!("5.4.6 mail forwarding loop: more than {MAX_HOPS} Received headers");
        return (same(pending, Outcome::Rejected { code: 554, reply }), false, false);
    }
    let mut out = Vec::with_capacity(pending.len());
    let mut busy = false;
    for (route, idx) in routes(shared, env, pending) {
        if shared.sender_suspended(env) {
            return (out, true, busy);
        }
        let Some(_slot) = shared.busy.enter(&route) else {
            busy = true;
            continue;
        };
        let rcpts: Vec<&Mailbox> = idx.iter().map(|&i| &env.recipients[i]).collect();
        let (outcomes, remote) = match shared.resolver.targets(&route).await {
            Err(Unresolved::Permanent(why)) => (vec![Outcome::Rejected { code: 550, reply: why }; idx.len()], None),
            Err(Unresolved::Temporary(why)) => (vec![Outcome::Deferred { reply: why }; idx.len()], None),
            Ok(targets) => {
                let policy = match &route {
                    Route::Mx(domain) => {
                        shared.sts.policy(domain, &shared.resolver).await.map(|p| (domain.as_str(), p))
                    }
                    _ => None,
                };
                let sts = policy.as_ref().map(|(d, p)| Sts { domain: d, policy: p });
                transmit(shared, &targets, sts, env.sender.as_ref(), &rcpts, body).await
            }
        };
        out.extend(idx.into_iter().zip(outcomes).map(|(index, outcome)| RcptResult {
            index,
            outcome,
            remote: remote.clone(),
        }));
    }
    (out, false, busy)
}

/// The MTA-STS policy a delivery by MX must meet.
#[derive(Clone, Copy)]
struct Sts<'a> {
    domain: &'a str,
    policy: &'a Policy,
}

impl Sts<'_> {
    /// Why `t` may not be used before connecting (its name is not in the policy), counted;
    /// `None` when it may (a `testing` policy only counts).
    fn refuse_host(&self, shared: &Shared, t: &Target) -> Option<String> {
        if self.policy.allows(&t.name) {
            return None;
        }
        shared.sts.counts.failure(self.domain, self.policy, "validation-failure", &t.name);
        (self.policy.mode == Mode::Enforce)
            .then(|| format!("4.7.5 MTA-STS: {} is not an MX host the policy of {} names", t.name, self.domain))
    }

    /// Why the connection `c` to `t` may not carry mail (not TLS verified for its name),
    /// counted; `None` when it may.
    fn refuse_tls(&self, shared: &Shared, t: &Target, tls: &TlsState) -> Option<String> {
        let (kind, why) = match tls {
            TlsState::Verified => {
                shared.sts.counts.success(self.domain, self.policy);
                return None;
            }
            TlsState::Plain => ("starttls-not-supported", "no STARTTLS".to_string()),
            TlsState::Unverified(why) if why.contains("not valid for name") || why.contains("NotValidForName") => {
                ("certificate-host-mismatch", why.clone())
            }
            TlsState::Unverified(why) if why.contains("xpired") => ("certificate-expired", why.clone()),
            TlsState::Unverified(why) => ("certificate-not-trusted", why.clone()),
        };
        shared.sts.counts.failure(self.domain, self.policy, kind, &t.name);
        tracing::info!(domain = self.domain, host = %t.name, mode = ?self.policy.mode, reason = %why, "MTA-STS not met");
        (self.policy.mode == Mode::Enforce)
            .then(|| format!("4.7.5 MTA-STS: {} [{}]: {kind} ({why}); not delivered", t.name, t.addr))
    }
}

/// Tries the targets in order until one takes the transaction (or commits to it); with
/// an `enforce` MTA-STS policy, only a host it names over TLS verified for that host.
async fn transmit(
    shared: &Shared,
    targets: &[Target],
    sts: Option<Sts<'_>>,
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
        if let Some(why) = sts.and_then(|s| s.refuse_host(shared, t)) {
            last = why;
            continue;
        }
        let mut client = match shared.connect(t).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(target_addr = %t.addr, error = %e, "delivery connection failed");
                last = e;
                continue;
            }
        };
        if let Some(why) = sts.and_then(|s| s.refuse_tls(shared, t, &client.tls)) {
            last = why;
            client.quit().await;
            continue;
        }
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
    let reply = if last.starts_with("4.") { last } else { format!("4.4.1 {last}") };
    (vec![Outcome::Deferred { reply }; rcpts.len()], None)
}
