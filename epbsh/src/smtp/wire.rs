//! The connection: a plain or TLS stream, an input buffer cut into lines with
//! a length limit, an output buffer flushed only before the session would
//! block on input (RFC 2920 pipelining), and the clocks: a deadline per command
//! line (the idle timeout, not restarted by each byte), a DATA transfer's
//! allowance (the idle timeout plus one second per `min_data_rate` bytes
//! received) and the session's own end. Every wait on the client also ends when the
//! relay's shutdown grace is over ([`Shutdown::Cut`]); the closing reply is then
//! still sent, within [`CUT_CLOSE`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::reply::Reply;
use super::shutdown::{Shutdown, until_cut};

/// How long the closing reply may take to send once the shutdown grace is over.
pub(crate) const CUT_CLOSE: Duration = Duration::from_secs(2);

/// The stream under the session, before or after STARTTLS.
pub(crate) enum Conn<S> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
    /// Transient state while upgrading, or after a failed handshake.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Conn<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Why no line could be read.
#[derive(Debug)]
pub(crate) enum WireError {
    /// The peer closed the connection.
    Eof,
    /// A command line (or a write) did not complete within the idle timeout.
    Timeout,
    /// A DATA transfer fell below the minimum rate.
    TooSlow,
    /// The session reached its longest time.
    Expired,
    /// The relay's shutdown grace ended while the session waited.
    Cut,
    /// Transport error.
    Io(io::Error),
}

/// One input line.
#[derive(Debug)]
pub(crate) enum Line {
    /// A complete line including its terminating LF (and CR if any).
    Full(Bytes),
    /// The line exceeded the limit; it was consumed through its LF.
    TooLong,
}

/// The time limits of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    /// Longest wait for a command line or a write.
    pub idle: Duration,
    /// Slowest DATA transfer in bytes per second (at least 1).
    pub min_rate: u64,
    /// Longest session.
    pub lifetime: Duration,
}

/// Buffered, line-oriented connection.
pub(crate) struct Wire<S> {
    conn: Conn<S>,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    clocks: Clocks,
    /// When the session must end.
    end: Instant,
    /// When the current command line or transfer must be complete.
    deadline: Instant,
    /// During a DATA transfer: the rate whose bytes extend `deadline`.
    transfer: Option<u64>,
    /// The relay's shutdown, when the session is told of it.
    shutdown: Option<watch::Receiver<Shutdown>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub fn new(stream: S, clocks: Clocks) -> Self {
        let now = Instant::now();
        Self {
            conn: Conn::Plain(stream),
            rbuf: BytesMut::with_capacity(4096),
            wbuf: Vec::with_capacity(1024),
            clocks,
            end: now + clocks.lifetime,
            deadline: now + clocks.idle,
            transfer: None,
            shutdown: None,
        }
    }

    /// Ends every wait on the client when `shutdown` turns [`Shutdown::Cut`].
    pub fn cut_on(&mut self, shutdown: watch::Receiver<Shutdown>) {
        self.shutdown = Some(shutdown);
    }

    fn is_cut(&self) -> bool {
        self.shutdown.as_ref().is_some_and(|s| *s.borrow() == Shutdown::Cut)
    }

    /// `work`'s output, or [`WireError::Cut`] when the shutdown grace ends first.
    pub async fn unless_cut<F: std::future::Future>(&mut self, work: F) -> Result<F::Output, WireError> {
        until_cut(self.shutdown.as_mut(), work).await.ok_or(WireError::Cut)
    }

    /// The earlier of `deadline` and the session's end, and the error for missing it.
    fn limit(&self, deadline: Instant) -> (Instant, WireError) {
        match (deadline >= self.end, self.transfer.is_some()) {
            (true, _) => (self.end, WireError::Expired),
            (false, true) => (deadline, WireError::TooSlow),
            (false, false) => (deadline, WireError::Timeout),
        }
    }

    /// Starts a DATA transfer's allowance: the idle timeout now, more with each byte.
    pub fn start_transfer(&mut self) {
        self.deadline = Instant::now() + self.clocks.idle;
        self.transfer = Some(self.clocks.min_rate.max(1));
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.conn, Conn::Tls(_))
    }

    /// True when input beyond the last consumed line is already buffered.
    pub fn has_buffered_input(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Queues a reply; it is sent at the next flush.
    pub fn reply(&mut self, r: &Reply) {
        r.write_line(true, &mut self.wbuf);
    }

    /// Queues a multi-line reply (EHLO).
    pub fn reply_multi(&mut self, lines: &[Reply]) {
        for (i, r) in lines.iter().enumerate() {
            r.write_line(i + 1 == lines.len(), &mut self.wbuf);
        }
    }

    /// Sends queued replies.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        self.send_within(self.clocks.idle, true).await
    }

    /// Sends queued replies within `within` (and the session's end); a wait `cuttable`
    /// by the shutdown ends when its grace does.
    async fn send_within(&mut self, within: Duration, cuttable: bool) -> Result<(), WireError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let (until, late) = self.limit(Instant::now() + within);
        let (conn, wbuf) = (&mut self.conn, &self.wbuf);
        let write = async move {
            conn.write_all(wbuf).await?;
            conn.flush().await
        };
        let cut = self.shutdown.as_mut().filter(|_| cuttable);
        match until_cut(cut, timeout_at(until, write)).await {
            None => Err(WireError::Cut),
            Some(Err(_)) => Err(late),
            Some(Ok(Err(e))) => Err(WireError::Io(e)),
            Some(Ok(Ok(()))) => {
                self.wbuf.clear();
                Ok(())
            }
        }
    }

    /// Flushes pending replies, then reads more input before the current deadline; during
    /// a transfer each byte read extends it by 1/rate s.
    async fn fill(&mut self) -> Result<(), WireError> {
        self.flush().await?;
        let (until, late) = self.limit(self.deadline);
        let read = timeout_at(until, self.conn.read_buf(&mut self.rbuf));
        match until_cut(self.shutdown.as_mut(), read).await {
            None => Err(WireError::Cut),
            Some(Err(_)) => Err(late),
            Some(Ok(Err(e))) => Err(WireError::Io(e)),
            Some(Ok(Ok(0))) => Err(WireError::Eof),
            Some(Ok(Ok(n))) => {
                if let Some(rate) = self.transfer {
                    let nanos = u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(1_000_000_000) / rate;
                    self.deadline += Duration::from_nanos(nanos);
                }
                Ok(())
            }
        }
    }

    /// The input read but not consumed yet.
    pub fn input(&self) -> &[u8] {
        &self.rbuf
    }

    /// Drops the first `n` bytes of [`Self::input`].
    pub fn consume(&mut self, n: usize) {
        self.rbuf.advance(n);
    }

    /// Flushes pending replies, then reads more input into a buffer with room
    /// for at least `room` more bytes (bulk reads during DATA).
    pub async fn read_more(&mut self, room: usize) -> Result<(), WireError> {
        self.rbuf.reserve(room);
        self.fill().await
    }

    /// Reads one line of at most `max` bytes including CRLF, whole within the idle
    /// timeout (ends a DATA transfer's allowance).
    pub async fn read_line(&mut self, max: usize) -> Result<Line, WireError> {
        self.transfer = None;
        self.deadline = Instant::now() + self.clocks.idle;
        loop {
            if let Some(pos) = memchr(b'\n', &self.rbuf) {
                let line = self.rbuf.split_to(pos + 1).freeze();
                return Ok(if line.len() > max { Line::TooLong } else { Line::Full(line) });
            }
            if self.rbuf.len() >= max {
                return self.discard_line().await;
            }
            self.fill().await?;
        }
    }

    /// Drops input up to and including the next LF, keeping memory bounded.
    async fn discard_line(&mut self) -> Result<Line, WireError> {
        loop {
            if let Some(pos) = memchr(b'\n', &self.rbuf) {
                let _ = self.rbuf.split_to(pos + 1);
                return Ok(Line::TooLong);
            }
            self.rbuf.clear();
            self.fill().await?;
        }
    }

    /// Sends queued replies, then performs the TLS handshake on the raw
    /// stream. The input buffer must be empty (checked by the caller).
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> Result<(), WireError> {
        self.flush().await?;
        self.rbuf.clear();
        let Conn::Plain(stream) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err(WireError::Io(gone()));
        };
        let (until, late) = self.limit(Instant::now() + self.clocks.idle);
        // Cut mid-handshake: the connection closes with the handshake, no reply fits.
        match until_cut(self.shutdown.as_mut(), timeout_at(until, acceptor.accept(stream))).await {
            None => Err(WireError::Cut),
            Some(Err(_)) => Err(late),
            Some(Ok(Err(e))) => Err(WireError::Io(e)),
            Some(Ok(Ok(tls))) => {
                self.conn = Conn::Tls(Box::new(tls));
                Ok(())
            }
        }
    }

    /// Flushes and closes the write side, ignoring errors (end of session); once the
    /// shutdown grace is over, within [`CUT_CLOSE`].
    pub async fn close(&mut self) {
        let within = if self.is_cut() { CUT_CLOSE } else { self.clocks.idle };
        // The closing reply may still be sent when the session's time is up.
        self.end = self.end.max(Instant::now() + within);
        if self.send_within(within, false).await.is_ok() {
            let _ = timeout_at(Instant::now() + within, self.conn.shutdown()).await;
        }
    }
}
