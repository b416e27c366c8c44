//! Peeking at a TLS ClientHello: reads the handshake records that carry it
//! (keeping every byte so they can be replayed to the origin or to the
//! local TLS server) and extracts the server name (SNI), the offered ALPN
//! protocols, whether the name may be encrypted (Encrypted Client Hello in
//! its RFC and draft code points: the visible SNI is then an outer name), and
//! whether the hello carries the legacy ESNI extension, which is not ECH: a
//! withdrawn draft no browser sends any more, whose visible name (if any)
//! says nothing about the server the encrypted one names.
//!
//! Must not: answer the client or decide anything; a pure parser over the
//! bytes read. `parse_body` takes borrowed bytes so it can be fuzzed; both
//! entry points are public for fuzzing and for test origins that record what
//! a client sent.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Extensions that hide the real server name behind an outer one:
/// `encrypted_client_hello` (0xfe0d; 0xfe08..0xfe0c in the drafts browsers shipped).
fn hides_the_name(kind: u16) -> bool {
    (0xfe08..=0xfe0d).contains(&kind)
}

/// The legacy `encrypted_server_name` extension (ESNI drafts, 0xffce).
const EXT_ESNI: u16 = 0xffce;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const RECORD_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const MAX_RECORD: usize = 16_384 + 2048;

/// What the proxy learns from a ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Every byte read from the client, to replay.
    pub raw: Vec<u8>,
    /// The server name, lower case without a trailing dot.
    pub sni: Option<String>,
    /// Offered ALPN protocols, in the client's order.
    pub alpn: Vec<Vec<u8>>,
    /// An ECH extension is present: the SNI is only the outer name.
    pub ech: bool,
    /// The legacy ESNI extension is present: the real name is hidden and the
    /// visible one, if any, is no outer name a server vouches for.
    pub esni: bool,
    /// Every extension type, in the client's order (tells one client's hello from
    /// another's: browsers add GREASE types, 0x?a?a).
    pub extensions: Vec<u16>,
}

/// Why no ClientHello could be read.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    #[error("the client did not start a TLS handshake")]
    NotTls,
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    #[error("ClientHello larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading the ClientHello failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads records until a whole ClientHello (at most `max` bytes) is in.
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S, max: usize) -> Result<ClientHello, HelloError> {
    let mut raw = Vec::with_capacity(2048);
    let mut handshake = Vec::with_capacity(2048);
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).await?;
        if header[0] != RECORD_HANDSHAKE || header[1] != 3 {
            return Err(HelloError::NotTls);
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > MAX_RECORD {
            return Err(HelloError::Malformed("record length"));
        }
        let start = raw.len();
        raw.extend_from_slice(&header);
        raw.resize(start + 5 + len, 0);
        stream.read_exact(&mut raw[start + 5..]).await?;
        handshake.extend_from_slice(&raw[start + 5..]);
        if handshake[0] != HANDSHAKE_CLIENT_HELLO {
            return Err(HelloError::NotTls);
        }
        if handshake.len() >= 4 {
            let body_len = usize::from(handshake[1]) << 16 | usize::from(handshake[2]) << 8 | usize::from(handshake[3]);
            if body_len + 4 > max {
                return Err(HelloError::TooLarge(max));
            }
            if handshake.len() >= body_len + 4 {
                let mut hello = parse_body(&handshake[4..4 + body_len])?;
                hello.raw = raw;
                return Ok(hello);
            }
        }
        if raw.len() > max {
            return Err(HelloError::TooLarge(max));
        }
    }
}

/// A cursor over borrowed bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if self.0.len() < n {
            return Err(HelloError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, HelloError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn vec8(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn vec16(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub fn parse_body(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    r.vec8()?; // legacy_session_id
    r.vec16()?; // cipher_suites
    r.vec8()?; // legacy_compression_methods
    let mut hello = ClientHello::default();
    if r.0.is_empty() {
        return Ok(hello);
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        hello.extensions.push(kind);
        match kind {
            EXT_SERVER_NAME => hello.sni = server_name(data)?,
            EXT_ALPN => hello.alpn = alpn(data)?,
            EXT_ESNI => hello.esni = true,
            kind if hides_the_name(kind) => hello.ech = true,
            _ => {}
        }
    }
    if repeats(&hello.extensions) {
        return Err(HelloError::Malformed("an extension is repeated"));
    }
    Ok(hello)
}

/// True when an extension type occurs twice, which TLS forbids (RFC 8446 §4.2): a
/// server could then read another name or protocol list than the one judged here.
fn repeats(kinds: &[u16]) -> bool {
    let mut sorted = kinds.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// The host name of a `server_name` extension; more than one is refused (RFC 6066 §3),
/// for the same reason as a repeated extension.
fn server_name(data: &[u8]) -> Result<Option<String>, HelloError> {
    let mut list = Reader(Reader(data).vec16()?);
    let mut found = None;
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?;
        if kind != 0 {
            continue;
        }
        if found.is_some() {
            return Err(HelloError::Malformed("more than one server name"));
        }
        let text = std::str::from_utf8(name).map_err(|_| HelloError::Malformed("server name is not text"))?;
        found = Some(crate::decide::hostname::normalise(text).ok_or(HelloError::Malformed("invalid server name"))?);
    }
    Ok(found)
}

fn alpn(data: &[u8]) -> Result<Vec<Vec<u8>>, HelloError> {
    let mut list = Reader(Reader(data).vec16()?);
    let mut protocols = Vec::new();
    while !list.0.is_empty() {
        protocols.push(list.vec8()?.to_vec());
    }
    Ok(protocols)
}

#[cfg(test)]
#[path = "hello_tests.rs"]
mod tests;
