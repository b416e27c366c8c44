//! A watch on the framing of HTTP/1.1 requests as they arrive, for what the HTTP
//! library hides once it has parsed a head: a request with both `Content-Length` and
//! `Transfer-Encoding` (the shape request smuggling takes, RFC 9112 §6.3) reaches the
//! service with the `Content-Length` already removed. [`Watched`] follows the bytes the
//! library reads (heads, then bodies by their framing: a length or chunks) and notes
//! for every head, in order, whether it was framed two ways; the service takes one
//! note per request from its [`FramingWatch`] and refuses the ambiguous ones.
//!
//! Must not: change, hold back or reorder a byte; guess when it loses the thread. A
//! head it cannot read, an upgrade, or a head or chunk line over its bound ends the
//! watch for the connection (every later request is then noted as nothing), so a note
//! never belongs to another request.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the watch saw in one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One way to read its body (or none).
    Clear,
    /// Framed two ways; the words say how.
    Ambiguous(&'static str),
}

/// The notes of one connection, one per request head in the order they came.
#[derive(Debug, Clone, Default)]
pub struct FramingWatch(Arc<Mutex<VecDeque<Framing>>>);

impl FramingWatch {
    /// The note of the next request; `None` when the watch has ended.
    pub fn next(&self) -> Option<Framing> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }

    fn push(&self, framing: Framing) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push_back(framing);
    }
}

/// The longest chunk-size or trailer line it follows.
const MAX_LINE: usize = 4096;
/// The most header fields in a head it follows (hyper's own limit is 100).
const MAX_FIELDS: usize = 128;

/// Where in the stream of requests the watch is.
#[derive(Debug)]
enum State {
    /// Reading a head (the bytes so far).
    Head(Vec<u8>),
    /// A body of this many bytes still to come.
    Length(u64),
    /// A chunk-size line (the bytes so far).
    ChunkLine(Vec<u8>),
    /// Chunk data still to come, then its line end.
    ChunkData(u64),
    /// The line end after chunk data (the bytes so far).
    ChunkEnd(Vec<u8>),
    /// Trailer lines after the last chunk (the current line so far).
    Trailers(Vec<u8>),
    /// Watch ended.
    Off,
}

/// The framing follower on its own, fed the bytes in order.
#[derive(Debug)]
pub struct Tracker {
    state: State,
    max_head: usize,
    watch: FramingWatch,
}

impl Tracker {
    /// A tracker of heads up to `max_head` bytes, noting into `watch`.
    pub fn new(max_head: usize, watch: FramingWatch) -> Self {
        Self { state: State::Head(Vec::new()), max_head, watch }
    }

    /// Follows `bytes`, the next ones of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = match std::mem::replace(&mut self.state, State::Off) {
                State::Off => return,
                State::Head(buf) => self.head(buf, bytes),
                State::Length(n) => {
                    let take = n.min(bytes.len() as u64);
                    self.state = if take == n { State::Head(Vec::new()) } else { State::Length(n - take) };
                    &bytes[take as usize..]
                }
                State::ChunkLine(line) => self.line(line, bytes, State::ChunkLine, Self::chunk_size),
                State::ChunkData(n) => {
                    let take = n.min(bytes.len() as u64);
                    self.state = if take == n { State::ChunkEnd(Vec::new()) } else { State::ChunkData(n - take) };
                    &bytes[take as usize..]
                }
                State::ChunkEnd(line) => self.line(line, bytes, State::ChunkEnd, |_, l| {
                    if l.is_empty() { State::ChunkLine(Vec::new()) } else { State::Off }
                }),
                State::Trailers(line) => self.line(line, bytes, State::Trailers, |_, l| {
                    if l.is_empty() { State::Head(Vec::new()) } else { State::Trailers(Vec::new()) }
                }),
            };
        }
    }

    /// Collects a line (up to LF) and hands it, without its line end, to `then`.
    fn line<'a>(
        &mut self,
        mut line: Vec<u8>,
        bytes: &'a [u8],
        more: fn(Vec<u8>) -> State,
        then: fn(&Self, &[u8]) -> State,
    ) -> &'a [u8] {
        let Some(end) = memchr(b'\n', bytes) else {
            line.extend_from_slice(bytes);
            self.state = if line.len() > MAX_LINE { State::Off } else { more(line) };
            return &[];
        };
        line.extend_from_slice(&bytes[..end]);
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        self.state = if line.len() > MAX_LINE { State::Off } else { then(self, text) };
        &bytes[end + 1..]
    }

    fn chunk_size(&self, line: &[u8]) -> State {
        let digits = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        let size = std::str::from_utf8(digits).ok().and_then(|d| u64::from_str_radix(d, 16).ok());
        match size {
            Some(0) => State::Trailers(Vec::new()),
            Some(n) => State::ChunkData(n),
            None => State::Off,
        }
    }

    /// Adds `bytes` to the head so far; a complete head is noted and its body followed.
    fn head<'a>(&mut self, mut buf: Vec<u8>, bytes: &'a [u8]) -> &'a [u8] {
        let before = buf.len();
        buf.extend_from_slice(bytes);
        // Parse only when the bytes may hold the head's end (a blank line).
        let from = before.saturating_sub(3);
        let ends = buf[from..].windows(2).any(|w| w == b"\n\n") || buf[from..].windows(3).any(|w| w == b"\n\r\n");
        if !ends {
            self.state = if buf.len() > self.max_head { State::Off } else { State::Head(buf) };
            return &[];
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut req = httparse::Request::new(&mut fields);
        let used = match req.parse(&buf) {
            Ok(httparse::Status::Complete(used)) if used <= self.max_head => used,
            Ok(httparse::Status::Partial) if buf.len() <= self.max_head => {
                self.state = State::Head(buf);
                return &[];
            }
            _ => return &[],
        };
        let (framing, body) = frame(&req);
        self.watch.push(framing);
        self.state = body;
        // What followed the head in these bytes is the body's (or the next head's).
        let rest = used.saturating_sub(before);
        &bytes[rest.min(bytes.len())..]
    }
}

/// The note of a parsed head and where its body leaves the watch.
fn frame(req: &httparse::Request<'_, '_>) -> (Framing, State) {
    let named = |name: &'static str| -> Vec<&[u8]> {
        req.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value).collect()
    };
    let (te, cl) = (named("transfer-encoding"), named("content-length"));
    let upgrade = !named("upgrade").is_empty() || req.method == Some("CONNECT");
    let framing = match (te.is_empty(), cl.is_empty()) {
        (false, false) => Framing::Ambiguous("both Content-Length and Transfer-Encoding"),
        _ if cl.len() > 1 => Framing::Ambiguous("more than one Content-Length"),
        _ => Framing::Clear,
    };
    if upgrade {
        return (framing, State::Off);
    }
    let chunked = te.last().map(|v| {
        let last = v.rsplit(|&b| b == b',').next().unwrap_or_default();
        last.trim_ascii().eq_ignore_ascii_case(b"chunked")
    });
    let body = match (chunked, cl.first()) {
        (Some(true), _) => State::ChunkLine(Vec::new()),
        (Some(false), _) => State::Off,
        (None, Some(v)) => match std::str::from_utf8(v.trim_ascii()).ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(0) => State::Head(Vec::new()),
            Some(n) => State::Length(n),
            None => State::Off,
        },
        (None, None) => State::Head(Vec::new()),
    };
    (framing, body)
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// A client stream whose reads the framing watch follows.
pub struct Watched<S> {
    inner: S,
    tracker: Tracker,
}

impl<S> Watched<S> {
    /// `inner` watched for heads up to `max_head` bytes; the watch is the service's half.
    pub fn new(inner: S, max_head: usize) -> (Self, FramingWatch) {
        let watch = FramingWatch::default();
        (Self { inner, tracker: Tracker::new(max_head, watch.clone()) }, watch)
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            this.tracker.feed(&buf.filled()[before..]);
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    crate::write_through!();
}

#[cfg(test)]
mod tests;
