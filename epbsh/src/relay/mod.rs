//! The relay: the SMTP listener with the relay policy of connected mail systems, the
//! spool, and the [`Delivery`] queue, started together by [`start`] and controlled through
//! [`Relay`] (address, queue summary, release/delete of held mail, metrics, graceful
//! shutdown).
//!
//! Relay policy, asked at MAIL, every RCPT and the final dot against the registry of the
//! moment (a suspension or disconnection reaches open sessions):
//! - **outbound**: the client is a live system's server; its sender must be in one of the
//!   system's domains (or `<>`); a suspended system gets 451 4.7.1, the [`Guard`] may
//!   answer 451 4.7.0 (throttle) or 451 4.7.1 (suspended); any recipient domain except
//!   address literals and the relay's own name;
//! - **inbound**: anyone else may send only to live registered domains (suspended systems
//!   still receive), recipients verified with the system (`verify`);
//! - the postmaster (`<postmaster>`, `postmaster@` the relay's name) takes mail from
//!   anyone; everything else is `550 5.7.1 relaying denied`; disconnected systems are
//!   unknown.
//!
//! Files: `config` and `limits` (settings, defaults, validation; durations in the
//! workspace's one spelling, `policies::duration`), `tls` (listener certificate),
//! `listener` (accept loop), `slots` (session slots: kept for connected systems, per
//! system, per outside network) and `pace` (connection rate per outside network),
//! `policy` (relay rules),
//! `verify` (recipient verification), `room` (free space the spool keeps), `sink` (spool,
//! guard, queue). Must not: decide what is abnormal traffic (the guard does) or persist
//! the registry (the `store` crate does).

pub mod config;
mod limits;
mod listener;
mod pace;
mod policy;
mod room;
mod sink;
mod slots;
mod tls;
pub mod verify;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::delivery::DeliveryConfig;
pub use crate::metrics::{Metrics, MetricsSnapshot};
pub use config::{ConfigProblem, Limits, RelayConfig};
pub use verify::{Unavailable, VerifyConfig, VerifyMode};

use crate::auth::Auth;
use crate::delivery::{self, Delivery, SystemQueue};
use crate::envelope::SystemId;
use crate::hooks::Guard;
use crate::registry::{RegistryHandle, Status};
use crate::spool::{Spool, SpoolConfig, SpoolError};

/// Why the relay could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("invalid configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigProblem>),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("system {0:?} is still suspended: set it active before releasing its mail")]
    StillSuspended(SystemId),
    #[error("mail authentication: {0}")]
    Auth(String),
    #[error("no mail system {0:?}")]
    NoSystem(SystemId),
}

/// The running relay.
pub struct Relay {
    addr: SocketAddr,
    registry: RegistryHandle,
    delivery: Delivery,
    spool: Spool,
    metrics: Arc<Metrics>,
    auth: Arc<Auth>,
    stop: watch::Sender<bool>,
    listener: JoinHandle<()>,
}

/// Opens the spool (queuing everything it recovered), binds the listener and starts
/// accepting and delivering.
pub async fn start(config: RelayConfig, registry: RegistryHandle, guard: Arc<dyn Guard>) -> Result<Relay, RelayError> {
    config.validate().map_err(RelayError::Config)?;
    let mut session = config.session();
    let metrics = Arc::new(Metrics::default());
    session.metrics = metrics.clone();
    session.tls = Some(tls::acceptor(&config.hostname, config.tls_cert.as_deref(), config.tls_key.as_deref())?);
    let dir = config.spool_dir.clone();
    let (spool, recovered) = tokio::task::spawn_blocking(move || Spool::open(dir, SpoolConfig::default()))
        .await
        .map_err(|_| RelayError::Spool(SpoolError::Closed))??;
    let tcp =
        TcpListener::bind(config.listen).await.map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    let addr = tcp.local_addr().map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    tracing::info!(%addr, queued = recovered.len(), "relay starting");
    let ctx = delivery::Context {
        spool: spool.clone(),
        registry: registry.clone(),
        guard: guard.clone(),
        hostname: config.hostname.clone(),
        cfg: config.delivery.clone(),
        metrics: metrics.clone(),
        local: addr,
    };
    let delivery = Delivery::start(ctx, recovered).map_err(RelayError::Tls)?;
    let (auth, problems) = Auth::new(config.auth.clone(), &config.hostname, None).map_err(RelayError::Auth)?;
    for p in &problems {
        tracing::warn!(problem = %p, "DKIM key not used; its domain is not signed");
    }
    let auth = Arc::new(auth);
    let (stop, rx) = watch::channel(false);
    let sink = sink::ConnSink {
        guard: guard.clone(),
        delivery: delivery.shared(),
        auth: auth.clone(),
        hostname: config.hostname.to_ascii_lowercase(),
        postmaster: config.postmaster_mailbox(),
    };
    let listener = listener::Listener {
        session: Arc::new(session),
        registry: registry.clone(),
        guard,
        verifier: Arc::new(verify::Verifier::new(config.verify.clone(), Some(delivery.shared()))),
        room: Arc::new(room::Room::new(
            config.spool_dir.clone(),
            config.limits.min_spool_free,
            config.limits.max_message_size,
        )),
        sink: Arc::new(sink),
        metrics: metrics.clone(),
        slots: slots::Slots::new((&config.limits).into()),
        grace: config.limits.shutdown_grace,
    };
    let listener = tokio::spawn(listener.serve(tcp, rx));
    Ok(Relay { addr, registry, delivery, spool, metrics, auth, stop, listener })
}

impl Relay {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queue counts per sending system.
    pub fn queue_summary(&self) -> Vec<SystemQueue> {
        self.delivery.summary()
    }

    /// Releases `system`'s held mail with a fresh queue lifetime; the system must no
    /// longer be suspended. Returns how many messages were released.
    pub async fn release_held(&self, system: SystemId) -> Result<usize, RelayError> {
        let suspended = self.registry.load().get(system).is_some_and(|s| s.status == Status::Suspended);
        if suspended {
            return Err(RelayError::StillSuspended(system));
        }
        Ok(self.delivery.release_held(system).await?)
    }

    /// Deletes `system`'s held mail after the duty team's review (no DSN is sent).
    /// Returns how many messages were deleted.
    pub async fn delete_held(&self, system: SystemId) -> Result<usize, RelayError> {
        Ok(self.delivery.delete_held(system).await?)
    }

    /// Mail authentication: counters per domain, key reload, explain.
    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    /// Releases the mail from outside held for `system`'s domains (DMARC quarantine), for
    /// delivery with a fresh queue lifetime; returns how many.
    pub async fn release_quarantined(&self, system: SystemId) -> Result<usize, RelayError> {
        let domains =
            self.registry.load().get(system).map(|s| s.domains.clone()).ok_or(RelayError::NoSystem(system))?;
        Ok(self.delivery.release_quarantined(&domains).await?)
    }

    /// Deletes the mail from outside held for `system`'s domains (no DSN); returns how many.
    pub async fn delete_quarantined(&self, system: SystemId) -> Result<usize, RelayError> {
        let domains =
            self.registry.load().get(system).map(|s| s.domains.clone()).ok_or(RelayError::NoSystem(system))?;
        Ok(self.delivery.delete_quarantined(&domains).await?)
    }

    /// TLS results per destination domain with an MTA-STS policy (for the duty team).
    pub fn tls_counts(&self) -> Vec<(String, crate::delivery::sts::TlsCounts)> {
        self.delivery.tls_counts()
    }

    /// The TLS-RPT report (RFC 8460) of `domain` over `[start, end)`, from the results
    /// counted since the last report (then counting starts afresh); `None` when nothing
    /// was counted. `contact` is the address receivers may write to.
    pub fn tls_report(
        &self,
        domain: &str,
        contact: &str,
        start: time::OffsetDateTime,
        end: time::OffsetDateTime,
    ) -> Option<crate::delivery::sts::TlsReport> {
        let counts = self.delivery.take_tls_counts(domain)?;
        Some(crate::delivery::sts::TlsReport::new(self.auth.authserv_id(), contact, domain, &counts, start, end))
    }

    /// Counters since start.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// The counters and the queue's gauges in the Prometheus text format (`epbsh_…`).
    pub fn render_metrics(&self) -> String {
        let mut gauges = crate::metrics::QueueGauges::default();
        for q in self.queue_summary() {
            gauges.queued += q.queued as u64;
            gauges.held += q.held as u64;
            gauges.deferred += q.deferred as u64;
        }
        crate::metrics::render(&self.metrics.snapshot(), gauges)
    }

    /// Stops accepting, lets open sessions finish (bounded), stops delivery (bounded wait
    /// for running attempts) and closes the spool. Queued mail stays in the spool.
    pub async fn shutdown(self) -> Result<(), RelayError> {
        let _ = self.stop.send(true);
        let _ = self.listener.await;
        self.delivery.shutdown().await;
        self.spool.shutdown().await?;
        Ok(())
    }
}
