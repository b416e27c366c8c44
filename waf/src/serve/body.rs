//! Request bodies before the engine decides them: read into memory up to the site's
//! body limit, at a minimum rate (a client that sends slower than `min_rate` after the
//! grace, or stalls for the idle limit, gets 408), from one memory budget shared by
//! every transaction (503 when it is spent). A body past the limit is handed back as
//! the part read plus the rest still on the connection, for the site's
//! `over_body_limit` to decide. Also the body types the proxy sends to origins.
//!
//! Must not: hold more than the limit plus one read of a body, or any byte once the
//! budget is spent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The error of a body the proxy relays.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every request to an origin and every response to a client.
pub(crate) type OriginBody = BoxBody<Bytes, BoxError>;

/// A body from bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> OriginBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// Any body the proxy relays, boxed.
pub(crate) fn boxed<B>(body: B) -> OriginBody
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A body for one attempt, never to be replayed.
pub(crate) fn streamed(body: ForwardBody) -> OriginBody {
    body.attempt().0
}

/// What goes to the origin after the engine has decided.
pub(crate) enum ForwardBody {
    /// The whole body, read and inspected; can be sent again to another origin.
    Buffered(Bytes),
    /// The part read (and inspected up to the limit), then the rest as it arrives.
    Streamed { first: Bytes, rest: Incoming },
}

impl ForwardBody {
    /// The body for one attempt, and what is left for another (only a buffered body).
    pub(crate) fn attempt(self) -> (OriginBody, Option<ForwardBody>) {
        match self {
            ForwardBody::Buffered(bytes) => (full(bytes.clone()), Some(ForwardBody::Buffered(bytes))),
            ForwardBody::Streamed { first, rest } => (Prefixed { first: Some(first), rest }.boxed(), None),
        }
    }
}

/// Bytes already read, then the rest of the client's body.
struct Prefixed {
    first: Option<Bytes>,
    rest: Incoming,
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.take().filter(|b| !b.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        Pin::new(&mut self.rest).poll_frame(cx).map_err(|e| Box::new(e) as BoxError)
    }

    fn is_end_stream(&self) -> bool {
        self.first.as_ref().is_none_or(Bytes::is_empty) && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.size_hint();
        let first = self.first.as_ref().map_or(0, |b| b.len() as u64);
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + first);
        }
        hint.set_lower(rest.lower() + first);
        hint
    }
}

/// How a body must arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// The longest wait for the next bytes.
    pub idle: Duration,
    /// Bytes per second a body must average once `grace` has passed.
    pub min_rate: u64,
    pub grace: Duration,
}

/// The memory every buffered body shares, in KiB.
#[derive(Clone)]
pub(crate) struct Budget(Arc<Semaphore>);

impl Budget {
    pub(crate) fn new(bytes: u64) -> Budget {
        let kib = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).clamp(1, Semaphore::MAX_PERMITS);
        Budget(Arc::new(Semaphore::new(kib)))
    }
}

/// Memory held by one transaction's body, given back when dropped.
pub(crate) struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    fn take(&mut self, budget: &Budget, bytes: usize) -> bool {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        match Arc::clone(&budget.0).try_acquire_many_owned(kib) {
            Ok(permit) => {
                match &mut self.0 {
                    Some(held) => held.merge(permit),
                    None => self.0 = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// A body as read.
pub(crate) enum Collected {
    /// All of it, within the limit.
    Whole(Bytes),
    /// More than the limit: what was read (at least the limit), and the rest.
    Over { read: Bytes, rest: Incoming },
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the body arrived slower than {0} bytes per second")]
    TooSlow(u64),
    #[error("no body bytes for {0:?}")]
    Idle(Duration),
    #[error("the memory for request bodies is spent")]
    Memory,
    #[error("the client's body failed: {0}")]
    Client(#[from] hyper::Error),
}

impl BodyError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            BodyError::TooSlow(_) | BodyError::Idle(_) => 408,
            BodyError::Memory => 503,
            BodyError::Client(_) => 400,
        }
    }
}

/// Reads `body` up to `limit` bytes at `pace`, holding its memory from `budget`.
pub(crate) async fn collect(
    mut body: Incoming,
    limit: usize,
    pace: Pace,
    budget: &Budget,
) -> Result<(Collected, Held), BodyError> {
    let start = Instant::now();
    let mut held = Held(None);
    let mut read = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(pace.idle, body.frame()).await {
            Err(_) => return Err(BodyError::Idle(pace.idle)),
            Ok(None) => return Ok((Collected::Whole(read.freeze()), held)),
            Ok(Some(frame)) => frame?,
        };
        // Trailers carry nothing the engine reads; they are dropped.
        let Ok(data) = frame.into_data() else { continue };
        if !held.take(budget, data.len()) {
            return Err(BodyError::Memory);
        }
        read.extend_from_slice(&data);
        let elapsed = start.elapsed();
        if elapsed > pace.grace && (read.len() as f64) < pace.min_rate as f64 * (elapsed - pace.grace).as_secs_f64() {
            return Err(BodyError::TooSlow(pace.min_rate));
        }
        if read.len() > limit {
            return Ok((Collected::Over { read: read.freeze(), rest: body }, held));
        }
    }
}
