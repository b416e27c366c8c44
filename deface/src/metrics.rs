//! Counters of the defacement service since start (cycles, files checked, findings,
//! restores, events) and the restore time, bumped with relaxed atomics, read as a
//! [`MetricsSnapshot`] and rendered in the Prometheus text format ([`render`]) to join
//! the other rooms' on `/metrics`.
//!
//! Must not: lock on the check path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds of the restore-time buckets, in milliseconds.
const BUCKETS_MS: [u64; 8] = [250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// Live counters; cheap to bump from any task.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
            restore_ms_sum: AtomicU64,
            restore_buckets: [AtomicU64; BUCKETS_MS.len()],
        }

        /// A copy of the counters at one moment.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
        pub struct MetricsSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
            /// Milliseconds spent restoring, in all.
            pub restore_ms_sum: u64,
            /// Restores that took at most each bucket's bound (cumulative).
            pub restore_buckets: Vec<(u64, u64)>,
        }

        impl Metrics {
            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                    restore_ms_sum: self.restore_ms_sum.load(Ordering::Relaxed),
                    restore_buckets: BUCKETS_MS.iter().zip(&self.restore_buckets).map(|(b, c)| (*b, c.load(Ordering::Relaxed))).collect(),
                }
            }
        }

        impl MetricsSnapshot {
            /// Every counter as (name, help, value), in declaration order.
            pub fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$((stringify!($name), concat!($($doc),*), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Checks of a site (one per site per cycle, and each check asked for).
    cycles,
    /// Files listed and compared.
    files_checked,
    /// Change sets found (put back, recorded in a window, or pages changed).
    findings,
    /// Change sets put back.
    restores,
    /// Change sets that could not be put back whole.
    restore_failures,
    /// Events recorded (unreachable, host key changed, refused names, ...).
    events,
}

impl Metrics {
    pub(crate) fn bump(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one restore that took `took`.
    pub(crate) fn restored(&self, took: Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.restores.fetch_add(1, Ordering::Relaxed);
        self.restore_ms_sum.fetch_add(ms, Ordering::Relaxed);
        for (bound, count) in BUCKETS_MS.iter().zip(&self.restore_buckets) {
            if ms <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The Prometheus text exposition: `deface_<name>_total` counters and the
/// `deface_restore_seconds` histogram.
pub fn render(m: &MetricsSnapshot) -> String {
    let mut out = String::with_capacity(2048);
    for (name, help, value) in m.counters() {
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(out, "# HELP deface_{name}_total {help}\n# TYPE deface_{name}_total counter");
        let _ = writeln!(out, "deface_{name}_total {value}");
    }
    let _ = writeln!(out, "# HELP deface_restore_seconds Time from a finding to its files put back.");
    let _ = writeln!(out, "# TYPE deface_restore_seconds histogram");
    for (bound, count) in &m.restore_buckets {
        let _ = writeln!(out, "deface_restore_seconds_bucket{{le=\"{}\"}} {count}", *bound as f64 / 1000.0);
    }
    let _ = writeln!(out, "deface_restore_seconds_bucket{{le=\"+Inf\"}} {}", m.restores);
    let _ = writeln!(out, "deface_restore_seconds_sum {}", m.restore_ms_sum as f64 / 1000.0);
    let _ = writeln!(out, "deface_restore_seconds_count {}", m.restores);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_fall_into_their_buckets_and_render() {
        let m = Metrics::default();
        m.restored(Duration::from_millis(300));
        m.restored(Duration::from_secs(20));
        m.bump(&m.cycles, 3);
        let s = m.snapshot();
        assert_eq!(s.restores, 2);
        assert_eq!(s.restore_buckets[0], (250, 0));
        assert_eq!(s.restore_buckets[1], (500, 1));
        assert_eq!(s.restore_buckets[6], (30_000, 2));
        let text = render(&s);
        assert!(text.contains("deface_cycles_total 3"), "{text}");
        assert!(text.contains("deface_restore_seconds_bucket{le=\"0.5\"} 1"), "{text}");
        assert!(text.contains("deface_restore_seconds_count 2"), "{text}");
    }
}
