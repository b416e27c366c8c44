//! Following the store's changes: the generation (the newest change's id) published to
//! every consumer in this process (the snapshot publisher, the mail registry, the packet
//! gate), moved at once when PostgreSQL announces a commit (`LISTEN perimeter_changes`)
//! and checked on a fixed period in any case, because notifications are lost while the
//! listening connection is down (after it reconnects the period's check catches up).
//! SQLite has no notifications: the period alone serves.
//!
//! Must not: miss a change for longer than one period, or stop on a database error
//! (it is logged and the previous generation stays).

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::{Backend, Store};

/// The channel the database announces committed changes on (see migration 0005).
const CHANNEL: &str = "perimeter_changes";

/// The store's generation as it moves; clone a receiver per consumer.
pub type Generations = watch::Receiver<i64>;

impl Store {
    /// Starts following the store: checks the generation every `every` and, on
    /// PostgreSQL, as soon as a change is announced. Stops when every receiver is dropped.
    pub async fn follow(&self, every: Duration) -> Generations {
        let first = self.generation().await.unwrap_or(0);
        let (tx, rx) = watch::channel(first);
        let (store, nudge) = (self.clone(), tokio::sync::Notify::new());
        let nudge = std::sync::Arc::new(nudge);
        if self.backend == Backend::Postgres {
            tokio::spawn(listen(self.url.to_string(), std::sync::Arc::clone(&nudge), tx.clone()));
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = nudge.notified() => {}
                    _ = tx.closed() => return,
                }
                match store.generation().await {
                    Ok(g) => {
                        tx.send_if_modified(|seen| std::mem::replace(seen, g.max(*seen)) != *seen);
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the store's generation failed; will retry"),
                }
            }
        });
        rx
    }
}

/// Listens for announced changes and nudges the checker; reconnects after losing the
/// connection (and nudges then too: what was announced meanwhile is lost).
async fn listen(url: String, nudge: std::sync::Arc<tokio::sync::Notify>, alive: watch::Sender<i64>) {
    let mut backoff = Duration::from_millis(200);
    while !alive.is_closed() {
        let mut listener = match PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "listening for store changes failed; polling meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN {CHANNEL} failed; polling meanwhile");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(200);
        nudge.notify_one();
        loop {
            tokio::select! {
                got = listener.try_recv() => match got {
                    Ok(Some(_)) => nudge.notify_one(),
                    // The connection was lost and re-established: announcements may be gone.
                    Ok(None) => nudge.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "the store's change notifications stopped; reconnecting");
                        break;
                    }
                },
                _ = alive.closed() => return,
            }
        }
    }
}
