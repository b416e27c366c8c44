//! Relaying a spliced tunnel both ways until either side closes or neither
//! side has sent anything for the idle limit.
//!
//! Must not: look at the bytes; a spliced tunnel is opaque by rule 2.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Bytes read per system call in each direction: 64 KiB of buffers per tunnel,
/// a third less CPU per MiB than tokio's default 8 KiB in the web benchmark.
const COPY_BUFFER: usize = 32 << 10;

/// A stream that notes the time of its last read and counts the bytes written to it.
struct Watched<S> {
    inner: S,
    epoch: Instant,
    last: Arc<AtomicU64>,
    written: u64,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last.store(ms, Relaxed);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.written += n as u64;
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Bytes relayed by a tunnel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Relayed {
    pub from_client: u64,
    pub to_client: u64,
    /// Closed for being idle.
    pub idle: bool,
    /// Cut because `until` completed (a decision that changed while it was open).
    pub cut: bool,
}

/// Copies both ways until one side closes, an error, `idle` without traffic, or `until` completes.
pub(crate) async fn relay<A, B>(client: A, origin: B, idle: Duration, until: impl Future<Output = ()>) -> Relayed
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let epoch = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut client = Watched { inner: client, epoch, last: Arc::clone(&last), written: 0 };
    let mut origin = Watched { inner: origin, epoch, last: Arc::clone(&last), written: 0 };
    // Counted by the wrappers, so that a tunnel ended by an error (a peer that closes
    // without TLS close_notify, a reset) or by the idle limit still reports its bytes.
    let (idle, cut) = {
        let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut origin, COPY_BUFFER, COPY_BUFFER);
        tokio::pin!(copy);
        tokio::pin!(until);
        loop {
            let deadline = epoch + Duration::from_millis(last.load(Relaxed)) + idle;
            tokio::select! {
                _ = &mut copy => break (false, false),
                () = &mut until => break (false, true),
                _ = tokio::time::sleep_until(deadline) => {
                    if epoch + Duration::from_millis(last.load(Relaxed)) + idle <= Instant::now() {
                        break (true, false);
                    }
                }
            }
        }
    };
    Relayed { from_client: origin.written, to_client: client.written, idle, cut }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn an_idle_tunnel_is_closed() {
        let (client, _client_peer) = tokio::io::duplex(64);
        let (origin, _origin_peer) = tokio::io::duplex(64);
        let relay = relay(client, origin, Duration::from_millis(100), std::future::pending());
        let relayed = tokio::time::timeout(Duration::from_secs(10), relay).await.expect("closed in time");
        assert!(relayed.idle);
    }

    #[tokio::test]
    async fn bytes_pass_both_ways_and_are_counted() {
        let (client, mut client_peer) = tokio::io::duplex(64);
        let (origin, mut origin_peer) = tokio::io::duplex(64);
        let task = tokio::spawn(relay(client, origin, Duration::from_secs(30), std::future::pending()));
        client_peer.write_all(b"hello").await.expect("write");
        let mut buf = [0u8; 5];
        origin_peer.read_exact(&mut buf).await.expect("read");
        origin_peer.write_all(b"hi").await.expect("write");
        drop(origin_peer);
        let mut back = Vec::new();
        client_peer.read_to_end(&mut back).await.expect("read");
        drop(client_peer);
        let relayed = task.await.expect("join");
        assert_eq!((relayed.from_client, relayed.to_client, back.as_slice()), (5, 2, &b"hi"[..]));
    }
}
