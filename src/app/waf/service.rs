//! The WAF as `perimeter up` runs it: the engine loaded (or the WAF reported unavailable,
//! naming what to install, and `up` goes on without it), the sites built from the store
//! and applied as one snapshot, the proxy serving them, and the sites rebuilt whenever
//! the store's generation moves. A list the WAF refuses is logged with every problem and
//! the running sites stay; at the first start, when nothing runs yet, the sites named in
//! the problems are left out so the others are protected. On stop the proxy drains.
//!
//! Must not: block an async worker (rules compile on a blocking thread); log a key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use store::{Generations, Sealer, Store};
use waf::engine::{Engine, EnginePaths};
use waf::{Site, SitesHandle, WafConfig};

use super::settings::site_of;
use super::view::{Applied, WafView};
use crate::app::service::{Service, Stop};

/// The WAF service: follows the store and keeps the proxy's sites current.
pub struct WafService {
    view: WafView,
    store: Store,
    generations: Generations,
    key_file: PathBuf,
    /// The last list built (to skip store changes that do not touch the sites).
    last: Option<String>,
}

/// The audit log in force: `waf.audit_log` (relative to the data directory), or
/// `waf-audit.jsonl` in it.
pub fn audit_log_path(config: &WafConfig, data_dir: &Path) -> PathBuf {
    match &config.audit_log {
        Some(path) if path.is_absolute() => path.clone(),
        Some(path) => data_dir.join(path),
        None => data_dir.join("waf-audit.jsonl"),
    }
}

/// The desk's key file, with which sites' private keys are sealed.
pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("desk.key")
}

/// Loads the engine, builds and applies the sites, and starts the proxy; without the
/// engine, a service that only reports the WAF unavailable.
pub async fn start(
    (config, paths, data_dir): (&WafConfig, &EnginePaths, &Path),
    store: &Store,
    generations: Generations,
) -> anyhow::Result<WafService> {
    let mut config = config.clone();
    config.audit_log = Some(audit_log_path(&config, data_dir));
    let audit_log = config.audit_log.clone().unwrap_or_default();
    let paths = paths.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::load(&paths)).await.context("loading the WAF engine")?;
    let mut service = WafService {
        view: WafView::new(Err(String::new()), None, audit_log.clone()),
        store: store.clone(),
        generations,
        key_file: key_file(data_dir),
        last: None,
    };
    let engine = match engine {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!(error = %e, "WAF unavailable: `perimeter up` goes on without it");
            service.view = WafView::new(Err(e.to_string()), None, audit_log);
            return Ok(service);
        }
    };
    let version = engine.version();
    let sites = SitesHandle::new(Arc::new(engine));
    service.view = WafView::new(Ok(version.clone()), Some(sites.clone()), audit_log);
    service.refresh(true).await;
    let handle = waf::serve(config, sites).await.context("cannot start the WAF")?;
    tracing::info!(engine = %version, https = %handle.https_addr(), "WAF serving");
    service.view.serving(handle);
    Ok(service)
}

impl WafService {
    /// What the API, the console and `/readyz` read.
    pub fn view(&self) -> &WafView {
        &self.view
    }

    /// Builds the sites from the store and applies them if they changed.
    async fn refresh(&mut self, first: bool) {
        let Some(handle) = self.view.sites().cloned() else { return };
        let (sites, waiting) = match build(&self.store, &self.key_file).await {
            Ok(built) => built,
            Err(e) => {
                return tracing::error!(error = %format!("{e:#}"), "reading the WAF sites failed; the running ones stay");
            }
        };
        let fingerprint = serde_json::to_string(&sites).unwrap_or_default();
        if self.last.as_deref() == Some(fingerprint.as_str()) {
            return;
        }
        self.last = Some(fingerprint);
        let mut applied = Applied { at: store::now_ms(), refused: Vec::new(), waiting };
        for (site, why) in &applied.waiting {
            tracing::warn!(site = %site, why = %why, "WAF site not served");
        }
        match apply(&handle, sites.clone()).await {
            Ok(()) => {}
            Err(problems) => {
                for (site, problem) in &problems {
                    tracing::error!(site = %site, problem = %problem, "WAF sites refused; the running sites stay");
                }
                if first {
                    let bad: Vec<&String> = problems.iter().map(|(s, _)| s).collect();
                    let rest: Vec<Site> = sites.into_iter().filter(|s| !bad.contains(&&s.domain)).collect();
                    if let Err(more) = apply(&handle, rest).await {
                        more.iter().for_each(|(s, p)| tracing::error!(site = %s, problem = %p, "WAF site refused"));
                    }
                }
                applied.refused = problems;
            }
        }
        self.view.record(applied);
    }
}

/// Applies `sites` on a blocking thread; the problems, by site, when refused.
async fn apply(handle: &SitesHandle, sites: Vec<Site>) -> Result<(), Vec<(String, String)>> {
    let handle = handle.clone();
    match tokio::task::spawn_blocking(move || handle.apply(sites)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.problems.into_iter().map(|p| (p.site, format!("{}: {}", p.field, p.message))).collect()),
        Err(e) => Err(vec![(String::new(), format!("compiling the sites failed: {e}"))]),
    }
}

/// The sites the store holds that can be served (certificate and key present, key
/// opened, settings read), and why each other one cannot.
pub async fn build(store: &Store, key_file: &Path) -> anyhow::Result<(Vec<Site>, Vec<(String, String)>)> {
    let records = store.waf_sites().await?;
    let keys: HashMap<String, String> = store.waf_sealed_keys().await?.into_iter().collect();
    let sealer = match keys.is_empty() {
        true => None,
        false => Some(Sealer::open_or_create(key_file)?),
    };
    let (mut sites, mut waiting) = (Vec::new(), Vec::new());
    for record in records {
        let key = match (&record.certificate, keys.get(&record.domain), &sealer) {
            (Some(_), Some(sealed), Some(sealer)) => sealer.open(sealed),
            _ => {
                waiting.push((record.domain, "no certificate and key yet (`perimeter waf site set-cert`)".into()));
                continue;
            }
        };
        let site = key
            .map_err(|e| format!("its private key does not open with this node's desk key: {e}"))
            .and_then(|key| site_of(&record, key));
        match site {
            Ok(site) => sites.push(site),
            Err(why) => waiting.push((record.domain, why)),
        }
    }
    Ok((sites, waiting))
}

impl Service for WafService {
    const NAME: &'static str = "web application firewall";

    /// Until `stop`, rebuilds the sites when the store changes; then the proxy stops
    /// accepting, lets open connections finish within its drain, and flushes its log.
    async fn run(mut self, stop: Stop) -> anyhow::Result<()> {
        if self.view.sites().is_some() {
            loop {
                tokio::select! {
                    moved = self.generations.changed() => if moved.is_err() { break },
                    () = stop.stopped() => break,
                }
                self.refresh(false).await;
            }
        }
        stop.stopped().await;
        let Some(mut handle) = self.view.take() else { return Ok(()) };
        // An API request may hold the proxy for a moment (metrics); it lets go at once.
        for _ in 0..200 {
            match Arc::try_unwrap(handle) {
                Ok(owned) => {
                    owned.shutdown().await;
                    return Ok(());
                }
                Err(shared) => handle = shared,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!("the WAF is still in use after 2 s; it stops with the process");
        Ok(())
    }
}
