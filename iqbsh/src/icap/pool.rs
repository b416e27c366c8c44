//! The persistent connections to one ICAP service: at most `limit` open at
//! once (the service's `Max-Connections`, capped by the configuration), idle
//! ones kept in a lock-free queue and reused while the server keeps them
//! open and they are younger than the idle limit.
//!
//! Must not: lock on the request path (a semaphore's atomic fast path and a
//! lock-free queue), or hand out a connection the server has closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::conn::IcapConn;
use super::error::ExchangeError;

/// Idle connections older than this are closed rather than reused (c-icap
/// keeps them 600 s by default; staying well inside avoids racing its close).
const MAX_IDLE: Duration = Duration::from_secs(30);

/// The connections of one service.
#[derive(Debug)]
pub(crate) struct Pool {
    addr: SocketAddr,
    idle: ArrayQueue<IcapConn>,
    permits: Arc<Semaphore>,
    /// Connections allowed now (changes when the service advertises a maximum).
    limit: AtomicUsize,
    /// The configured ceiling.
    ceiling: usize,
}

/// A connection in use; holds one of the pool's permits.
#[derive(Debug)]
pub(crate) struct Lease {
    pub conn: IcapConn,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub(crate) fn new(addr: SocketAddr, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            addr,
            idle: ArrayQueue::new(ceiling),
            permits: Arc::new(Semaphore::new(ceiling)),
            limit: AtomicUsize::new(ceiling),
            ceiling,
        }
    }

    /// A connection: an idle one still open, or a new one; waits for a free
    /// permit at most `limit`.
    pub(crate) async fn get(&self, limit: Duration) -> Result<Lease, ExchangeError> {
        let permit = match tokio::time::timeout(limit, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(ExchangeError::Busy(self.limit.load(Relaxed))),
        };
        while let Some(mut conn) = self.idle.pop() {
            if conn.idle_since.elapsed() < MAX_IDLE && conn.looks_alive() {
                conn.reused = true;
                return Ok(Lease { conn, _permit: permit });
            }
        }
        let conn = IcapConn::connect(self.addr, limit).await?;
        Ok(Lease { conn, _permit: permit })
    }

    /// Returns a connection whose exchange ended cleanly, for reuse.
    pub(crate) fn put(&self, lease: Lease) {
        let Lease { mut conn, _permit } = lease;
        conn.idle_since = Instant::now();
        let _ = self.idle.push(conn);
    }

    /// Applies the service's advertised `Max-Connections` (capped by the configuration).
    pub(crate) fn set_limit(&self, advertised: Option<usize>) {
        let want = advertised.unwrap_or(self.ceiling).clamp(1, self.ceiling);
        let now = self.limit.load(Relaxed);
        if want > now {
            self.permits.add_permits(want - now);
            self.limit.store(want, Relaxed);
        } else if want < now {
            // Permits in use are forgotten as they come back, through the ones removed now.
            let removed = self.permits.forget_permits(now - want);
            self.limit.store(now - removed, Relaxed);
        }
    }

    /// Connections allowed now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Relaxed)
    }
}
