//! `perimeter up`: opens the store, builds the first catalog snapshot, keeps it
//! current, and serves the control-plane API until interrupted.

use std::time::Duration;

use anyhow::Context;
use catalog::snapshot::{Snapshot, SnapshotHandle};

use crate::api::{AppState, router};
use crate::cli::UpArgs;
use crate::config::{Config, LogFormat};

pub async fn run(config: Config, args: UpArgs) -> anyhow::Result<()> {
    init_logging(&config);
    let ca = super::ca::ensure(&config)?;
    tracing::info!(fingerprint = %ca.current().fingerprint(), "root CA ready (export it with `perimeter ca export`)");
    let store = super::open_store(&config).await?;
    let snapshot = SnapshotHandle::new(Snapshot::load(&store).await.context("cannot build the catalog snapshot")?);
    let (v4, v6) = snapshot.current().prefixes();
    tracing::info!(store = %catalog::store::redact(&config.store_url()), v4, v6, "catalog loaded");
    let nudge = snapshot.spawn_publisher(store.clone(), Duration::from_millis(config.catalog.refresh_ms.max(50)));
    let reconciler = super::reconcile::reconciler(&config, store.clone())?;
    let _reconciling = reconciler.spawn(Duration::from_secs(config.notices.interval_secs.max(1)));
    let listen = args.listen.unwrap_or(config.api.listen);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    println!("perimeter is up: API on http://{bound}/api/v1");
    tracing::info!(%bound, "API listening");
    let app = router(AppState { store: store.clone(), snapshot, nudge }, config.api.max_body_mib << 20);
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await.context("the API server failed")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
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
