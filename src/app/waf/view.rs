//! The running WAF as the API, the console and `/readyz` see it: whether the engine
//! loaded (or why not, and what to install), where it listens, the sites it serves now,
//! the problems of the last list it refused, the sites it cannot serve yet and why, the
//! origins' health, its metrics, and the audit log's place. Cheap to clone.
//!
//! Must not: change the running sites (the service does, from the store).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use waf::{SitesHandle, WafHandle};

/// What became of the last list of sites built from the store.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Applied {
    /// Unix milliseconds of the last list built.
    pub at: i64,
    /// Every problem of the last list refused (the sites before it stay), as
    /// `site field: message`, by site.
    pub refused: Vec<(String, String)>,
    /// Sites in the store that are not in the list, and why (no certificate yet...).
    pub waiting: Vec<(String, String)>,
}

/// How one site stands in the running WAF.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SiteState {
    /// `serving`, `waiting` (not in the list), `refused` (its last change was refused;
    /// served as before when `serving_before`), or `unavailable` (no WAF runs).
    pub state: &'static str,
    /// Why, when not simply serving.
    pub problems: Vec<String>,
    /// A refused change while the version before it is still served.
    pub serving_before: bool,
    /// Each origin address and whether its last check passed.
    pub origins: Vec<(SocketAddr, bool)>,
}

/// The running WAF, or why it does not run.
#[derive(Clone)]
pub struct WafView {
    inner: Arc<Inner>,
}

struct Inner {
    /// The engine's version, or why it did not load (naming what to install).
    engine: Result<String, String>,
    sites: Option<SitesHandle>,
    handle: ArcSwapOption<WafHandle>,
    applied: ArcSwap<Applied>,
    audit_log: PathBuf,
}

impl WafView {
    pub(super) fn new(engine: Result<String, String>, sites: Option<SitesHandle>, audit_log: PathBuf) -> WafView {
        let inner = Inner {
            engine,
            sites,
            handle: ArcSwapOption::empty(),
            applied: ArcSwap::from_pointee(Applied::default()),
            audit_log,
        };
        WafView { inner: Arc::new(inner) }
    }

    pub(super) fn serving(&self, handle: WafHandle) {
        self.inner.handle.store(Some(Arc::new(handle)));
    }

    /// Takes the running proxy out (to stop it); requests under way may still hold it
    /// for a moment.
    pub(super) fn take(&self) -> Option<Arc<WafHandle>> {
        self.inner.handle.swap(None)
    }

    pub(super) fn record(&self, applied: Applied) {
        self.inner.applied.store(Arc::new(applied));
    }

    /// The engine's version, or why the WAF is unavailable.
    pub fn engine(&self) -> Result<&str, &str> {
        self.inner.engine.as_deref().map_err(String::as_str)
    }

    /// The rule engine, when it loaded.
    pub fn rule_engine(&self) -> Option<Arc<waf::engine::Engine>> {
        self.inner.sites.as_ref().map(|s| Arc::clone(s.engine()))
    }

    /// The sites' compiled rules now (for `waf test` against what runs).
    pub fn sites(&self) -> Option<&SitesHandle> {
        self.inner.sites.as_ref()
    }

    /// Where the WAF listens (HTTPS, HTTP), while it runs.
    pub fn listening(&self) -> Option<(SocketAddr, Option<SocketAddr>)> {
        self.inner.handle.load().as_ref().map(|h| (h.https_addr(), h.http_addr()))
    }

    pub fn applied(&self) -> Arc<Applied> {
        self.inner.applied.load_full()
    }

    pub fn audit_log(&self) -> &std::path::Path {
        &self.inner.audit_log
    }

    /// How `domain` stands now.
    pub fn site_state(&self, domain: &str) -> SiteState {
        let Some(sites) = &self.inner.sites else {
            let why = self.engine().err().unwrap_or("the WAF does not run").to_string();
            return SiteState { state: "unavailable", problems: vec![why], serving_before: false, origins: vec![] };
        };
        let running = sites.load();
        let serving = running.domains().iter().any(|d| d == domain);
        let applied = self.applied();
        let named = |list: &[(String, String)]| -> Vec<String> {
            list.iter().filter(|(site, _)| site == domain).map(|(_, why)| why.clone()).collect()
        };
        let (refused, waiting) = (named(&applied.refused), named(&applied.waiting));
        let origins = running.origin_health(domain);
        match (serving, refused.is_empty(), waiting.is_empty()) {
            (_, false, _) => SiteState { state: "refused", problems: refused, serving_before: serving, origins },
            (false, true, false) => SiteState { state: "waiting", problems: waiting, serving_before: false, origins },
            (true, true, _) => SiteState { state: "serving", problems: vec![], serving_before: false, origins },
            (false, true, true) => SiteState {
                state: "waiting",
                problems: vec!["not in the running list yet".into()],
                serving_before: false,
                origins,
            },
        }
    }

    /// The WAF's metrics (Prometheus text); empty when it does not run.
    pub fn render_metrics(&self) -> String {
        self.inner.handle.load().as_ref().map(|h| h.render_metrics()).unwrap_or_default()
    }

    /// Reopens the audit log (after rotation: SIGHUP).
    pub async fn reopen_audit(&self) {
        let handle = self.inner.handle.load_full();
        if let Some(handle) = handle {
            handle.reopen_audit().await;
        }
    }

    /// One word and a sentence for `/readyz`.
    pub fn readiness(&self) -> serde_json::Value {
        match (self.engine(), self.listening()) {
            (Err(why), _) => serde_json::json!({ "state": "unavailable", "why": why }),
            (Ok(version), Some((https, http))) => {
                serde_json::json!({ "state": "serving", "engine": version, "https": https, "http": http })
            }
            (Ok(version), None) => serde_json::json!({ "state": "stopped", "engine": version }),
        }
    }
}
