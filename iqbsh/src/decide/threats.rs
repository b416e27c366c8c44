//! The threat feeds as the proxy reads them (rule 7): [`ThreatsHandle`] holds
//! the current [`ThreatDb`], replaced whole when the feeds reload (readers load
//! it without a lock) and announced to open tunnels; the checks turn a listed
//! host, URL or destination address into a [`Denial`] before any byte moves.
//!
//! Hosts in `malware` and `phishing` are denied for every organisation and are
//! never exempt: the explicit proxy checks the `CONNECT` host, the TLS path the
//! ClientHello's name (spliced connections too), every bumped or plain request
//! its URL, and the resolver every address it would connect to.
//!
//! Must not: load or parse feeds (the control plane does, through `replace`).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use policies::threat::{ThreatDb, ThreatHit};
use tokio::sync::watch;

use crate::decide::denial::{Denial, DenyKind};
use crate::report::accesslog::Record;

/// The current threat database; cheap to clone, clones share.
#[derive(Clone)]
pub struct ThreatsHandle {
    db: Arc<ArcSwap<ThreatDb>>,
    generation: Arc<watch::Sender<u64>>,
}

impl fmt::Debug for ThreatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreatsHandle")
    }
}

impl Default for ThreatsHandle {
    fn default() -> Self {
        Self::new(ThreatDb::default())
    }
}

impl ThreatsHandle {
    /// A handle holding `db`.
    pub fn new(db: ThreatDb) -> Self {
        Self { db: Arc::new(ArcSwap::from_pointee(db)), generation: Arc::new(watch::channel(0).0) }
    }

    /// The database now.
    pub fn current(&self) -> Arc<ThreatDb> {
        self.db.load_full()
    }

    /// Swaps in `db`; requests from now on and open tunnels see it.
    pub fn replace(&self, db: ThreatDb) {
        self.db.store(Arc::new(db));
        self.generation.send_modify(|g| *g += 1);
    }

    /// Changes after every `replace`.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Resolves once `host` or `addr` is listed (checked now and after every reload); for open tunnels.
    pub(crate) async fn listed(&self, host: String, addr: Option<IpAddr>) -> Denial {
        let mut changes = self.subscribe();
        loop {
            let db = self.current();
            if let Some(denial) = host_denial(&db, &host).or_else(|| addr.and_then(|a| addr_denial(&db, &host, a))) {
                return denial;
            }
            if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

fn denial(hit: &ThreatHit, what: String) -> Denial {
    let reason = format!(
        "{what} is listed as {} by the threat feed {} ({}); it is denied for every organisation",
        hit.category, hit.feed, hit.entry
    );
    Denial::new(DenyKind::ThreatFeed, reason)
}

/// A denial when `host` (a name or an address literal) is listed.
pub(crate) fn host_denial(db: &ThreatDb, host: &str) -> Option<Denial> {
    db.host(host).map(|hit| denial(&hit, host.to_owned()))
}

/// The denial of a request to `host` (or to `url`, when given) if the feeds
/// list it; its threat category goes into the record's categories.
pub(crate) fn threat(db: &ThreatDb, record: &mut Record, host: &str, url: Option<&str>) -> Option<Denial> {
    let (hit, what) = match (db.host(host), url) {
        (Some(hit), _) => (hit, host),
        (None, Some(url)) => (db.url(url)?, url),
        (None, None) => return None,
    };
    record.categories.push(hit.category.to_string());
    Some(denial(&hit, what.to_owned()))
}

/// A denial when `addr`, which `host` resolved to, is in a listed range.
pub(crate) fn addr_denial(db: &ThreatDb, host: &str, addr: IpAddr) -> Option<Denial> {
    let what =
        if host.trim_matches(['[', ']']) == addr.to_string() { host.to_owned() } else { format!("{host} ({addr})") };
    db.ip(addr).map(|hit| denial(&hit, what))
}
