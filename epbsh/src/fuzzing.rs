//! Entry points for the fuzz targets in `fuzz/`: each calls one crate-private parser
//! (SMTP command and path, the DATA reader, the spool's record framing and payloads)
//! and hands back plain public values, so the parsers themselves stay private.
//!
//! Must not: be used by the relay, or add behaviour of its own: it only calls the
//! parsers and reports what they returned. Hidden from the docs; not an API.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::envelope::{Envelope, Mailbox};
use crate::smtp::DataMemory;
use crate::smtp::address::{self, Path, PathError};
use crate::smtp::command::{self, Body, Command};
use crate::smtp::data::{self, DataLimits, DataOutcome, Reader};
use crate::smtp::wire::{Clocks, Wire, WireError};
use crate::spool::{MessageId, codec, record};

/// Parses one command line (without its CRLF): the command written back as a line
/// the parser accepts, or the reply code that refuses it.
pub fn command(line: &[u8]) -> Result<String, u16> {
    command::parse(line).map(|c| command_line(&c)).map_err(|r| r.code)
}

fn command_line(c: &Command) -> String {
    match c {
        Command::Ehlo(host) => format!("EHLO {host}"),
        Command::Helo(host) => format!("HELO {host}"),
        Command::Mail(path, params) => {
            let mut line = format!("MAIL FROM:{}", path_text(path));
            if let Some(size) = params.size {
                line += &format!(" SIZE={size}");
            }
            match params.body {
                Some(Body::SevenBit) => line += " BODY=7BIT",
                Some(Body::EightBitMime) => line += " BODY=8BITMIME",
                None => {}
            }
            line
        }
        Command::Rcpt(path) => format!("RCPT TO:{}", path_text(path)),
        Command::Data => "DATA".into(),
        Command::Rset => "RSET".into(),
        Command::Noop => "NOOP".into(),
        Command::Quit => "QUIT".into(),
        Command::Vrfy => "VRFY someone".into(),
        Command::Help => "HELP".into(),
        Command::StartTls => "STARTTLS".into(),
        Command::NotImplemented => "EXPN".into(),
    }
}

fn path_text(path: &Path) -> String {
    match path {
        Path::Null => "<>".into(),
        Path::Postmaster => "<postmaster>".into(),
        Path::Mailbox(m) => format!("<{m}>"),
    }
}

/// A path the path parser accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedPath {
    Null,
    Postmaster,
    Mailbox(Mailbox),
}

impl ParsedPath {
    /// The path written as the parser reads it (`<>`, `<postmaster>`, `<local@domain>`).
    pub fn text(&self) -> String {
        match self {
            ParsedPath::Null => "<>".into(),
            ParsedPath::Postmaster => "<postmaster>".into(),
            ParsedPath::Mailbox(m) => format!("<{m}>"),
        }
    }
}

/// Why the path parser refused a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    Syntax,
    SourceRoute,
}

/// Parses a path at the start of `text`: the path and how many bytes of `text` follow it.
pub fn path(text: &str) -> Result<(ParsedPath, usize), PathRefusal> {
    match address::parse_path(text) {
        Ok((path, rest)) => {
            let parsed = match path {
                Path::Null => ParsedPath::Null,
                Path::Postmaster => ParsedPath::Postmaster,
                Path::Mailbox(m) => ParsedPath::Mailbox(m),
            };
            Ok((parsed, rest.len()))
        }
        Err(PathError::Syntax) => Err(PathRefusal::Syntax),
        Err(PathError::SourceRoute) => Err(PathRefusal::SourceRoute),
    }
}

/// True when a local part carries routing syntax the relay refuses (`%`, `!`, `@`).
pub fn has_routing_chars(local: &str) -> bool {
    address::has_routing_chars(local)
}

/// True for an `[IPv4]` or `[IPv6:…]` address literal.
pub fn is_address_literal(domain: &str) -> bool {
    address::valid_literal(domain)
}

/// How a DATA transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEnd {
    /// The prefix and the unstuffed content, without the final dot.
    Body(Vec<u8>),
    TooBig,
    LineTooLong,
    BareLineEnding,
    Nul,
    TooManyHops,
    NoMemory,
    /// The input ended before the final dot.
    Eof,
}

/// A DATA transfer read from `input` by the session's reader, the peer's bytes arriving
/// in reads of the given sizes (the last one repeated; 0 counts as 1), its memory
/// reserved from `memory`: how it ended and how many bytes of `input` it consumed (input
/// after the final dot is left unread). `None` when the budget had not even room to start.
pub fn data(
    input: &[u8],
    reads: &[usize],
    limits: (usize, usize),
    prefix: &[u8],
    memory: &DataMemory,
) -> Option<(DataEnd, usize)> {
    let (max_size, max_line) = limits;
    let delivered = Cell::new(0);
    let peer = Peer { data: input, reads, next: 0, delivered: &delivered };
    let hour = Duration::from_secs(3600);
    let mut wire = Wire::new(peer, Clocks { idle: hour, min_rate: 1, lifetime: hour });
    let reader = Reader::new(prefix, 0, DataLimits { max_size, max_line }, memory)?;
    wire.start_transfer();
    let read = runtime().block_on(data::read_body(&mut wire, reader));
    let end = match read {
        Ok((DataOutcome::Body(body), _reserved)) => DataEnd::Body(body.to_vec()),
        Ok((DataOutcome::TooBig, _)) => DataEnd::TooBig,
        Ok((DataOutcome::LineTooLong, _)) => DataEnd::LineTooLong,
        Ok((DataOutcome::BareLineEnding, _)) => DataEnd::BareLineEnding,
        Ok((DataOutcome::Nul, _)) => DataEnd::Nul,
        Ok((DataOutcome::TooManyHops, _)) => DataEnd::TooManyHops,
        Ok((DataOutcome::NoMemory, _)) => DataEnd::NoMemory,
        Err(WireError::Eof) => DataEnd::Eof,
        Err(e) => panic!("an in-memory peer within an hour cannot fail: {e:?}"),
    };
    Some((end, delivered.get() - wire.input().len()))
}

/// The runtime the reader's timers need (one per fuzzing process).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a current-thread runtime")
    })
}

/// A peer whose bytes arrive in reads of chosen sizes; what is written to it is dropped.
struct Peer<'a> {
    data: &'a [u8],
    reads: &'a [usize],
    next: usize,
    /// Bytes handed to the reader so far.
    delivered: &'a Cell<usize>,
}

impl AsyncRead for Peer<'_> {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let size = me.reads.get(me.next).or(me.reads.last()).copied().unwrap_or(usize::MAX).max(1);
        me.next += 1;
        let n = size.min(me.data.len()).min(buf.remaining());
        buf.put_slice(&me.data[..n]);
        me.data = &me.data[n..];
        me.delivered.set(me.delivered.get() + n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Peer<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Length of a spool record's fixed header.
pub const RECORD_HEADER_LEN: usize = record::HEADER_LEN;

/// A spool record that decoded and passed both checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1: message, 2: state.
    pub kind: u8,
    pub batch: u64,
    pub payload: &'a [u8],
    /// Header plus payload: where the next record starts.
    pub total: usize,
}

/// Why bytes are not a valid spool record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameRefusal {
    Incomplete,
    Corrupt,
    BadPayload { batch: u64, total: usize },
}

/// Decodes the spool record at the start of `buf` as recovery does.
pub fn record(buf: &[u8], max_len: u32) -> Result<Frame<'_>, FrameRefusal> {
    match record::decode(buf, max_len) {
        Ok(f) => Ok(Frame { kind: f.kind as u8, batch: f.batch, payload: f.payload, total: f.total }),
        Err(record::FrameError::Incomplete) => Err(FrameRefusal::Incomplete),
        Err(record::FrameError::Corrupt) => Err(FrameRefusal::Corrupt),
        Err(record::FrameError::BadPayload { batch, total }) => Err(FrameRefusal::BadPayload { batch, total }),
    }
}

/// Where recovery would resume after damage at `from`: the next valid record at or after it.
pub fn resync(buf: &[u8], from: usize, max_len: u32) -> Option<usize> {
    record::resync(buf, from, max_len)
}

/// A decoded message record payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord<'a> {
    pub id: u64,
    pub envelope: Envelope,
    pub body: &'a [u8],
}

/// Decodes a message record payload as recovery does.
pub fn message_record(payload: &[u8]) -> Option<MessageRecord<'_>> {
    let m = codec::decode_message(payload).ok()?;
    Some(MessageRecord { id: m.id.0, envelope: m.envelope, body: m.body })
}

/// Encodes a message record payload as the spool writes it (`None`: refused envelope).
pub fn encode_message_record(id: u64, envelope: &Envelope, body: &[u8]) -> Option<Vec<u8>> {
    let mut payload = codec::encode_message_head(MessageId(id), envelope).ok()?;
    payload.extend_from_slice(body);
    Some(payload)
}

/// A decoded state record payload: its message id, the change (as text, to compare)
/// and the payload the spool writes for that change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub id: u64,
    pub change: String,
    pub encoded: Vec<u8>,
}

/// Decodes a state record payload as recovery does, and encodes it again.
pub fn state_record(payload: &[u8]) -> Option<StateRecord> {
    let (id, op) = codec::decode_state(payload).ok()?;
    let encoded = codec::encode_state(id, &op);
    Some(StateRecord { id: id.0, change: format!("{op:?}"), encoded })
}

/// The longest last-error text a defer record keeps (cut at a character boundary).
pub fn bounded_error(error: &str) -> &str {
    codec::bounded(error)
}
