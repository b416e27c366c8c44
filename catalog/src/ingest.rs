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
use snapshot::{Net, Observation, ObservationSink};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use store::Store;

/// A sink whose sightings reach `store`: buffers up to `capacity` and writes merged
/// batches every `every` (or sooner when a batch is full). The writer ends when every
/// clone of the sink is dropped, after writing what it holds.
/// Sightings of `own` addresses (the gateway's own) are never written.
pub fn spawn_sink(store: Store, capacity: usize, every: Duration, own: Vec<IpAddr>) -> ObservationSink {
    let (sink, writer) = sink(store, capacity, every, own);
    tokio::spawn(writer.run(CancellationToken::new()));
    sink
}

/// A sink and its writer, to be run by the caller ([`Writer::run`]).
pub fn sink(store: Store, capacity: usize, every: Duration, own: Vec<IpAddr>) -> (ObservationSink, Writer) {
    let (sink, rx) = ObservationSink::channel(capacity);
    let counters = Arc::clone(sink.counters());
    (sink, Writer { store, rx, counters, every, own })
}

/// The writing half of a sink.
pub struct Writer {
    store: Store,
    rx: mpsc::Receiver<Observation>,
    counters: Arc<SinkCounters>,
    every: Duration,
    own: Vec<IpAddr>,
}

impl Writer {
    /// Writes merged batches until every clone of the sink is dropped or `stop`; then
    /// writes what it holds (the sightings already received included) and returns.
    pub async fn run(mut self, stop: CancellationToken) {
        writer(&self.store, &mut self.rx, &self.counters, (self.every, &self.own), &stop).await
    }
}

const BATCH: usize = 10_000;

/// The earliest plausible sighting, in Unix milliseconds (1973-03-03): a smaller value
/// is almost certainly Unix seconds sent where milliseconds belong.
pub const EARLIEST_MS: i64 = 100_000_000_000;

/// How far ahead of the clock a sighting may be, in milliseconds (clock skew).
const FUTURE_MS: i64 = 86_400_000;

/// Why a sighting is refused before it reaches the store, if it is: an address that
/// can never be a user's source (reserved ranges, the gateway's own addresses) or
/// times that cannot be milliseconds of a real sighting.
pub fn screen(o: &Observation, own: &[IpAddr], now_ms: i64) -> Result<(), String> {
    let ip = match o.ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(o.ip, IpAddr::V4),
        v4 => v4,
    };
    if let Some(r) = Net::host(ip).reserved_overlap() {
        return Err(format!("{ip}: a {} address ({}) is never a user's source", r.name, r.cidr));
    }
    if own.contains(&ip) {
        return Err(format!("{ip}: the gateway's own address is never a user's source"));
    }
    for (name, t) in [("first_seen", o.first_seen), ("last_seen", o.last_seen)] {
        if t < EARLIEST_MS {
            return Err(format!("{ip}: {name} {t} is before 1973; send Unix milliseconds or RFC 3339, not seconds"));
        }
        if t > now_ms + FUTURE_MS {
            return Err(format!("{ip}: {name} is more than a day in the future"));
        }
    }
    Ok(())
}

async fn writer(
    store: &Store,
    rx: &mut mpsc::Receiver<Observation>,
    counters: &SinkCounters,
    (every, own): (Duration, &[IpAddr]),
    stop: &CancellationToken,
) {
    let mut pending: HashMap<(IpAddr, String), Observation> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    // Whether the channel is closed and empty: every sighting sent has been received.
    let mut drained = false;
    loop {
        let open = tokio::select! {
            got = rx.recv() => match got {
                Some(o) => match screen(&o, own, store::now_ms()) {
                    Ok(()) => { merge(&mut pending, o); pending.len() < BATCH }
                    Err(why) => {
                        tracing::warn!(reason = %why, "a gateway reported a sighting that is never a user's source; dropped");
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                },
                None => { drained = true; false }
            },
            _ = tick.tick() => false,
            // Nothing more is accepted; what the gateways sent before is written.
            _ = stop.cancelled(), if !rx.is_closed() => { rx.close(); true }
        };
        if open || pending.is_empty() {
            if drained && pending.is_empty() {
                return;
            }
            continue;
        }
        let batch: Vec<Observation> = pending.drain().map(|(_, o)| o).collect();
        let n = batch.len() as u64;
        match store.record_observations(batch).await {
            Ok(report) if report.over_limit > 0 => {
                tracing::warn!(
                    not_kept = report.over_limit,
                    "unknown addresses not kept: their operator already has as many as the catalog keeps \
                     (sources spoofed on a link?)"
                );
                counters.over_limit.fetch_add(report.over_limit as u64, Ordering::Relaxed);
                counters.written.fetch_add(n.saturating_sub(report.over_limit as u64), Ordering::Relaxed)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(ip: &str, t: i64) -> Observation {
        Observation { ip: ip.parse().unwrap(), link: "l".into(), first_seen: t, last_seen: t, count: 1 }
    }

    #[test]
    fn reserved_own_and_implausible_sightings_are_refused() {
        let now = 1_764_600_000_000;
        let own: Vec<IpAddr> = vec!["198.51.100.1".parse().unwrap()];
        assert!(screen(&sighting("198.51.100.7", now), &own, now).is_ok());
        for (ip, t, why) in [
            ("127.0.0.1", now, "loopback"),
            ("::1", now, "loopback"),
            ("::ffff:127.0.0.1", now, "loopback"),
            ("169.254.1.1", now, "link-local"),
            ("224.0.0.1", now, "multicast"),
            ("0.0.0.0", now, "unspecified"),
            ("198.51.100.1", now, "own address"),
            ("198.51.100.7", 1_764_600_000, "not seconds"),
            ("198.51.100.7", now + 2 * 86_400_000, "future"),
        ] {
            let err = screen(&sighting(ip, t), &own, now).expect_err(ip);
            assert!(err.contains(why), "{ip}: {err}");
        }
    }
}
