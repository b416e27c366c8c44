//! The ICAP wire format (RFC 3507) as pure functions over borrowed bytes: the
//! answer head (status line, headers, folded continuation lines), the
//! `Encapsulated` header, chunk-size lines (with `ieof`) and a chunked-body
//! decoder, and the writing of request heads, encapsulated HTTP heads and
//! chunk framing.
//!
//! Must not: do I/O, or copy body bytes (decoded data are slices of the
//! input buffer). Every parser takes borrowed input so it can be fuzzed.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

/// Largest ICAP answer head, and largest encapsulated HTTP head, accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Why bytes from an ICAP server were not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the answer head is larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("bad status line {0:?}")]
    StatusLine(String),
    #[error("bad header line {0:?}")]
    HeaderLine(String),
    #[error("bad Encapsulated header {0:?}: {1}")]
    Encapsulated(String, &'static str),
    #[error("bad chunk-size line {0:?}")]
    ChunkSize(String),
    #[error("missing CRLF after chunk data")]
    ChunkEnd,
    #[error("bad {0} value {1:?}")]
    Value(&'static str, String),
    #[error("encapsulated HTTP head: {0}")]
    Http(String),
}

/// The head of an ICAP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: u16,
    pub reason: String,
    /// Names as sent; a folded value keeps its continuation lines, each after a `\n`.
    headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The server asked to close the connection after this answer.
    pub(crate) fn closes(&self) -> bool {
        self.get("connection").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// Where a head ends: the index just past its blank line, once it is all in `buf`.
pub(crate) fn head_end(buf: &[u8]) -> Result<Option<usize>, WireError> {
    match memchr::memmem::find(buf, b"\r\n\r\n") {
        Some(i) if i + 4 <= MAX_HEAD => Ok(Some(i + 4)),
        Some(_) => Err(WireError::HeadTooLarge),
        None if buf.len() > MAX_HEAD => Err(WireError::HeadTooLarge),
        None => Ok(None),
    }
}

/// Parses an ICAP answer head (through its blank line).
pub(crate) fn parse_head(head: &[u8]) -> Result<Head, WireError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let (status, reason) = status_line_of(status_line)?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = headers.last_mut() else { return Err(WireError::HeaderLine(line.into())) };
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else { return Err(WireError::HeaderLine(line.into())) };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(WireError::HeaderLine(line.into()));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Head { status, reason, headers })
}

fn status_line_of(line: &str) -> Result<(u16, String), WireError> {
    let bad = || WireError::StatusLine(line.chars().take(80).collect());
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    // A status is three digits, the first 1-5 (RFC 3507 §4.3.3 uses HTTP's classes):
    // `020` would read as 20, a class no answer has.
    let classed = code.len() == 3 && code.starts_with(['1', '2', '3', '4', '5']);
    if !version.starts_with("ICAP/1.") || !classed || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let status = code.parse().map_err(|_| bad())?;
    Ok((status, parts.next().unwrap_or_default().to_owned()))
}

/// A section of an encapsulated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    ReqHdr,
    ResHdr,
    ReqBody,
    ResBody,
    NullBody,
    OptBody,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Self::ReqHdr => "req-hdr",
            Self::ResHdr => "res-hdr",
            Self::ReqBody => "req-body",
            Self::ResBody => "res-body",
            Self::NullBody => "null-body",
            Self::OptBody => "opt-body",
        }
    }

    fn is_body(self) -> bool {
        matches!(self, Self::ReqBody | Self::ResBody | Self::NullBody | Self::OptBody)
    }
}

/// The `Encapsulated` header: the sections in order with their offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encapsulated(pub Vec<(Section, usize)>);

impl Encapsulated {
    /// Parses `req-hdr=0, res-hdr=45, res-body=100`: offsets start at 0 and
    /// grow, header sections come first, and exactly one body section ends it.
    pub(crate) fn parse(value: &str) -> Result<Self, WireError> {
        let bad = |why| WireError::Encapsulated(value.chars().take(120).collect(), why);
        let mut sections = Vec::new();
        for item in value.split(',').map(str::trim) {
            let (name, offset) = item.split_once('=').ok_or_else(|| bad("an entry is not name=offset"))?;
            let section = match name.trim() {
                "req-hdr" => Section::ReqHdr,
                "res-hdr" => Section::ResHdr,
                "req-body" => Section::ReqBody,
                "res-body" => Section::ResBody,
                "null-body" => Section::NullBody,
                "opt-body" => Section::OptBody,
                _ => return Err(bad("unknown section")),
            };
            let offset: usize = offset.trim().parse().map_err(|_| bad("an offset is not a number"))?;
            sections.push((section, offset));
        }
        let Some(&(last, _)) = sections.last() else { return Err(bad("empty")) };
        if !last.is_body() || sections[..sections.len() - 1].iter().any(|(s, _)| s.is_body()) {
            return Err(bad("exactly one body section must come last"));
        }
        if sections[0].1 != 0 || sections.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(bad("offsets must start at 0 and grow"));
        }
        if sections.len() > 3 {
            return Err(bad("too many sections"));
        }
        Ok(Self(sections))
    }

    /// The length of header section `section`, if present.
    pub(crate) fn header_len(&self, section: Section) -> Option<usize> {
        let i = self.0.iter().position(|(s, _)| *s == section)?;
        Some(self.0.get(i + 1)?.1 - self.0[i].1)
    }

    /// The body section.
    pub(crate) fn body(&self) -> Section {
        self.0.last().map_or(Section::NullBody, |(s, _)| *s)
    }

    /// The header value.
    pub(crate) fn render(&self) -> String {
        let items: Vec<String> = self.0.iter().map(|(s, o)| format!("{}={o}", s.name())).collect();
        items.join(", ")
    }
}

/// Parses a chunk-size line without its CRLF: hex size, optional extensions;
/// returns the size and whether the `ieof` extension is present.
pub(crate) fn parse_chunk_size(line: &[u8]) -> Result<(usize, bool), WireError> {
    let bad = || WireError::ChunkSize(String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned());
    let (size, ext) = match memchr::memchr(b';', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[][..]),
    };
    let size = size.trim_ascii();
    if size.is_empty() || size.len() > 15 || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let text = std::str::from_utf8(size).map_err(|_| bad())?;
    let n = usize::from_str_radix(text, 16).map_err(|_| bad())?;
    let ieof = ext.split(|b| *b == b';').any(|e| e.trim_ascii().eq_ignore_ascii_case(b"ieof"));
    Ok((n, ieof))
}

/// A piece of a decoded chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Body bytes (a slice of the input buffer, not a copy).
    Data(Bytes),
    /// The last chunk (and its trailers) was read; `ieof` when the sender said so.
    End { ieof: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(usize),
    DataEnd,
    Trailers { ieof: bool },
}

/// Decodes a chunked body incrementally from a buffer the caller fills.
#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    state: ChunkState,
}

impl Default for Chunked {
    fn default() -> Self {
        Self { state: ChunkState::Size }
    }
}

impl Chunked {
    /// The next piece from `buf` (consuming what it used), or `None` when more input is needed.
    pub(crate) fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Piece>, WireError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = take_line(buf)? else { return Ok(None) };
                    let (size, ieof) = parse_chunk_size(&line)?;
                    self.state = if size == 0 { ChunkState::Trailers { ieof } } else { ChunkState::Data(size) };
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = left.min(buf.len());
                    let data = buf.split_to(n).freeze();
                    self.state = if n == left { ChunkState::DataEnd } else { ChunkState::Data(left - n) };
                    return Ok(Some(Piece::Data(data)));
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(WireError::ChunkEnd);
                    }
                    let _ = buf.split_to(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers { ieof } => {
                    let Some(line) = take_line(buf)? else { return Ok(None) };
                    if line.is_empty() {
                        self.state = ChunkState::Size;
                        return Ok(Some(Piece::End { ieof }));
                    }
                }
            }
        }
    }
}

/// Longest chunk-size or trailer line accepted, without its CRLF.
const MAX_LINE: usize = 4096;

/// Takes one CRLF-terminated line (without the CRLF) from `buf`. The line end is looked
/// for only where a line of at most [`MAX_LINE`] bytes ends, so a longer line is
/// refused however it arrives, whole or in pieces.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, WireError> {
    let window = &buf[..buf.len().min(MAX_LINE + 2)];
    match memchr::memmem::find(window, b"\r\n") {
        Some(i) => {
            let mut line = buf.split_to(i + 2);
            line.truncate(i);
            Ok(Some(line))
        }
        None if buf.len() >= MAX_LINE + 2 => Err(WireError::ChunkSize(format!("a line longer than {MAX_LINE} bytes"))),
        None => Ok(None),
    }
}

/// The framing around one chunk of `len` bytes: its size line (the data and a CRLF follow).
pub(crate) fn chunk_size_line(len: usize) -> Bytes {
    Bytes::from(format!("{len:x}\r\n"))
}

/// The CRLF after chunk data.
pub(crate) const CRLF: &[u8] = b"\r\n";

/// The last chunk: `0\r\n\r\n`, or `0; ieof\r\n\r\n` when a preview holds the whole body.
pub(crate) fn last_chunk(ieof: bool) -> &'static [u8] {
    if ieof { b"0; ieof\r\n\r\n" } else { b"0\r\n\r\n" }
}

/// An ICAP request head: `METHOD uri ICAP/1.0`, `Host`, the given headers and `Encapsulated`.
pub(crate) fn request_head(method: &str, uri: &str, host: &str, headers: &[(&str, String)], enc: &str) -> Vec<u8> {
    let mut out = format!("{method} {uri} ICAP/1.0\r\nHost: {host}\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("Encapsulated: ");
    out.push_str(enc);
    out.push_str("\r\n\r\n");
    out.into_bytes()
}

fn push_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// An encapsulated HTTP/1.1 request head (`GET http://host/path HTTP/1.1`).
pub(crate) fn http_request_head(method: &str, url: &str, headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("{method} {url} HTTP/1.1\r\n").as_bytes());
    push_headers(&mut out, headers);
    out
}

/// An encapsulated HTTP/1.1 response head.
pub(crate) fn http_response_head(status: StatusCode, headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let reason = status.canonical_reason().unwrap_or("Status");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", status.as_u16()).as_bytes());
    push_headers(&mut out, headers);
    out
}

/// An encapsulated HTTP response head returned by the server.
pub(crate) fn parse_http_response(head: &[u8]) -> Result<(StatusCode, HeaderMap), WireError> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(WireError::Http("incomplete head".into())),
        Err(e) => return Err(WireError::Http(e.to_string())),
    }
    let code = parsed.code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| WireError::Http(format!("status {code}")))?;
    Ok((status, header_map(parsed.headers)?))
}

/// An encapsulated HTTP request head returned by the server: method, target, headers.
pub(crate) fn parse_http_request(head: &[u8]) -> Result<(String, String, HeaderMap), WireError> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(WireError::Http("incomplete head".into())),
        Err(e) => return Err(WireError::Http(e.to_string())),
    }
    let method = parsed.method.unwrap_or_default().to_owned();
    let target = parsed.path.unwrap_or_default().to_owned();
    Ok((method, target, header_map(parsed.headers)?))
}

fn header_map(headers: &[httparse::Header<'_>]) -> Result<HeaderMap, WireError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for h in headers {
        let name = http::HeaderName::from_bytes(h.name.as_bytes()).map_err(|e| WireError::Http(e.to_string()))?;
        let value = http::HeaderValue::from_bytes(h.value).map_err(|e| WireError::Http(e.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}
