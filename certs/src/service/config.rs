//! Settings and counters of the forge service.
//!
//! Lives here: [`ForgeConfig`] (threads, cache capacity, queue depth, leaf
//! policy, clock) and [`ForgeStats`] (counters for metrics). Must not: hold
//! runtime state; the service owns that.

use std::fmt;

use crate::{Clock, LeafPolicy, system_clock};

/// Settings of the forge service.
#[derive(Clone)]
pub struct ForgeConfig {
    /// Signing threads (at least 1).
    pub threads: usize,
    /// Most forged leaves kept in the cache (at least 1).
    pub cache_capacity: usize,
    /// Most signing jobs queued before callers get `Overloaded`.
    pub queue_depth: usize,
    /// Leaf validity and key rotation limits.
    pub policy: LeafPolicy,
    /// Time source (tests inject one).
    pub clock: Clock,
}

impl Default for ForgeConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            cache_capacity: 10_000,
            queue_depth: 1024,
            policy: LeafPolicy::default(),
            clock: system_clock(),
        }
    }
}

impl fmt::Debug for ForgeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeConfig")
            .field("threads", &self.threads)
            .field("cache_capacity", &self.cache_capacity)
            .field("queue_depth", &self.queue_depth)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Counters for metrics. All are totals since start, except `cached`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForgeStats {
    /// Answered from the cache.
    pub hits: u64,
    /// Not in the cache; started a forge.
    pub misses: u64,
    /// Not in the cache; joined a forge already running for the same key.
    pub coalesced: u64,
    /// Leaves forged successfully.
    pub forged: u64,
    /// Forges that failed.
    pub failures: u64,
    /// Cache entries evicted for capacity.
    pub evictions: u64,
    /// Leaves currently cached.
    pub cached: usize,
}
