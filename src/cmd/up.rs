//! `perimeter up`: opens the store, builds the first catalog snapshot, keeps it
//! current, starts the gateways and serves the control-plane API; on SIGTERM or SIGINT
//! stops every task it started, in the order written in [`drain`]; on SIGHUP reloads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use snapshot::SnapshotHandle;
use store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, router};
use crate::cli::UpArgs;
use crate::config::{Config, LogFormat};
use crate::mail::MailGateway;
use crate::systemd::Notifier;

pub async fn run(mut config: Config, args: UpArgs, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    init_logging(&config);
    if let Some(addr) = args.proxy_listen {
        config.proxy.explicit.listen = addr;
    }
    if let Some(addr) = args.relay_listen {
        config.relay.listen = addr;
    }
    // One signal every task started here watches; cancelled on SIGTERM or SIGINT.
    let stop = CancellationToken::new();
    let (reload, reloads) = mpsc::channel(1);
    crate::signals::spawn(stop.clone(), reload)?;
    let notifier = Notifier::from_env();
    let ca = super::ca::ensure(&config)?;
    tracing::info!(fingerprint = %ca.current().fingerprint(), "root CA ready (export it with `perimeter ca export`)");
    let store = super::open_store(&config).await?;
    let snapshot =
        SnapshotHandle::new(catalog::publish::load(&store).await.context("cannot build the catalog snapshot")?);
    let (v4, v6) = snapshot.current().prefixes();
    tracing::info!(store = %store::redact(&config.store_url()), v4, v6, "catalog loaded");
    let generations = store.follow(config.catalog.refresh.max(Duration::from_millis(50))).await;
    let nudge = catalog::publish::spawn_publisher(snapshot.clone(), store.clone(), generations.clone(), stop.clone());
    let reconciler = super::reconcile::reconciler(&config, store.clone())?;
    let leading = store.lead("reconciler");
    let reconciling = reconciler.spawn(config.notices.interval.max(Duration::from_secs(1)), leading, stop.clone());
    let desk = Arc::new(crate::requests::Desk::open(&config, store.clone())?);
    let desk_jobs =
        crate::requests::spawn_jobs(desk.clone(), config.notices.interval, store.lead("desk"), stop.clone());
    let web = match config.services.web {
        true => Some(start_web(&config, &store, &snapshot, &ca, &stop).await?),
        false => None,
    };
    let mail = match config.services.mail {
        true => Some(crate::mail::start(&config, &store, generations.clone(), stop.clone()).await?),
        false => None,
    };
    let bound = web.as_ref().and_then(|w| {
        let https = w.proxy.transparent_addr()?.port();
        Some(gate::Redirect { https, http: w.proxy.transparent_http_addr().map(|a| a.port()) })
    });
    let gate = crate::gate::start(&config, &snapshot, &store, bound).await?.map(Arc::new);
    let listen = args.listen.unwrap_or(config.api.listen);
    let tls = match (&config.api.tls_cert, &config.api.tls_key) {
        (Some(cert), Some(key)) => Some(crate::api::tls::server_config(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("[api] tls_cert and tls_key go together: give both or neither"),
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut line = up_line(bound, scheme, web.as_ref().map(|w| &*w.proxy), mail.as_ref().map(|(m, _)| &**m));
    if gate.is_some() {
        let names: Vec<&str> = config.gate.interfaces.iter().map(|i| i.name.as_str()).collect();
        line.push_str(&format!(" packet gate on {}", names.join(",")));
    }
    println!("{line}");
    tracing::info!(%bound, tls = tls.is_some(), "API and console listening");
    spawn_reloader(
        reloads,
        config_path,
        store.clone(),
        config.clone(),
        web.as_ref().map(|w| w.rules.clone()),
        web.as_ref().map(|w| Arc::clone(&w.proxy)),
    );
    let state = AppState {
        store: store.clone(),
        snapshot,
        nudge,
        proxy: web.as_ref().map(|w| Arc::clone(&w.proxy)),
        mail: mail.as_ref().map(|(m, _)| Arc::clone(m)),
        stop: stop.clone(),
        gate: gate.clone(),
        desk,
    };
    let console = crate::console::Console::new(state.clone(), Arc::new(config.clone()), tls.is_some());
    let app = router(state, config.api.max_body_mib << 20).merge(crate::console::router(console));
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    notifier.ready(&line);
    notifier.spawn_watchdog(stop.clone());
    let stopping = stop.clone();
    let until_stop = async move { stopping.cancelled().await };
    let served = match tls {
        Some(tls) => {
            use axum::serve::ListenerExt;
            let listener = crate::api::tls::TlsListener::new(listener, tls)?.tap_io(|_| {});
            axum::serve(listener, app).with_graceful_shutdown(until_stop).await
        }
        None => axum::serve(listener, app).with_graceful_shutdown(until_stop).await,
    };
    let outcome = served.context("the API server failed");
    stop.cancel();
    notifier.stopping();
    if let Some(g) = gate {
        crate::gate::stop(g).await;
    }
    drain(web, mail, &store, &config).await;
    let _ = reconciling.await;
    let _ = desk_jobs.await;
    store.close().await;
    tracing::info!("stopped");
    outcome
}

/// The one line on stdout with every address the service listens on, so a supervisor
/// (or a test) can read them at once.
fn up_line(
    api: std::net::SocketAddr,
    scheme: &str,
    proxy: Option<&iqbsh::ProxyHandle>,
    mail: Option<&MailGateway>,
) -> String {
    let mut up = format!("perimeter is up: API on {scheme}://{api}/api/v1 console on {scheme}://{api}/");
    if let Some(p) = proxy {
        up.push_str(&format!(" web proxy on {}", p.explicit_addr()));
        if let Some(t) = p.transparent_addr() {
            up.push_str(&format!(" transparent TLS on {t}"));
        }
    }
    if let Some(m) = mail {
        up.push_str(&format!(" mail relay on {}", m.relay.local_addr()));
    }
    up
}

/// After the stop signal, in order: the proxy stops accepting and gives open connections
/// their grace, its access log is flushed; the relay answers 421 between commands, lets
/// transfers under way finish within its grace, stops delivery (running attempts
/// finish or stay queued) and closes the spool; the traffic watch's counters are saved.
async fn drain(
    web: Option<Web>,
    mail: Option<(Arc<MailGateway>, tokio::task::JoinHandle<()>)>,
    store: &Store,
    config: &Config,
) {
    if let Some(web) = web {
        match Arc::try_unwrap(web.proxy) {
            Ok(proxy) => proxy.shutdown_within(config.proxy.shutdown_grace).await,
            Err(proxy) => proxy.flush_access_log().await,
        }
    }
    let Some((gateway, follower)) = mail else { return };
    let _ = follower.await;
    crate::mail::stop(&gateway, store).await;
    match Arc::try_unwrap(gateway) {
        Ok(gateway) => {
            if let Err(e) = gateway.relay.shutdown().await {
                tracing::error!(error = %e, "the mail relay did not stop cleanly");
            }
        }
        Err(_) => tracing::warn!("the mail relay is still in use; it stops with the process"),
    }
}

/// The running web gateway: the proxy and the rules it reads.
struct Web {
    proxy: Arc<iqbsh::ProxyHandle>,
    rules: iqbsh::RulesHandle,
}

/// Starts the web proxy with the categories and policies in force (reloaded on change).
async fn start_web(
    config: &Config,
    store: &store::Store,
    snapshot: &SnapshotHandle,
    ca: &certs::CaStore,
    stop: &CancellationToken,
) -> anyhow::Result<Web> {
    let rules = crate::web::load(&config.policies, store).await.context("cannot load categories and policies")?;
    let rules = iqbsh::RulesHandle::new(Arc::new(rules));
    crate::web::spawn_reloader(config.policies.clone(), store.clone(), rules.clone(), stop.clone());
    let forge = certs::LeafForge::new(ca.current().clone(), certs::ForgeConfig::default())
        .context("cannot start the certificate forge")?;
    let own = config.own_addresses();
    let observations = catalog::ingest::spawn_sink(store.clone(), 100_000, Duration::from_secs(1), own);
    let threats = iqbsh::ThreatsHandle::default();
    crate::feeds::FeedLoader::start(&config.threats, &config.data_dir, threats.clone(), stop.clone()).await;
    let deps = iqbsh::ProxyDeps {
        snapshot: snapshot.clone(),
        observations,
        forge: Arc::new(forge),
        rules: rules.clone(),
        threats,
    };
    let mut proxy_config = config.proxy.clone();
    // Bodies held for their scan live under the data directory unless placed elsewhere.
    proxy_config.icap.hold.dir = config.data_dir.join(&proxy_config.icap.hold.dir);
    let proxy = iqbsh::serve(proxy_config, deps).await.context("cannot start the web proxy")?;
    tracing::info!(explicit = %proxy.explicit_addr(), "web proxy listening");
    Ok(Web { proxy: Arc::new(proxy), rules })
}

/// SIGHUP: reads the configuration file again; a bad one is logged and nothing changes.
/// The categories and policies are reloaded and the access logs reopened at once; other
/// changed sections are named: they take effect at the next start.
fn spawn_reloader(
    mut reloads: mpsc::Receiver<()>,
    path: Option<PathBuf>,
    store: store::Store,
    mut running: Config,
    rules: Option<iqbsh::RulesHandle>,
    proxy: Option<Arc<iqbsh::ProxyHandle>>,
) {
    tokio::spawn(async move {
        while reloads.recv().await.is_some() {
            let fresh = match &path {
                Some(path) => match Config::from_file(path) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "reload refused: the configuration stays as it was");
                        continue;
                    }
                },
                None => running.clone(),
            };
            if let Some(rules) = &rules {
                match crate::web::load(&fresh.policies, &store).await {
                    Ok(loaded) => rules.replace(Arc::new(loaded)),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "reload: categories and policies refused; the previous ones stay")
                    }
                }
            }
            if let Some(proxy) = &proxy {
                proxy.reopen_access_log().await;
            }
            for section in changed_sections(&running, &fresh) {
                tracing::warn!(section, "reload: this section changed; it takes effect at the next start");
            }
            running.policies = fresh.policies;
            tracing::info!("configuration reloaded");
        }
    });
}

/// The top-level sections that differ, other than those applied at once.
fn changed_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    let as_toml = |c: &Config| toml::Value::try_from(c).ok();
    let (Some(toml::Value::Table(old)), Some(toml::Value::Table(new))) = (as_toml(old), as_toml(new)) else {
        return Vec::new();
    };
    const SECTIONS: [&str; 12] = [
        "data_dir", "store", "api", "catalog", "notices", "calendar", "ca", "log", "services", "proxy", "relay", "gate",
    ];
    SECTIONS.into_iter().filter(|s| old.get(*s) != new.get(*s)).collect()
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    // Colour only on a terminal: a file or the journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
