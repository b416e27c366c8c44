//! The sending half of the observation sink: the data plane reports unknown source
//! addresses with a non-blocking call into a bounded buffer; a full buffer drops the
//! sighting and counts it, it never waits. The receiving half (merging, writing to the
//! store) belongs to the control plane.
//!
//! Must not: block, allocate without bound, or know where observations end up.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// One sighting of an address the catalog lacks, seen on an operator's link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub ip: IpAddr,
    pub link: String,
    /// Unix milliseconds.
    pub first_seen: i64,
    /// Unix milliseconds.
    pub last_seen: i64,
    #[serde(default = "one")]
    pub count: i64,
}

fn one() -> i64 {
    1
}

impl Observation {
    /// One sighting of `ip` on `link`, now.
    pub fn now(ip: IpAddr, link: &str) -> Observation {
        let now = now_ms();
        Observation { ip, link: link.to_owned(), first_seen: now, last_seen: now, count: 1 }
    }
}

/// Where the data plane reports unknown addresses. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct ObservationSink {
    tx: mpsc::Sender<Observation>,
    counters: Arc<SinkCounters>,
}

/// What the sink has done since start; the receiving half adds what it wrote.
#[derive(Default, Debug)]
pub struct SinkCounters {
    pub reported: AtomicU64,
    pub dropped: AtomicU64,
    pub written: AtomicU64,
    pub failed_batches: AtomicU64,
    /// New addresses the store did not keep: their operator had as many as it keeps.
    pub over_limit: AtomicU64,
}

impl ObservationSink {
    /// A sink buffering up to `capacity` sightings, the receiver that drains it and the
    /// counters both halves share.
    pub fn channel(capacity: usize) -> (ObservationSink, mpsc::Receiver<Observation>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ObservationSink { tx, counters: Arc::default() }, rx)
    }

    /// Reports one sighting; if the buffer is full the sighting is dropped and counted.
    pub fn report(&self, observation: Observation) {
        self.counters.reported.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(observation).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters shared with the receiving half.
    pub fn counters(&self) -> &Arc<SinkCounters> {
        &self.counters
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_waiting() {
        let (sink, mut rx) = ObservationSink::channel(2);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..5 {
            sink.report(Observation::now(ip, "link-a"));
        }
        assert_eq!(sink.counters().reported.load(Ordering::Relaxed), 5);
        assert_eq!(sink.counters().dropped.load(Ordering::Relaxed), 3);
        assert_eq!(rx.try_recv().unwrap().link, "link-a");
    }
}
