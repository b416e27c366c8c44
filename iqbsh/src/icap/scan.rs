//! Scanning one body on its way: [`Icap::scan`] holds the body while every
//! service that scans it reads it (up to the scan limit of its content type),
//! then delivers it, the service's replacement, or a refusal; a body above
//! the limit is passed, refused, or scanned while it streams, as configured
//! (see [`OverLimit`]).
//!
//! Must not: send a held body on before every service that decides has
//! answered, or hold more than the limit (plus one frame).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use super::body::{Channel, Replay};
use super::config::{OverLimit, Size};
use super::exchange::{Adapted, AdaptedHead, Message, Verdict};
use super::fanout::Fanout;
use super::verdicts::{Judgement, ScanNote, ScanOutcome};
use super::{Icap, Subject, Unscanned};
use crate::http::page::{BoxError, ProxyBody};

/// Bytes kept back from the user until the verdict when a body streams under scan.
const TAIL: u64 = 64 * 1024;
/// Frames queued towards the user of a streamed body.
const STREAM_DEPTH: usize = 4;

/// A note filled in when a streamed scan ends (after the head was delivered).
pub(crate) type LateNote = Arc<OnceLock<ScanNote>>;

/// What a scan decided.
pub(crate) enum Scanned {
    /// Deliver the original message with this body (replayed, or streaming under scan with `late`).
    Deliver { body: ProxyBody, note: Option<ScanNote>, late: Option<LateNote> },
    /// Deliver the service's replacement instead.
    Replace { head: AdaptedHead, body: ProxyBody, note: ScanNote },
    /// Refuse the message.
    Refuse(ScanNote),
}

/// Why the hold phase stopped.
enum Stop {
    Ended,
    Decided,
    OverLimit,
    BodyFailed(BoxError),
}

fn boxed<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

impl Icap {
    /// Scans `body` of `subject`.
    pub(crate) async fn scan<B>(&self, subject: Subject, mut body: B) -> Scanned
    where
        B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (services, ignored) = self.services_for(subject.method, &subject.url);
        if services.is_empty() {
            let note = ignored.then(|| {
                self.count_unscanned(Unscanned::Ignored);
                skipped(&subject, "the service takes no files of this kind (Transfer-Ignore)".into())
            });
            return Scanned::Deliver { body: boxed(body), note, late: None };
        }
        let (limit, over) = self.config.limit_for(&subject.content_type);
        let msg = Message {
            method: subject.method,
            req_head: subject.req_head.clone(),
            res_head: subject.res_head.clone(),
            transfer: services[0].1,
            client: subject.client,
        };
        let known_over = body.size_hint().exact().is_some_and(|n| n > limit);
        let mut held = VecDeque::new();
        let mut fanout = None;
        let stop = if known_over {
            Stop::OverLimit
        } else {
            let lanes = fanout.insert(Fanout::start(services.clone(), msg.clone()));
            hold(&mut body, lanes, &mut held, limit).await
        };
        match stop {
            Stop::Ended | Stop::Decided => {
                let fanout = fanout.expect("started for a held body");
                let (judgement, adapted) =
                    if matches!(stop, Stop::Ended) { fanout.finish().await } else { fanout.judge() };
                let rest = matches!(stop, Stop::Decided).then_some(body);
                self.deliver(judgement, adapted, held, rest)
            }
            Stop::OverLimit => {
                let start = || Fanout::start(services, msg);
                self.over_limit(&subject, over, limit, fanout, start, held, body)
            }
            Stop::BodyFailed(e) => {
                if let Some(mut fanout) = fanout {
                    fanout.abort();
                }
                let what =
                    if subject.method == super::Method::Respmod { "the origin's response" } else { "the upload" };
                Scanned::Refuse(skipped(&subject, format!("{what} broke off before its end: {e}")))
            }
        }
    }

    /// The outcome of a held body once judged.
    fn deliver<B>(
        &self,
        judgement: Judgement,
        adapted: Option<Verdict>,
        held: VecDeque<Frame<Bytes>>,
        rest: Option<B>,
    ) -> Scanned
    where
        B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let note = judgement.note;
        if note.outcome.blocks() {
            return Scanned::Refuse(note);
        }
        if let Some(Verdict::Adapted(Adapted { head, body })) = adapted {
            let body = match body {
                Some(rx) => adapted_body(rx),
                None => boxed(http_body_util::Empty::<Bytes>::new()),
            };
            return Scanned::Replace { head, body, note };
        }
        Scanned::Deliver { body: boxed(Replay::new(held, rest)), note: Some(note), late: None }
    }

    /// A body found to be above its limit; `fanout` holds the exchanges started while
    /// it was held (none when its length said so up front: `start` starts them to stream).
    #[allow(clippy::too_many_arguments)]
    fn over_limit<B>(
        &self,
        subject: &Subject,
        over: OverLimit,
        limit: u64,
        fanout: Option<Fanout>,
        start: impl FnOnce() -> Fanout,
        held: VecDeque<Frame<Bytes>>,
        body: B,
    ) -> Scanned
    where
        B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let kind = &subject.content_type;
        match over {
            OverLimit::Pass => {
                fanout.into_iter().for_each(|mut f| f.abort());
                self.count_unscanned(Unscanned::OverLimit);
                let why = format!("larger than the scan limit of {} for {kind}: passed unscanned", Size(limit));
                Scanned::Deliver {
                    body: boxed(Replay::new(held, Some(body))),
                    note: Some(skipped(subject, why)),
                    late: None,
                }
            }
            OverLimit::Block => {
                fanout.into_iter().for_each(|mut f| f.abort());
                let mut note = skipped(subject, format!("larger than the scan limit of {} for {kind}", Size(limit)));
                note.outcome = ScanOutcome::TooLarge;
                Scanned::Refuse(note)
            }
            OverLimit::Stream => {
                let (tx, channel) = Channel::new(STREAM_DEPTH);
                let late = LateNote::default();
                let template = skipped(subject, String::new());
                let fanout = fanout.unwrap_or_else(start);
                tokio::spawn(stream(body, held, fanout, tx, Arc::clone(&late), template));
                Scanned::Deliver { body: boxed(channel), note: None, late: Some(late) }
            }
        }
    }
}

/// A note for a message that was not scanned (the caller sets the outcome if not `Skipped`).
fn skipped(subject: &Subject, detail: String) -> ScanNote {
    ScanNote { method: subject.method, outcome: ScanOutcome::Skipped, service: "-".into(), threat: None, detail }
}

/// Reads and holds the body, feeding every exchange, until it ends, a verdict
/// decides, or it passes `limit`.
async fn hold<B>(body: &mut B, fanout: &mut Fanout, held: &mut VecDeque<Frame<Bytes>>, limit: u64) -> Stop
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut size = 0u64;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = fanout.next_verdict(), if !fanout.complete() => {
                if fanout.decided() || fanout.complete() {
                    return Stop::Decided;
                }
                continue;
            }
        };
        match frame.map(|f| f.map_err(Into::into)) {
            None => {
                fanout.end().await;
                return Stop::Ended;
            }
            Some(Err(e)) => return Stop::BodyFailed(e),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    size += data.len() as u64;
                    fanout.send(data).await;
                }
                held.push_back(frame);
                if size > limit {
                    return Stop::OverLimit;
                }
            }
        }
    }
}

/// A replacement body from the service's connection.
fn adapted_body(mut rx: mpsc::Receiver<Result<Bytes, super::ExchangeError>>) -> ProxyBody {
    let (tx, channel) = Channel::new(STREAM_DEPTH);
    tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            let item = item.map(Frame::data).map_err(|e| Box::new(e) as BoxError);
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    boxed(channel)
}

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
struct Stopped(String);

type Sink = mpsc::Sender<Result<Frame<Bytes>, BoxError>>;

/// Streams a body above its limit to `tx` while every service scans it; the
/// tail waits for the verdict, and a blocking verdict ends the body with an error.
async fn stream<B>(
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
    let stopped = |detail: String| ScanNote { detail, ..note.clone() };
    loop {
        while let Some(frame) = tail.release() {
            if tx.send(Ok(frame)).await.is_err() {
                fanout.abort();
                let _ = late.set(stopped("the receiver went away before the end".into()));
                return;
            }
        }
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = fanout.next_verdict(), if !fanout.complete() => {
                if fanout.decided() {
                    break;
                }
                continue;
            }
        };
        match frame.map(|f| f.map_err(Into::into)) {
            None => {
                fanout.end().await;
                break;
            }
            Some(Err(e)) => {
                fanout.abort();
                let _ = late.set(stopped(format!("the body broke off: {e}")));
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
