//! The signals `perimeter up` answers: SIGTERM or SIGINT begin a clean stop (every task
//! watches one cancellation token), a second one exits at once; SIGHUP asks for the
//! configuration and its files to be read again.
//!
//! Must not: stop anything itself; it only tells the tasks that own the work.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Watches the signals for the life of the process.
pub fn spawn(stop: CancellationToken, reload: mpsc::Sender<()>) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {
                    let _ = reload.try_send(());
                    continue;
                }
            }
            if stop.is_cancelled() {
                tracing::warn!("second stop signal: exiting at once");
                std::process::exit(130);
            }
            tracing::info!("stop signal: finishing open work, then exiting (send it again to exit at once)");
            stop.cancel();
        }
    });
    Ok(())
}
