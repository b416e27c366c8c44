//! The packet gate as `perimeter up` runs it: started when `[gate]` names interfaces,
//! fed the catalog snapshot and an observation sink into the store, its status written
//! every second to `DATA_DIR/gate-status.json` (what `perimeter gate status` and
//! `gate explain` read), its counters rendered for `/metrics`, stopped (and detached)
//! on shutdown.
//!
//! Must not: decide packets (the gate crate does, in the kernel) or touch the store
//! beyond the observation sink.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gate::{GateHandle, GateStatus, Redirect};
use serde::{Deserialize, Serialize};
use snapshot::SnapshotHandle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// How often the status file is rewritten.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// The status file as written by a running gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusFile {
    /// Unix milliseconds of this write.
    pub written_at: i64,
    #[serde(flatten)]
    pub status: GateStatus,
}

/// Where a gate's status lives.
pub fn status_path(config: &Config) -> PathBuf {
    config.data_dir.join("gate-status.json")
}

/// A running gate and its status writer.
pub struct GateRunner {
    handle: Arc<GateHandle>,
    stop: watch::Sender<bool>,
    writer: JoinHandle<()>,
    path: PathBuf,
}

/// The transparent listeners' ports, as configured, when the web proxy runs them.
pub fn redirect_ports(config: &Config) -> Option<Redirect> {
    let transparent = config.proxy.transparent.as_ref().filter(|_| config.services.web)?;
    Some(Redirect { https: transparent.listen.port(), http: transparent.http_listen.map(|a| a.port()) })
}

/// Starts the gate when `[gate]` names interfaces; `None` otherwise.
pub async fn start(
    config: &Config,
    snapshot: &SnapshotHandle,
    store: &store::Store,
    bound: Option<Redirect>,
) -> anyhow::Result<Option<GateRunner>> {
    if !config.gate.enabled() {
        return Ok(None);
    }
    let sink = catalog::ingest::spawn_sink(store.clone(), 100_000, Duration::from_secs(1), config.own_addresses());
    let redirect = bound.or_else(|| redirect_ports(config));
    let handle = gate::start(config.gate.clone(), redirect, snapshot.clone(), sink)
        .await
        .context("cannot start the packet gate ([gate])")?;
    let handle = Arc::new(handle);
    let path = status_path(config);
    let (stop, stopped) = watch::channel(false);
    let writer = tokio::spawn(write_status(handle.clone(), path.clone(), stopped));
    Ok(Some(GateRunner { handle, stop, writer, path }))
}

impl GateRunner {
    /// The status with the kernel's counters read now.
    pub async fn status(&self) -> anyhow::Result<GateStatus> {
        let handle = self.handle.clone();
        tokio::task::spawn_blocking(move || handle.status()).await.context("reading the gate's status")
    }

    /// The gate's counters in the Prometheus text format.
    pub async fn render_metrics(&self) -> String {
        match self.status().await {
            Ok(status) => {
                let rows: Vec<_> =
                    status.interfaces.iter().map(|i| (i.name.clone(), i.link.clone(), i.counts)).collect();
                let mut text = gate::counters::prometheus(&rows);
                text.push_str(&format!(
                    "# HELP perimeter_gate_generation The catalog generation the packet gate enforces.\n\
                     # TYPE perimeter_gate_generation gauge\nperimeter_gate_generation {}\n",
                    status.generation
                ));
                text
            }
            Err(e) => format!("# packet gate status unavailable: {e}\n"),
        }
    }

    /// Stops the gate: detaches it and removes its status file.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.writer.await;
        match Arc::try_unwrap(self.handle) {
            Ok(handle) => handle.stop().await,
            Err(_) => tracing::warn!("packet gate still in use at shutdown; it detaches when the process ends"),
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Stops the gate once the API (which shares it for `/metrics`) has let go of it.
pub async fn stop(runner: Arc<GateRunner>) {
    match Arc::try_unwrap(runner) {
        Ok(runner) => runner.stop().await,
        Err(_) => tracing::warn!("packet gate still in use at shutdown; it detaches when the process ends"),
    }
}

/// Rewrites the status file every second until stopped.
async fn write_status(handle: Arc<GateHandle>, path: PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        let h = handle.clone();
        if let Ok(status) = tokio::task::spawn_blocking(move || h.status()).await {
            let file = StatusFile { written_at: snapshot::now_ms(), status };
            if let Err(e) = write_atomically(&path, &file) {
                tracing::warn!(error = %e, path = %path.display(), "cannot write the packet gate's status");
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(STATUS_EVERY) => {}
        }
    }
}

fn write_atomically(path: &Path, file: &StatusFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(file)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The status a running gate last wrote, if any.
pub fn read_status(config: &Config) -> anyhow::Result<Option<StatusFile>> {
    let path = status_path(config);
    match std::fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("{} is unreadable", path.display()))?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
