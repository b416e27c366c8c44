//! The in-process path for observations: the data plane reports unknown addresses with
//! a non-blocking call into a bounded buffer (drops are counted, never waited on); a
//! background task merges duplicates and writes batches to the store, the same way the
//! HTTP ingest does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::{Observation, Store};

/// Where the data plane reports unknown addresses. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct ObservationSink {
    tx: mpsc::Sender<Observation>,
    counters: Arc<Counters>,
}

/// What the sink has done since start.
#[derive(Default, Debug)]
pub struct Counters {
    pub reported: AtomicU64,
    pub dropped: AtomicU64,
    pub written: AtomicU64,
    pub failed_batches: AtomicU64,
}

impl ObservationSink {
    /// Reports one sighting; if the buffer is full the sighting is dropped and counted.
    pub fn report(&self, observation: Observation) {
        self.counters.reported.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(observation).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Starts the writer: buffers up to `capacity` sightings and flushes merged batches
    /// every `every` (or sooner when a batch is full).
    pub fn spawn(store: Store, capacity: usize, every: Duration) -> ObservationSink {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        tokio::spawn(writer(store, rx, counters.clone(), every));
        ObservationSink { tx, counters }
    }
}

const BATCH: usize = 10_000;

async fn writer(store: Store, mut rx: mpsc::Receiver<Observation>, counters: Arc<Counters>, every: Duration) {
    let mut pending: HashMap<(IpAddr, String), Observation> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    loop {
        let open = tokio::select! {
            got = rx.recv() => match got {
                Some(o) => { merge(&mut pending, o); pending.len() < BATCH }
                None => false,
            },
            _ = tick.tick() => false,
        };
        if open || pending.is_empty() {
            if rx.is_closed() && pending.is_empty() {
                return;
            }
            continue;
        }
        let batch: Vec<Observation> = pending.drain().map(|(_, o)| o).collect();
        let n = batch.len() as u64;
        match store.record_observations(batch).await {
            Ok(_) => counters.written.fetch_add(n, Ordering::Relaxed),
            Err(e) => {
                tracing::error!(error = %e, lost = n, "writing observations failed");
                counters.failed_batches.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

fn merge(pending: &mut HashMap<(IpAddr, String), Observation>, o: Observation) {
    match pending.get_mut(&(o.ip, o.link.clone())) {
        Some(p) => {
            p.first_seen = p.first_seen.min(o.first_seen);
            p.last_seen = p.last_seen.max(o.last_seen);
            p.count = p.count.saturating_add(o.count);
        }
        None => {
            pending.insert((o.ip, o.link.clone()), o);
        }
    }
}
