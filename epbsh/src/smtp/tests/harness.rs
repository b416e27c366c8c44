//! Test harness: a registry-like relay policy, recording and failing sinks,
//! and a line-reading client over `tokio::io::duplex`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

use crate::envelope::{Envelope, Mailbox};
use crate::smtp::{Policy, Session, SessionConfig, SessionEnd, SessionError, Sink, SinkError, Verdict};
use crate::spool::MessageId;

pub const SERVER_IP: &str = "192.0.2.10";
pub const STRANGER_IP: &str = "198.51.100.66";
pub const REGISTERED: &str = "agency.gov.example";

/// Emulates the registry: registered mail servers may send anywhere;
/// anyone may send to a registered domain; everything else is relaying.
pub struct TestPolicy {
    servers: HashSet<IpAddr>,
    domains: HashSet<String>,
}

impl TestPolicy {
    pub fn new() -> Self {
        let servers = [SERVER_IP.parse().expect("ip")].into();
        let domains = [REGISTERED.to_string()].into();
        Self { servers, domains }
    }
}

impl Policy for TestPolicy {
    async fn on_connect(&self, _peer: IpAddr) -> Verdict {
        Verdict::Accept
    }
    async fn on_mail_from(&self, _sender: Option<&Mailbox>, _peer: IpAddr) -> Verdict {
        Verdict::Accept
    }
    async fn on_rcpt_to(&self, _sender: Option<&Mailbox>, rcpt: &Mailbox, peer: IpAddr) -> Verdict {
        if self.domains.contains(rcpt.domain()) || self.servers.contains(&peer) {
            Verdict::Accept
        } else {
            Verdict::reject(550, (5, 7, 1), "relaying denied")
        }
    }
    async fn on_data(&self, _envelope: &mut Envelope, _size: usize) -> Verdict {
        Verdict::Accept
    }
}

/// Records stored messages; fails every store when `fail` is set.
#[derive(Default)]
pub struct MemSink {
    pub stored: Mutex<Vec<(Envelope, Bytes)>>,
    pub fail: bool,
}

impl MemSink {
    pub fn failing() -> Self {
        Self { fail: true, ..Self::default() }
    }
    pub fn messages(&self) -> Vec<(Envelope, Bytes)> {
        self.stored.lock().expect("lock").clone()
    }
}

impl Sink for MemSink {
    async fn store(&self, envelope: Envelope, body: Bytes) -> Result<MessageId, SinkError> {
        if self.fail {
            return Err(SinkError::Other("disk full".into()));
        }
        let mut v = self.stored.lock().expect("lock");
        v.push((envelope, body));
        Ok(MessageId(v.len() as u64))
    }
}

pub fn config() -> SessionConfig {
    let mut c = SessionConfig::new("gw.test");
    c.max_message_size = 10_000;
    c.max_recipients = 3;
    c.max_errors = 5;
    c.idle_timeout = Duration::from_secs(5);
    c
}

/// A client end: writes raw bytes, reads replies.
pub struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn send(&mut self, bytes: &str) {
        self.io.get_mut().write_all(bytes.as_bytes()).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }
}

/// The reading side works on a read half alone too.
impl<S: AsyncRead + Unpin> Client<S> {
    pub fn new(io: S) -> Self {
        Self { io: BufReader::new(io) }
    }

    /// One complete (possibly multi-line) reply, lines joined with '\n'.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(n > 0, "connection closed while waiting for a reply; got so far: {all:?}");
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            all.push_str(line.trim_end());
            if line.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
            all.push('\n');
        }
    }

    /// Reads one reply and checks that it starts with `prefix`.
    pub async fn expect(&mut self, prefix: &str) -> String {
        let r = self.reply().await;
        assert!(r.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    /// True when the server closed the connection (EOF, nothing pending).
    pub async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line)).await, Ok(Ok(0)))
    }

    pub fn into_inner(self) -> S {
        self.io.into_inner()
    }
}

pub type Running = JoinHandle<Result<SessionEnd, SessionError>>;

/// Starts a session for a client at `peer`, returns the client and the task.
pub fn start<K: Sink>(cfg: SessionConfig, sink: Arc<K>, peer: &str) -> (Client<DuplexStream>, Running) {
    let (client, server) = tokio::io::duplex(64 << 10);
    let peer = peer.parse().expect("peer ip");
    let session = Session::new(server, peer, Arc::new(cfg), Arc::new(TestPolicy::new()), sink);
    (Client::new(client), tokio::spawn(session.run()))
}

/// Greeting plus EHLO, returns the EHLO reply.
pub async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Client<S>) -> String {
    c.expect("220 gw.test ESMTP").await;
    c.send("EHLO client.test\r\n").await;
    c.expect("250-gw.test").await
}

pub async fn end(task: Running) -> SessionEnd {
    task.await.expect("join").expect("session")
}
