//! What the client gets back for a request: the origin's response, with its access-log
//! record written once the body has been sent or abandoned (`to_client`), or a refusal
//! with the block page (`refuse`); and the refusal a content scan's verdict stands for
//! (`scan_denial`), which also goes into the record of a body cut short while it
//! streamed (`note_late`).
//!
//! Must not: decide; the caller has decided, this answers and logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use http::Response;
use http::header;
use http_body_util::BodyExt;
use hyper::body::Body;

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::http::forward::strip_hop_by_hop;
use crate::http::page::{self, BoxError, ProxyBody};
use crate::icap::{LateNote, Method, ScanNote, ScanOutcome};
use crate::report::accesslog::{Action, Record};

/// Writes the access-log record of a forwarded request when dropped, which
/// is when the response body has been sent or abandoned.
struct LogOnDrop {
    conn: Arc<Conn>,
    record: Option<Record>,
    to_client: u64,
    from_client: Arc<AtomicU64>,
    /// The verdict of a scan that runs while the body streams.
    late: Option<LateNote>,
}

impl LogOnDrop {
    /// Counts bytes sent to the client (a method, so the closure owns the whole guard).
    fn sent(&mut self, bytes: usize) {
        self.to_client += bytes as u64;
    }
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.bytes_to_client = self.to_client;
            record.bytes_from_client = self.from_client.load(Relaxed);
            if let Some(late) = &self.late {
                note_late(&mut record, late, self.to_client);
            }
            self.conn.finish(record);
        }
    }
}

/// The origin's response for the client; the record is written once its body is
/// done (with the verdict of a scan still running while it streams, `late`).
pub(crate) fn to_client<B>(
    conn: Arc<Conn>,
    mut record: Record,
    response: Response<B>,
    from_client: Arc<AtomicU64>,
    late: Option<LateNote>,
) -> Response<ProxyBody>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    record.action = Action::Allow;
    record.status = parts.status.as_u16();
    record.content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    conn.shared.metrics.request(Action::Allow);
    let mut guard = LogOnDrop { conn, record: Some(record), to_client: 0, from_client, late };
    let body = body
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                guard.sent(data.len());
            }
            frame
        })
        .map_err(Into::into)
        .boxed();
    Response::from_parts(parts, body)
}

/// Answers a refused request with the block page and logs it.
pub(crate) fn refuse(conn: &Conn, mut record: Record, denial: &Denial, close: bool) -> Response<ProxyBody> {
    let status = denial.kind.status();
    conn.deny(&mut record, denial, status);
    let html = page::html(denial, &record.host, &record.reference);
    record.bytes_to_client = html.len() as u64;
    record.content_type = Some("text/html".to_owned());
    let response = page::block(denial, &record.host, &record.reference, close);
    conn.shared.metrics.request(Action::Deny);
    conn.finish(record);
    response
}

/// "download" or "upload".
fn what(method: Method) -> &'static str {
    match method {
        Method::Respmod => "download",
        Method::Reqmod => "upload",
    }
}

/// The refusal a blocking scan note stands for. When bytes went on before the
/// verdict (a body scanned while it streamed), it says so: they were not stopped.
pub(crate) fn scan_denial(note: &ScanNote) -> Denial {
    let mut denial = refusal(note);
    if note.passed > 0 {
        let whom = match note.method {
            Method::Respmod => "you",
            Method::Reqmod => "the site",
        };
        denial.reason.push_str(&format!(
            "; the first {} bytes had already gone on to {whom} before the verdict, as this gateway is set to \
             stream content this large while it is scanned",
            note.passed
        ));
    }
    denial
}

fn refusal(note: &ScanNote) -> Denial {
    let (thing, service) = (what(note.method), &note.service);
    match note.outcome {
        ScanOutcome::Threat => {
            let name = note.threat.clone().unwrap_or_default();
            let reason = format!("the {thing} contains the threat {name} (found by the scanning service {service})");
            Denial { threat: Some(name), ..Denial::new(DenyKind::Threat, reason) }
        }
        ScanOutcome::TooLarge => Denial::new(
            DenyKind::TooLargeToScan,
            format!("the {thing} cannot be scanned: {}; it was not let through", note.detail),
        ),
        ScanOutcome::Refused => {
            let reason = format!("the scanning service {service} refused the {thing}: {}", note.detail);
            Denial::new(DenyKind::Threat, reason)
        }
        // Not a scan's verdict: the body itself broke off while it was held.
        ScanOutcome::Skipped if note.method == Method::Respmod => Denial::new(DenyKind::Upstream, note.detail.clone()),
        ScanOutcome::Skipped => Denial::new(DenyKind::BadRequest, note.detail.clone()),
        _ => Denial::new(
            DenyKind::ScanFailed,
            format!(
                "the {thing} could not be scanned for malicious content ({service}: {}), and content that cannot be \
                 scanned is not let through; try again later",
                note.detail
            ),
        ),
    }
}

/// Adds the verdict of a scan that ran while the body streamed (written when the
/// body ends); when the transfer ended before any verdict, says so, with the
/// `delivered` bytes that went unscanned.
pub(crate) fn note_late(record: &mut Record, late: &LateNote, delivered: u64) {
    let Some(note) = late.get() else {
        record.scans.push(ScanNote {
            method: Method::Respmod,
            outcome: ScanOutcome::Skipped,
            service: "-".into(),
            threat: None,
            detail: "the transfer ended before the verdict".into(),
            passed: delivered,
        });
        return;
    };
    if note.outcome.blocks() {
        let found = note.threat.as_deref().unwrap_or(note.detail.as_str());
        record.reason.push_str(&format!(" (cut short by the content scan: {found})"));
        record.deny_kind = Some(scan_denial(note).kind);
    }
    record.scans.push(note.clone());
}
