//! A body above its scan limit scanned while it streams (`over_limit =
//! "stream"`, an explicit choice): bytes flow on to the receiver as they
//! arrive, all but the last [`TAIL`], which wait for the verdict; a blocking
//! verdict ends the body with an error instead of its end. The note counts
//! the bytes that went on before the verdict: the access log marks the
//! transfer as only partly scanned, and the page of a stopped upload says
//! that the origin got them.
//!
//! Must not: let the tail go before every verdict is in.

use std::collections::VecDeque;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use super::fanout::Fanout;
use super::scan::LateNote;
use super::verdicts::{ScanNote, ScanOutcome};
use crate::http::page::BoxError;

/// Bytes kept back from the user until the verdict when a body streams under scan.
const TAIL: u64 = 64 * 1024;

/// Frames kept back from the user: at least [`TAIL`] bytes once there are that many.
#[derive(Default)]
struct Tail {
    frames: VecDeque<Frame<Bytes>>,
    bytes: u64,
}

impl Tail {
    fn push(&mut self, frame: Frame<Bytes>) {
        self.bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
        self.frames.push_back(frame);
    }

    /// The oldest frame, if the others still make up the tail.
    fn release(&mut self) -> Option<Frame<Bytes>> {
        let first = self.frames.front()?.data_ref().map_or(0, |d| d.len() as u64);
        if self.bytes - first < TAIL {
            return None;
        }
        self.bytes -= first;
        self.frames.pop_front()
    }
}

/// The transfer was stopped because a scan found a threat or failed closed.
#[derive(Debug, thiserror::Error)]
#[error("stopped by the content scan: {0}")]
pub(crate) struct Stopped(pub String);

pub(crate) type Sink = mpsc::Sender<Result<Frame<Bytes>, BoxError>>;

/// Streams a body above its limit to `tx` while every service scans it; the
/// tail waits for the verdict, and a blocking verdict ends the body with an error.
pub(crate) async fn stream<B>(
    mut body: B,
    held: VecDeque<Frame<Bytes>>,
    mut fanout: Fanout,
    tx: Sink,
    late: LateNote,
    note: ScanNote,
) where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let mut tail = Tail::default();
    held.into_iter().for_each(|f| tail.push(f));
    let mut passed = 0u64;
    let stopped = |detail: String, passed: u64| ScanNote { detail, passed, ..note.clone() };
    loop {
        while let Some(frame) = tail.release() {
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            if tx.send(Ok(frame)).await.is_err() {
                fanout.abort();
                let _ = late.set(stopped("the receiver went away before the end".into(), passed));
                return;
            }
            passed += n;
        }
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = fanout.next_verdict(), if !fanout.complete() => {
                if fanout.decided() {
                    break;
                }
                continue;
            }
            () = tx.closed() => {
                fanout.abort();
                let _ = late.set(stopped("the receiver went away before the end".into(), passed));
                return;
            }
        };
        match frame.map(|f| f.map_err(Into::into)) {
            None => {
                fanout.end().await;
                break;
            }
            Some(Err(e)) => {
                fanout.abort();
                let _ = late.set(stopped(format!("the body broke off: {e}"), passed));
                let _ = tx.send(Err(Box::new(Stopped("the body broke off".into())))).await;
                return;
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    fanout.send(data).await;
                }
                tail.push(frame);
            }
        }
    }
    let (judgement, _) = if fanout.decided() { fanout.judge() } else { fanout.finish().await };
    let mut note = judgement.note;
    note.passed = passed;
    if note.outcome == ScanOutcome::Clean {
        note.detail = "larger than the scan limit: scanned while it streamed".into();
    }
    if note.outcome == ScanOutcome::Adapted {
        // The user already has most of the original; a replacement cannot apply.
        note.outcome = ScanOutcome::Clean;
        note.detail = "the service's replacement came after the body had streamed; the original was delivered".into();
    }
    let blocks = note.outcome.blocks();
    let why = note.threat.clone().unwrap_or_else(|| note.detail.clone());
    let _ = late.set(note);
    if blocks {
        let _ = tx.send(Err(Box::new(Stopped(why)))).await;
        return;
    }
    for frame in tail.frames {
        if tx.send(Ok(frame)).await.is_err() {
            return;
        }
    }
}
