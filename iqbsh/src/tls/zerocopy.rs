//! Relaying a spliced tunnel without copying its bytes through user space:
//! each direction moves data socket → pipe → socket with splice(2), the
//! kernel passing page references instead of the proxy reading and writing
//! them (about half the CPU per MiB of a copying relay here). Bytes are
//! counted as they leave the pipe, a direction that reads end-of-stream
//! half-closes the other socket, and the tunnel ends when both directions
//! are done, on an error, after the idle limit without traffic, or when the
//! caller's `until` completes.
//!
//! Must not: look at the bytes; or run without a pipe of useful size (the
//! caller falls back to the copying relay when [`Pipes::new`] fails).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::tls::idle::Relayed;

/// Pipe size asked for: large enough that one splice moves what a socket
/// holds (64 KiB pipes cost a third more CPU per MiB in the measurements).
const PIPE_SIZE: usize = 1 << 20;
/// Smaller pipes (the per-user pipe quota is spent) are not worth splicing through.
const MIN_PIPE: usize = 64 << 10;

/// One kernel pipe.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
}

impl Pipe {
    fn new() -> io::Result<Self> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        let size = match rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE) {
            Ok(size) => size,
            Err(_) => rustix::pipe::fcntl_getpipe_size(&write)?,
        };
        if size < MIN_PIPE {
            return Err(io::Error::other(format!("pipes are limited to {size} bytes")));
        }
        Ok(Self { read, write, size })
    }
}

/// The two pipes of a tunnel.
pub(crate) struct Pipes(Pipe, Pipe);

impl Pipes {
    /// Two pipes of at least 64 KiB, or why not.
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self(Pipe::new()?, Pipe::new()?))
    }
}

const FLAGS: SpliceFlags = SpliceFlags::NONBLOCK.union(SpliceFlags::MOVE);

/// The time of the last traffic, as milliseconds since an epoch.
struct Clock {
    epoch: Instant,
    last: AtomicU64,
}

impl Clock {
    fn touch(&self) {
        self.last.store(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX), Relaxed);
    }

    fn idle_until(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last.load(Relaxed)) + idle
    }
}

/// Moves `src` → `dst` through `pipe` until `src` ends (then half-closes `dst`) or an error.
async fn one_way(src: &TcpStream, dst: &TcpStream, pipe: &Pipe, moved: &AtomicU64, clock: &Clock) -> io::Result<()> {
    loop {
        let n = loop {
            src.readable().await?;
            let spliced = src.try_io(Interest::READABLE, || {
                Ok(rustix::pipe::splice(src.as_fd(), None, &pipe.write, None, pipe.size, FLAGS)?)
            });
            match spliced {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            let _ = rustix::net::shutdown(dst.as_fd(), rustix::net::Shutdown::Write);
            return Ok(());
        }
        clock.touch();
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            let spliced = dst.try_io(Interest::WRITABLE, || {
                Ok(rustix::pipe::splice(&pipe.read, None, dst.as_fd(), None, left, FLAGS)?)
            });
            match spliced {
                Ok(m) => {
                    left -= m;
                    moved.fetch_add(m as u64, Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The two ends of a tunnel: the client's socket with the bytes already read
/// from it and not yet passed on, and the origin's socket.
pub(crate) struct Ends {
    pub client: TcpStream,
    pub prefix: bytes::Bytes,
    pub origin: TcpStream,
}

/// Relays client ↔ origin through `pipes` until both sides close, an error,
/// `idle` without traffic, or `until` completes. The prefix goes to the origin first.
pub(crate) async fn relay(ends: Ends, pipes: Pipes, idle: Duration, until: impl Future<Output = ()>) -> Relayed {
    let Ends { client, prefix, mut origin } = ends;
    let from_client = AtomicU64::new(0);
    let to_client = AtomicU64::new(0);
    if !prefix.is_empty() {
        if origin.write_all(&prefix).await.is_err() {
            return Relayed::default();
        }
        from_client.fetch_add(prefix.len() as u64, Relaxed);
    }
    let clock = Clock { epoch: Instant::now(), last: AtomicU64::new(0) };
    let both = async {
        let up = one_way(&client, &origin, &pipes.0, &from_client, &clock);
        let down = one_way(&origin, &client, &pipes.1, &to_client, &clock);
        // Ends at the first error, or when both directions have ended.
        let _ = tokio::try_join!(up, down);
    };
    tokio::pin!(both);
    tokio::pin!(until);
    let (idle, cut) = loop {
        tokio::select! {
            () = &mut both => break (false, false),
            () = &mut until => break (false, true),
            () = tokio::time::sleep_until(clock.idle_until(idle)) => {
                if clock.idle_until(idle) <= Instant::now() {
                    break (true, false);
                }
            }
        }
    };
    let (from_client, to_client) = (from_client.load(Relaxed), to_client.load(Relaxed));
    Relayed { from_client, to_client, idle, cut }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let a = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (b, _) = listener.accept().await.expect("accept");
        (a, b)
    }

    #[tokio::test]
    async fn bytes_pass_both_ways_with_half_close_and_are_counted() {
        let (mut user, client) = pair().await;
        let (origin, mut server) = pair().await;
        let ends = Ends { client, prefix: bytes::Bytes::from_static(b"pre:"), origin };
        let task =
            tokio::spawn(relay(ends, Pipes::new().expect("pipes"), Duration::from_secs(30), std::future::pending()));
        user.write_all(b"hello").await.expect("write");
        user.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("read to the user's close");
        assert_eq!(got, b"pre:hello");
        server.write_all(b"hi").await.expect("write back after the half-close");
        drop(server);
        let mut back = Vec::new();
        user.read_to_end(&mut back).await.expect("read");
        let relayed = tokio::time::timeout(Duration::from_secs(10), task).await.expect("ends").expect("join");
        assert_eq!((relayed.from_client, relayed.to_client, relayed.idle, back.as_slice()), (9, 2, false, &b"hi"[..]));
    }

    #[tokio::test]
    async fn a_large_transfer_arrives_intact() {
        let (mut user, client) = pair().await;
        let (origin, mut server) = pair().await;
        let ends = Ends { client, prefix: bytes::Bytes::new(), origin };
        let task =
            tokio::spawn(relay(ends, Pipes::new().expect("pipes"), Duration::from_secs(30), std::future::pending()));
        let data: Vec<u8> = (0..(8u32 << 20)).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let expect = data.clone();
        let writer = tokio::spawn(async move {
            server.write_all(&data).await.expect("write");
        });
        let mut got = Vec::with_capacity(expect.len());
        let mut buf = vec![0u8; 1 << 16];
        while got.len() < expect.len() {
            let n = user.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early at {}", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.expect("writer");
        assert!(got == expect, "the bytes differ");
        drop(user);
        let relayed = tokio::time::timeout(Duration::from_secs(10), task).await.expect("ends").expect("join");
        assert_eq!(relayed.to_client, 8 << 20);
    }

    #[tokio::test]
    async fn an_idle_tunnel_is_closed() {
        let (_user, client) = pair().await;
        let (origin, _server) = pair().await;
        let ends = Ends { client, prefix: bytes::Bytes::new(), origin };
        let relay = relay(ends, Pipes::new().expect("pipes"), Duration::from_millis(100), std::future::pending());
        let relayed = tokio::time::timeout(Duration::from_secs(10), relay).await.expect("closed in time");
        assert!(relayed.idle && !relayed.cut);
    }

    #[tokio::test]
    async fn a_tunnel_is_cut_when_told() {
        let (_user, client) = pair().await;
        let (origin, _server) = pair().await;
        let ends = Ends { client, prefix: bytes::Bytes::new(), origin };
        let (tell, told) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(relay(ends, Pipes::new().expect("pipes"), Duration::from_secs(300), async move {
            let _ = told.await;
        }));
        tell.send(()).expect("relay waits");
        let relayed = tokio::time::timeout(Duration::from_secs(10), relay).await.expect("cut in time").expect("join");
        assert!(relayed.cut && !relayed.idle);
    }
}
