//! Replies as the delivery client reads them: parsing of (multi-line) replies with a
//! bound on line length and count ([`ReadError`] when that fails), and the mapping of a
//! reply to a recipient [`Outcome`]. Depends on no other file of the client.

use std::{fmt, io};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::hooks::Outcome;

const MAX_LINE: u64 = 4096;
const MAX_LINES: usize = 100;

/// One server reply; `text` holds the lines after the code, joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The recipient outcome this reply means (`Delivered` for 2xx).
    pub fn outcome(&self) -> Outcome {
        match self.code {
            200..=299 => Outcome::Delivered,
            500..=599 => Outcome::Rejected { code: self.code, reply: self.to_string() },
            _ => Outcome::Deferred { reply: self.to_string() },
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text.replace('\n', " "))
    }
}

/// Why no reply could be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Reads one complete reply.
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Reply, ReadError> {
    let mut code = None;
    let mut text = String::new();
    for _ in 0..MAX_LINES {
        let mut raw = Vec::new();
        let n = (&mut *r).take(MAX_LINE).read_until(b'\n', &mut raw).await?;
        if n == 0 {
            return Err(ReadError::Protocol("connection closed by the server".into()));
        }
        if !raw.ends_with(b"\n") {
            return Err(ReadError::Protocol("reply line too long".into()));
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let this: u16 =
            line.get(..3).and_then(|c| c.parse().ok()).filter(|c| (200..600).contains(c)).ok_or_else(|| {
                ReadError::Protocol(format!("malformed reply line {:?}", line.chars().take(80).collect::<String>()))
            })?;
        if *code.get_or_insert(this) != this {
            return Err(ReadError::Protocol("reply code changed within a multi-line reply".into()));
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line.get(4..).unwrap_or(""));
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(Reply { code: this, text });
        }
    }
    Err(ReadError::Protocol("reply has too many lines".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(input: &str) -> Result<Reply, ReadError> {
        read_reply(&mut input.as_bytes()).await
    }

    #[tokio::test]
    async fn multi_line_and_errors() {
        let r = parse("250-mx.example\r\n250-SIZE 10\r\n250 STARTTLS\r\n").await.unwrap();
        assert_eq!((r.code, r.text.as_str()), (250, "mx.example\nSIZE 10\nSTARTTLS"));
        assert_eq!(parse("220\r\n").await.unwrap().code, 220);
        assert!(parse("250-a\r\n251 b\r\n").await.is_err());
        assert!(parse("xyz\r\n").await.is_err());
        assert!(parse("250-a\r\n").await.is_err());
        let r = parse("550 5.1.1 no such user\r\n").await.unwrap();
        assert_eq!(r.outcome(), Outcome::Rejected { code: 550, reply: "550 5.1.1 no such user".into() });
        assert!(matches!(parse("451 later\r\n").await.unwrap().outcome(), Outcome::Deferred { .. }));
    }
}
