//! One way to run a service. Every task `perimeter up` starts is a [`Service`]: a value
//! that owns what it works with and runs until its [`Stop`] says so, then finishes what
//! it holds (flushes, saves, detaches) and returns. `up` starts them one by one in the
//! order it writes them ([`Services::start`]), each with a stop of its own, and stops
//! them in the reverse order ([`Services::stop`]): a service is told to stop only once
//! every service started after it (which may use it) has ended, and the store closes
//! after the last one.
//!
//! A new service is its room in `app/`, its configuration section and one `Service`,
//! started by one line in `up`.
//!
//! Must not: stop a service any other way (no flag, no channel closed by dropping);
//! leave a task it spawned running after `run` returns.

use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The signal that a service (or, for `up`'s own, the whole process) is to stop. Cheap
/// to clone; every clone sees the same signal.
#[derive(Clone, Debug, Default)]
pub struct Stop(CancellationToken);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Tells every holder to stop.
    pub fn stop(&self) {
        self.0.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once told to stop (at once if it was).
    pub async fn stopped(&self) {
        self.0.cancelled().await
    }

    /// The same signal as the token the library crates take.
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
}

/// A task `up` runs, in the shape of pingora's background services.
pub trait Service: Send + 'static {
    /// Its name in logs.
    const NAME: &'static str;

    /// Works until `stop`, then finishes what it holds and returns. An error ends the
    /// process (the other services are stopped first).
    fn run(self, stop: Stop) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A started service.
struct Running {
    id: usize,
    name: &'static str,
    stop: Stop,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The services `up` started, in the order it started them.
pub struct Services {
    running: Vec<Running>,
    started: usize,
    ended: mpsc::UnboundedSender<usize>,
    endings: mpsc::UnboundedReceiver<usize>,
}

impl Default for Services {
    fn default() -> Services {
        let (ended, endings) = mpsc::unbounded_channel();
        Services { running: Vec::new(), started: 0, ended, endings }
    }
}

impl Services {
    /// Starts `service` after those already started.
    pub fn start<S: Service>(&mut self, service: S) {
        let (stop, id) = (Stop::new(), self.started);
        self.started += 1;
        let ended = self.ended.clone();
        let run = service.run(stop.clone());
        let task = tokio::spawn(async move {
            let outcome = run.await;
            let _ = ended.send(id);
            outcome
        });
        tracing::debug!(service = S::NAME, "started");
        self.running.push(Running { id, name: S::NAME, stop, task });
    }

    /// Waits until `stopping` is told, or a service fails on its own (then its error is
    /// returned). A service that ends without an error before it is told is logged.
    pub async fn until(&mut self, stopping: &Stop) -> anyhow::Result<()> {
        loop {
            let id = tokio::select! {
                () = stopping.stopped() => return Ok(()),
                Some(id) = self.endings.recv() => id,
            };
            let Some(at) = self.running.iter().position(|r| r.id == id) else { continue };
            let ended = self.running.remove(at);
            let name = ended.name;
            match ended.task.await {
                Ok(Ok(())) => tracing::info!(service = name, "service ended"),
                Ok(Err(e)) => return Err(e.context(format!("the {name} failed"))),
                Err(e) => anyhow::bail!("the {name} failed: {e}"),
            }
        }
    }

    /// Stops the services in the reverse of the order they started: tells the last one
    /// to stop and waits until it has ended, then the one before it. Returns the first
    /// error a service ended with; every service is stopped in any case.
    pub async fn stop(self) -> anyhow::Result<()> {
        let mut first = Ok(());
        for running in self.running.into_iter().rev() {
            running.stop.stop();
            let outcome = match running.task.await {
                Ok(outcome) => outcome,
                Err(e) => Err(anyhow::anyhow!("{e}")),
            };
            match outcome {
                Ok(()) => tracing::debug!(service = running.name, "stopped"),
                Err(e) => {
                    tracing::error!(service = running.name, error = %format!("{e:#}"), "service ended with an error");
                    if first.is_ok() {
                        first = Err(e.context(format!("the {} failed", running.name)));
                    }
                }
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records when it starts stopping and when it has stopped.
    struct Recorder {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Service for Recorder {
        const NAME: &'static str = "recorder";

        async fn run(self, stop: Stop) -> anyhow::Result<()> {
            stop.stopped().await;
            self.log.lock().unwrap().push(format!("{} stopping", self.name));
            tokio::task::yield_now().await;
            self.log.lock().unwrap().push(format!("{} stopped", self.name));
            Ok(())
        }
    }

    struct Failing;

    impl Service for Failing {
        const NAME: &'static str = "failing service";

        async fn run(self, _stop: Stop) -> anyhow::Result<()> {
            anyhow::bail!("broken")
        }
    }

    #[tokio::test]
    async fn services_stop_one_by_one_in_the_reverse_of_their_start() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut services = Services::default();
        for name in ["first", "second", "third"] {
            services.start(Recorder { name, log: log.clone() });
        }
        let stopping = Stop::new();
        stopping.stop();
        services.until(&stopping).await.unwrap();
        services.stop().await.unwrap();
        let log = log.lock().unwrap().clone();
        let expected =
            ["third stopping", "third stopped", "second stopping", "second stopped", "first stopping", "first stopped"];
        assert_eq!(log, expected);
    }

    #[tokio::test]
    async fn a_failing_service_ends_the_wait_with_its_error_and_the_others_still_stop() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut services = Services::default();
        services.start(Recorder { name: "store user", log: log.clone() });
        services.start(Failing);
        let err = services.until(&Stop::new()).await.expect_err("the failure ends the wait");
        assert!(format!("{err:#}").contains("failing service failed: broken"), "{err:#}");
        services.stop().await.unwrap();
        assert_eq!(log.lock().unwrap().clone(), ["store user stopping", "store user stopped"]);
    }
}
