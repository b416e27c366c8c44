//! The accept loop: one SMTP [`Session`] task per connection, each with its own
//! [`ConnPolicy`] and [`ConnSink`] built from one registry snapshot; at most
//! `max_sessions` at once (others get 421 4.3.2). On stop: no new connections, a bounded
//! wait for running sessions, then they are cut (nothing they had not been answered 250
//! for is lost: their clients keep the mail).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::metrics::{Metrics, bump};
use super::policy::ConnPolicy;
use super::sink::ConnSink;
use crate::delivery::Shared;
use crate::hooks::Guard;
use crate::registry::RegistryHandle;
use crate::smtp::{Session, SessionConfig};

/// How long shutdown waits for open sessions.
const GRACE: Duration = Duration::from_secs(5);

/// Everything a connection needs.
pub(crate) struct Listener {
    pub session: Arc<SessionConfig>,
    pub registry: RegistryHandle,
    pub guard: Arc<dyn Guard>,
    pub delivery: Arc<Shared>,
    pub metrics: Arc<Metrics>,
    pub max_sessions: usize,
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
                            sessions.spawn(refuse(stream, this.session.hostname.clone()));
                            continue;
                        };
                        let this = this.clone();
                        sessions.spawn(async move {
                            this.session(stream, peer).await;
                            drop(slot);
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
        if timeout(GRACE, async { while sessions.join_next().await.is_some() {} }).await.is_err() {
            tracing::info!(left = sessions.len(), "closing SMTP sessions still open at shutdown");
            sessions.abort_all();
        }
    }

    async fn session(&self, stream: TcpStream, peer: SocketAddr) {
        bump(&self.metrics.sessions);
        let ip = peer.ip().to_canonical();
        let policy = ConnPolicy::new(self.registry.load_full(), ip, self.guard.clone(), &self.session.hostname);
        let sink = ConnSink {
            system: policy.system().map(|s| s.id),
            guard: self.guard.clone(),
            delivery: self.delivery.clone(),
            metrics: self.metrics.clone(),
        };
        let s = Session::new(stream, ip, self.session.clone(), Arc::new(policy), Arc::new(sink));
        if let Err(e) = s.run().await {
            tracing::debug!(%peer, error = %e, "smtp session failed");
        }
    }
}

async fn refuse(mut stream: TcpStream, hostname: String) {
    let line = format!("421 4.3.2 {hostname} too many connections, try again later\r\n");
    let _ = timeout(Duration::from_secs(5), stream.write_all(line.as_bytes())).await;
    let _ = stream.shutdown().await;
}
