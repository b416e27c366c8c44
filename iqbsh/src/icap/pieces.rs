//! Bodies that may never end (`[proxy.icap.streaming]`: server-sent events,
//! multipart replace streams, newline-delimited JSON, gRPC) scanned piece by
//! piece: a piece ends at `piece` bytes or `wait` after its first byte,
//! whichever comes first, goes to every service as a message of its own, and is passed on
//! after its verdict. The first blocking verdict ends the body with an error;
//! nothing of that piece or after it goes on. The receiver gets every byte
//! scanned, but a threat split across two pieces is not seen whole: the
//! access log says the transfer was scanned piece by piece.
//!
//! Must not: pass a piece before its verdict, or wait for the body's end.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};

use super::exchange::Message;
use super::fanout::Fanout;
use super::options::Transfer;
use super::scan::LateNote;
use super::service::Service;
use super::stream::{Sink, Stopped};
use super::verdicts::{ScanNote, ScanOutcome};
use crate::http::page::BoxError;

/// How a stream is cut into pieces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    pub piece: u64,
    pub wait: Duration,
}

/// One piece: its frames and data bytes, and whether the body ended after it.
struct Piece {
    frames: Vec<Frame<Bytes>>,
    bytes: u64,
    ended: bool,
}

/// Reads the next piece; `Err` when the body broke off.
async fn next_piece<B>(body: &mut B, cut: Cut) -> Result<Piece, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut piece = Piece { frames: Vec::new(), bytes: 0, ended: false };
    let mut deadline = None;
    while piece.bytes < cut.piece {
        let frame = match deadline {
            None => body.frame().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(frame) => frame,
                Err(_waited) => break,
            },
        };
        deadline = deadline.or_else(|| Some(tokio::time::Instant::now() + cut.wait));
        match frame {
            None => {
                piece.ended = true;
                break;
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(frame)) => {
                piece.bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
                piece.frames.push(frame);
            }
        }
    }
    Ok(piece)
}

/// Every service's verdict on one piece.
async fn judge(services: &[(Arc<Service>, Transfer)], msg: &Message, piece: &Piece) -> ScanNote {
    let mut fanout = Fanout::start(services.to_vec(), msg.clone());
    for data in piece.frames.iter().filter_map(Frame::data_ref) {
        fanout.send(data).await;
    }
    fanout.end().await;
    fanout.finish().await.0.note
}

/// Scans `body` piece by piece, passing each clean piece to `tx`; the note goes into `late`.
pub(crate) async fn pieces<B>(
    mut body: B,
    services: Vec<(Arc<Service>, Transfer)>,
    msg: Message,
    cut: Cut,
    tx: Sink,
    late: LateNote,
) where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (mut count, mut scanned) = (0u64, 0u64);
    let summary = |count: u64, scanned: u64, end: &str| {
        format!("a stream scanned piece by piece: {count} pieces, {scanned} bytes, {end}")
    };
    let mut last: Option<ScanNote> = None;
    loop {
        let piece = match next_piece(&mut body, cut).await {
            Ok(piece) => piece,
            Err(e) => {
                let _ = tx.send(Err(Box::new(Stopped("the body broke off".into())))).await;
                let mut note = last.unwrap_or_else(|| skipped(&msg));
                note.detail = summary(count, scanned, &format!("then the body broke off: {e}"));
                let _ = late.set(note);
                return;
            }
        };
        if piece.bytes > 0 {
            let note = judge(&services, &msg, &piece).await;
            if note.outcome.blocks() {
                let why = note.threat.clone().unwrap_or_else(|| note.detail.clone());
                let detail = format!("{}; {}", note.detail, summary(count, scanned, "then this piece was stopped"));
                let _ = late.set(ScanNote { detail: detail.trim_start_matches("; ").to_owned(), ..note });
                let _ = tx.send(Err(Box::new(Stopped(why)))).await;
                return;
            }
            count += 1;
            scanned += piece.bytes;
            last = Some(note);
        }
        for frame in piece.frames {
            if tx.send(Ok(frame)).await.is_err() {
                let mut note = last.unwrap_or_else(|| skipped(&msg));
                note.detail = summary(count, scanned, "until the receiver went away");
                let _ = late.set(note);
                return;
            }
        }
        if piece.ended {
            let mut note = last.unwrap_or_else(|| skipped(&msg));
            note.detail = summary(count, scanned, "to its end");
            let _ = late.set(note);
            return;
        }
    }
}

/// The note of a stream that carried no byte.
fn skipped(msg: &Message) -> ScanNote {
    let (method, service) = (msg.method, "-".into());
    ScanNote { method, outcome: ScanOutcome::Skipped, service, threat: None, detail: String::new(), passed: 0 }
}
