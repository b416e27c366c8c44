//! Starting and stopping the proxy: [`serve`] validates the configuration,
//! loads trust anchors and static hosts, binds the listeners and runs the
//! accept loops; [`ProxyHandle`] exposes the bound addresses, the metrics,
//! the rules handle and shutdown.
//!
//! Must not: handle protocol details; each accepted connection goes to
//! `explicit` or `tunnel`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certs::LeafForge;
use snapshot::{ObservationSink, SnapshotHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::accept::admission::Gate;
use crate::accept::conn::{Conn, Listener, Shared};
use crate::accept::explicit::Mode;
use crate::config::{ConfigError, ProxyConfig};
use crate::decide::destination::Destinations;
use crate::decide::interfaces::LocalAddrs;
use crate::decide::resolve::Resolver;
use crate::decide::rules::RulesHandle;
use crate::decide::threats::ThreatsHandle;
use crate::icap::Icap;
use crate::report::accesslog::{AccessLog, Action};
use crate::report::metrics::Metrics;
use crate::tls::config::ClientSide;
use crate::tls::origin::OriginTls;
use crate::tls::tunnel::{self, Target};

/// What the proxy is built on.
pub struct ProxyDeps {
    /// The catalog snapshot: source address → organisation.
    pub snapshot: SnapshotHandle,
    /// Where unknown source addresses are reported.
    pub observations: ObservationSink,
    /// Forges leaves under the gateway root.
    pub forge: Arc<LeafForge>,
    /// Categories and policies; replaceable at runtime through the handle.
    pub rules: RulesHandle,
    /// The threat feeds (malware, phishing); replaceable at runtime through the handle.
    pub threats: ThreatsHandle,
}

/// Why the proxy did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration or a file it names is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({field}): {source}")]
    Bind {
        field: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// A running proxy.
pub struct ProxyHandle {
    explicit: SocketAddr,
    transparent: Option<SocketAddr>,
    transparent_http: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ProxyHandle {
    /// Where the explicit proxy listens.
    pub fn explicit_addr(&self) -> SocketAddr {
        self.explicit
    }

    /// The gateway's own addresses now: configured (`destinations.own`), the host's
    /// interface addresses (kept current) and the listeners' addresses.
    pub fn own_addresses(&self) -> Vec<std::net::IpAddr> {
        let mut own = self.shared.resolver.destinations().own();
        own.push(self.explicit.ip());
        own.extend(self.transparent.iter().chain(&self.transparent_http).map(SocketAddr::ip));
        own.retain(|ip| !ip.is_unspecified());
        own
    }

    /// Where the transparent TLS listener listens, if configured.
    pub fn transparent_addr(&self) -> Option<SocketAddr> {
        self.transparent
    }

    /// The bound address of the transparent plain-HTTP listener, if configured.
    pub fn transparent_http_addr(&self) -> Option<SocketAddr> {
        self.transparent_http
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Prometheus text of every counter, including the leaf forge's cache statistics.
    pub fn render_metrics(&self) -> String {
        let mut text = self.shared.metrics.render(self.shared.forge.stats(), self.shared.log.dropped());
        self.shared.icap.render(&mut text);
        text
    }

    /// The rules handle; `replace` on it reloads without restart.
    pub fn rules(&self) -> &RulesHandle {
        &self.shared.rules
    }

    /// Waits until every access-log record handed over so far is on disk.
    pub async fn flush_access_log(&self) {
        self.shared.log.flush().await;
    }

    /// Reopens the access-log files (after rotation).
    pub async fn reopen_access_log(&self) {
        self.shared.log.reopen().await;
    }

    /// Stops accepting, ends open connections and flushes the access log.
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::ZERO).await;
    }

    /// Stops accepting and asks open connections to end (keep-alive connections close
    /// after their request), gives those still relaying up to `grace` to finish, then
    /// flushes the access log with their records.
    pub async fn shutdown_within(self, grace: Duration) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.shared.metrics.active() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.shared.metrics.active() > 0 {
            tracing::info!(open = self.shared.metrics.active(), "closing proxied connections still open at shutdown");
        }
        self.shared.log.flush().await;
    }
}

/// Validates `config`, binds the listeners and starts serving.
pub async fn serve(config: ProxyConfig, deps: ProxyDeps) -> Result<ProxyHandle, ServeError> {
    config.check()?;
    let (stop, stop_rx) = watch::channel(false);
    let explicit = bind("explicit.listen", config.explicit.listen).await?;
    let transparent = match &config.transparent {
        Some(t) => Some((bind("transparent.listen", t.listen).await?, t.clone())),
        None => None,
    };
    let transparent_http = match config.transparent.as_ref().and_then(|t| t.http_listen.map(|a| (a, t))) {
        Some((addr, t)) => Some((bind("transparent.http_listen", addr).await?, t.clone())),
        None => None,
    };
    let mut listening = vec![local_addr("explicit.listen", &explicit)?];
    if let Some((listener, _)) = &transparent {
        listening.push(local_addr("transparent.listen", listener)?);
    }
    let interfaces = match config.destinations.own_interfaces {
        true => LocalAddrs::follow(stop_rx.clone()).await.map_err(|e| {
            ConfigError::one("destinations.own_interfaces", format!("cannot read the host's addresses: {e}"))
        })?,
        false => LocalAddrs::default(),
    };
    let destinations = Destinations::new(&config.destinations, listening, interfaces);
    let metrics = Arc::new(Metrics::default());
    let provider = crate::tls::config::provider();
    let shared = Arc::new(Shared {
        settings: config.settings(),
        gate: Gate::new(deps.snapshot, deps.observations, config.rate_limit, Arc::clone(&metrics)),
        rules: deps.rules,
        resolver: Resolver::new(&config.dns, destinations, deps.threats.clone())?,
        threats: deps.threats,
        origin: OriginTls::new(&config.upstream, Arc::clone(&provider))?,
        forge: deps.forge,
        client_tls: ClientSide::new(provider)
            .map_err(|e| ConfigError::one("tls", format!("TLS server setup failed: {e}")))?,
        log: AccessLog::start(&config.access_log)?,
        icap: Icap::start(&config.icap, &stop_rx).await.map_err(|e| ConfigError::one(e.field, e.message))?,
        metrics,
        stop: stop_rx.clone(),
    });
    let explicit_addr = local_addr("explicit.listen", &explicit)?;
    let mut tasks = Vec::new();
    let link: Arc<str> = config.explicit.link.into();
    tasks.push(tokio::spawn(accept_loop(explicit, Arc::clone(&shared), Kind::Explicit, link, stop_rx.clone())));
    let mut transparent_addr = None;
    if let Some((listener, t)) = transparent {
        transparent_addr = Some(local_addr("transparent.listen", &listener)?);
        let kind = Kind::Transparent { port: t.upstream_port };
        tasks.push(tokio::spawn(accept_loop(listener, Arc::clone(&shared), kind, t.link.into(), stop_rx.clone())));
    }
    let mut transparent_http_addr = None;
    if let Some((listener, t)) = transparent_http {
        transparent_http_addr = Some(local_addr("transparent.http_listen", &listener)?);
        let kind = Kind::TransparentHttp { port: t.http_upstream_port };
        tasks.push(tokio::spawn(accept_loop(listener, Arc::clone(&shared), kind, t.link.into(), stop_rx.clone())));
    }
    tasks.push(tokio::spawn(tidy_loop(Arc::clone(&shared), stop_rx)));
    tracing::info!(
        explicit = %explicit_addr,
        transparent = ?transparent_addr,
        transparent_http = ?transparent_http_addr,
        "web proxy listening"
    );
    Ok(ProxyHandle {
        explicit: explicit_addr,
        transparent: transparent_addr,
        transparent_http: transparent_http_addr,
        shared,
        stop,
        tasks,
    })
}

async fn bind(field: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { field, addr, source })
}

fn local_addr(field: &'static str, listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    let addr = listener.local_addr();
    addr.map_err(|source| ServeError::Bind { field, addr: SocketAddr::from(([0, 0, 0, 0], 0)), source })
}

/// Which listener, with what it needs to know.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Explicit,
    Transparent { port: u16 },
    TransparentHttp { port: u16 },
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    kind: Kind,
    link: Arc<str>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                keep_alive(&stream);
                let (shared, link, mut stop) = (Arc::clone(&shared), Arc::clone(&link), stop.clone());
                tokio::spawn(async move {
                    shared.metrics.opened();
                    tokio::select! {
                        () = connection(Arc::clone(&shared), kind, &link, stream, peer) => {}
                        _ = stop.changed() => {}
                    }
                    shared.metrics.closed();
                });
            }
            Err(e) => {
                // Out of descriptors, typically: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Admits a new connection and hands it to its listener's handler.
async fn connection(shared: Arc<Shared>, kind: Kind, link: &str, stream: TcpStream, peer: SocketAddr) {
    let admission = shared.gate.admit(peer.ip(), link);
    let listener = match kind {
        Kind::Explicit => Listener::Explicit,
        Kind::Transparent { .. } | Kind::TransparentHttp { .. } => Listener::Transparent,
    };
    let born = tokio::time::Instant::now();
    let conn = Arc::new(Conn {
        shared,
        listener,
        client: admission.client,
        born,
        splicing: Default::default(),
        hold: Default::default(),
    });
    let action = if admission.denial.is_some() { Action::Deny } else { Action::Allow };
    let serve = async {
        match kind {
            Kind::Explicit => {
                conn.shared.metrics.connection(action);
                crate::accept::explicit::serve(Arc::clone(&conn), admission.denial.clone(), stream, Mode::Explicit)
                    .await;
            }
            Kind::TransparentHttp { port } => {
                conn.shared.metrics.connection(action);
                let mode = Mode::Intercepted { port };
                crate::accept::explicit::serve(Arc::clone(&conn), admission.denial.clone(), stream, mode).await;
            }
            Kind::Transparent { port } => match &admission.denial {
                Some(denial) => {
                    let mut record = conn.record(std::time::SystemTime::now(), "CONNECT", "", "-".to_owned());
                    conn.deny(&mut record, denial, 0);
                    conn.shared.metrics.connection(Action::Deny);
                    conn.finish(record);
                }
                None => tunnel::run(Arc::clone(&conn), stream, Target::Transparent { port }).await,
            },
        }
    };
    if admission.denial.is_some() {
        // A refused source's connection answers and closes; nothing to withdraw.
        return serve.await;
    }
    crate::accept::standing::guard(&conn, serve).await;
}

/// Periodically forgets idle rate-limit keys.
async fn tidy_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => shared.gate.tidy(),
            _ = stop.changed() => return,
        }
    }
}

/// TCP keepalive on a client's connection: a client waiting for a body held for its
/// scan sends and gets nothing for a while, and middleboxes must not drop it meanwhile.
fn keep_alive(stream: &TcpStream) {
    use rustix::net::sockopt;
    let _ = sockopt::set_socket_keepalive(stream, true);
    let _ = sockopt::set_tcp_keepidle(stream, CLIENT_KEEPALIVE);
    let _ = sockopt::set_tcp_keepintvl(stream, CLIENT_KEEPALIVE);
}

/// Idle time before a keepalive probe, and between probes, on client connections.
const CLIENT_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);
