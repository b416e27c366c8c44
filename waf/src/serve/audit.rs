//! The audit log: one JSON line per transaction the WAF decided or in which a rule
//! matched (time, transaction id, site, client, method, URI, status, mode, action,
//! anomaly scores, every matched rule with id, message and shortened data), written by
//! a thread of its own. The request path hands a line over with a non-blocking send into
//! a bounded queue; when the writer falls behind, lines are dropped and counted
//! (`waf_audit_dropped_total`), never waited for. `reopen` reopens the file after log
//! rotation moved it.
//!
//! Must not: touch the disk on the caller's thread.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::engine::RuleMatch;

/// Longest URI kept in a line, in bytes.
const MAX_URI: usize = 2048;
/// Longest matched data kept per rule, in bytes.
const MAX_DATA: usize = 256;

/// One matched rule as the audit line shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRule {
    pub id: u32,
    pub message: String,
    pub data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
}

impl From<&RuleMatch> for AuditRule {
    fn from(m: &RuleMatch) -> Self {
        AuditRule { id: m.id, message: m.message.clone(), data: shorten(&m.data, MAX_DATA), severity: m.severity }
    }
}

/// One audit line.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// The transaction id, also on the block page.
    pub transaction: String,
    pub site: String,
    pub client: IpAddr,
    pub method: String,
    pub uri: String,
    /// The status the client got.
    pub status: u16,
    /// `detect` or `block`.
    pub mode: &'static str,
    /// `blocked` (the engine refused), `matched` (rules matched, passed on), `refused`
    /// (the WAF answered for another reason, see `reason`).
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub score: u32,
    pub outbound_score: u32,
    pub rules: Vec<AuditRule>,
    /// Engine time of the transaction, in milliseconds.
    pub engine_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<SocketAddr>,
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A URI as the audit line keeps it.
pub(crate) fn uri(text: &str) -> String {
    shorten(text, MAX_URI)
}

enum Msg {
    Line(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
    Reopen,
}

/// The sending half; discards lines when no file is configured.
#[derive(Clone)]
pub(crate) struct Audit {
    tx: Option<mpsc::Sender<Msg>>,
    dropped: Arc<AtomicU64>,
}

impl Audit {
    /// Opens `path` (appending) and starts the writer thread.
    pub(crate) fn start(path: Option<&Path>, queue: usize) -> std::io::Result<Audit> {
        let dropped = Arc::default();
        let Some(path) = path else { return Ok(Audit { tx: None, dropped }) };
        let mut sink = Sink::open(path.to_owned())?;
        let (tx, mut rx) = mpsc::channel(queue.max(1));
        std::thread::Builder::new().name("waf-audit".into()).spawn(move || {
            while let Some(msg) = rx.blocking_recv() {
                sink.handle(msg);
                while let Ok(msg) = rx.try_recv() {
                    sink.handle(msg);
                }
                sink.flush();
            }
        })?;
        Ok(Audit { tx: Some(tx), dropped })
    }

    /// Hands a line to the writer; never waits.
    pub(crate) fn write(&self, record: AuditRecord) {
        tracing::debug!(transaction = %record.transaction, site = %record.site, action = record.action, status = record.status, "waf audit");
        let Some(tx) = &self.tx else { return };
        if tx.try_send(Msg::Line(Box::new(record))).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Waits until every line handed over so far is written.
    pub(crate) async fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Reopens the file (after log rotation).
    pub(crate) async fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Reopen).await;
        }
    }
}

struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Sink {
    fn open(path: PathBuf) -> std::io::Result<Sink> {
        let file = open_append(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("audit log {}: {e}", path.display())))?;
        Ok(Sink { path, out: BufWriter::with_capacity(64 * 1024, file) })
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Line(record) => {
                let mut line = serde_json::to_vec(&record).unwrap_or_default();
                line.push(b'\n');
                if let Err(e) = self.out.write_all(&line) {
                    tracing::error!(path = %self.path.display(), error = %e, "audit log write failed");
                }
            }
            Msg::Flush(done) => {
                self.flush();
                let _ = done.send(());
            }
            Msg::Reopen => {
                self.flush();
                match open_append(&self.path) {
                    Ok(file) => self.out = BufWriter::with_capacity(64 * 1024, file),
                    Err(e) => tracing::error!(path = %self.path.display(), error = %e, "audit log reopen failed"),
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            tracing::error!(path = %self.path.display(), error = %e, "audit log flush failed");
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_characters_whole() {
        assert_eq!(shorten("абв", 3), "а…");
        assert_eq!(shorten("abc", 3), "abc");
    }
}
