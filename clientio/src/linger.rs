//! Lingering close of a client connection (as nginx's `lingering_close`), for every
//! server of the project (the web proxy, the WAF, the API and console): when a server
//! ends a connection it has answered before reading everything the client
//! sent (a refused upload, a body over a limit, a block page for a request still
//! streaming), closing the socket at once with unread bytes in its receive buffer
//! makes the kernel send a reset, and the client loses the answer it was about to
//! read (curl: "Send failure: Broken pipe"). [`Lingering`] wraps the client's
//! stream: its shutdown first ends the server's side (TLS `close_notify` and FIN),
//! then reads and discards what the client still sends, until the client closes,
//! [`LINGER_BYTES`] have been discarded or [`LINGER_TIME`] has passed.
//!
//! Must not: pass on anything it reads after the shutdown, know any protocol, or linger without bound.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The longest a closing connection keeps reading what its client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(10);
/// The most a closing connection discards before it gives up on the client.
pub const LINGER_BYTES: u64 = 64 << 20;

/// A client stream whose shutdown lingers (see the module's doc).
pub struct Lingering<S> {
    inner: S,
    state: State,
}

enum State {
    Open,
    Draining { discarded: u64, until: Pin<Box<Sleep>> },
    Closed,
}

impl<S> Lingering<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, state: State::Open }
    }

    /// The stream under it (for a tunnel that takes the socket over before any shutdown).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> Lingering<S> {
    /// Reads and discards until the client closes or a bound is reached.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Draining { discarded, until } = &mut self.state else { return Poll::Ready(()) };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if until.as_mut().poll(cx).is_ready() || *discarded >= LINGER_BYTES {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => *discarded += buf.filled().len() as u64,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.state {
            State::Open => Pin::new(&mut self.inner).poll_read(cx, buf),
            // Past the shutdown nothing more is read for the proxy.
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    crate::write_through!(@writes);

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let State::Open = this.state {
            let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
            if shut.is_err() {
                this.state = State::Closed;
                return Poll::Ready(shut);
            }
            let until = Box::pin(tokio::time::sleep(LINGER_TIME));
            this.state = State::Draining { discarded: 0, until };
        }
        ready!(this.poll_drain(cx));
        this.state = State::Closed;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// The server answers before reading a large request and shuts down: with the
    /// lingering close the client, still sending, reads the whole answer.
    #[tokio::test]
    async fn an_answer_sent_before_the_request_was_read_reaches_the_client() {
        for linger in [true, false] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut s = Lingering::new(tcp);
                if !linger {
                    s.state = State::Closed;
                }
                s.write_all(b"refused\n").await.unwrap();
                let _ = s.shutdown().await;
                drop(s);
            });
            let mut client = TcpStream::connect(addr).await.unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            // Far more than the socket buffers hold, so unread bytes are left at the server.
            let mut sent = 0usize;
            while sent < 16 << 20 {
                match client.write(&chunk).await {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            let mut answer = Vec::new();
            let read = client.read_to_end(&mut answer).await;
            drop(client);
            server.await.unwrap();
            if linger {
                assert!(sent >= 16 << 20, "the client could send everything, not only {sent}");
                assert_eq!((read.is_ok(), answer.as_slice()), (true, &b"refused\n"[..]));
            } else {
                assert!(read.is_err() || sent < 16 << 20, "without lingering the client sees a reset");
            }
        }
    }
}
