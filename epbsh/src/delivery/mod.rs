//! Queue and delivery: everything the spool holds is delivered per recipient to its next
//! hop — a connected system's inbound server, a transport-map entry, the smarthost, or
//! the MX hosts — with retries on the configured schedule, expiry after the queue lifetime
//! and a DSN for permanent failures and expiry to senders of connected systems (never to
//! the unauthenticated senders of mail from outside: no backscatter).
//!
//! Files: `config` (settings), `queue` (in-memory state), `scheduler` (the task), `job`
//! (one attempt) and `settle` (its results), `busy` (deliveries in progress per
//! destination, bounded), `route` and `resolve` (where mail goes),
//! `client`, `reply`, `error`, `stream`, `tls`, `pool` and `connect` (the SMTP client
//! side, also for recipient probes), `dsn` (reports).
//!
//! Guarantees: an accepted message leaves the spool only when every recipient has a final
//! state or the duty team deleted it while held. A delivery done but not yet marked when
//! the process dies is repeated after restart (at-least-once), and so is a DSN queued but
//! not yet followed by its failed marks. Mail of a suspended system (by the registry or
//! by the guard, checked before every transaction) is held — never attempted, bounced or
//! expired while held — until [`Delivery::release_held`] gives it a fresh lifetime, or
//! [`Delivery::delete_held`] drops it without a DSN.
//! Must not: block on the async workers, or decide relay policy (the listener does).

mod busy;
mod client;
mod config;
mod connect;
mod dsn;
mod error;
mod job;
mod pool;
mod queue;
mod reply;
pub(crate) mod resolve;
mod route;
mod scheduler;
mod settle;
mod stream;
pub mod sts;
mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::DeliveryConfig;
pub use connect::Probe;
pub use queue::SystemQueue;
pub use route::{NextHop, Route};
pub use tls::TlsState;

use crate::envelope::{Envelope, SystemId};
use crate::hooks::Guard;
use crate::metrics::{Metrics, bump};
use crate::registry::{RegistryHandle, Status};
use crate::spool::{MessageId, QueuedMessage, RecipientState, Spool, SpoolError};

/// What the delivery side needs from the relay that starts it.
pub(crate) struct Context {
    pub spool: Spool,
    pub registry: RegistryHandle,
    pub guard: Arc<dyn Guard>,
    pub hostname: String,
    pub cfg: DeliveryConfig,
    pub metrics: Arc<Metrics>,
    /// The relay's own listening address (mail routed there would loop).
    pub local: SocketAddr,
}

/// State shared by the scheduler, the attempts and the handle.
pub(crate) struct Shared {
    pub spool: Spool,
    queue: Mutex<queue::Queue>,
    pub registry: RegistryHandle,
    pub guard: Arc<dyn Guard>,
    pub hostname: String,
    pub cfg: DeliveryConfig,
    pub metrics: Arc<Metrics>,
    resolver: resolve::Resolver,
    tls: Option<tls::TlsClient>,
    pool: pool::Pool,
    wake: Notify,
    local: SocketAddr,
    /// Deliveries in progress per destination.
    busy: busy::Busy,
    /// MTA-STS policies and TLS results per destination domain.
    pub sts: sts::Sts,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, queue::Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a newly spooled message (lifetime from now-ish: its `received_at`, or `since`).
    pub fn enqueue(&self, id: MessageId, envelope: Envelope, since: Option<OffsetDateTime>) {
        let states = vec![RecipientState::Pending; envelope.recipients.len()];
        let since = since.unwrap_or(envelope.received_at);
        self.queue().insert(id, envelope, states, false, since, tokio::time::Instant::now());
        self.wake.notify_one();
    }

    /// Queues a newly spooled message from outside that is held (DMARC quarantine) until
    /// the recipient system's owner releases it; its hold is already in the spool.
    pub fn enqueue_held(&self, id: MessageId, envelope: Envelope) {
        let states = vec![RecipientState::Pending; envelope.recipients.len()];
        let since = envelope.received_at;
        bump(&self.metrics.messages_held);
        self.queue().insert(id, envelope, states, true, since, tokio::time::Instant::now());
    }

    /// Records holds in the spool, all at once so that they share group commits.
    async fn persist_holds(&self, ids: &[MessageId]) {
        let mut writes = tokio::task::JoinSet::new();
        for &id in ids {
            bump(&self.metrics.messages_held);
            tracing::info!(%id, "holding message of a suspended system");
            let spool = self.spool.clone();
            writes.spawn(async move { (id, spool.hold(id).await) });
        }
        while let Some(done) = writes.join_next().await {
            if let Ok((id, Err(e))) = done {
                tracing::error!(%id, error = %e, "cannot record hold; it is held in memory only");
            }
        }
    }

    /// True when `system` is suspended now, by the registry or by the guard.
    pub fn is_suspended(&self, system: SystemId) -> bool {
        let registry = self.registry.load();
        registry.get(system).is_some_and(|s| s.status == Status::Suspended) || self.guard.suspended(system)
    }

    /// True when `env` came from a system that is suspended now.
    pub fn sender_suspended(&self, env: &Envelope) -> bool {
        env.system_id.is_some_and(|s| self.is_suspended(s))
    }

    /// Holds every queued message of `system` that is not being delivered, at once in
    /// memory, then in the spool.
    pub async fn hold_system(&self, system: SystemId) {
        let ids = self.queue().hold_where(|s| s == system);
        self.persist_holds(&ids).await;
    }

    fn is_self(&self, addr: SocketAddr) -> bool {
        addr == self.local
            || (self.local.ip().is_unspecified() && addr.port() == self.local.port() && addr.ip().is_loopback())
    }
}

/// Handle to the running queue and its scheduler.
pub struct Delivery {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Delivery {
    /// Queues what the spool recovered and starts the scheduler.
    pub(crate) fn start(ctx: Context, recovered: Vec<QueuedMessage>) -> Result<Delivery, String> {
        let tls = if ctx.cfg.starttls { Some(tls::TlsClient::new(ctx.cfg.ca_file.as_deref())?) } else { None };
        let resolver = resolve::Resolver::new(&ctx.cfg.dns_servers, ctx.cfg.mx_port, ctx.cfg.max_hosts);
        let sts_tls = match (ctx.cfg.mta_sts, &tls) {
            (true, Some(tls)) => tls.verified(),
            _ => None,
        };
        let sts = sts::Sts::new(sts_tls, ctx.cfg.mta_sts_port, ctx.cfg.mta_sts_timeout);
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue::Queue::new(ctx.cfg.retry.clone(), ctx.cfg.queue_lifetime)),
            pool: pool::Pool::new(ctx.cfg.reuse_idle),
            wake: Notify::new(),
            busy: busy::Busy::new(ctx.cfg.max_per_destination),
            sts,
            resolver,
            tls,
            spool: ctx.spool,
            registry: ctx.registry,
            guard: ctx.guard,
            hostname: ctx.hostname,
            cfg: ctx.cfg,
            metrics: ctx.metrics,
            local: ctx.local,
        });
        let (now, wall) = (tokio::time::Instant::now(), OffsetDateTime::now_utc());
        for m in recovered {
            let id = m.id;
            let since = shared.spool.requeued_at(id).unwrap_or(m.envelope.received_at);
            let mut queue = shared.queue();
            queue.insert(id, m.envelope, m.recipients, m.held, since, now);
            // A message deferred before the restart waits for its recorded retry time.
            if let Some(retry) = shared.spool.retry_state(id).filter(|r| r.attempts > 0) {
                let wait = retry.next_at.map_or(Duration::ZERO, |n| Duration::try_from(n - wall).unwrap_or_default());
                queue.restore(id, retry.attempts, now + wait, retry.last_error);
            }
        }
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(scheduler::run(shared.clone(), rx));
        Ok(Delivery { shared, stop, task })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// TLS results per destination domain with an MTA-STS policy.
    pub fn tls_counts(&self) -> Vec<(String, sts::TlsCounts)> {
        self.shared.sts.counts.snapshot()
    }

    /// Takes `domain`'s TLS results for a TLS-RPT report (counting starts afresh).
    pub fn take_tls_counts(&self, domain: &str) -> Option<sts::TlsCounts> {
        self.shared.sts.counts.take(domain)
    }

    /// Counts per sending system.
    pub fn summary(&self) -> Vec<SystemQueue> {
        self.shared.queue().summary()
    }

    /// Releases the held mail of `system` with a fresh queue lifetime; returns how many.
    pub async fn release_held(&self, system: SystemId) -> Result<usize, SpoolError> {
        let ids = self.shared.queue().held_of(system);
        let now = OffsetDateTime::now_utc();
        for &id in &ids {
            self.shared.spool.requeue(id, now).await?;
            self.shared.queue().release(id, now, tokio::time::Instant::now());
            bump(&self.shared.metrics.messages_released);
        }
        self.shared.wake.notify_one();
        Ok(ids.len())
    }

    /// Deletes the held mail of `system` (no DSN: the duty team reviewed it); returns how many.
    pub async fn delete_held(&self, system: SystemId) -> Result<usize, SpoolError> {
        let ids = self.shared.queue().held_of(system);
        let mut n = 0;
        for id in ids {
            if self.shared.queue().remove_held(id) {
                self.shared.spool.finish(id).await?;
                tracing::info!(%id, system = system.0, "held message deleted by the duty team");
                bump(&self.shared.metrics.messages_deleted);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Releases the mail from outside held for `domains` (a system's; DMARC quarantine)
    /// with a fresh queue lifetime; returns how many.
    pub async fn release_quarantined(&self, domains: &[String]) -> Result<usize, SpoolError> {
        let ids = self.shared.queue().quarantined_for(domains);
        let now = OffsetDateTime::now_utc();
        for &id in &ids {
            self.shared.spool.requeue(id, now).await?;
            self.shared.queue().release(id, now, tokio::time::Instant::now());
            bump(&self.shared.metrics.messages_released);
        }
        self.shared.wake.notify_one();
        Ok(ids.len())
    }

    /// Deletes the mail from outside held for `domains` (no DSN); returns how many.
    pub async fn delete_quarantined(&self, domains: &[String]) -> Result<usize, SpoolError> {
        let ids = self.shared.queue().quarantined_for(domains);
        let mut n = 0;
        for id in ids {
            if self.shared.queue().remove_held(id) {
                self.shared.spool.finish(id).await?;
                tracing::info!(%id, "quarantined message deleted");
                bump(&self.shared.metrics.messages_deleted);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Stops the scheduler (bounded wait for running attempts) and closes idle connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.shared.pool.close_all().await;
    }
}
