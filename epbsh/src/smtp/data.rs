//! The DATA phase: reads lines up to the final `.`, removes dot-stuffing,
//! counts the size and keeps reading (without storing) past any limit so the
//! error can be answered after the final dot.
//!
//! Line endings: RFC 5321 requires CRLF. A bare LF or bare CR anywhere in the
//! content makes the whole message rejected (SMTP smuggling defence), and the
//! end of data is only `CRLF . CRLF`: a `.` line that follows a bare-LF line
//! does not end the message.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use super::wire::{Line, Wire, WireError};

/// How the DATA phase ended.
#[derive(Debug)]
pub(crate) enum DataOutcome {
    /// The unstuffed content (CRLF line endings, without the final dot).
    Body(Bytes),
    /// Larger than the message size limit.
    TooBig,
    /// A line exceeded the line-length limit.
    LineTooLong,
    /// A bare CR or LF was seen.
    BareLineEnding,
}

#[derive(Default)]
struct Reader {
    body: BytesMut,
    too_big: bool,
    too_long: bool,
    bare: bool,
    /// The previous line ended with CRLF (true at the start of DATA).
    after_crlf: bool,
}

impl Reader {
    /// Handles one full line; true when it was the final dot.
    fn line(&mut self, raw: &[u8], max_size: usize) -> bool {
        let crlf = raw.ends_with(b"\r\n");
        if crlf && self.after_crlf && raw == b".\r\n" {
            return true;
        }
        self.after_crlf = crlf;
        let text_end = raw.len() - if crlf { 2 } else { 1 };
        if !crlf || raw[..text_end].contains(&b'\r') {
            self.bare = true;
        }
        let content = raw.strip_prefix(b".").unwrap_or(raw);
        if self.body.len() + content.len() > max_size {
            self.too_big = true;
        }
        if self.too_big || self.too_long || self.bare {
            self.body = BytesMut::new();
        } else {
            self.body.extend_from_slice(content);
        }
        false
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

/// Reads the message content after the 354 reply.
pub(crate) async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    wire: &mut Wire<S>,
    max_size: usize,
    max_line: usize,
) -> Result<DataOutcome, WireError> {
    let mut r = Reader { after_crlf: true, ..Reader::default() };
    loop {
        match wire.read_line(max_line).await? {
            Line::TooLong => {
                r.too_long = true;
                r.after_crlf = true;
                r.body = BytesMut::new();
            }
            Line::Full(raw) => {
                if r.line(&raw, max_size) {
                    return Ok(r.outcome());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&[u8]], max: usize) -> (bool, DataOutcome) {
        let mut r = Reader { after_crlf: true, ..Reader::default() };
        let done = lines.iter().any(|l| r.line(l, max));
        (done, r.outcome())
    }

    #[test]
    fn unstuffs_and_ends_on_dot() {
        let (done, out) = run(&[b"a\r\n", b"..b\r\n", b".\r\n"], 100);
        assert!(done);
        assert!(matches!(out, DataOutcome::Body(b) if b.as_ref() == b"a\r\n.b\r\n"));
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
}
