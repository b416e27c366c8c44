//! One configured ICAP service: its address and settings, its OPTIONS answer
//! (asked at start and again when its Options-TTL runs out, held behind an
//! `ArcSwap` so requests read it without a lock), its connection pool and its
//! counters.
//!
//! Must not: scan; `exchange` runs one RESPMOD or REQMOD on a lease from here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::{OnFailure, ServiceConfig};
use super::error::ExchangeError;
use super::options::{Method, ServiceOptions};
use super::pool::Pool;
use super::wire::{self, Chunked, Piece, Section};

/// How long a failed OPTIONS request waits before it is tried again.
const OPTIONS_RETRY: Duration = Duration::from_secs(10);
/// OPTIONS are asked again after this when the service gives no Options-TTL.
const OPTIONS_DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Counters of one service.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub scans: [AtomicU64; 2],
    pub detections: AtomicU64,
    pub failures: AtomicU64,
    /// Microseconds spent waiting for verdicts (after a preview or the last byte), summed.
    pub waited_us: AtomicU64,
}

/// One ICAP service.
#[derive(Debug)]
pub(crate) struct Service {
    pub name: String,
    /// `icap://host:port/path`, as written in the request line.
    pub uri: String,
    /// The `Host` header value.
    pub host: String,
    pub methods: Vec<Method>,
    pub timeout: Duration,
    /// Send a body that fits in the preview as a preview ending in `ieof`.
    pub ieof_previews: bool,
    on_failure: Option<OnFailure>,
    pub options: ArcSwapOption<ServiceOptions>,
    pub pool: Pool,
    pub stats: Stats,
}

impl Service {
    /// A service from its validated configuration and resolved address.
    pub(crate) fn new(name: &str, cfg: &ServiceConfig, addr: SocketAddr) -> Self {
        let (host, uri) = (cfg.authority(), cfg.url.clone());
        Self {
            name: name.to_owned(),
            uri,
            host,
            methods: cfg.methods.clone(),
            timeout: cfg.timeout,
            ieof_previews: cfg.ieof_previews,
            on_failure: cfg.on_failure,
            options: ArcSwapOption::empty(),
            pool: Pool::new(addr, cfg.max_connections),
            stats: Stats::default(),
        }
    }

    /// What a failure does: as configured, else it blocks (fails closed), for
    /// uploads (REQMOD) as for downloads (RESPMOD).
    pub(crate) fn on_failure(&self) -> OnFailure {
        self.on_failure.unwrap_or(OnFailure::Block)
    }

    /// Counts a finished exchange.
    pub(crate) fn count(&self, method: Method, detected: bool, failed: bool) {
        let i = usize::from(method == Method::Reqmod);
        self.stats.scans[i].fetch_add(1, Relaxed);
        self.stats.detections.fetch_add(u64::from(detected), Relaxed);
        self.stats.failures.fetch_add(u64::from(failed), Relaxed);
    }

    /// Counts a wait for an answer that began at `started`.
    pub(crate) fn waited(&self, started: Instant) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.waited_us.fetch_add(us, Relaxed);
    }

    /// Asks the service's OPTIONS.
    pub(crate) async fn ask_options(&self) -> Result<ServiceOptions, ExchangeError> {
        let mut lease = self.pool.get(self.timeout).await?;
        let head = wire::request_head("OPTIONS", &self.uri, &self.host, &[], "null-body=0");
        lease.conn.write(&[&head], self.timeout).await?;
        let deadline = Instant::now() + self.timeout;
        let answer = lease.conn.read_head(deadline).await?;
        if answer.status != 200 {
            return Err(ExchangeError::Status(answer.status, answer.reason));
        }
        let options = ServiceOptions::from_head(&answer)?;
        let enc = answer.get("encapsulated").map(wire::Encapsulated::parse).transpose()?;
        if enc.is_some_and(|e| e.body() == Section::OptBody) {
            let mut body = Chunked::default();
            while !matches!(lease.conn.read_piece(&mut body, deadline).await?, Piece::End { .. }) {}
        }
        if !answer.closes() {
            self.pool.put(lease);
        }
        Ok(options)
    }

    /// Keeps the OPTIONS answer current until `stop`: asks now, then when its TTL
    /// runs out (every 10 s while the service does not answer; the last good
    /// answer stays in use meanwhile).
    pub(crate) async fn keep_options(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let wait = match self.ask_options().await {
                Ok(options) => {
                    if !options.methods.is_empty() {
                        for m in self.methods.iter().filter(|m| !options.methods.contains(m)) {
                            tracing::warn!(service = %self.name, method = m.as_str(), "the ICAP service does not list a configured method");
                        }
                    }
                    self.pool.set_limit(options.max_connections);
                    let ttl = options.ttl.unwrap_or(OPTIONS_DEFAULT_TTL).max(Duration::from_secs(10));
                    tracing::info!(service = %self.name, istag = ?options.istag, preview = ?options.preview, connections = self.pool.limit(), "ICAP service options");
                    self.options.store(Some(Arc::new(options)));
                    ttl
                }
                Err(e) => {
                    tracing::warn!(service = %self.name, error = %e, "ICAP OPTIONS failed; retrying in 10s");
                    OPTIONS_RETRY
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
