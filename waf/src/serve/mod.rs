//! The reverse proxy: [`serve`] binds the HTTPS and HTTP listeners and runs them until
//! [`WafHandle::shutdown`]; every request goes through the stages below, in this order,
//! and reaches an origin only when all of them let it:
//!
//! 1. `listen`: TLS with the site's certificate chosen by SNI (`tls`), HTTP/1.1 or
//!    HTTP/2 by ALPN (hyper refuses malformed heads, oversize heads with 431, and bounds
//!    the time a head may take); the HTTP listener only sends browsers to HTTPS (`redirect`);
//! 2. `request`: framing checks (`head`), the site by Host (another site's Host than the
//!    connection's SNI gets 421), its address lists and rate limit (`admit`);
//! 3. `inspect`: the rule engine decides the head, then the body read within the site's
//!    limit (`body`), on the engine's threads (`pool`) within the transaction's budget;
//! 4. `forward`: the request as the origin gets it (forwarding headers, hop-by-hop
//!    headers gone), sent through the site's pools (`origin`); a WebSocket is relayed
//!    after its handshake passed (`upgrade`); the response, inspected when the site asks;
//! 5. `page` for every answer the WAF gives itself, `audit` and `metrics` for every
//!    transaction decided or matched.
//!
//! Must not: send a byte of a request to an origin before the engine has passed it, or
//! pass a request the engine could not decide.

pub(crate) mod admit;
pub(crate) mod audit;
pub(crate) mod body;
mod config;
mod forward;
pub(crate) mod head;
mod inspect;
mod listen;
pub(crate) mod metrics;
pub(crate) mod origin;
pub(crate) mod page;
mod pool;
mod redirect;
mod request;
pub(crate) mod tls;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use audit::{AuditRecord, AuditRule};
pub use config::{ConfigError, EngineLimits, InputLimits, Timeouts, WafConfig};
pub use metrics::Metrics;

use crate::sites::SitesHandle;

/// What every connection shares.
pub(crate) struct Shared {
    pub config: WafConfig,
    pub sites: SitesHandle,
    pub pool: pool::EnginePool,
    pub memory: body::Budget,
    pub audit: audit::Audit,
    pub metrics: Metrics,
    pub stop: watch::Receiver<bool>,
    /// The HTTPS listener's port, where the HTTP listener sends browsers.
    pub https_port: u16,
}

/// Why the WAF did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr} ({field}): {source}")]
    Bind {
        field: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {what}: {source}")]
    Start {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// A running WAF.
pub struct WafHandle {
    https: SocketAddr,
    http: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl WafHandle {
    /// Where the HTTPS listener listens.
    pub fn https_addr(&self) -> SocketAddr {
        self.https
    }

    /// Where the HTTP listener listens, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The sites; `apply` on it reloads without restart.
    pub fn sites(&self) -> &SitesHandle {
        &self.shared.sites
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Prometheus text of every counter.
    pub fn render_metrics(&self) -> String {
        self.shared.metrics.render(&self.shared.sites.load(), self.shared.audit.dropped())
    }

    /// Waits until every audit line handed over so far is written.
    pub async fn flush_audit(&self) {
        self.shared.audit.flush().await;
    }

    /// Reopens the audit log (after rotation moved it).
    pub async fn reopen_audit(&self) {
        self.shared.audit.reopen().await;
    }

    /// Stops accepting, lets open connections finish what they are doing for up to
    /// `timeouts.drain` (HTTP/1.1 connections close after their request, HTTP/2 ones get
    /// GOAWAY), then closes what is left and flushes the audit log.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Each connection is cut at the end of the drain by itself; the listeners end
        // once their connections have.
        let drain = self.shared.config.timeouts.drain + Duration::from_secs(1);
        let drained = async {
            for task in self.tasks {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(drain, drained).await.is_err() {
            tracing::info!(open = self.shared.metrics.active(), "WAF connections still open after the drain: closed");
        }
        self.shared.audit.flush().await;
    }
}

/// Checks `config`, binds the listeners and serves `sites` until shut down.
pub async fn serve(config: WafConfig, sites: SitesHandle) -> Result<WafHandle, ServeError> {
    config.check()?;
    let https = bind("https_listen", config.https_listen).await?;
    let http = match config.http_listen {
        Some(addr) => Some(bind("http_listen", addr).await?),
        None => None,
    };
    let https_addr = local_addr("https_listen", &https)?;
    let http_addr = http.as_ref().map(|l| local_addr("http_listen", l)).transpose()?;
    let (stop, stop_rx) = watch::channel(false);
    let start = |what| move |source| ServeError::Start { what, source };
    let shared = Arc::new(Shared {
        pool: pool::EnginePool::start(config.engine.threads, config.engine.queue)
            .map_err(start("the engine threads"))?,
        memory: body::Budget::new(config.limits.body_memory),
        audit: audit::Audit::start(config.audit_log.as_deref(), config.audit_queue).map_err(start("the audit log"))?,
        metrics: Metrics::default(),
        sites,
        stop: stop_rx,
        https_port: https_addr.port(),
        config,
    });
    let tls = tls::server_config(shared.sites.clone())?;
    let mut tasks =
        vec![listen::spawn_https(https, tls, Arc::clone(&shared)), tokio::spawn(upkeep(Arc::clone(&shared)))];
    if let Some(listener) = http {
        tasks.push(listen::spawn_http(listener, Arc::clone(&shared)));
    }
    tracing::info!(https = %https_addr, http = ?http_addr, "WAF listening");
    Ok(WafHandle { https: https_addr, http: http_addr, shared, stop, tasks })
}

async fn bind(field: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { field, addr, source })
}

fn local_addr(field: &'static str, listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Bind {
        field,
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}

/// Checks the origins' health and forgets idle rate-limit keys, until stopped.
async fn upkeep(shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    let mut tick = tokio::time::interval(shared.config.health_interval);
    let mut tidy = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Every site at once: a site whose origins time out delays no other.
                let mut checks = tokio::task::JoinSet::new();
                for site in shared.sites.load().each() {
                    let origins = Arc::clone(&site.origins);
                    checks.spawn(async move { origins.check().await });
                }
                tokio::select! {
                    _ = checks.join_all() => {}
                    _ = stop.changed() => return,
                }
            }
            _ = tidy.tick() => shared.sites.load().each().for_each(|site| site.access.tidy()),
            _ = stop.changed() => return,
        }
    }
}
