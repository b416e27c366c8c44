//! The accept loop: one SMTP [`Session`] task per connection, each with its own
//! [`ConnPolicy`] (which reads the registry at every step) and the listener's
//! [`ConnSink`]. Each connection first takes a [`Slot`]: a connected system's server
//! (by the registry of the moment) counts against its system, anyone else against its
//! network and the outside share, which never reaches the slots kept for systems; a
//! connection that gets none is answered 421 (4.3.2 when full, 4.7.0 when its system or
//! network has its share) and closed.
//! On stop: no new connections; each open session gets 421 4.3.2 at its next command
//! (a DATA transfer under way finishes and is answered first). When the grace period
//! ends, what is still open is cut ([`Shutdown::Cut`]): a transfer, a command line, a
//! recipient check or a reply the client does not read ends with 421 4.3.2, a TLS
//! handshake with the connection; a message cut in its content is dropped, never
//! stored or answered 250, so its client keeps it. Sessions that have not closed
//! [`CUT_WAIT`] later (a message being stored finishes first) are aborted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::policy::ConnPolicy;
use super::room::Room;
use super::sink::ConnSink;
use super::slots::{Network, Refusal, Slot, Slots, Source};
use super::verify::Verifier;
use crate::hooks::Guard;
use crate::metrics::{Metrics, bump};
use crate::registry::RegistryHandle;
use crate::smtp::{Session, SessionConfig, Shutdown};

/// How long sessions may take to answer and close once cut before they are aborted
/// (the closing reply takes at most 2 s; a message being stored is let finish).
const CUT_WAIT: Duration = Duration::from_secs(5);

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
    pub slots: Arc<Slots>,
    /// How long shutdown waits for open sessions.
    pub grace: Duration,
}

impl Listener {
    pub async fn serve(self, tcp: TcpListener, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let (shutdown, told) = watch::channel(Shutdown::Running);
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = tcp.accept() => match accepted {
                    Ok((stream, peer)) => match this.slot(peer) {
                        Ok(slot) => {
                            let (this, stop) = (this.clone(), told.clone());
                            sessions.spawn(async move {
                                this.session(stream, peer, stop).await;
                                drop(slot);
                            });
                        }
                        Err(refusal) => {
                            sessions.spawn(refuse(stream, this.refusal(refusal)));
                        }
                    },
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
        let _ = shutdown.send(Shutdown::Stopping);
        if timeout(this.grace, all_ended(&mut sessions)).await.is_ok() {
            return;
        }
        tracing::info!(left = sessions.len(), "shutdown grace over: cutting SMTP sessions still open (421 4.3.2)");
        let _ = shutdown.send(Shutdown::Cut);
        if timeout(CUT_WAIT, all_ended(&mut sessions)).await.is_err() {
            tracing::warn!(left = sessions.len(), "SMTP sessions still open after the cut; aborting them");
            sessions.abort_all();
        }
    }

    /// A slot for a connection from `peer`, counted as its system's or its network's.
    fn slot(&self, peer: SocketAddr) -> Result<Slot, Refusal> {
        let ip = peer.ip().to_canonical();
        let system = self.registry.load().by_server(ip).map(|s| s.id);
        let source = system.map_or_else(|| Source::Outside(Network::of(ip)), Source::System);
        let taken = self.slots.take(source, tokio::time::Instant::now());
        if let Err(refusal) = taken {
            let counter = match refusal {
                Refusal::Full | Refusal::TooManyNetworks => &self.metrics.sessions_refused,
                Refusal::SystemBusy => &self.metrics.sessions_refused_per_system,
                Refusal::NetworkBusy | Refusal::NetworkTooFast => &self.metrics.sessions_refused_per_network,
            };
            bump(counter);
            tracing::debug!(%peer, ?source, ?refusal, "connection refused");
        }
        taken
    }

    fn refusal(&self, refusal: Refusal) -> String {
        let (status, text) = refusal.reply();
        format!("421 {status} {} {text}, try again later\r\n", self.session.hostname)
    }

    async fn session(&self, stream: TcpStream, peer: SocketAddr, stop: watch::Receiver<Shutdown>) {
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

async fn all_ended(sessions: &mut JoinSet<()>) {
    while sessions.join_next().await.is_some() {}
}

async fn refuse(mut stream: TcpStream, line: String) {
    let _ = timeout(Duration::from_secs(5), stream.write_all(line.as_bytes())).await;
    let _ = stream.shutdown().await;
}
