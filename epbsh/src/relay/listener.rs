//! The accept loop: one SMTP [`Session`] task per connection, each with its own
//! [`ConnPolicy`] (which reads the registry at every step) and the listener's
//! [`ConnSink`]; at most `max_sessions` at once (others get 421 4.3.2) and at most
//! `max_sessions_per_address` from one client address ([`Slots`]; others get 421 4.7.0).
//! On stop: no new connections; each open session gets 421 4.3.2 at its next command
//! (a DATA transfer under way finishes and is answered first); after the grace period
//! what is still open is cut (nothing it had not been answered 250 for is lost: its
//! client keeps the mail).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::policy::ConnPolicy;
use super::room::Room;
use super::sink::ConnSink;
use super::slots::Slots;
use super::verify::Verifier;
use crate::hooks::Guard;
use crate::metrics::{Metrics, bump};
use crate::registry::RegistryHandle;
use crate::smtp::{Session, SessionConfig};

/// Everything a connection needs.
pub(crate) struct Listener {
    pub session: Arc<SessionConfig>,
    pub registry: RegistryHandle,
    pub guard: Arc<dyn Guard>,
    pub verifier: Arc<Verifier>,
    /// The room the spool's file system must keep.
    pub room: Arc<Room>,
    pub sink: Arc<ConnSink>,
    pub metrics: Arc<Metrics>,
    pub max_sessions: usize,
    pub per_address: Arc<Slots>,
    /// How long shutdown waits for open sessions.
    pub grace: Duration,
}

impl Listener {
    pub async fn serve(self, tcp: TcpListener, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.max_sessions));
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            bump(&this.metrics.sessions_refused);
                            sessions.spawn(refuse(stream, this.refusal("4.3.2", "too many connections")));
                            continue;
                        };
                        let Some(place) = this.per_address.take(peer.ip()) else {
                            bump(&this.metrics.sessions_refused_per_address);
                            sessions.spawn(refuse(stream, this.refusal("4.7.0", "too many connections from your address")));
                            continue;
                        };
                        let (this, stop) = (this.clone(), stop.clone());
                        sessions.spawn(async move {
                            this.session(stream, peer, stop).await;
                            drop((slot, place));
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                _ = stop.changed() => break,
            }
        }
        drop(tcp);
        if timeout(this.grace, async { while sessions.join_next().await.is_some() {} }).await.is_err() {
            tracing::info!(left = sessions.len(), "closing SMTP sessions still open at shutdown");
            sessions.abort_all();
        }
    }

    fn refusal(&self, status: &str, text: &str) -> String {
        format!("421 {status} {} {text}, try again later\r\n", self.session.hostname)
    }

    async fn session(&self, stream: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
        bump(&self.metrics.sessions);
        let ip = peer.ip().to_canonical();
        let (registry, guard, verifier) = (self.registry.clone(), self.guard.clone(), self.verifier.clone());
        let policy = ConnPolicy::new(registry, ip, guard, verifier, &self.session.hostname).keeping(self.room.clone());
        let s = Session::new(stream, ip, self.session.clone(), Arc::new(policy), self.sink.clone()).stop_on(stop);
        if let Err(e) = s.run().await {
            tracing::debug!(%peer, error = %e, "smtp session failed");
        }
    }
}

async fn refuse(mut stream: TcpStream, line: String) {
    let _ = timeout(Duration::from_secs(5), stream.write_all(line.as_bytes())).await;
    let _ = stream.shutdown().await;
}
