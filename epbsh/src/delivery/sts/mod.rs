//! MTA-STS (RFC 8461) for deliveries by MX: a recipient domain's `_mta-sts` TXT record
//! names a policy id; the policy is fetched over HTTPS from `mta-sts.DOMAIN` (certificate
//! verified against the system roots and `delivery.ca_file`, no redirect followed, at
//! most 64 KiB) and cached for its `max_age`, fetched again when the id changes. A domain
//! with an `enforce` policy gets its mail only from an MX host its `mx` lines name, over
//! STARTTLS with a certificate valid for that host; anything else is not delivered to
//! (the message is deferred). `testing` only counts. Results per destination domain are
//! kept for TLS-RPT (`report`).
//!
//! Files: `policy` (our parsers, pure), `fetch` (HTTPS), `report` (counts, TLS-RPT JSON).
//! Must not: follow a redirect, accept an unverified certificate for the policy host, or
//! let a failed fetch weaken a cached policy still in force.

mod fetch;
pub mod policy;
pub mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

pub use policy::{Mode, Policy};
pub use report::{TlsCounts, TlsReport};

use super::resolve::Resolver;

/// Policies kept at most; when full, expired ones go, then all.
const MAX_CACHED: usize = 10_000;

struct Cached {
    id: String,
    policy: Arc<Policy>,
    until: Instant,
}

/// The MTA-STS state of the delivery side.
pub(crate) struct Sts {
    cache: Mutex<HashMap<String, Cached>>,
    fetcher: Option<fetch::Fetcher>,
    pub counts: report::Counts,
}

impl Sts {
    /// `tls`: the verified client configuration for policy hosts (none: MTA-STS off).
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>, port: u16, timeout: Duration) -> Sts {
        let fetcher = tls.map(|tls| fetch::Fetcher { tls, port, timeout });
        Sts { cache: Mutex::new(HashMap::new()), fetcher, counts: report::Counts::default() }
    }

    fn cached(&self, domain: &str) -> Option<(String, Arc<Policy>)> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(domain).filter(|c| c.until > Instant::now()).map(|c| (c.id.clone(), c.policy.clone()))
    }

    fn keep(&self, domain: &str, id: &str, policy: Arc<Policy>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        let until = Instant::now() + policy.max_age;
        cache.insert(domain.to_string(), Cached { id: id.to_string(), policy, until });
    }

    /// The policy in force for `domain`, if any (`mode: none` counts as none).
    pub async fn policy(&self, domain: &str, resolver: &Resolver) -> Option<Arc<Policy>> {
        let fetcher = self.fetcher.as_ref()?;
        let cached = self.cached(domain);
        let id = match resolver.txt(&format!("_mta-sts.{domain}.")).await {
            Ok(texts) => {
                let ids: Vec<&str> = texts.iter().filter_map(|t| policy::record_id(t)).collect();
                match ids.as_slice() {
                    [id] => Some(id.to_string()),
                    _ => None,
                }
            }
            Err(_) => None,
        };
        let found = match (id, cached) {
            (Some(id), Some((cid, p))) if id == cid => Some(p),
            (Some(id), cached) => match fetcher.get(domain, resolver).await {
                Ok(p) => {
                    let p = Arc::new(p);
                    self.keep(domain, &id, p.clone());
                    Some(p)
                }
                Err(e) => {
                    tracing::info!(domain, error = %e, "MTA-STS policy fetch failed");
                    self.counts.fetch_failed(domain);
                    cached.map(|(_, p)| p)
                }
            },
            (None, cached) => cached.map(|(_, p)| p),
        };
        found.filter(|p| p.mode != Mode::None)
    }
}
