//! Reuse of idle delivery connections per remote address and host name: a connection that
//! finished a transaction waits here up to `reuse_idle`; the next transaction to the same
//! address under the same name takes it after a successful RSET (its TLS was verified for
//! that name: a connection verified for one MX is never reused for another name, which an
//! MTA-STS policy would judge by it). Bounded per address; stale ones are closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::client::Client;

/// Idle connections kept per address.
const PER_ADDRESS: usize = 8;

/// A remote address and the host name a connection to it was opened for.
type Key = (SocketAddr, String);

pub(crate) struct Pool {
    idle: Duration,
    conns: Mutex<HashMap<Key, Vec<(Client, Instant)>>>,
}

impl Pool {
    pub fn new(idle: Duration) -> Pool {
        Pool { idle, conns: Mutex::new(HashMap::new()) }
    }

    /// A live idle connection to `addr` opened for `name`, if one is kept and answers RSET.
    pub async fn take(&self, addr: SocketAddr, name: &str) -> Option<Client> {
        let key = (addr, name.to_string());
        loop {
            let client = {
                let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
                let list = conns.get_mut(&key)?;
                let fresh = |t: &Instant| t.elapsed() < self.idle;
                let stale: Vec<_> = list.extract_if(.., |(_, t)| !fresh(t)).map(|(c, _)| c).collect();
                drop(stale);
                list.pop().map(|(c, _)| c)
            }?;
            let mut client = client;
            if client.reset().await.is_ok() {
                return Some(client);
            }
        }
    }

    /// Keeps `client` for reuse (or closes it when reuse is off or the address has enough).
    pub async fn put(&self, client: Client) {
        if self.idle.is_zero() {
            return client.quit().await;
        }
        let overflow = {
            let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            let list = conns.entry((client.peer, client.name.clone())).or_default();
            if list.len() < PER_ADDRESS {
                list.push((client, Instant::now()));
                None
            } else {
                Some(client)
            }
        };
        if let Some(c) = overflow {
            c.quit().await;
        }
    }

    /// Closes every kept connection (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Client> = {
            let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.drain().flat_map(|(_, v)| v.into_iter().map(|(c, _)| c)).collect()
        };
        for c in all {
            c.quit().await;
        }
    }
}
