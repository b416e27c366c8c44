//! The signals `perimeter up` answers: SIGTERM or SIGINT begin a clean stop (they tell
//! `up`'s one stopping signal, and `up` stops its services in order), a second one
//! exits at once; SIGHUP asks for the configuration and its files to be read again.
//!
//! Must not: stop anything itself; it only tells `up`, which stops the services.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use super::service::{Service, Stop};

/// The signal watcher, a service started first and stopped last, so that a second
/// signal exits at once while the others stop.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    stopping: Stop,
    reload: mpsc::Sender<()>,
}

impl Signals {
    /// Takes the signals over now (so none is lost before the service runs): a stop
    /// signal tells `stopping`, SIGHUP sends on `reload`.
    pub fn new(stopping: Stop, reload: mpsc::Sender<()>) -> anyhow::Result<Signals> {
        let term = signal(SignalKind::terminate())?;
        let int = signal(SignalKind::interrupt())?;
        let hup = signal(SignalKind::hangup())?;
        Ok(Signals { term, int, hup, stopping, reload })
    }
}

impl Service for Signals {
    const NAME: &'static str = "signal watcher";

    async fn run(mut self, stop: Stop) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
                _ = self.hup.recv() => {
                    let _ = self.reload.try_send(());
                    continue;
                }
                () = stop.stopped() => return Ok(()),
            }
            if self.stopping.is_stopped() {
                tracing::warn!("second stop signal: exiting at once");
                std::process::exit(130);
            }
            tracing::info!("stop signal: finishing open work, then exiting (send it again to exit at once)");
            self.stopping.stop();
        }
    }
}
