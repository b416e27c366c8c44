//! [`Session`]: one SMTP server conversation over any byte stream, its state
//! (greeting, transaction, error count) and the read–dispatch loop.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::command;
use super::config::SessionConfig;
use super::policy::{Policy, Sink};
use super::reply::{Reply, fixed};
use super::shutdown::Shutdown;
use super::wire::{Clocks, Line, Wire, WireError};
use crate::envelope::Mailbox;

/// How a session ended (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client sent QUIT.
    Quit,
    /// The client closed the connection.
    PeerClosed,
    /// A command line did not arrive whole within the idle timeout (421 4.4.2 sent).
    IdleTimeout,
    /// A DATA transfer fell below the minimum rate (421 4.4.2 sent).
    TooSlow,
    /// The session reached its longest time (421 4.4.2 sent).
    TimeLimit,
    /// Too many errors (421 4.7.0 sent).
    TooManyErrors,
    /// The policy refused the connection at the greeting.
    Refused,
    /// Input was pipelined after STARTTLS (421 sent, no TLS started).
    TlsInjection,
    /// The relay is shutting down (421 4.3.2 sent between transactions).
    Shutdown,
    /// The shutdown grace ended while the session waited on its client or a recipient
    /// check (421 4.3.2 sent, except inside a TLS handshake; a message being received
    /// was dropped).
    Cut,
    /// The TLS handshake failed.
    TlsFailed,
}

/// A transport failure that ended the session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Reading or writing the stream failed.
    #[error("smtp session i/o error: {0}")]
    Io(#[from] io::Error),
}

/// What the client said in EHLO/HELO.
pub(crate) struct Hello {
    pub name: String,
    pub esmtp: bool,
}

/// The mail transaction opened by MAIL FROM.
pub(crate) struct Transaction {
    pub sender: Option<Mailbox>,
    pub recipients: Vec<Mailbox>,
    /// The size the client declared with `SIZE=` (a hint for buffering).
    pub size: Option<u64>,
}

/// Whether the loop goes on.
pub(crate) enum Flow {
    Continue,
    End(SessionEnd),
}

/// One SMTP server session, generic over the stream (`TcpStream`, a duplex
/// pipe in tests), the [`Policy`] and the [`Sink`].
pub struct Session<S, P, K> {
    pub(crate) wire: Wire<S>,
    pub(crate) cfg: Arc<SessionConfig>,
    pub(crate) policy: Arc<P>,
    pub(crate) sink: Arc<K>,
    pub(crate) peer: IpAddr,
    pub(crate) hello: Option<Hello>,
    pub(crate) tx: Option<Transaction>,
    pub(crate) errors: u32,
    /// The relay's shutdown: the session ends at the next command once it is stopping
    /// (a transfer under way finishes first), and at once when the grace is over.
    stop: Option<tokio::sync::watch::Receiver<Shutdown>>,
}

impl<S, P, K> Session<S, P, K>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    P: Policy,
    K: Sink,
{
    /// A session for a client at `peer`.
    pub fn new(stream: S, peer: IpAddr, cfg: Arc<SessionConfig>, policy: Arc<P>, sink: Arc<K>) -> Self {
        let clocks = Clocks { idle: cfg.idle_timeout, min_rate: cfg.min_data_rate, lifetime: cfg.max_session_time };
        let wire = Wire::new(stream, clocks);
        Self { wire, cfg, policy, sink, peer, hello: None, tx: None, errors: 0, stop: None }
    }

    /// Ends the session with 421 4.3.2 between commands once `stop` is
    /// [`Shutdown::Stopping`], and wherever it waits once it is [`Shutdown::Cut`].
    pub fn stop_on(mut self, stop: tokio::sync::watch::Receiver<Shutdown>) -> Self {
        self.wire.cut_on(stop.clone());
        self.stop = Some(stop);
        self
    }

    /// The next command line, or `None` when the relay shuts down first.
    async fn next_line(&mut self) -> Result<Option<Line>, WireError> {
        let max = self.cfg.max_line_length;
        let Some(stop) = self.stop.as_mut() else { return self.wire.read_line(max).await.map(Some) };
        if *stop.borrow() != Shutdown::Running {
            return Ok(None);
        }
        tokio::select! {
            line = self.wire.read_line(max) => line.map(Some),
            Ok(_) = stop.wait_for(|s| *s != Shutdown::Running) => Ok(None),
        }
    }

    /// Runs the conversation to its end and closes the stream.
    pub async fn run(mut self) -> Result<SessionEnd, SessionError> {
        let result = self.serve().await;
        let end = match result {
            Ok(end) => Ok(end),
            Err(WireError::Eof) => Ok(SessionEnd::PeerClosed),
            Err(WireError::Timeout) => Ok(self.close_with(fixed::idle_timeout, SessionEnd::IdleTimeout)),
            Err(WireError::TooSlow) => Ok(self.close_with(fixed::too_slow, SessionEnd::TooSlow)),
            Err(WireError::Expired) => Ok(self.close_with(fixed::session_expired, SessionEnd::TimeLimit)),
            Err(WireError::Cut) => Ok(self.close_with(fixed::shutting_down, SessionEnd::Cut)),
            Err(WireError::Io(e)) => Err(SessionError::Io(e)),
        };
        self.wire.close().await;
        tracing::debug!(peer = %self.peer, ?end, "smtp session ended");
        end
    }

    /// Queues the 421 that ends the session; returns `end`.
    fn close_with(&mut self, reply: fn(&str) -> Reply, end: SessionEnd) -> SessionEnd {
        let r = reply(&self.cfg.hostname);
        self.wire.reply(&r);
        end
    }

    async fn serve(&mut self) -> Result<SessionEnd, WireError> {
        if let Some(r) = self.policy.on_connect(self.peer).await.refusal() {
            self.wire.reply(&r);
            return Ok(SessionEnd::Refused);
        }
        self.wire.reply(&Reply::plain(220, format!("{} ESMTP", self.cfg.hostname)));
        loop {
            let Some(line) = self.next_line().await? else {
                return Ok(self.close_with(fixed::shutting_down, SessionEnd::Shutdown));
            };
            if let Flow::End(end) = self.dispatch(line).await? {
                return Ok(end);
            }
            if self.errors >= self.cfg.max_errors {
                let r = fixed::too_many_errors(&self.cfg.hostname);
                self.wire.reply(&r);
                return Ok(SessionEnd::TooManyErrors);
            }
        }
    }

    /// Queues a reply; 5xx replies count towards the error limit.
    pub(crate) fn send(&mut self, r: Reply) {
        if r.is_permanent() {
            self.errors += 1;
        }
        self.wire.reply(&r);
    }

    async fn dispatch(&mut self, line: Line) -> Result<Flow, WireError> {
        let raw = match line {
            Line::TooLong => {
                self.send(fixed::line_too_long());
                return Ok(Flow::Continue);
            }
            Line::Full(raw) => raw,
        };
        let Some(text) = raw.strip_suffix(b"\r\n") else {
            self.send(fixed::bare_lf());
            return Ok(Flow::Continue);
        };
        match command::parse(text) {
            Ok(cmd) => self.handle(cmd).await,
            Err(r) => {
                self.send(r);
                Ok(Flow::Continue)
            }
        }
    }
}
