//! The receiving half of the observation sink: the data plane reports unknown
//! addresses into a bounded buffer ([`snapshot::ObservationSink`]); the writer here
//! merges duplicates and writes batches to the store, the same way the HTTP ingest does.
//!
//! Must not: hold more than one batch of merged sightings; a failed batch is logged
//! and counted, not retried without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use snapshot::observe::SinkCounters;
use snapshot::{Observation, ObservationSink};
use tokio::sync::mpsc;

use store::Store;

/// A sink whose sightings reach `store`: buffers up to `capacity` and writes merged
/// batches every `every` (or sooner when a batch is full). The writer ends when every
/// clone of the sink is dropped, after writing what it holds.
pub fn spawn_sink(store: Store, capacity: usize, every: Duration) -> ObservationSink {
    let (sink, rx) = ObservationSink::channel(capacity);
    tokio::spawn(writer(store, rx, Arc::clone(sink.counters()), every));
    sink
}

const BATCH: usize = 10_000;

async fn writer(store: Store, mut rx: mpsc::Receiver<Observation>, counters: Arc<SinkCounters>, every: Duration) {
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
