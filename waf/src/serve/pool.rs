//! The rule engine's own threads: a fixed number of blocking threads fed by a bounded
//! queue. A transaction's calls run there, never on the async workers, each within what
//! is left of the transaction's time budget. A full queue or a spent budget is an
//! answer (the caller refuses the request with 503: fail closed); a call still running
//! when its budget ends finishes on its thread and its result is thrown away.
//!
//! Must not: queue without bound, or let a caller wait past its deadline.

use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::oneshot;
use tokio::time::Instant;

type Job = Box<dyn FnOnce() + Send>;

/// Why the engine gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("the rule engine's queue is full")]
    Full,
    #[error("the rule engine did not decide within the time budget")]
    Budget,
}

/// The engine threads.
#[derive(Clone)]
pub(crate) struct EnginePool {
    tx: Sender<Job>,
}

impl EnginePool {
    /// Starts `threads` threads sharing a queue of `queue` calls; they end when the last
    /// clone of the pool is dropped.
    pub(crate) fn start(threads: usize, queue: usize) -> std::io::Result<EnginePool> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue.max(1));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("waf-engine-{i}")).spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            })?;
        }
        Ok(EnginePool { tx })
    }

    /// Runs `call` on an engine thread and waits for it until `deadline`; returns its
    /// result and the time it ran. A call whose deadline passed while it was queued does
    /// not run.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(T, Duration), PoolError> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            if Instant::now() >= deadline {
                return;
            }
            let started = std::time::Instant::now();
            let result = call();
            let _ = done.send((result, started.elapsed()));
        });
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PoolError::Full),
            Err(TrySendError::Disconnected(_)) => return Err(PoolError::Full),
        }
        match tokio::time::timeout_at(deadline, answer).await {
            // An answer that came after the deadline is as late as none.
            Ok(Ok(answer)) if Instant::now() <= deadline => Ok(answer),
            Ok(_) | Err(_) => Err(PoolError::Budget),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_and_spent_budget_are_answers() {
        let pool = EnginePool::start(1, 1).expect("pool");
        let soon = Instant::now() + Duration::from_millis(200);
        let (slow, queued, over) = tokio::join!(
            pool.run(soon, || std::thread::sleep(Duration::from_millis(400))),
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                pool.run(soon, || 1).await
            },
            async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                pool.run(soon, || 2).await
            },
        );
        assert_eq!(slow.map(|_| ()), Err(PoolError::Budget));
        assert_eq!(queued.map(|r| r.0), Err(PoolError::Budget), "its deadline passed in the queue");
        assert_eq!(over.map(|r| r.0), Err(PoolError::Full));
        // Once the slow call ends, the queued one (past its deadline) is skipped.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let later = Instant::now() + Duration::from_secs(2);
        assert_eq!(pool.run(later, || 3).await.map(|r| r.0), Ok(3));
    }
}
