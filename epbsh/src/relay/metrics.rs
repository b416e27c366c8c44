//! Counters of the relay since start (sessions, acceptance, delivery outcomes, holds,
//! TLS), bumped with relaxed atomics on the data path and read as a [`MetricsSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters; cheap to bump from any task.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of the counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
        pub struct MetricsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Metrics {
            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// SMTP sessions started.
    sessions,
    /// Connections answered 421 because `max_sessions` were open.
    sessions_refused,
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
    /// Delivery status notifications queued.
    dsns_queued,
    /// Messages held because their system was suspended.
    messages_held,
    /// Held messages released by the duty team.
    messages_released,
    /// Held messages deleted by the duty team.
    messages_deleted,
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
