//! [`LeafForge`]: the async, cached, single-flight front of leaf forging.
//!
//! Lives here: the forge service. Signing runs on the service's own
//! threads, never on the caller's async workers. A cache hit is answered
//! inline (no signing, no thread hop); concurrent misses for the same key
//! share one forge. Leaves for the gateway's own refusal page
//! ([`LeafForge::page_key`]) name the host alone. Must not: forge for
//! upstream certificates the caller has not verified (see
//! [`LeafForge::certified_key`]), or block async callers on signing.

mod config;
mod table;

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;

use rustls::sign::CertifiedKey;

pub use config::{ForgeConfig, ForgeStats};
use table::{CacheKey, Job, Lookup, Shared, worker_loop};

use crate::names::Host;
use crate::{Fingerprint, ForgeError, Forger, RootCa};

/// What a page leaf is cached under in place of an origin certificate's fingerprint.
const PAGE_MARK: &[u8] = b"the gateway's own page";

/// Async, cached leaf forging on dedicated signing threads.
pub struct LeafForge {
    shared: Arc<Shared>,
    jobs: SyncSender<Job>,
}

impl fmt::Debug for LeafForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafForge").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl LeafForge {
    /// Starts the service with `root` as the signing root. Signing threads
    /// stop once the service is dropped and their queue is drained.
    pub fn new(root: Arc<RootCa>, cfg: ForgeConfig) -> Result<Self, ForgeError> {
        let forger = Forger::new(cfg.policy, Arc::clone(&cfg.clock));
        let shared = Arc::new(Shared::new(root, cfg.cache_capacity, forger, cfg.clock));
        let (tx, rx) = mpsc::sync_channel(cfg.queue_depth.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..cfg.threads.max(1) {
            let (shared, rx) = (Arc::clone(&shared), Arc::clone(&rx));
            thread::Builder::new()
                .name(format!("leaf-forge-{i}"))
                .spawn(move || worker_loop(&shared, &rx))
                .map_err(|e| ForgeError::Spawn { reason: e.to_string() })?;
        }
        Ok(Self { shared, jobs: tx })
    }

    /// A leaf for `host` that mirrors the upstream certificate, signed by
    /// the current root; chain is leaf + root.
    ///
    /// Contract: `upstream_der` is the origin's end-entity certificate that
    /// the caller has ALREADY verified (chain to its trust store, validity,
    /// and valid for `host`). This crate never verifies upstream trust; it
    /// only copies names and validity, and refuses hosts those names do not
    /// cover. Forging for an unverified certificate would forge trust.
    pub async fn certified_key(&self, host: &str, upstream_der: &[u8]) -> Result<Arc<CertifiedKey>, ForgeError> {
        let host = Host::parse(host)?.text();
        let root = self.shared.current_root();
        let key = CacheKey { host, root: root.fingerprint(), upstream: Fingerprint::of_der(upstream_der) };
        let rx = match self.shared.lookup_or_join(&key) {
            Lookup::Hit(leaf) => return Ok(leaf),
            Lookup::Wait(rx) => rx,
            Lookup::Lead(rx) => {
                self.submit(Job { key, root, upstream: Some(upstream_der.to_vec()) });
                rx
            }
        };
        rx.await.unwrap_or(Err(ForgeError::WorkerLost))
    }

    /// A leaf for `host` that carries only the gateway's own answer (the page
    /// refusing a host the policy denies, decided before any origin is
    /// contacted): no origin certificate was seen, so it names `host` alone
    /// and is valid for an hour; cached like the others.
    ///
    /// Contract: the connection it completes is never relayed to an origin;
    /// it serves the gateway's page and nothing else.
    pub async fn page_key(&self, host: &str) -> Result<Arc<CertifiedKey>, ForgeError> {
        let host = Host::parse(host)?.text();
        let root = self.shared.current_root();
        let key = CacheKey { host, root: root.fingerprint(), upstream: Fingerprint::of_der(PAGE_MARK) };
        let rx = match self.shared.lookup_or_join(&key) {
            Lookup::Hit(leaf) => return Ok(leaf),
            Lookup::Wait(rx) => rx,
            Lookup::Lead(rx) => {
                self.submit(Job { key, root, upstream: None });
                rx
            }
        };
        rx.await.unwrap_or(Err(ForgeError::WorkerLost))
    }

    fn submit(&self, job: Job) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => self.shared.complete(&job.key, Err(ForgeError::Overloaded)),
            Err(TrySendError::Disconnected(job)) => self.shared.complete(&job.key, Err(ForgeError::Shutdown)),
        }
    }

    /// Switches the signing root (e.g. after rotation). Leaves cached under
    /// the old root are no longer served and age out of the cache.
    pub fn set_root(&self, root: Arc<RootCa>) {
        self.shared.set_root(root);
    }

    /// Fingerprint of the root new leaves are signed by.
    pub fn root_fingerprint(&self) -> Fingerprint {
        self.shared.current_root().fingerprint()
    }

    /// How many leaf keys have been created so far.
    pub fn key_generations(&self) -> u64 {
        self.shared.forger.key_generations()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> ForgeStats {
        let c = &self.shared.counters;
        ForgeStats {
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            coalesced: c.coalesced.load(Relaxed),
            forged: c.forged.load(Relaxed),
            failures: c.failures.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            cached: self.shared.cached(),
        }
    }
}
