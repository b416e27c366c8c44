//! The web gateway as `perimeter up` runs it: the category database and the policy book
//! (from the shipped lists, the duty team's files and the request desk's applied
//! applications) behind iqbsh's [`Rules`], reloaded
//! when the files change (a failed reload keeps the rules in force), and the proxy
//! started with the catalog snapshot, the observation sink and the root CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use iqbsh::{Categorized, Decision, Rules, RulesHandle};
use policies::category::{Category, CategoryDb};
use policies::policy::{OrgPolicy, PolicyBook};
use serde::{Deserialize, Serialize};

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

/// Categories and policies as iqbsh asks for them.
pub struct PolicyRules {
    db: CategoryDb,
    book: PolicyBook,
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

/// `perimeter policy ...`: check the files, explain a decision, list overdue requests,
/// export the book in force.
pub async fn policy_command(
    config: &crate::config::Config,
    cmd: crate::cli::PolicyCmd,
) -> anyhow::Result<std::process::ExitCode> {
    use crate::cli::PolicyCmd;
    let mut settings = config.policies.clone();
    if let PolicyCmd::Check { file: Some(f) } = &cmd {
        settings.file = Some(f.clone());
    }
    // Checking a file judges the file alone; explaining and listing see what the
    // gateway enforces: the file with the desk's applied applications.
    let loaded = match &cmd {
        PolicyCmd::Check { .. } => PolicyRules::load(&settings),
        _ => load(&settings, &crate::cmd::open_store(config).await?).await,
    };
    let rules = match loaded {
        Ok(r) => r,
        Err(e) => {
            eprint!("{e:#}");
            return Ok(std::process::ExitCode::from(1));
        }
    };
    match cmd {
        PolicyCmd::Check { .. } => {
            let orgs = rules.book.organisations().count();
            println!("valid: {} categorised domains, {orgs} organisation policies", rules.db.len());
        }
        PolicyCmd::Explain { org, host } => {
            let found = rules.categorize(&host);
            let decision = rules.decide(&org, &host, "", &found.categories);
            let handling = if found.exempt { "spliced (exempt from inspection)" } else { "inspected" };
            let cats = if found.categories.is_empty() { "none".to_string() } else { found.categories.join(", ") };
            println!("host        {host}\ncategories  {cats}\ntls         {handling}");
            println!("decision    {}\nreason      {}", if decision.allow { "allow" } else { "deny" }, decision.reason);
        }
        PolicyCmd::Export { output } => {
            let text = rules.book.to_toml();
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => print!("{text}"),
            }
        }
        PolicyCmd::Overdue => {
            let calendar = crate::calendar::open(config)?;
            for (p, by) in rules.book.overdue(&calendar, today()) {
                let state = p.granted.map_or_else(|| "still pending".to_string(), |g| format!("granted {g}"));
                println!("{} {:<40} received {}  due {by}  {state}", p.bin, p.name, p.received);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

use policies::calendar::today;

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
pub fn spawn_reloader(
    config: PoliciesConfig,
    store: store::Store,
    handle: RulesHandle,
    stop: tokio_util::sync::CancellationToken,
) {
    let every = config.reload.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut seen = (stamp(&config), desk_policies(&store).await.ok());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
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
    });
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
