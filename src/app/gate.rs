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
use gate::{GateConfig, GateHandle, GateStatus, Redirect};
use serde::{Deserialize, Serialize};
use snapshot::SnapshotHandle;

use super::service::{Service, Stop};

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
pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join("gate-status.json")
}

/// The transparent listeners' ports, as configured, when the web proxy runs them.
pub fn redirect_ports(proxy: &iqbsh::ProxyConfig, web: bool) -> Option<Redirect> {
    let transparent = proxy.transparent.as_ref().filter(|_| web)?;
    Some(Redirect { https: transparent.listen.port(), http: transparent.http_listen.map(|a| a.port()) })
}

/// The running gate as a service: writes its status file every second until stopped,
/// then detaches (XDP program, nftables tables) and removes the file.
pub struct PacketGate {
    handle: Arc<GateHandle>,
    path: PathBuf,
}

/// What the API reads of a running gate: its status and counters.
#[derive(Clone)]
pub struct GateView {
    handle: Arc<GateHandle>,
}

impl PacketGate {
    /// Starts the gate on the interfaces `[gate]` names, reporting unknown sources into
    /// `sink`, redirecting to the proxy's transparent listeners at `redirect`.
    pub async fn start(
        (config, data_dir): (&GateConfig, &Path),
        sink: snapshot::ObservationSink,
        snapshot: &SnapshotHandle,
        redirect: Option<Redirect>,
    ) -> anyhow::Result<PacketGate> {
        let handle = gate::start(config.clone(), redirect, snapshot.clone(), sink)
            .await
            .context("cannot start the packet gate ([gate])")?;
        Ok(PacketGate { handle: Arc::new(handle), path: status_path(data_dir) })
    }

    pub fn view(&self) -> GateView {
        GateView { handle: self.handle.clone() }
    }
}

impl GateView {
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
}

impl Service for PacketGate {
    const NAME: &'static str = "packet gate";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        write_status(&self.handle, &self.path, &stop).await;
        match Arc::try_unwrap(self.handle) {
            Ok(handle) => handle.stop().await,
            Err(_) => tracing::warn!("packet gate still in use at shutdown; it detaches when the process ends"),
        }
        let _ = std::fs::remove_file(&self.path);
        Ok(())
    }
}

/// Rewrites the status file every second until stopped.
async fn write_status(handle: &Arc<GateHandle>, path: &Path, stop: &Stop) {
    loop {
        let h = handle.clone();
        if let Ok(status) = tokio::task::spawn_blocking(move || h.status()).await {
            let file = StatusFile { written_at: snapshot::now_ms(), status };
            if let Err(e) = write_atomically(path, &file) {
                tracing::warn!(error = %e, path = %path.display(), "cannot write the packet gate's status");
            }
        }
        tokio::select! {
            () = stop.stopped() => return,
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
pub fn read_status(data_dir: &Path) -> anyhow::Result<Option<StatusFile>> {
    let path = status_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("{} is unreadable", path.display()))?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
