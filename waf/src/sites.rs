//! The sites snapshot and its handle: [`SitesHandle::apply`] checks every site of a new
//! list (names, certificates and keys, origin trust, the engine compiling its rules),
//! collects every problem with its site and field, and only when there is none swaps the
//! new [`Sites`] in at once; a refused list leaves the running one as it was. Requests
//! read the snapshot anew (one `ArcSwap` load), so a reload reaches the next request of
//! every open connection, and connections stay open.
//!
//! What a site keeps across reloads when its part of the configuration did not change:
//! its compiled rules (no recompilation), its origin pools and their health, its rate
//! limiter's state and its counters.
//!
//! Must not: be built on an async worker (compiling rules takes a while; `apply` blocks);
//! touch the store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;

use crate::engine::{Engine, SiteRules};
use crate::serve::admit::Access;
use crate::serve::metrics::SiteCounters;
use crate::serve::origin::{Origins, Trust};
use crate::site::{Site, SiteProblem};

/// One site as the proxy serves it.
pub(crate) struct Active {
    pub config: Site,
    pub rules: SiteRules,
    pub cert: Arc<CertifiedKey>,
    pub access: Access,
    pub origins: Arc<Origins>,
    pub counters: Arc<SiteCounters>,
    /// The rule settings as JSON: unchanged settings keep their compiled rules.
    rules_key: String,
}

/// Every site at one moment, by each of its names.
#[derive(Default)]
pub struct Sites {
    by_name: HashMap<String, Arc<Active>>,
    domains: Vec<String>,
    generation: u64,
}

impl Sites {
    /// The site answering to `name` (domain or alias, lower case, no port).
    pub(crate) fn find(&self, name: &str) -> Option<&Arc<Active>> {
        self.by_name.get(name)
    }

    /// The configuration of the site whose domain or alias is `name`.
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.find(name).map(|a| &a.config)
    }

    /// Each origin address of the site `name` and whether it is marked healthy now.
    pub fn origin_health(&self, name: &str) -> Vec<(std::net::SocketAddr, bool)> {
        self.find(name).map(|a| a.origins.health()).unwrap_or_default()
    }

    /// The sites' domains, sorted.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// How many snapshots were applied before this one (0 for the empty start).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn each(&self) -> impl Iterator<Item = &Arc<Active>> {
        self.domains.iter().filter_map(|d| self.by_name.get(d))
    }
}

/// Why a list of sites was refused: every problem found, by site and field.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the sites: {}", problems.len(), problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SitesError {
    pub problems: Vec<SiteProblem>,
}

/// The running sites: shared by the proxy and whoever reloads them.
#[derive(Clone)]
pub struct SitesHandle {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    current: ArcSwap<Sites>,
    trust: OnceLock<Trust>,
    /// One `apply` at a time: each builds on the one before.
    applying: std::sync::Mutex<()>,
}

impl SitesHandle {
    /// A handle with no sites, compiling rules with `engine`.
    pub fn new(engine: Arc<Engine>) -> SitesHandle {
        let inner = Inner {
            engine,
            current: ArcSwap::from_pointee(Sites::default()),
            trust: OnceLock::new(),
            applying: std::sync::Mutex::new(()),
        };
        SitesHandle { inner: Arc::new(inner) }
    }

    /// The sites now.
    pub fn load(&self) -> Arc<Sites> {
        self.inner.current.load_full()
    }

    pub(crate) fn load_guard(&self) -> arc_swap::Guard<Arc<Sites>> {
        self.inner.current.load()
    }

    /// The rule engine the sites are compiled with.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Checks and compiles `sites`, then makes them the running set at once; on any
    /// problem nothing changes and every problem is returned. Blocks while rules compile:
    /// call it from a blocking thread.
    pub fn apply(&self, sites: Vec<Site>) -> Result<Arc<Sites>, SitesError> {
        let _one_at_a_time = self.inner.applying.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.inner.current.load_full();
        let trust = self.inner.trust.get_or_init(Trust::system);
        let built = build(&self.inner.engine, trust, &previous, sites)?;
        let built = Arc::new(built);
        self.inner.current.store(Arc::clone(&built));
        tracing::info!(sites = built.domains.len(), generation = built.generation, "WAF sites applied");
        Ok(built)
    }
}

fn build(engine: &Engine, trust: &Trust, previous: &Sites, sites: Vec<Site>) -> Result<Sites, SitesError> {
    let mut problems = Vec::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    for site in &sites {
        problems.extend(site.check());
        for name in site.names() {
            if let Some(first) = owner.insert(name.to_owned(), site.domain.clone()) {
                problems.push(SiteProblem {
                    site: site.domain.clone(),
                    field: "domain".into(),
                    message: format!("{name} is already a name of site {first}"),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(SitesError { problems });
    }
    let mut by_name = HashMap::new();
    let mut domains = Vec::new();
    for site in sites {
        let before = previous.find(&site.domain).filter(|a| a.config.domain == site.domain);
        match activate(engine, trust, before, site) {
            Ok(active) => {
                let active = Arc::new(active);
                domains.push(active.config.domain.clone());
                for name in active.config.names() {
                    by_name.insert(name.to_owned(), Arc::clone(&active));
                }
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        return Err(SitesError { problems });
    }
    domains.sort();
    Ok(Sites { by_name, domains, generation: previous.generation + 1 })
}

/// Builds one site, reusing what did not change from `before`.
fn activate(
    engine: &Engine,
    trust: &Trust,
    before: Option<&Arc<Active>>,
    site: Site,
) -> Result<Active, Vec<SiteProblem>> {
    let problem =
        |field: &str, message: String| SiteProblem { site: site.domain.clone(), field: field.into(), message };
    let mut problems = Vec::new();
    let cert = crate::serve::tls::certified_key(&site.certificate_pem, &site.key_pem, site.names())
        .map_err(|(field, why)| problems.push(problem(field, why)))
        .ok();
    let rules_key = serde_json::to_string(&site.rules).unwrap_or_default();
    let rules = match before.filter(|b| b.rules_key == rules_key) {
        Some(b) => Some(b.rules.clone()),
        None => SiteRules::compile(engine, &site.domain, &site.rules)
            .map_err(|e| problems.push(problem("rules", e.to_string())))
            .ok(),
    };
    let origins = match before.filter(|b| b.config.origins == site.origins && b.config.origin_tls == site.origin_tls) {
        Some(b) => Some(Arc::clone(&b.origins)),
        None => Origins::new(&site, trust).map(Arc::new).map_err(|why| problems.push(problem("origin_tls", why))).ok(),
    };
    let (Some(cert), Some(rules), Some(origins)) = (cert, rules, origins) else {
        return Err(problems);
    };
    let access = match before {
        Some(b) if b.config.rate_limit == site.rate_limit => b.access.with_lists(&site),
        _ => Access::new(&site),
    };
    let counters = before.map(|b| Arc::clone(&b.counters)).unwrap_or_default();
    Ok(Active { config: site, rules, cert, access, origins, counters, rules_key })
}

/// The key a client is rate-limited under: its address, or its /64 for IPv6.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}
