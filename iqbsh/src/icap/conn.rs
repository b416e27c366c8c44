//! One TCP connection to an ICAP server: writing heads and chunks (body bytes
//! are written from the caller's buffers, never copied), and reading answer
//! heads, encapsulated HTTP heads and chunked bodies through a read buffer.
//!
//! Must not: interpret answers (`exchange` does) or wait without a deadline;
//! every call takes the time limit it may use.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::error::ExchangeError;
use super::wire::{self, Chunked, Head, Piece};

/// An open connection.
#[derive(Debug)]
pub(crate) struct IcapConn {
    stream: TcpStream,
    buf: BytesMut,
    /// When it was last handed back to the pool.
    pub idle_since: Instant,
    /// It served an exchange before this one.
    pub reused: bool,
}

impl IcapConn {
    /// Connects within `limit`.
    pub(crate) async fn connect(addr: SocketAddr, limit: Duration) -> Result<Self, ExchangeError> {
        let stream = match timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(ExchangeError::Connect(e.to_string())),
            Err(_) => return Err(ExchangeError::Timeout("connecting")),
        };
        let _ = stream.set_nodelay(true);
        Ok(Self { stream, buf: BytesMut::with_capacity(16 * 1024), idle_since: Instant::now(), reused: false })
    }

    /// An idle connection the server has not closed (no EOF or stray bytes waiting).
    pub(crate) fn looks_alive(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            && self.buf.is_empty()
    }

    /// Writes every slice, within `limit`.
    pub(crate) async fn write(&mut self, parts: &[&[u8]], limit: Duration) -> Result<(), ExchangeError> {
        let mut slices: Vec<IoSlice<'_>> = parts.iter().filter(|p| !p.is_empty()).map(|p| IoSlice::new(p)).collect();
        let write = async {
            let mut slices = &mut slices[..];
            while !slices.is_empty() {
                let n = self.stream.write_vectored(slices).await?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "the ICAP server stopped reading"));
                }
                IoSlice::advance_slices(&mut slices, n);
            }
            Ok::<(), io::Error>(())
        };
        match timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ExchangeError::Io(e.to_string())),
            Err(_) => Err(ExchangeError::Timeout("sending")),
        }
    }

    /// Writes one chunk of body data (size line, data, CRLF) within `limit`.
    pub(crate) async fn write_chunk(&mut self, data: &Bytes, limit: Duration) -> Result<(), ExchangeError> {
        if data.is_empty() {
            return Ok(());
        }
        let size = wire::chunk_size_line(data.len());
        self.write(&[&size, data, wire::CRLF], limit).await
    }

    /// Reads more input; `what` names the wait for a timeout error.
    async fn fill(&mut self, deadline: Instant, what: &'static str) -> Result<(), ExchangeError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
            Ok(Ok(0)) => Err(ExchangeError::Closed),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ExchangeError::Io(e.to_string())),
            Err(_) => Err(ExchangeError::Timeout(what)),
        }
    }

    /// Reads an answer head, waiting until `deadline`.
    pub(crate) async fn read_head(&mut self, deadline: Instant) -> Result<Head, ExchangeError> {
        loop {
            if let Some(end) = wire::head_end(&self.buf)? {
                let head = self.buf.split_to(end);
                return Ok(wire::parse_head(&head)?);
            }
            self.fill(deadline, "waiting for the answer").await?;
        }
    }

    /// Reads exactly `n` bytes (an encapsulated HTTP head).
    pub(crate) async fn read_exact(&mut self, n: usize, deadline: Instant) -> Result<Bytes, ExchangeError> {
        if n > wire::MAX_HEAD {
            return Err(ExchangeError::Protocol(wire::WireError::HeadTooLarge));
        }
        while self.buf.len() < n {
            self.fill(deadline, "reading the answer").await?;
        }
        Ok(self.buf.split_to(n).freeze())
    }

    /// Reads the next piece of a chunked body.
    pub(crate) async fn read_piece(&mut self, dec: &mut Chunked, deadline: Instant) -> Result<Piece, ExchangeError> {
        loop {
            if let Some(piece) = dec.next(&mut self.buf)? {
                return Ok(piece);
            }
            self.fill(deadline, "reading the answer body").await?;
        }
    }

    /// Waits until the server sends something while the body is still going out:
    /// `true` when bytes arrived (an early answer), `false` on a stale wake-up.
    pub(crate) async fn answer_waiting(&mut self) -> Result<bool, ExchangeError> {
        if !self.buf.is_empty() {
            return Ok(true);
        }
        self.stream.readable().await.map_err(|e| ExchangeError::Io(e.to_string()))?;
        match self.stream.try_read_buf(&mut self.buf) {
            Ok(0) => Err(ExchangeError::Closed),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(ExchangeError::Io(e.to_string())),
        }
    }
}
