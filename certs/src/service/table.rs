//! Shared state of the forge service: cache, in-flight forges, counters,
//! and the signing threads' loop.
//!
//! Lives here: lookup-or-join (one lock covers the cache and the in-flight
//! map, so concurrent misses for one key start exactly one forge), and
//! completion, which caches a success and answers every waiter. Must not:
//! sign while holding the table lock, or drop waiters unanswered.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;

use crate::cache::ClockCache;
use crate::{Clock, Fingerprint, ForgeError, Forger, RootCa, UpstreamCert};

/// A cached leaf is not served within this margin of its expiry.
const EXPIRY_MARGIN: Duration = Duration::minutes(5);

type Outcome = Result<Arc<CertifiedKey>, ForgeError>;
type Waiter = oneshot::Sender<Outcome>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub host: String,
    pub root: Fingerprint,
    pub upstream: Fingerprint,
}

struct Entry {
    leaf: Arc<CertifiedKey>,
    not_after: OffsetDateTime,
}

struct Table {
    cache: ClockCache<CacheKey, Entry>,
    inflight: HashMap<CacheKey, Vec<Waiter>>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub coalesced: AtomicU64,
    pub forged: AtomicU64,
    pub failures: AtomicU64,
    pub evictions: AtomicU64,
}

pub(super) struct Shared {
    table: Mutex<Table>,
    root: RwLock<Arc<RootCa>>,
    pub forger: Forger,
    clock: Clock,
    pub counters: Counters,
}

pub(super) struct Job {
    pub key: CacheKey,
    pub root: Arc<RootCa>,
    /// The verified origin certificate to mirror; `None` for a leaf that only
    /// carries the gateway's own page (see `LeafForge::page_key`).
    pub upstream: Option<Vec<u8>>,
}

pub(super) enum Lookup {
    Hit(Arc<CertifiedKey>),
    Wait(oneshot::Receiver<Outcome>),
    Lead(oneshot::Receiver<Outcome>),
}

impl Shared {
    pub(super) fn new(root: Arc<RootCa>, cache_capacity: usize, forger: Forger, clock: Clock) -> Self {
        Self {
            table: Mutex::new(Table { cache: ClockCache::new(cache_capacity), inflight: HashMap::new() }),
            root: RwLock::new(root),
            forger,
            clock,
            counters: Counters::default(),
        }
    }

    pub(super) fn current_root(&self) -> Arc<RootCa> {
        Arc::clone(&self.root.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn set_root(&self, root: Arc<RootCa>) {
        *self.root.write().unwrap_or_else(PoisonError::into_inner) = root;
    }

    pub(super) fn cached(&self) -> usize {
        self.table().cache.len()
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn lookup_or_join(&self, key: &CacheKey) -> Lookup {
        let now = (self.clock)();
        let mut table = self.table();
        match table.cache.get(key) {
            Some(e) if e.not_after - EXPIRY_MARGIN > now => {
                self.counters.hits.fetch_add(1, Relaxed);
                return Lookup::Hit(Arc::clone(&e.leaf));
            }
            Some(_) => table.cache.remove(key),
            None => {}
        }
        let (tx, rx) = oneshot::channel();
        if let Some(waiters) = table.inflight.get_mut(key) {
            waiters.push(tx);
            self.counters.coalesced.fetch_add(1, Relaxed);
            return Lookup::Wait(rx);
        }
        table.inflight.insert(key.clone(), vec![tx]);
        self.counters.misses.fetch_add(1, Relaxed);
        Lookup::Lead(rx)
    }

    /// Caches a success and answers every caller waiting on `key`.
    pub(super) fn complete(&self, key: &CacheKey, result: Result<(CertifiedKey, OffsetDateTime), ForgeError>) {
        let outcome = result.map(|(leaf, not_after)| (Arc::new(leaf), not_after));
        let waiters = {
            let mut table = self.table();
            if let Ok((leaf, not_after)) = &outcome {
                let entry = Entry { leaf: Arc::clone(leaf), not_after: *not_after };
                if table.cache.insert(key.clone(), entry) {
                    self.counters.evictions.fetch_add(1, Relaxed);
                }
            }
            table.inflight.remove(key).unwrap_or_default()
        };
        let counter = match &outcome {
            Ok(_) => &self.counters.forged,
            Err(_) => &self.counters.failures,
        };
        counter.fetch_add(1, Relaxed);
        let outcome = outcome.map(|(leaf, _)| leaf);
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

/// Runs signing jobs until the service is dropped and the queue drained.
/// A panic while forging is answered as `WorkerLost` and the thread lives on.
pub(super) fn worker_loop(shared: &Shared, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| forge_job(shared, &job))).unwrap_or(Err(ForgeError::WorkerLost));
        shared.complete(&job.key, result);
    }
}

/// How long a leaf for the gateway's own page is valid.
const PAGE_VALIDITY: Duration = Duration::hours(1);

/// Parses the upstream certificate and forges; runs on a signing thread.
fn forge_job(shared: &Shared, job: &Job) -> Result<(CertifiedKey, OffsetDateTime), ForgeError> {
    let upstream = match &job.upstream {
        Some(der) => UpstreamCert::parse(der)?,
        None => page_names(&job.key, (shared.clock)()),
    };
    shared.forger.forge_parsed(&job.root, &job.key.host, &upstream)
}

/// What a leaf for the gateway's own page names: the host alone, for an hour.
fn page_names(key: &CacheKey, now: OffsetDateTime) -> UpstreamCert {
    let (dns_names, ip_addrs) = match key.host.parse::<std::net::IpAddr>() {
        Ok(ip) => (Vec::new(), vec![ip]),
        Err(_) => (vec![key.host.clone()], Vec::new()),
    };
    let (not_before, not_after) = (now - PAGE_VALIDITY, now + PAGE_VALIDITY);
    UpstreamCert { dns_names, ip_addrs, not_before, not_after, fingerprint: key.upstream }
}
