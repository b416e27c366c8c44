//! Entry points for the fuzz targets in `fuzz/`: each calls one crate-private parser
//! of what an ICAP server sends back (the answer head, the `Encapsulated` header, the
//! chunked body) and hands back plain public values, so the parsers stay private.
//!
//! Must not: be used by the proxy, or add behaviour of its own: it only calls the
//! parsers and reports what they returned. Hidden from the docs; not an API.

use bytes::BytesMut;

use crate::icap::wire::{self, Chunked, Encapsulated, Piece};

/// An ICAP answer head as parsed: the status, and the value of one header asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerHead {
    pub status: u16,
    pub reason: String,
    pub encapsulated: Option<String>,
    pub closes: bool,
}

/// Where the head in `buf` ends (`Ok(None)`: not all there yet), or why it cannot.
pub fn head_end(buf: &[u8]) -> Result<Option<usize>, String> {
    wire::head_end(buf).map_err(|e| e.to_string())
}

/// Parses an answer head (through its blank line).
pub fn answer_head(head: &[u8]) -> Result<AnswerHead, String> {
    let head = wire::parse_head(head).map_err(|e| e.to_string())?;
    Ok(AnswerHead {
        status: head.status,
        encapsulated: head.get("encapsulated").map(str::to_owned),
        closes: head.closes(),
        reason: head.reason,
    })
}

/// Parses an `Encapsulated` value: its sections' offsets in order and the value written
/// back, or why it is refused.
pub fn encapsulated(value: &str) -> Result<(Vec<usize>, bool, String), String> {
    let parsed = Encapsulated::parse(value).map_err(|e| e.to_string())?;
    let offsets = parsed.0.iter().map(|(_, o)| *o).collect();
    let has_body = !matches!(parsed.body(), wire::Section::NullBody);
    Ok((offsets, has_body, parsed.render()))
}

/// What a chunked body decoded to: its bytes, whether its last chunk was read and
/// said `ieof`, and the error that stopped it, if one did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dechunked {
    pub data: Vec<u8>,
    pub end: Option<bool>,
    pub error: Option<String>,
}

/// Decodes `input` as one chunked body handed over in reads of the given sizes
/// (cycled; a size of 0 counts as 1), up to its last chunk.
pub fn dechunk(input: &[u8], reads: &[usize]) -> Dechunked {
    let mut out = Dechunked::default();
    let mut decoder = Chunked::default();
    let mut buf = BytesMut::new();
    let mut at = 0;
    let mut sizes = reads.iter().copied().cycle();
    loop {
        match decoder.next(&mut buf) {
            Ok(Some(Piece::Data(bytes))) => out.data.extend_from_slice(&bytes),
            Ok(Some(Piece::End { ieof })) => {
                out.end = Some(ieof);
                return out;
            }
            Ok(None) if at < input.len() => {
                let n = sizes.next().unwrap_or(input.len()).max(1).min(input.len() - at);
                buf.extend_from_slice(&input[at..at + n]);
                at += n;
            }
            Ok(None) => return out,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        }
    }
}

/// `data` framed as the proxy frames a body it sends: one chunk per piece, then the last chunk.
pub fn enchunk(pieces: &[&[u8]], ieof: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces.iter().filter(|p| !p.is_empty()) {
        out.extend_from_slice(&wire::chunk_size_line(piece.len()));
        out.extend_from_slice(piece);
        out.extend_from_slice(wire::CRLF);
    }
    out.extend_from_slice(wire::last_chunk(ieof));
    out
}
