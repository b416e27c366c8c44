//! The access log: one [`Record`] per decision (connection or request), with
//! its reason, written in Squid's native `access.log` format and as JSON
//! lines by a writer on its own thread.
//!
//! The data path hands records over with a non-blocking send into a bounded
//! queue; when the writer falls behind, records are dropped and counted
//! (`iqbsh_access_log_dropped_total`), never waited for. Must not: touch the
//! disk on the caller's thread.

mod format;
mod writer;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};

pub use format::{json_line, squid_line};

use crate::config::AccessLogConfig;
use crate::decide::denial::DenyKind;
use crate::icap::ScanNote;

/// What the proxy did with a connection or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// TLS passed through undecrypted (exempt category).
    Splice,
    /// TLS intercepted under a forged certificate.
    Bump,
    /// Refused.
    Deny,
    /// Allowed (a request, or an explicit-proxy connection).
    Allow,
}

impl Action {
    /// Every action, for metrics.
    pub const ALL: [Action; 4] = [Action::Splice, Action::Bump, Action::Deny, Action::Allow];

    /// Label used in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Splice => "splice",
            Self::Bump => "bump",
            Self::Deny => "deny",
            Self::Allow => "allow",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One access-log entry.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the connection or request started.
    pub started: SystemTime,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The client's source address.
    pub client: IpAddr,
    /// The client organisation's BIN, when the catalog knows the source.
    pub org: Option<String>,
    /// `explicit` or `transparent`.
    pub listener: &'static str,
    /// HTTP method, or `CONNECT` for TLS tunnels (spliced or bumped).
    pub method: String,
    /// Host name the decision was about (`-` when none).
    pub host: String,
    /// The URL, or `host:port` for TLS tunnels (the `CONNECT` target as the client asked).
    pub url: String,
    /// The ClientHello's server name when it differs from the `CONNECT` host
    /// (the tunnel was then decided and bumped for this name).
    pub sni: Option<String>,
    /// Categories of the host.
    pub categories: Vec<String>,
    /// What was done.
    pub action: Action,
    /// The kind of refusal, for `Deny`.
    pub deny_kind: Option<DenyKind>,
    /// HTTP status answered (200 for tunnels that were opened, 0 when closed without an answer).
    pub status: u16,
    /// Why.
    pub reason: String,
    /// Why the origin's certificate was refused, if it was.
    pub cert_error: Option<String>,
    /// Bytes sent to the client.
    pub bytes_to_client: u64,
    /// Bytes received from the client.
    pub bytes_from_client: u64,
    /// The origin address connected to.
    pub upstream: Option<SocketAddr>,
    /// Content type of the response, when known.
    pub content_type: Option<String>,
    /// Reference id, also shown on block pages.
    pub reference: String,
    /// What the content scans (ICAP) made of the upload and the download.
    pub scans: Vec<ScanNote>,
}

/// A new random reference id: 16 lower-case hex digits.
pub fn reference_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

enum Msg {
    Record(Box<Record>),
    Flush(oneshot::Sender<()>),
    Reopen,
}

/// Sender side of the access log. Disabled (records discarded) when no path is configured.
#[derive(Clone)]
pub(crate) struct AccessLog {
    tx: Option<mpsc::Sender<Msg>>,
    /// Records dropped because the writer fell behind.
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Opens the configured files and starts the writer thread.
    pub(crate) fn start(cfg: &AccessLogConfig) -> Result<Self, crate::ConfigError> {
        let paths: (Option<PathBuf>, Option<PathBuf>) = (cfg.squid.clone(), cfg.json.clone());
        let dropped = Arc::default();
        if paths.0.is_none() && paths.1.is_none() {
            return Ok(Self { tx: None, dropped });
        }
        let files = writer::Files::open(paths)?;
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        writer::spawn(files, rx)?;
        Ok(Self { tx: Some(tx), dropped })
    }

    /// Hands a record to the writer; never waits. Dropped (and counted) when the queue is full.
    pub(crate) fn write(&self, record: Record) {
        tracing::debug!(
            action = record.action.label(),
            client = %record.client,
            host = %record.host,
            status = record.status,
            reason = %record.reason,
            reference = %record.reference,
            "access"
        );
        let Some(tx) = &self.tx else { return };
        if tx.try_send(Msg::Record(Box::new(record))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped so far because the writer fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record handed over so far is written and flushed.
    pub(crate) async fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Reopens the files (after log rotation moved them away).
    pub(crate) async fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Reopen).await;
        }
    }
}
