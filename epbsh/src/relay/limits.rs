//! [`Limits`]: what one client, one session and one message may take of the listener
//! (`[limits]` of the relay's TOML), with named defaults and [`Limits::check`]. Must not:
//! hold delivery or policy settings.
//!
//! The session slots' defaults: of 200 sessions, 100 are kept for connected systems (one
//! system takes at most 20, the concurrency Postfix opens to one destination by default);
//! outside sources share the other 100, one network (/24, /64) at most 10 at once and 120
//! new connections a minute, so an outside flood needs ten networks to fill its share and
//! never reaches the systems' half.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::smtp::SessionConfig;

/// Largest `max_message_size` allowed: below the spool's largest record.
const MAX_MESSAGE_SIZE: usize = 100 << 20;

/// Protocol and resource limits of the listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest message content accepted, advertised as SIZE (default 25 MiB); larger gets
    /// 552 5.3.4.
    pub max_message_size: usize,
    /// Most recipients per message (default 100); more get 452 4.5.3.
    pub max_recipients: usize,
    /// Longest command or text line including CRLF (default 1000).
    pub max_line_length: usize,
    /// Longest wait for one whole command line, and the start of a DATA transfer's time
    /// allowance (default `5m`); not restarted by each byte. Then 421 4.4.2.
    #[serde(with = "duration::one")]
    pub idle_timeout: Duration,
    /// Slowest DATA transfer, bytes per second (default 1024): each byte received adds
    /// 1/`min_data_rate` s to the `idle_timeout` the transfer started with. Then 421 4.4.2.
    pub min_data_rate: u64,
    /// Longest session, whatever it does (default `30m`). Then 421 4.4.2.
    #[serde(with = "duration::one")]
    pub max_session_time: Duration,
    /// Concurrent SMTP sessions (default 200); more are answered 421 4.3.2 and closed.
    pub max_sessions: usize,
    /// Of `max_sessions`, how many only connected systems' servers may take (default
    /// 100): outside sources together get at most the rest, then 421 4.3.2.
    pub reserved_for_systems: usize,
    /// Concurrent sessions of one connected system, all its servers together (default
    /// 20; at most half of `reserved_for_systems`); more are answered 421 4.7.0.
    pub max_sessions_per_system: usize,
    /// Concurrent sessions from one outside network, an IPv4 /24 or an IPv6 /64 (an
    /// IPv4-mapped address counts as IPv4) (default 10); more are answered 421 4.7.0.
    pub max_sessions_per_network: usize,
    /// New connections a minute from one outside network (default 120, all at once
    /// included); more are answered 421 4.7.0.
    pub max_connection_rate_per_network: u32,
    /// Memory for messages being received, all sessions together (default 256 MiB). A
    /// message that finds none left gets 452 4.3.1 (at MAIL when its SIZE= is more than
    /// what is left, at DATA, or after the final dot).
    pub max_data_memory: usize,
    /// 5xx replies tolerated in one session before 421 (default 10).
    pub max_errors: u32,
    /// At shutdown, how long open sessions may finish a transfer under way (each gets
    /// 421 4.3.2 at its next command) before they are cut (default `30s`): then a
    /// transfer, a command line or a recipient check still open gets 421 4.3.2 (a TLS
    /// handshake is closed), and a message not yet received whole is dropped, never
    /// answered 250, so its client keeps it.
    #[serde(with = "duration::one")]
    pub shutdown_grace: Duration,
    /// Bytes the spool's file system must keep free (default 512 MiB, and never less
    /// than one and a half `max_message_size`); below it a new transaction gets 452
    /// 4.3.1 at MAIL until room is made.
    pub min_spool_free: u64,
}

impl Default for Limits {
    /// The session's own defaults ([`SessionConfig::new`]) and the slots' (module doc).
    fn default() -> Self {
        let s = SessionConfig::new("localhost");
        Self {
            max_message_size: s.max_message_size,
            max_recipients: s.max_recipients,
            max_line_length: s.max_line_length,
            idle_timeout: s.idle_timeout,
            min_data_rate: s.min_data_rate,
            max_session_time: s.max_session_time,
            max_sessions: 200,
            reserved_for_systems: 100,
            max_sessions_per_system: 20,
            max_sessions_per_network: 10,
            max_connection_rate_per_network: 120,
            max_data_memory: s.data_memory.total(),
            max_errors: s.max_errors,
            shutdown_grace: Duration::from_secs(30),
            min_spool_free: 512 << 20,
        }
    }
}

impl Limits {
    /// Reports every problem through `bad(field, problem)`.
    pub(crate) fn check(&self, bad: &mut impl FnMut(&str, &str)) {
        for (field, v) in [
            ("limits.max_message_size", self.max_message_size),
            ("limits.max_recipients", self.max_recipients),
            ("limits.max_sessions", self.max_sessions),
            ("limits.max_sessions_per_system", self.max_sessions_per_system),
            ("limits.max_sessions_per_network", self.max_sessions_per_network),
            ("limits.max_connection_rate_per_network", self.max_connection_rate_per_network as usize),
            ("limits.min_data_rate", usize::try_from(self.min_data_rate).unwrap_or(usize::MAX)),
        ] {
            if v == 0 {
                bad(field, "must be at least 1");
            }
        }
        self.check_slots(bad);
        if self.max_message_size > MAX_MESSAGE_SIZE {
            bad("limits.max_message_size", "must be at most 100 MiB (the spool's record limit is 128 MiB)");
        }
        if self.max_data_memory < self.max_message_size {
            bad("limits.max_data_memory", "must hold at least one message of limits.max_message_size");
        }
        if self.max_line_length < 512 {
            bad("limits.max_line_length", "must be at least 512");
        }
        for (field, d) in
            [("limits.idle_timeout", self.idle_timeout), ("limits.max_session_time", self.max_session_time)]
        {
            if d.is_zero() {
                bad(field, "must be more than 0s");
            }
        }
    }

    /// The slots kept for systems leave room for outside sources, and one system cannot
    /// take them all.
    fn check_slots(&self, bad: &mut impl FnMut(&str, &str)) {
        if self.reserved_for_systems >= self.max_sessions {
            bad("limits.reserved_for_systems", "must be less than limits.max_sessions (outside sources need some)");
        }
        if self.max_sessions_per_system.saturating_mul(2) > self.reserved_for_systems {
            bad(
                "limits.max_sessions_per_system",
                "must be at most half of limits.reserved_for_systems (one system cannot take them all)",
            );
        }
    }
}
