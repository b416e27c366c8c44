//! The DATA phase: reads lines up to the final `.`, removes dot-stuffing,
//! counts the size and keeps reading (without storing) past any limit so the
//! error can be answered after the final dot.
//!
//! The content is taken straight from the connection's input buffer, a buffer
//! at a time: lines are found with a vectorised search and runs of lines are
//! copied whole, so a large message costs about one copy.
//!
//! Line endings: RFC 5321 requires CRLF. A bare LF or bare CR anywhere in the
//! content makes the whole message rejected (SMTP smuggling defence), and the
//! end of data is only `CRLF . CRLF`: a `.` line that follows a bare-LF line
//! does not end the message.

use bytes::{Bytes, BytesMut};
use memchr::memchr;
use tokio::io::{AsyncRead, AsyncWrite};

use super::wire::{Wire, WireError};

/// Room asked of the input buffer for each read during DATA.
const READ_ROOM: usize = 32 << 10;
/// The most a declared `SIZE=` reserves up front (a client could declare anything).
const MAX_RESERVE: usize = 1 << 20;

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
}

/// The limits DATA is read under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataLimits {
    /// Most content bytes (after unstuffing, without the prefix).
    pub max_size: usize,
    /// Longest line, CRLF included.
    pub max_line: usize,
}

struct Reader {
    body: BytesMut,
    /// Length of the prefix at the front of `body`.
    base: usize,
    limits: DataLimits,
    too_big: bool,
    too_long: bool,
    bare: bool,
    /// The previous line ended with CRLF (true at the start of DATA).
    after_crlf: bool,
    /// Inside a line longer than the limit: input is dropped up to its LF.
    skipping: bool,
}

impl Reader {
    fn new(prefix: &[u8], size_hint: usize, limits: DataLimits) -> Self {
        let reserve = size_hint.min(limits.max_size).min(MAX_RESERVE);
        let mut body = BytesMut::with_capacity(prefix.len() + reserve.max(4096));
        body.extend_from_slice(prefix);
        Reader {
            body,
            base: prefix.len(),
            limits,
            too_big: false,
            too_long: false,
            bare: false,
            after_crlf: true,
            skipping: false,
        }
    }

    fn failed(&self) -> bool {
        self.too_big || self.too_long || self.bare
    }

    /// Frees what was kept of a message that is refused.
    fn discard(&mut self) {
        self.body = BytesMut::new();
    }

    /// Keeps `content`, unless a limit is already broken or this breaks one.
    fn keep(&mut self, content: &[u8]) {
        if self.failed() || content.is_empty() {
            return;
        }
        if self.body.len() - self.base + content.len() > self.limits.max_size {
            self.too_big = true;
            return self.discard();
        }
        self.body.extend_from_slice(content);
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
                self.too_long = true;
                self.after_crlf = true;
                self.discard();
            } else if crlf && self.after_crlf && line == b".\r\n" {
                self.keep(&buf[run..pos]);
                return (lf + 1, true);
            } else {
                self.after_crlf = crlf;
                let text = &line[..line.len() - if crlf { 2 } else { 1 }];
                if !crlf || memchr(b'\r', text).is_some() {
                    self.bare = true;
                    self.discard();
                }
                if line[0] == b'.' {
                    self.keep(&buf[run..pos]);
                    run = pos + 1;
                }
            }
            pos = lf + 1;
        }
        self.keep(&buf[run..pos]);
        if buf.len() - pos >= self.limits.max_line {
            self.too_long = true;
            self.skipping = true;
            self.discard();
            return (buf.len(), false);
        }
        (pos, false)
    }

    fn outcome(self) -> DataOutcome {
        if self.too_big {
            DataOutcome::TooBig
        } else if self.too_long {
            DataOutcome::LineTooLong
        } else if self.bare {
            DataOutcome::BareLineEnding
        } else {
            DataOutcome::Body(self.body.freeze())
        }
    }
}

/// Reads the message content after the 354 reply into a buffer that starts
/// with `prefix` (the trace header); `size_hint` is the client's `SIZE=`.
pub(crate) async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut Wire<S>,
    limits: DataLimits,
    prefix: &[u8],
    size_hint: usize,
) -> Result<DataOutcome, WireError> {
    let mut r = Reader::new(prefix, size_hint, limits);
    loop {
        let (used, done) = r.take(wire.input());
        wire.consume(used);
        if done {
            return Ok(r.outcome());
        }
        wire.read_more(READ_ROOM).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` as successive reads; returns whether the final dot was
    /// seen, the outcome and what was left unconsumed.
    fn run_with(chunks: &[&[u8]], max_size: usize, max_line: usize) -> (bool, DataOutcome, Vec<u8>) {
        let mut r = Reader::new(b"", 0, DataLimits { max_size, max_line });
        let mut buf = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            let (used, done) = r.take(&buf);
            buf.drain(..used);
            if done {
                return (true, r.outcome(), buf);
            }
        }
        (false, r.outcome(), buf)
    }

    fn run(chunks: &[&[u8]], max: usize) -> (bool, DataOutcome) {
        let (done, out, _) = run_with(chunks, max, 1000);
        (done, out)
    }

    fn body(out: DataOutcome) -> Vec<u8> {
        match out {
            DataOutcome::Body(b) => b.to_vec(),
            other => panic!("expected a body, got {other:?}"),
        }
    }

    #[test]
    fn unstuffs_and_ends_on_dot() {
        let (done, out) = run(&[b"a\r\n", b"..b\r\n", b".\r\n"], 100);
        assert!(done);
        assert_eq!(body(out), b"a\r\n.b\r\n");
    }

    #[test]
    fn lines_split_across_reads_and_input_after_the_dot_is_left() {
        let (done, out, rest) =
            run_with(&[b"Subj", b"ect: x\r", b"\n\r\n..one\r\n.", b".two\r\nthree\r\n.\r", b"\nQUIT\r\n"], 100, 1000);
        assert!(done);
        assert_eq!(body(out), b"Subject: x\r\n\r\n.one\r\n.two\r\nthree\r\n");
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[test]
    fn prefix_comes_first_and_is_not_counted() {
        let mut r = Reader::new(b"Received: x\r\n", 0, DataLimits { max_size: 5, max_line: 1000 });
        assert_eq!(r.take(b"12345\r\n.\r\n"), (10, true));
        assert!(matches!(r.outcome(), DataOutcome::TooBig));
        let mut r = Reader::new(b"Received: x\r\n", 0, DataLimits { max_size: 5, max_line: 1000 });
        assert_eq!(r.take(b"123\r\n.\r\n"), (8, true));
        assert_eq!(body(r.outcome()), b"Received: x\r\n123\r\n");
    }

    #[test]
    fn dot_after_bare_lf_is_not_the_end() {
        let (done, out) = run(&[b"a\n", b".\r\n"], 100);
        assert!(!done);
        assert!(matches!(out, DataOutcome::BareLineEnding));
        let (_, out) = run(&[b"a\rb\r\n", b".\r\n"], 100);
        assert!(matches!(out, DataOutcome::BareLineEnding));
    }

    #[test]
    fn size_limit_counts_unstuffed_bytes() {
        let (_, out) = run(&[b"..12\r\n", b".\r\n"], 5);
        assert!(matches!(out, DataOutcome::Body(_)));
        let (_, out) = run(&[b"123456\r\n", b".\r\n"], 5);
        assert!(matches!(out, DataOutcome::TooBig));
    }

    #[test]
    fn an_overlong_line_is_dropped_through_its_end_and_reading_goes_on() {
        // Complete but too long, then one cut across reads with no LF in sight.
        let (done, out, _) = run_with(&[b"0123456789\r\n", b"ok\r\n.\r\n"], 100, 8);
        assert!(done);
        assert!(matches!(out, DataOutcome::LineTooLong));
        let (done, out, rest) = run_with(&[b"012345678", b"9abc", b"def\r\n.\r\nNOOP\r\n"], 100, 8);
        assert!(done);
        assert!(matches!(out, DataOutcome::LineTooLong));
        assert_eq!(rest, b"NOOP\r\n");
    }
}
