//! Scanning one body on its way: [`Icap::scan`] holds the body while every
//! service that scans it reads it, then delivers it, the service's
//! replacement, or a refusal. Up to the scan limit of its content type a body
//! is held in memory; past it, as configured (see [`OverLimit`]), the rest is
//! held on disk (`hold`, the default), or it streams under scan (`stream`),
//! passes unscanned (`pass`) or is refused (`block`). Content types that
//! stream without end are scanned piece by piece (`pieces`).
//!
//! Must not: send a held body on before every service that decides has
//! answered, or hold more than the limit (plus one frame) in memory.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use super::body::{Channel, Replay, Then};
use super::config::{OverLimit, Size};
use super::exchange::{Adapted, AdaptedHead, Message, Verdict};
use super::fanout::Fanout;
use super::hold::{HoldError, HoldShare, HoldSpace, Spool};
use super::pieces::{Cut, pieces};
use super::stream::stream;
use super::verdicts::{Judgement, ScanNote, ScanOutcome};
use super::{Icap, Subject, Unscanned};
use crate::http::page::{BoxError, ProxyBody};

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
    HoldFailed(HoldError),
}

/// What is held of a body: frames in memory up to the limit, then (`hold`) the rest on disk.
#[derive(Default)]
struct Held {
    frames: VecDeque<Frame<Bytes>>,
    spool: Option<Spool>,
    /// Trailers that came after the spool started.
    trailers: Option<HeaderMap>,
}

impl Held {
    /// The held body, then `rest` (what a verdict before the end left unread).
    fn into_body<B>(self, rest: Option<B>) -> ProxyBody
    where
        B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        match self.spool {
            None => boxed(Replay::new(self.frames, rest)),
            Some(spool) => {
                let spooled = spool.into_body(self.trailers);
                boxed(Replay::new(self.frames, Some(Then::new(spooled, rest))))
            }
        }
    }
}

/// Where the part of a body past its limit is held on disk.
struct Spill<'a> {
    space: &'a Arc<HoldSpace>,
    share: &'a Arc<HoldShare>,
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
        let msg = Message {
            method: subject.method,
            req_head: subject.req_head.clone(),
            res_head: subject.res_head.clone(),
            transfer: services[0].1,
            client: subject.client,
        };
        if self.config.streams(&subject.content_type) {
            let (tx, channel) = Channel::new(STREAM_DEPTH);
            let late = LateNote::default();
            let cut = Cut { piece: self.config.streaming.piece.0, wait: self.config.streaming.wait };
            tokio::spawn(pieces(body, services, msg, cut, tx, Arc::clone(&late)));
            return Scanned::Deliver { body: boxed(channel), note: None, late: Some(late) };
        }
        let (limit, over) = self.config.limit_for(&subject.content_type);
        let known_over = body.size_hint().exact().is_some_and(|n| n > limit);
        let mut held = Held::default();
        let mut fanout = None;
        let stop = if known_over && (over != OverLimit::Hold || self.hold.is_none()) {
            Stop::OverLimit
        } else {
            let lanes = fanout.insert(Fanout::start(services.clone(), msg.clone()));
            let space = self.hold.as_ref().filter(|_| over == OverLimit::Hold);
            let spill = space.map(|space| Spill { space, share: &subject.hold });
            hold(&mut body, lanes, &mut held, limit, spill).await
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
                self.over_limit(&subject, over, limit, fanout, start, held.frames, body)
            }
            Stop::BodyFailed(e) => {
                fanout.into_iter().for_each(|mut f| f.abort());
                let what =
                    if subject.method == super::Method::Respmod { "the origin's response" } else { "the upload" };
                Scanned::Refuse(skipped(&subject, format!("{what} broke off before its end: {e}")))
            }
            Stop::HoldFailed(e) => {
                fanout.into_iter().for_each(|mut f| f.abort());
                let mut note = skipped(&subject, e.to_string());
                (note.outcome, note.service) = match e {
                    HoldError::Connection(_) => (ScanOutcome::TooLarge, "-".into()),
                    HoldError::Total(_) | HoldError::Io(_) => (ScanOutcome::FailedBlocked, "hold".into()),
                };
                Scanned::Refuse(note)
            }
        }
    }

    /// The outcome of a held body once judged.
    fn deliver<B>(&self, judgement: Judgement, adapted: Option<Verdict>, held: Held, rest: Option<B>) -> Scanned
    where
        B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let mut note = judgement.note;
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
        if let Some(spool) = held.spool.as_ref().filter(|_| note.detail.is_empty()) {
            note.detail =
                format!("larger than the scan limit: held on disk until scanned whole ({} bytes)", spool.len());
        }
        Scanned::Deliver { body: held.into_body(rest), note: Some(note), late: None }
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
            // `Hold` stops here only without a hold space (never when a service is named).
            OverLimit::Block | OverLimit::Hold => {
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
    let (method, service) = (subject.method, "-".into());
    ScanNote { method, outcome: ScanOutcome::Skipped, service, threat: None, detail, passed: 0 }
}

/// Reads and holds the body, feeding every exchange, until it ends, a verdict
/// decides, or it passes `limit` (with `spill`, the rest goes on to disk instead).
async fn hold<B>(body: &mut B, fanout: &mut Fanout, held: &mut Held, limit: u64, spill: Option<Spill<'_>>) -> Stop
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
                let Some(spool) = held.spool.as_mut() else {
                    held.frames.push_back(frame);
                    if size > limit {
                        let Some(spill) = &spill else { return Stop::OverLimit };
                        match spill.space.spool(spill.share).await {
                            Ok(spool) => held.spool = Some(spool),
                            Err(e) => return Stop::HoldFailed(e),
                        }
                    }
                    continue;
                };
                match frame.into_data() {
                    Ok(data) => {
                        if let Err(e) = spool.write(&data).await {
                            return Stop::HoldFailed(e);
                        }
                    }
                    Err(frame) => held.trailers = frame.into_trailers().ok(),
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
