//! Counters of the relay since start (sessions, refusals, acceptance, delivery outcomes,
//! reports, holds, TLS), bumped with relaxed atomics on the data path, read as a
//! [`MetricsSnapshot`] and rendered in the Prometheus text format ([`render`]) to join
//! the proxy's on `/metrics`. Must not: lock or allocate on the data path (only the
//! snapshot and the rendering allocate).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// Live counters; cheap to bump from any task.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        /// A copy of the counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
        pub struct MetricsSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Metrics {
            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
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
    /// SMTP sessions started.
    sessions,
    /// Connections answered 421 because every slot their kind of source may take was open
    /// (`max_sessions`, or the outside share of it).
    sessions_refused,
    /// Connections answered 421 because their outside network had
    /// `max_sessions_per_network` open or connected faster than its rate.
    sessions_refused_per_network,
    /// Connections answered 421 because their connected system had
    /// `max_sessions_per_system` open.
    sessions_refused_per_system,
    /// Recipients refused at RCPT (relaying, verification, limits, suspension).
    recipients_refused,
    /// Messages refused at DATA or after the final dot (size, line endings, NUL, hops,
    /// memory, suspension).
    messages_refused,
    /// Messages answered 250 (after fsync).
    messages_accepted,
    /// Recipients the next hop accepted.
    recipients_delivered,
    /// Recipient attempts that ended with a temporary failure.
    recipients_deferred,
    /// Recipients that failed permanently (5xx or unroutable).
    recipients_failed,
    /// Recipients given up after the queue lifetime.
    recipients_expired,
    /// Delivery status notifications queued (to senders of connected systems).
    dsns_queued,
    /// Failures not reported to the sender: mail that came from outside (no backscatter).
    dsns_suppressed,
    /// Messages held because their system was suspended.
    messages_held,
    /// Held messages released by the duty team.
    messages_released,
    /// Held messages deleted by the duty team.
    messages_deleted,
    /// Recipient verification probes sent to connected systems' servers.
    verify_probes,
    /// Outbound TLS sessions with a verified certificate.
    tls_verified,
    /// Outbound TLS sessions whose certificate could not be verified.
    tls_unverified,
    /// Outbound sessions in clear (no STARTTLS offered).
    tls_none,
    /// Transactions sent over a reused connection.
    connections_reused,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What the queue holds now, for the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueGauges {
    /// Messages queued (held and deferred included).
    pub queued: u64,
    /// Messages held for suspended systems.
    pub held: u64,
    /// Messages waiting for a retry.
    pub deferred: u64,
}

/// The Prometheus text exposition of the counters (`epbsh_<name>_total`) and the queue
/// gauges (`epbsh_queue_messages{state=...}`).
pub fn render(counters: &MetricsSnapshot, queue: QueueGauges) -> String {
    let mut out = String::with_capacity(4096);
    for (name, help, value) in counters.counters() {
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(out, "# HELP epbsh_{name}_total {help}\n# TYPE epbsh_{name}_total counter");
        let _ = writeln!(out, "epbsh_{name}_total {value}");
    }
    let _ = writeln!(out, "# HELP epbsh_queue_messages Messages in the relay's queue now, by state.");
    let _ = writeln!(out, "# TYPE epbsh_queue_messages gauge");
    for (state, v) in [("queued", queue.queued), ("held", queue.held), ("deferred", queue.deferred)] {
        let _ = writeln!(out, "epbsh_queue_messages{{state=\"{state}\"}} {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_and_the_gauges() {
        let m = Metrics::default();
        bump(&m.sessions);
        bump(&m.dsns_suppressed);
        let text = render(&m.snapshot(), QueueGauges { queued: 3, held: 1, deferred: 2 });
        assert!(text.contains("# HELP epbsh_sessions_total SMTP sessions started.\n"), "{text}");
        assert!(text.contains("# TYPE epbsh_sessions_total counter\nepbsh_sessions_total 1\n"), "{text}");
        assert!(text.contains("epbsh_dsns_suppressed_total 1\n"), "{text}");
        assert!(text.contains("epbsh_messages_accepted_total 0\n"), "{text}");
        assert!(text.contains("epbsh_queue_messages{state=\"held\"} 1\n"), "{text}");
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, m.snapshot().counters().len() + 3);
        for line in text.lines() {
            assert!(!line.contains("  "), "one-line help: {line:?}");
        }
    }
}
