//! The web gateway's rules as `perimeter up` runs them: the `[policies]` section, the
//! category database and the policy book (from the shipped lists, the duty team's files
//! and the request desk's applied applications) behind iqbsh's [`Rules`], reloaded when
//! the files change (a failed reload keeps the rules in force); and the proxy itself,
//! started with the catalog snapshot, the observation sink and the root CA.
//!
//! Must not: decide a request itself (the `policies` crate's book does).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use iqbsh::{Categorized, Decision, Rules, RulesHandle};
use policies::calendar::today;
use policies::category::{Category, CategoryDb};
use policies::policy::{OrgPolicy, PolicyBook};
use serde::{Deserialize, Serialize};

use super::service::{Service, Stop};

/// Where the categories and the organisations' policies come from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PoliciesConfig {
    /// A directory of category lists in the squidGuard/UT1 layout (`<category>/domains`)
    /// and/or CSV files (`*.csv`: `domain,category[,category…]`), added to the shipped
    /// lists of the exempt categories.
    pub categories_dir: Option<PathBuf>,
    /// The policy book (TOML): the default policy and each organisation's policy.
    /// Without one, every organisation gets the default: uncategorised sites and the
    /// exempt categories.
    pub file: Option<PathBuf>,
    /// How often the files are checked for changes.
    #[serde(with = "policies::duration::one")]
    pub reload: Duration,
    /// How many days before an organisation's policy lapses (one calendar year after
    /// its yearly lists were applied) the organisation is reminded by e-mail.
    pub remind_days: u32,
}

impl Default for PoliciesConfig {
    fn default() -> PoliciesConfig {
        PoliciesConfig { categories_dir: None, file: None, reload: Duration::from_secs(10), remind_days: 30 }
    }
}

impl PoliciesConfig {
    /// The policy file must parse and the categories directory must be readable (its
    /// lists are read when the rules load).
    pub fn validate(&self, problems: &mut super::problem::ConfigProblems) {
        if let Some(path) = &self.file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    if let Err(e) = PolicyBook::parse(&text, &path.display().to_string()) {
                        problems.add("policies.file", e);
                    }
                }
                Err(e) => problems.add("policies.file", format!("cannot read {}: {e}", path.display())),
            }
        }
        if let Some(dir) = &self.categories_dir
            && let Err(e) = std::fs::read_dir(dir)
        {
            problems.add("policies.categories_dir", format!("cannot read {}: {e}", dir.display()));
        }
    }
}

/// Categories and policies as iqbsh asks for them.
pub struct PolicyRules {
    pub db: CategoryDb,
    pub book: PolicyBook,
}

impl Rules for PolicyRules {
    fn categorize(&self, host: &str) -> Categorized {
        let found = self.db.lookup(host);
        Categorized {
            categories: found.iter().map(ToString::to_string).collect(),
            exempt: found.iter().any(Category::is_exempt),
        }
    }

    fn decide(&self, org_bin: &str, host: &str, _url: &str, categories: &[String]) -> Decision {
        let cats: Vec<Category> = categories.iter().filter_map(|c| Category::new(c).ok()).collect();
        let d = self.book.evaluate(Some(org_bin), host, &cats, today());
        Decision { allow: d.allow, reason: d.reason }
    }
}

impl PolicyRules {
    /// Reads the configured files; any problem refuses the whole set.
    pub fn load(config: &PoliciesConfig) -> anyhow::Result<PolicyRules> {
        let mut builder = CategoryDb::builder().with_ut1_aliases();
        builder.add_defaults();
        if let Some(dir) = &config.categories_dir {
            add_dir(&mut builder, dir)?;
        }
        let book = match &config.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                PolicyBook::parse(&text, &path.display().to_string()).map_err(|e| anyhow::anyhow!("{e}"))?
            }
            None => PolicyBook::default(),
        };
        Ok(PolicyRules { db: builder.build(), book })
    }
}

fn add_dir(builder: &mut policies::category::Builder, dir: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the categories directory {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let source = path.display().to_string();
        if path.is_dir() && path.join("domains").is_file() {
            let text = std::fs::read_to_string(path.join("domains"))?;
            builder.add_ut1_domains(&name, &text, &format!("{source}/domains")).map_err(|e| anyhow::anyhow!("{e}"))?;
        } else if name.ends_with(".csv") {
            let text = std::fs::read_to_string(&path)?;
            builder.add_csv(&text, &source).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(())
}

/// The newest modification time among the configured files (and the category
/// directory's entries), to notice edits.
fn stamp(config: &PoliciesConfig) -> Option<SystemTime> {
    let mut newest = None;
    let mut see = |p: &Path| {
        if let Ok(t) = std::fs::metadata(p).and_then(|m| m.modified()) {
            newest = newest.max(Some(t));
        }
    };
    if let Some(f) = &config.file {
        see(f);
    }
    if let Some(dir) = &config.categories_dir {
        see(dir);
        for e in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
            see(&e.path());
            see(&e.path().join("domains"));
        }
    }
    newest
}

/// Reloads the rules whenever the files change or an application is applied (or
/// lapses); a bad edit is logged and the rules in force stay.
pub struct RulesReloader {
    pub config: PoliciesConfig,
    pub store: store::Store,
    pub handle: RulesHandle,
}

impl Service for RulesReloader {
    const NAME: &'static str = "policy reloader";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let RulesReloader { config, store, handle } = self;
        let every = config.reload.max(Duration::from_secs(1));
        let mut seen = (stamp(&config), desk_policies(&store).await.ok());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.stopped() => return Ok(()),
            }
            let now = (stamp(&config), desk_policies(&store).await.ok());
            if now == seen || now.1.is_none() {
                continue;
            }
            seen = now;
            match load(&config, &store).await {
                Ok(rules) => {
                    tracing::info!(domains = rules.db.len(), "categories and policies reloaded");
                    handle.replace(Arc::new(rules));
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "reloading categories and policies failed; the previous ones stay in force")
                }
            }
        }
    }
}

/// The running web proxy: serves until stopped, then closes its listeners, gives open
/// connections `grace` and flushes its access log.
pub struct WebProxy {
    pub proxy: Arc<iqbsh::ProxyHandle>,
    pub grace: Duration,
}

impl WebProxy {
    /// Starts the proxy with what it reads: the catalog snapshot, the sink for unknown
    /// sources, the root CA's forge, the rules and the threat feeds.
    pub async fn start(
        config: iqbsh::ProxyConfig,
        (snapshot, observations): (snapshot::SnapshotHandle, snapshot::ObservationSink),
        ca: &certs::CaStore,
        (rules, threats): (RulesHandle, iqbsh::ThreatsHandle),
    ) -> anyhow::Result<WebProxy> {
        let forge = certs::LeafForge::new(ca.current().clone(), certs::ForgeConfig::default())
            .context("cannot start the certificate forge")?;
        let grace = config.shutdown_grace;
        let deps = iqbsh::ProxyDeps { snapshot, observations, forge: Arc::new(forge), rules, threats };
        let proxy = iqbsh::serve(config, deps).await.context("cannot start the web proxy")?;
        tracing::info!(explicit = %proxy.explicit_addr(), "web proxy listening");
        Ok(WebProxy { proxy: Arc::new(proxy), grace })
    }
}

impl Service for WebProxy {
    const NAME: &'static str = "web proxy";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        stop.stopped().await;
        match Arc::try_unwrap(self.proxy) {
            Ok(proxy) => proxy.shutdown_within(self.grace).await,
            Err(proxy) => {
                tracing::warn!("the web proxy is still in use; its connections end with the process");
                proxy.flush_access_log().await
            }
        }
        Ok(())
    }
}

/// The organisations' policies the request desk's applied applications make.
pub async fn desk_policies(store: &store::Store) -> anyhow::Result<Vec<OrgPolicy>> {
    let records = store.applications(&store::Visible::All).await?;
    let applied: Vec<(i64, desk::Application)> = records
        .into_iter()
        .filter(|r| r.application.state == desk::State::Applied)
        .map(|r| (r.id, r.application))
        .collect();
    Ok(desk::policy::org_policies(&applied))
}

/// The files' categories and policies with the desk's applied applications merged in
/// (they prevail over the policy file for their organisations).
pub async fn load(config: &PoliciesConfig, store: &store::Store) -> anyhow::Result<PolicyRules> {
    let orgs = desk_policies(store).await.context("cannot read the applied applications")?;
    let cfg = config.clone();
    let mut rules = tokio::task::spawn_blocking(move || PolicyRules::load(&cfg)).await.context("the policy task")??;
    for org in orgs {
        rules.book.merge(org);
    }
    Ok(rules)
}
