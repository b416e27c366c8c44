//! The durable spool: accepted messages are appended to checksummed segment
//! files and fsynced by a group-commit writer before [`Spool::accept`] returns.
//!
//! Layout: `record` (framing and crc32c), `codec` (payloads), `segment`
//! (files), `index` (in-memory state and compaction rule), `writer` (group
//! commit thread), `recovery` (scan on open), `fresh` (just-accepted messages
//! kept for their first read), `handle` (the public [`Spool`]).

pub(crate) mod codec;
mod error;
mod fresh;
mod handle;
mod index;
pub(crate) mod record;
mod recovery;
mod segment;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commit;
#[cfg(test)]
mod tests_recovery;
#[cfg(test)]
mod tests_requeue;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;

pub use error::{Result, SpoolError};
pub use handle::Spool;

use crate::envelope::Envelope;

/// Identifier of a spooled message, unique within a spool directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

/// Final outcome of delivery to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// Accepted by the next hop.
    Delivered,
    /// Permanently failed (bounced or abandoned).
    Failed,
}

/// Current state of one recipient of a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    /// Still to be delivered.
    Pending,
    /// Delivered.
    Delivered,
    /// Permanently failed.
    Failed,
}

impl From<RecipientOutcome> for RecipientState {
    fn from(o: RecipientOutcome) -> Self {
        match o {
            RecipientOutcome::Delivered => Self::Delivered,
            RecipientOutcome::Failed => Self::Failed,
        }
    }
}

/// Delivery attempts of a queued message: how many left recipients pending, when the
/// next is due (none: at once) and the last error a next hop gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub next_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// A message still in the queue (returned by recovery and [`Spool::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Its id.
    pub id: MessageId,
    /// Its envelope.
    pub envelope: Envelope,
    /// The message content as received (CRLF lines, dot-unstuffed).
    pub body: Bytes,
    /// One state per envelope recipient, same order.
    pub recipients: Vec<RecipientState>,
    /// Held (e.g. the sending system is suspended): not to be delivered.
    pub held: bool,
}

/// Tuning of the spool.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// Rotate to a new segment once the active one reaches this many bytes.
    pub segment_size: u64,
    /// Capacity of the bounded request channel to the writer.
    pub channel_capacity: usize,
    /// Most records in one group commit.
    pub max_batch_records: usize,
    /// Most payload bytes in one group commit (a single larger record still
    /// goes through, alone).
    pub max_batch_bytes: usize,
    /// Largest record accepted and trusted by recovery.
    pub max_record_size: u32,
    /// Minimum time between automatic compactions after messages finish.
    pub compact_interval: Duration,
    /// Bytes of just-accepted messages kept in memory for their first read.
    pub fresh_budget: usize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            segment_size: 64 << 20,
            channel_capacity: 1024,
            max_batch_records: 512,
            max_batch_bytes: 16 << 20,
            max_record_size: 128 << 20,
            compact_interval: Duration::from_secs(1),
            fresh_budget: 32 << 20,
        }
    }
}

/// Result of one compaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes they held.
    pub bytes_freed: u64,
}

/// Counters of the spool since open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// `sync_data` calls made by the writer for appends.
    pub fsyncs: u64,
    /// Group commits.
    pub batches: u64,
    /// Records appended.
    pub records: u64,
    /// Corrupt records found and skipped by recovery.
    pub corrupt_records: u64,
    /// Torn tails truncated by recovery.
    pub torn_tails: u64,
    /// Segments deleted by compaction.
    pub segments_deleted: u64,
    /// Messages still queued.
    pub live_messages: usize,
    /// Segment files (sealed and active).
    pub segments: usize,
}

/// Shared atomic counters behind [`SpoolStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub fsyncs: AtomicU64,
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub corrupt_records: AtomicU64,
    pub torn_tails: AtomicU64,
    pub segments_deleted: AtomicU64,
}

impl Stats {
    fn snapshot(&self, live_messages: usize, segments: usize) -> SpoolStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SpoolStats {
            fsyncs: get(&self.fsyncs),
            batches: get(&self.batches),
            records: get(&self.records),
            corrupt_records: get(&self.corrupt_records),
            torn_tails: get(&self.torn_tails),
            segments_deleted: get(&self.segments_deleted),
            live_messages,
            segments,
        }
    }
}
