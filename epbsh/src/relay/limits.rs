//! [`Limits`]: what one client, one session and one message may take of the listener
//! (`[limits]` of the relay's TOML), with named defaults and [`Limits::check`]. Must not:
//! hold delivery or policy settings.

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
    /// Concurrent sessions from one client address, an IPv6 /64 counting as one (default
    /// 20); more are answered 421 4.7.0 and closed.
    pub max_sessions_per_address: usize,
    /// Memory for messages being received, all sessions together (default 256 MiB). A
    /// message that finds none left gets 452 4.3.1 (at MAIL when its SIZE= is more than
    /// what is left, at DATA, or after the final dot).
    pub max_data_memory: usize,
    /// 5xx replies tolerated in one session before 421 (default 10).
    pub max_errors: u32,
    /// At shutdown, how long open sessions may finish a transfer under way (each gets
    /// 421 4.3.2 at its next command) before they are cut (default `30s`).
    #[serde(with = "duration::one")]
    pub shutdown_grace: Duration,
    /// Bytes the spool's file system must keep free (default 512 MiB, and never less
    /// than one and a half `max_message_size`); below it a new transaction gets 452
    /// 4.3.1 at MAIL until room is made.
    pub min_spool_free: u64,
}

impl Default for Limits {
    /// The session's own defaults ([`SessionConfig::new`]), 200 sessions, 20 per address.
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
            max_sessions_per_address: 20,
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
            ("limits.max_sessions_per_address", self.max_sessions_per_address),
            ("limits.min_data_rate", usize::try_from(self.min_data_rate).unwrap_or(usize::MAX)),
        ] {
            if v == 0 {
                bad(field, "must be at least 1");
            }
        }
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
}
