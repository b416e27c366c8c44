//! Sending one body to every service that scans it at once: one exchange
//! task per service, each fed slices of the same buffers through a bounded
//! channel, with their verdicts collected as they come (a service may answer
//! after the preview, before the body's end).
//!
//! Must not: hold body bytes itself; the caller holds them.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::config::OnFailure;
use super::exchange::{self, Feed, Message, Verdict};
use super::options::Transfer;
use super::service::Service;
use super::verdicts::{Judged, Judgement, judge};

/// Frames queued per exchange before the feeder waits for it.
const LANE_DEPTH: usize = 8;

struct Lane {
    service: Arc<Service>,
    tx: Option<mpsc::Sender<Feed>>,
    verdict: Option<Verdict>,
}

/// The exchanges of one message.
pub(crate) struct Fanout {
    msg: Message,
    lanes: Vec<Lane>,
    done: mpsc::Receiver<(usize, Verdict)>,
}

impl Fanout {
    /// Starts one exchange per `(service, transfer)`.
    pub(crate) fn start(services: Vec<(Arc<Service>, Transfer)>, msg: Message) -> Self {
        let (done_tx, done) = mpsc::channel(services.len().max(1));
        let mut lanes = Vec::with_capacity(services.len());
        for (i, (service, transfer)) in services.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(LANE_DEPTH);
            let msg = Message { transfer, ..msg.clone() };
            let (service2, done_tx) = (Arc::clone(&service), done_tx.clone());
            tokio::spawn(async move {
                let verdict = exchange::run(service2, msg, rx).await;
                let _ = done_tx.send((i, verdict)).await;
            });
            lanes.push(Lane { service, tx: Some(tx), verdict: None });
        }
        Self { msg, lanes, done }
    }

    /// Sends body bytes to every exchange still reading.
    pub(crate) async fn send(&mut self, data: &Bytes) {
        for lane in &mut self.lanes {
            if let Some(tx) = &lane.tx
                && tx.send(Feed::Data(data.clone())).await.is_err()
            {
                lane.tx = None;
            }
        }
    }

    /// Tells every exchange still reading that the body is complete.
    pub(crate) async fn end(&mut self) {
        for lane in &mut self.lanes {
            if let Some(tx) = lane.tx.take() {
                let _ = tx.send(Feed::End).await;
            }
        }
    }

    /// Abandons every exchange still reading (their connections are closed).
    pub(crate) fn abort(&mut self) {
        for lane in &mut self.lanes {
            lane.tx = None;
        }
    }

    /// Waits for the next verdict; `false` once every verdict is in.
    pub(crate) async fn next_verdict(&mut self) -> bool {
        if self.complete() {
            return false;
        }
        match self.done.recv().await {
            Some((i, verdict)) => {
                self.lanes[i].tx = None;
                self.lanes[i].verdict = Some(verdict);
                true
            }
            None => false,
        }
    }

    /// Every verdict is in.
    pub(crate) fn complete(&self) -> bool {
        self.lanes.iter().all(|l| l.verdict.is_some())
    }

    /// A verdict that already decides the message (a threat, a refusal, a failure that blocks).
    pub(crate) fn decided(&self) -> bool {
        self.lanes.iter().any(|l| match &l.verdict {
            Some(Verdict::Threat(_) | Verdict::Refused(_)) => true,
            Some(Verdict::Failed(_)) => l.service.on_failure() == OnFailure::Block,
            _ => false,
        })
    }

    /// Waits for every verdict and judges them; returns the adapted verdict to deliver, if chosen.
    pub(crate) async fn finish(mut self) -> (Judgement, Option<Verdict>) {
        while self.next_verdict().await {}
        self.judge()
    }

    /// Judges the verdicts in so far (missing ones count as abandoned).
    pub(crate) fn judge(mut self) -> (Judgement, Option<Verdict>) {
        self.abort();
        let method = self.msg.method;
        let missing = Verdict::Aborted;
        let judged: Vec<Judged<'_>> = self
            .lanes
            .iter()
            .map(|l| (l.service.name.as_str(), l.service.on_failure(), l.verdict.as_ref().unwrap_or(&missing)))
            .collect();
        let judgement = judge(method, &judged);
        let adapted = judgement.adapted.and_then(|i| self.lanes[i].verdict.take());
        (judgement, adapted)
    }
}
