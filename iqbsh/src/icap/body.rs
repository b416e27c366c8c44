//! The bodies a scanned message goes on with: [`Replay`] (the frames held
//! during the scan, then the rest of the original body, untouched), [`Then`]
//! (one body after another: a body held on disk, then what was left unread)
//! and [`Channel`] (frames a task pushes: a body scanned while it streams or
//! read back from disk, or a replacement from the service).
//!
//! Must not: copy body bytes; frames move as they are.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::http::page::BoxError;

/// Held frames first, then the rest of the original body.
pub(crate) struct Replay<B> {
    held: VecDeque<Frame<Bytes>>,
    rest: Option<B>,
}

impl<B> Replay<B> {
    pub(crate) fn new(held: VecDeque<Frame<Bytes>>, rest: Option<B>) -> Self {
        Self { held, rest }
    }
}

fn held_len(held: &VecDeque<Frame<Bytes>>) -> u64 {
    held.iter().filter_map(Frame::data_ref).map(|d| d.len() as u64).sum()
}

impl<B> Body for Replay<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.held.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        let Some(rest) = self.rest.as_mut() else { return Poll::Ready(None) };
        match Pin::new(rest).poll_frame(cx) {
            Poll::Ready(None) => {
                self.rest = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let held = held_len(&self.held);
        let Some(rest) = &self.rest else { return SizeHint::with_exact(held) };
        let hint = rest.size_hint();
        let mut out = SizeHint::new();
        out.set_lower(hint.lower() + held);
        if let Some(upper) = hint.upper() {
            out.set_upper(upper + held);
        }
        out
    }
}

/// `first` to its end, then `rest` (when there is one).
pub(crate) struct Then<A, B> {
    first: Option<A>,
    rest: Option<B>,
}

impl<A, B> Then<A, B> {
    pub(crate) fn new(first: A, rest: Option<B>) -> Self {
        Self { first: Some(first), rest }
    }
}

impl<A, B> Body for Then<A, B>
where
    A: Body<Data = Bytes, Error = BoxError> + Unpin,
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.as_mut() {
            match Pin::new(first).poll_frame(cx) {
                Poll::Ready(None) => self.first = None,
                other => return other,
            }
        }
        let Some(rest) = self.rest.as_mut() else { return Poll::Ready(None) };
        match Pin::new(rest).poll_frame(cx) {
            Poll::Ready(None) => {
                self.rest = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }
}

/// Frames pushed through a bounded channel by another task; an error item ends the body with it.
pub(crate) struct Channel {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
}

impl Channel {
    /// A body and the sending half that feeds it.
    pub(crate) fn new(capacity: usize) -> (mpsc::Sender<Result<Frame<Bytes>, BoxError>>, Self) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, Self { rx })
    }
}

impl Body for Channel {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }
}
