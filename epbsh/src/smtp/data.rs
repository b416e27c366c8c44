//! The DATA phase: reads lines up to the final `.`, removes dot-stuffing,
//! counts the size and keeps reading (without storing) past any limit so the
//! error can be answered after the final dot.
//!
//! The content is taken straight from the connection's input buffer, a buffer
//! at a time: lines are found with a vectorised search and runs of lines are
//! copied whole, so a large message costs about one copy. Its memory is reserved
//! from the sessions' shared [`DataMemory`] as it grows; when none is left the
//! content is dropped and the message is answered 452 after the final dot.
//!
//! Line endings: RFC 5321 requires CRLF. A bare LF or bare CR anywhere in the
//! content makes the whole message rejected (SMTP smuggling defence), and the
//! end of data is only `CRLF . CRLF`: a `.` line that follows a bare-LF line
//! does not end the message. A NUL byte anywhere is refused the same way (a next
//! hop that drops NULs could otherwise be made to see a different message). The
//! `Received:` fields of the header section are counted: more than [`MAX_HOPS`]
//! (ours included) is a mail loop, refused after the final dot.

use bytes::{Bytes, BytesMut};
use memchr::{memchr, memchr2};
use tokio::io::{AsyncRead, AsyncWrite};

use super::memory::{DataMemory, Reservation};
use super::wire::{Wire, WireError};

/// Room asked of the input buffer for each read during DATA.
const READ_ROOM: usize = 32 << 10;
/// The most a declared `SIZE=` reserves up front (a client could declare anything).
const MAX_RESERVE: usize = 1 << 20;
/// The buffer a message starts with.
const FIRST_BUFFER: usize = 4096;
/// Most `Received:` header fields a message may carry (ours included) before it is taken
/// for a mail loop (RFC 5321 §6.3; Postfix's `hopcount_limit`).
pub const MAX_HOPS: usize = 50;

/// How the DATA phase ended.
#[derive(Debug)]
pub(crate) enum DataOutcome {
    /// The given prefix followed by the unstuffed content (CRLF line endings,
    /// without the final dot).
    Body(Bytes),
    /// Larger than the message size limit.
    TooBig,
    /// A line exceeded the line-length limit.
    LineTooLong,
    /// A bare CR or LF was seen.
    BareLineEnding,
    /// A NUL byte was seen.
    Nul,
    /// More than [`MAX_HOPS`] `Received:` fields.
    TooManyHops,
    /// The sessions' memory for messages ran out.
    NoMemory,
}

/// The limits DATA is read under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataLimits {
    /// Most content bytes (after unstuffing, without the prefix).
    pub max_size: usize,
    /// Longest line, CRLF included.
    pub max_line: usize,
}

/// What the content broke so far.
#[derive(Debug, Default, Clone, Copy)]
struct Broken {
    too_big: bool,
    too_long: bool,
    bare: bool,
    nul: bool,
    no_memory: bool,
}

impl Broken {
    fn any(self) -> bool {
        self.too_big || self.too_long || self.bare || self.nul || self.no_memory
    }
}

pub(crate) struct Reader {
    body: BytesMut,
    memory: Reservation,
    /// Length of the prefix at the front of `body`.
    base: usize,
    limits: DataLimits,
    broken: Broken,
    /// `Received:` fields seen (the prefix's included).
    hops: usize,
    /// Still in the header section.
    in_header: bool,
    /// The previous line ended with CRLF (true at the start of DATA).
    after_crlf: bool,
    /// Inside a line longer than the limit: input is dropped up to its LF.
    skipping: bool,
}

impl Reader {
    /// A reader whose buffer starts with `prefix`, or `None` when `memory` has not even
    /// room for the first buffer.
    pub fn new(prefix: &[u8], size_hint: usize, limits: DataLimits, memory: &DataMemory) -> Option<Self> {
        let reserve = size_hint.min(limits.max_size).clamp(FIRST_BUFFER, MAX_RESERVE);
        let mut reservation = memory.reservation();
        if !reservation.grow_to(prefix.len() + reserve) {
            return None;
        }
        let mut body = BytesMut::with_capacity(prefix.len() + reserve);
        body.extend_from_slice(prefix);
        Some(Reader {
            body,
            memory: reservation,
            base: prefix.len(),
            limits,
            broken: Broken::default(),
            hops: hops(prefix),
            in_header: true,
            after_crlf: true,
            skipping: false,
        })
    }

    /// Frees what was kept of a message that is refused.
    fn discard(&mut self) {
        self.body = BytesMut::new();
        self.memory.clear();
    }

    /// Keeps `content`, unless a limit is already broken or this breaks one.
    fn keep(&mut self, content: &[u8]) {
        if self.broken.any() || content.is_empty() {
            return;
        }
        let len = self.body.len() + content.len();
        if len - self.base > self.limits.max_size {
            self.broken.too_big = true;
            return self.discard();
        }
        if len > self.body.capacity() && !self.grow(len) {
            self.broken.no_memory = true;
            return self.discard();
        }
        self.body.extend_from_slice(content);
    }

    /// Doubles the buffer (or more, to `needed`; never past the size limit) if the
    /// budget allows it, the old buffer included while the content moves over.
    fn grow(&mut self, needed: usize) -> bool {
        let most = self.base + self.limits.max_size;
        let old = self.body.capacity();
        let cap = (old * 2).min(most).max(needed);
        if !self.memory.grow_to(cap + old) {
            return false;
        }
        self.body.reserve(cap - self.body.len());
        self.memory.shrink_to(cap);
        true
    }

    /// Checks one complete content line (not the final dot) and counts hops.
    fn check_line(&mut self, line: &[u8], crlf: bool) {
        let text = &line[..line.len() - if crlf { 2 } else { 1 }];
        let (mut bare, mut nul) = (!crlf, false);
        if memchr2(b'\r', 0, text).is_some() {
            bare |= memchr(b'\r', text).is_some();
            nul = memchr(0, text).is_some();
        }
        if bare || nul {
            self.broken.bare |= bare;
            self.broken.nul |= nul;
            self.discard();
        }
        if self.in_header {
            self.in_header = !text.is_empty();
            self.hops += usize::from(is_received(text));
        }
    }

    /// Takes the complete lines at the front of `buf`. Returns the bytes
    /// consumed and whether the final dot was among them.
    fn take(&mut self, buf: &[u8]) -> (usize, bool) {
        let mut pos = 0;
        if self.skipping {
            let Some(lf) = memchr(b'\n', buf) else { return (buf.len(), false) };
            self.skipping = false;
            self.after_crlf = true;
            pos = lf + 1;
        }
        // Start of the content not yet copied into the body.
        let mut run = pos;
        while let Some(lf) = memchr(b'\n', &buf[pos..]).map(|i| pos + i) {
            let line = &buf[pos..=lf];
            let crlf = line.ends_with(b"\r\n");
            if line.len() > self.limits.max_line {
                self.broken.too_long = true;
                self.after_crlf = true;
                self.discard();
            } else if crlf && self.after_crlf && line == b".\r\n" {
                self.keep(&buf[run..pos]);
                return (lf + 1, true);
            } else {
                self.after_crlf = crlf;
                self.check_line(line, crlf);
                if line[0] == b'.' {
                    self.keep(&buf[run..pos]);
                    run = pos + 1;
                }
            }
            pos = lf + 1;
        }
        self.keep(&buf[run..pos]);
        if buf.len() - pos >= self.limits.max_line {
            self.broken.too_long = true;
            self.skipping = true;
            self.discard();
            return (buf.len(), false);
        }
        (pos, false)
    }

    /// How the message ended, with what is still reserved for it (to be held until it
    /// is stored).
    fn outcome(self) -> (DataOutcome, Reservation) {
        let b = self.broken;
        let outcome = if b.too_big {
            DataOutcome::TooBig
        } else if b.too_long {
            DataOutcome::LineTooLong
        } else if b.bare {
            DataOutcome::BareLineEnding
        } else if b.nul {
            DataOutcome::Nul
        } else if self.hops > MAX_HOPS {
            DataOutcome::TooManyHops
        } else if b.no_memory {
            DataOutcome::NoMemory
        } else {
            DataOutcome::Body(self.body.freeze())
        };
        (outcome, self.memory)
    }
}

/// True for a `Received:` header line.
fn is_received(line: &[u8]) -> bool {
    line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:")
}

/// `Received:` header fields in the header section of `message`.
pub(crate) fn hops(message: &[u8]) -> usize {
    let end = memchr::memmem::find(message, b"\r\n\r\n").unwrap_or(message.len());
    message[..end].split(|b| *b == b'\n').filter(|l| is_received(l)).count()
}

/// Reads the message content after the 354 reply with `reader`.
pub(crate) async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut Wire<S>,
    mut reader: Reader,
) -> Result<(DataOutcome, Reservation), WireError> {
    loop {
        let (used, done) = reader.take(wire.input());
        wire.consume(used);
        if done {
            return Ok(reader.outcome());
        }
        wire.read_more(READ_ROOM).await?;
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;
