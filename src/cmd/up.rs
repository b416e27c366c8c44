//! `perimeter up`: opens the store, builds the first catalog snapshot, keeps it
//! current, and serves the control-plane API until interrupted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use snapshot::SnapshotHandle;

use crate::api::{AppState, router};
use crate::cli::UpArgs;
use crate::config::{Config, LogFormat};

pub async fn run(mut config: Config, args: UpArgs) -> anyhow::Result<()> {
    init_logging(&config);
    if let Some(addr) = args.proxy_listen {
        config.proxy.explicit.listen = addr;
    }
    if let Some(addr) = args.relay_listen {
        config.relay.listen = addr;
    }
    let ca = super::ca::ensure(&config)?;
    tracing::info!(fingerprint = %ca.current().fingerprint(), "root CA ready (export it with `perimeter ca export`)");
    let store = super::open_store(&config).await?;
    let snapshot =
        SnapshotHandle::new(catalog::publish::load(&store).await.context("cannot build the catalog snapshot")?);
    let (v4, v6) = snapshot.current().prefixes();
    tracing::info!(store = %store::redact(&config.store_url()), v4, v6, "catalog loaded");
    let nudge = catalog::publish::spawn_publisher(
        snapshot.clone(),
        store.clone(),
        config.catalog.refresh.max(Duration::from_millis(50)),
    );
    let reconciler = super::reconcile::reconciler(&config, store.clone())?;
    let _reconciling = reconciler.spawn(config.notices.interval.max(Duration::from_secs(1)));
    let proxy = match config.services.web {
        true => Some(Arc::new(start_web(&config, &store, &snapshot, &ca).await?)),
        false => None,
    };
    let mail = match config.services.mail {
        true => Some(crate::mail::start(&config, &store).await?),
        false => None,
    };
    let listen = args.listen.unwrap_or(config.api.listen);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    // One line, so a supervisor (or a test) can read every address at once.
    let mut up = format!("perimeter is up: API on http://{bound}/api/v1");
    if let Some(p) = &proxy {
        up.push_str(&format!(" web proxy on {}", p.explicit_addr()));
        if let Some(t) = p.transparent_addr() {
            up.push_str(&format!(" transparent TLS on {t}"));
        }
    }
    if let Some(m) = &mail {
        up.push_str(&format!(" mail relay on {}", m.relay.local_addr()));
    }
    println!("{up}");
    tracing::info!(%bound, "API listening");
    let state = AppState { store: store.clone(), snapshot, nudge, proxy: proxy.clone(), mail: mail.clone() };
    let app = router(state, config.api.max_body_mib << 20);
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await.context("the API server failed")?;
    if let Some(p) = &proxy {
        p.flush_access_log().await;
    }
    if let Some(m) = &mail {
        crate::mail::stop(m, &store).await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the web proxy with the categories and policies in force (reloaded on change).
async fn start_web(
    config: &Config,
    store: &store::Store,
    snapshot: &SnapshotHandle,
    ca: &certs::CaStore,
) -> anyhow::Result<iqbsh::ProxyHandle> {
    let rules = crate::web::PolicyRules::load(&config.policies).context("cannot load categories and policies")?;
    let rules = iqbsh::RulesHandle::new(Arc::new(rules));
    crate::web::spawn_reloader(config.policies.clone(), rules.clone());
    let forge = certs::LeafForge::new(ca.current().clone(), certs::ForgeConfig::default())
        .context("cannot start the certificate forge")?;
    let observations = catalog::ingest::spawn_sink(store.clone(), 100_000, Duration::from_secs(1));
    let threats = iqbsh::ThreatsHandle::default();
    crate::feeds::FeedLoader::start(&config.threats, &config.data_dir, threats.clone()).await;
    let deps = iqbsh::ProxyDeps { snapshot: snapshot.clone(), observations, forge: Arc::new(forge), rules, threats };
    let proxy = iqbsh::serve(config.proxy.clone(), deps).await.context("cannot start the web proxy")?;
    tracing::info!(explicit = %proxy.explicit_addr(), "web proxy listening");
    Ok(proxy)
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminate = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
