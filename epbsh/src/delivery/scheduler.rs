//! The scheduler task: wakes when mail is queued, an attempt ends, the earliest retry is
//! due or a tick passes; holds the queued mail of systems the registry or the guard now
//! shows as suspended; starts due attempts up to `max_concurrent` (when all are running, the
//! next wake-up is an attempt ending), passing over for a moment the messages whose
//! destinations all have their deliveries running. On stop it starts nothing new
//! and waits a bounded time for running attempts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};

use super::{Shared, job, queue};
use crate::registry::{Registry, Status};

/// Longest sleep: registry changes are noticed within this.
const TICK: Duration = Duration::from_millis(500);
/// How long shutdown waits for running attempts before abandoning them (they stay queued).
const DRAIN: Duration = Duration::from_secs(10);

pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(shared.cfg.max_concurrent));
    let mut running = JoinSet::new();
    let mut seen: Option<Arc<Registry>> = None;
    loop {
        let registry = shared.registry.load_full();
        if !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &registry)) {
            let held = shared.queue().hold_where(suspended(&shared, &registry));
            shared.persist_holds(&held).await;
            seen = Some(registry.clone());
        }
        let free = permits.available_permits();
        let full = |item: &queue::Item| job::all_full(&shared, &item.envelope, &item.pending());
        let (due, held) = shared.queue().take_due(Instant::now(), free, suspended(&shared, &registry), full);
        shared.persist_holds(&held).await;
        for id in due {
            let Ok(permit) = permits.clone().try_acquire_owned() else { break };
            let s = shared.clone();
            running.spawn(async move {
                job::run(s, id).await;
                drop(permit);
            });
        }
        // With every permit taken, a due message waits for an attempt to end (a wake-up
        // below), not for its due time: that time has passed and would spin this loop.
        let tick = Instant::now() + TICK;
        let next = match permits.available_permits() {
            0 => tick,
            _ => shared.queue().next_due().map_or(tick, |t| t.min(tick)),
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = sleep_until(next) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    if timeout(DRAIN, async { while running.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!(left = running.len(), "delivery attempts still running at shutdown; they stay queued");
        running.abort_all();
    }
}

/// The test "is this system suspended now" for one registry snapshot and the guard.
fn suspended<'a>(shared: &'a Shared, registry: &'a Registry) -> impl Fn(crate::envelope::SystemId) -> bool + 'a {
    move |id| registry.get(id).is_some_and(|s| s.status == Status::Suspended) || shared.guard.suspended(id)
}
