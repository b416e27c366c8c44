//! The ICAP client (RFC 3507): bodies of bumped and plain-HTTP traffic go to
//! the antivirus services named in `[proxy.icap]` before they go on —
//! RESPMOD for responses (downloads), REQMOD for request bodies (uploads).
//!
//! Lives here: the configuration ([`IcapConfig`]), the wire format (`wire`,
//! pure parsers over borrowed bytes), each service's OPTIONS cache and
//! connection pool (`service`, `pool`, `conn`), one exchange per service and
//! message (`exchange`), the holding of a body while it is scanned (`scan`,
//! `fanout`, `body`; past its memory limit on disk, `hold`), a body that
//! streams under scan (`stream`) or is scanned piece by piece (`pieces`), and
//! how verdicts become one outcome (`verdicts`). What the user then gets (block page, access-log fields,
//! metrics) is decided by the callers from the [`ScanNote`].
//!
//! Must not: scan spliced (exempt) traffic or WebSocket frames, or let a
//! held body reach its receiver before the verdict.

mod body;
mod config;
mod conn;
mod error;
mod exchange;
mod fanout;
mod hold;
mod options;
mod pieces;
mod pool;
mod scan;
mod service;
mod stream;
mod threat;
mod verdicts;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use tokio::sync::watch;

pub use config::{ContentRule, HoldConfig, IcapConfig, OnFailure, OverLimit, ServiceConfig, Size, StreamingConfig};
pub use error::ExchangeError;
pub use options::Method;
pub use verdicts::{ScanNote, ScanOutcome};

pub(crate) use exchange::AdaptedHead;
pub(crate) use hold::HoldShare;
pub(crate) use scan::{LateNote, Scanned};

use options::Transfer;
use service::Service;

/// A message about to be scanned.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub method: Method,
    /// The request URL (for the service's Transfer-* rules and its logs).
    pub url: String,
    pub client: IpAddr,
    /// The encapsulated HTTP request head.
    pub req_head: Bytes,
    /// The encapsulated HTTP response head (RESPMOD).
    pub res_head: Option<Bytes>,
    /// The body's content type (for the scan limit).
    pub content_type: String,
    /// What the client's connection holds on disk for scanning.
    pub hold: Arc<HoldShare>,
}

/// Why a body went unscanned, for the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unscanned {
    OverLimit,
    Ignored,
}

/// The configured services.
pub(crate) struct Icap {
    config: IcapConfig,
    services: Vec<Arc<Service>>,
    /// Where bodies above their limit wait for their verdict (`over_limit = "hold"`);
    /// opened only when a service is named.
    hold: Option<Arc<hold::HoldSpace>>,
    unscanned: [AtomicU64; 2],
}

/// Why the ICAP client did not start.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StartError {
    /// The configuration field at fault (`icap.services.NAME`, `icap.hold.dir`).
    pub field: String,
    pub message: String,
}

impl Icap {
    /// Resolves every service and starts keeping its OPTIONS until `stop`.
    pub(crate) async fn start(config: &IcapConfig, stop: &watch::Receiver<bool>) -> Result<Self, StartError> {
        let hold = match config.services.is_empty() {
            true => None,
            false => Some(Arc::new(hold::HoldSpace::open(&config.hold).map_err(|e| StartError {
                field: "icap.hold.dir".into(),
                message: format!("cannot use {} to hold bodies for scanning: {e}", config.hold.dir.display()),
            })?)),
        };
        let mut services = Vec::new();
        for (name, cfg) in &config.services {
            let fail = |message: String| StartError { field: format!("icap.services.{name}"), message };
            let (host, port, _) = cfg.parts().map_err(|e| fail(format!("url {e}")))?;
            let addr: SocketAddr = match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(mut addrs) => addrs.next().ok_or_else(|| fail(format!("{host} has no address")))?,
                Err(e) => return Err(fail(format!("cannot resolve {host}: {e}"))),
            };
            let service = Arc::new(Service::new(name, cfg, addr));
            tokio::spawn(Arc::clone(&service).keep_options(stop.clone()));
            services.push(service);
        }
        Ok(Self { config: config.clone(), services, hold, unscanned: Default::default() })
    }

    /// Whether any service scans `method`.
    pub(crate) fn scans(&self, method: Method) -> bool {
        self.services.iter().any(|s| s.methods.contains(&method))
    }

    /// The services that scan `method` for `url`, with their transfer; and
    /// whether some were left out because they ignore its file type.
    fn services_for(&self, method: Method, url: &str) -> (Vec<(Arc<Service>, Transfer)>, bool) {
        let ext = options::extension(url);
        let mut ignored = false;
        let mut chosen = Vec::new();
        for s in self.services.iter().filter(|s| s.methods.contains(&method)) {
            let transfer = s.options.load().as_ref().map_or(Transfer::Complete, |o| o.transfer(&ext));
            if transfer == Transfer::Ignore {
                ignored = true;
            } else {
                chosen.push((Arc::clone(s), transfer));
            }
        }
        (chosen, ignored)
    }

    fn count_unscanned(&self, why: Unscanned) {
        self.unscanned[why as usize].fetch_add(1, Relaxed);
    }

    /// Prometheus text of the scanning counters.
    pub(crate) fn render(&self, out: &mut String) {
        let families = [
            ("iqbsh_icap_scans_total", "counter", "Bodies sent to an ICAP service, by service and method."),
            ("iqbsh_icap_detections_total", "counter", "Threats ICAP services found, by service."),
            ("iqbsh_icap_failures_total", "counter", "ICAP exchanges that gave no verdict, by service."),
            (
                "iqbsh_icap_verdict_seconds_total",
                "counter",
                "Time spent waiting for ICAP verdicts (after a preview or the last byte), by service.",
            ),
            ("iqbsh_icap_connections_limit", "gauge", "Connections allowed to each ICAP service now."),
        ];
        for (i, (name, kind, help)) in families.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for s in &self.services {
                let st = &s.stats;
                let svc = &s.name;
                let _ = match i {
                    0 => writeln!(
                        out,
                        "{name}{{service=\"{svc}\",method=\"respmod\"}} {}\n{name}{{service=\"{svc}\",method=\"reqmod\"}} {}",
                        st.scans[0].load(Relaxed),
                        st.scans[1].load(Relaxed)
                    ),
                    1 => writeln!(out, "{name}{{service=\"{svc}\"}} {}", st.detections.load(Relaxed)),
                    2 => writeln!(out, "{name}{{service=\"{svc}\"}} {}", st.failures.load(Relaxed)),
                    3 => writeln!(out, "{name}{{service=\"{svc}\"}} {:.6}", st.waited_us.load(Relaxed) as f64 / 1e6),
                    _ => writeln!(out, "{name}{{service=\"{svc}\"}} {}", s.pool.limit()),
                };
            }
        }
        let name = "iqbsh_icap_held_bytes";
        let _ = writeln!(out, "# HELP {name} Bytes of bodies held on disk for their verdict now.\n# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {}", self.hold.as_ref().map_or(0, |h| h.used()));
        let name = "iqbsh_icap_unscanned_total";
        let _ = writeln!(out, "# HELP {name} Bodies passed without a scan, by reason.\n# TYPE {name} counter");
        for (why, label) in [(Unscanned::OverLimit, "over_limit"), (Unscanned::Ignored, "transfer_ignore")] {
            let _ = writeln!(out, "{name}{{reason=\"{label}\"}} {}", self.unscanned[why as usize].load(Relaxed));
        }
    }
}
