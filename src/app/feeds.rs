//! Threat feeds as `perimeter up` runs them (rule 7): files the duty team drops
//! into `[threats] dir` as `DIR/<category>/<name>.<format>` (category `malware`
//! or `phishing`; format `hosts`, `domains`, `urls`, `csv` for URLhaus-style,
//! `cidr` for Spamhaus DROP-style), and feeds fetched on a schedule from
//! configured URLs (kept under `DATA_DIR/threats` so a restart has them before
//! the first fetch). Every feed is parsed by `policies::threat`; the proxy gets
//! one database built from all of them, swapped in whole.
//!
//! A feed keeps its last good version: a file or a download with any bad line
//! is refused whole and logged with every problem's file and line, and the
//! lists in force do not change. A dropped file that is removed takes its
//! entries with it.
//!
//! Must not: block the runtime (files and builds go through `spawn_blocking`),
//! or fetch over TLS without verifying the server.

mod fetch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use iqbsh::ThreatsHandle;
use policies::duration;
use policies::threat::{FeedEntries, FeedFormat, ThreatCategory, ThreatDb, parse_feed};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::service::{Service, Stop};

/// `[threats]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThreatsConfig {
    /// Where the duty team drops feed files (`DIR/<category>/<name>.<format>`). Default none.
    pub dir: Option<PathBuf>,
    /// How often the directory is checked for new, changed and removed files. Default `"10s"`.
    #[serde(with = "duration::one")]
    pub check: Duration,
    /// Feeds fetched on a schedule, by name (`[threats.fetch.NAME]`).
    pub fetch: BTreeMap<String, FetchConfig>,
}

impl Default for ThreatsConfig {
    fn default() -> Self {
        Self { dir: None, check: Duration::from_secs(10), fetch: BTreeMap::new() }
    }
}

/// `[threats.fetch.NAME]`: a feed fetched from a URL.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// `https://…` (the server's certificate is verified against the system's roots) or `http://…`.
    pub url: String,
    /// `malware` or `phishing`.
    pub category: ThreatCategory,
    /// `hosts`, `domains`, `urls`, `csv` (URLhaus-style) or `cidr` (DROP-style).
    pub format: FeedFormat,
    /// How often it is fetched. Default `"1h"`.
    #[serde(with = "duration::one", default = "default_every")]
    pub every: Duration,
}

fn default_every() -> Duration {
    Duration::from_secs(3600)
}

/// One feed's last good version.
struct Feed {
    category: ThreatCategory,
    entries: FeedEntries,
}

/// Every feed in force, by source (a file path, or `fetch:NAME`), and what the loader did.
#[derive(Default)]
struct Feeds {
    by_source: BTreeMap<String, Feed>,
    /// Modification time and length of each dropped file, to notice edits.
    stamps: BTreeMap<PathBuf, (SystemTime, u64)>,
}

impl Feeds {
    fn build(&self) -> ThreatDb {
        let mut db = ThreatDb::builder();
        for (source, feed) in &self.by_source {
            db.add(source, feed.category, &feed.entries);
        }
        db.build()
    }
}

/// Counters of the loader, for logs and tests.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Databases published.
    pub published: AtomicU64,
    /// Feed versions refused for bad lines (or failed downloads).
    pub refused: AtomicU64,
}

/// The running loader.
#[derive(Clone)]
pub struct FeedLoader {
    feeds: Arc<Mutex<Feeds>>,
    handle: ThreatsHandle,
    pub stats: Arc<FeedStats>,
}

/// The format of a dropped file, by its extension, and its category, by its directory.
fn kind_of(path: &Path) -> Result<(ThreatCategory, FeedFormat), String> {
    let category = path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or_default();
    let category = match category {
        "malware" => ThreatCategory::Malware,
        "phishing" => ThreatCategory::Phishing,
        other => return Err(format!("{other:?} is not a threat category (malware, phishing)")),
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let format = FeedFormat::from_extension(ext)
        .ok_or_else(|| format!("{ext:?} is not a feed format (hosts, domains, urls, csv, cidr)"))?;
    Ok((category, format))
}

/// The feed files under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for category in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        if category.path().is_dir() {
            out.extend(
                std::fs::read_dir(category.path()).into_iter().flatten().filter_map(Result::ok).map(|e| e.path()),
            );
        }
    }
    out.retain(|p| p.is_file());
    out.sort();
    out
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl FeedLoader {
    /// Loads what is there now (dropped files, cached downloads), publishes it,
    /// and keeps the feeds current in the background until `stop` (for the tests;
    /// `up` runs [`ThreatFeeds`] as a service).
    #[cfg(test)]
    pub async fn start(
        config: &ThreatsConfig,
        data_dir: &Path,
        handle: ThreatsHandle,
        stop: CancellationToken,
    ) -> FeedLoader {
        let feeds = ThreatFeeds::load(config, data_dir, handle).await;
        let loader = feeds.loader.clone();
        tokio::spawn(feeds.keep_current(stop));
        loader
    }

    /// Loads what is there now (dropped files, cached downloads) and publishes it.
    async fn load(config: &ThreatsConfig, data_dir: &Path, handle: ThreatsHandle) -> FeedLoader {
        let loader = FeedLoader { feeds: Arc::default(), handle, stats: Arc::default() };
        let cache = data_dir.join("threats");
        for (name, fetch) in &config.fetch {
            let path = cache.join(format!("{name}.feed"));
            if let Ok(text) = tokio::fs::read_to_string(&path).await {
                loader.take(format!("fetch:{name}"), fetch.category, fetch.format, &text, &path.display().to_string());
            }
        }
        if let Some(dir) = &config.dir {
            loader.scan(dir).await;
        }
        loader.publish().await;
        loader
    }

    /// Parses one version of a feed: replaces the feed in force when good; logs every
    /// problem and keeps the old version when not. Returns whether it was taken.
    fn take(&self, source: String, category: ThreatCategory, format: FeedFormat, text: &str, shown: &str) -> bool {
        match parse_feed(format, text, shown) {
            Ok(entries) => {
                tracing::info!(feed = %source, %category, entries = entries.len(), "threat feed read");
                self.lock().by_source.insert(source, Feed { category, entries });
                true
            }
            Err(errors) => {
                self.stats.refused.fetch_add(1, Relaxed);
                tracing::error!(feed = %source, problems = %errors, "threat feed refused; its previous version stays in force");
                false
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Feeds> {
        self.feeds.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Builds the database from every feed in force and swaps it in.
    async fn publish(&self) {
        let this = self.clone();
        let built = tokio::task::spawn_blocking(move || this.lock().build()).await;
        match built {
            Ok(db) => {
                let (domains, urls, nets) = db.len();
                tracing::info!(domains, urls, nets, "threat feeds in force");
                self.handle.replace(db);
                self.stats.published.fetch_add(1, Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "building the threat database failed; the previous one stays"),
        }
    }

    /// Reads new and changed files under `dir`, forgets removed ones; whether anything changed.
    async fn scan(&self, dir: &Path) -> bool {
        let (this, dir) = (self.clone(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || this.scan_now(&dir)).await.unwrap_or(false)
    }

    fn scan_now(&self, dir: &Path) -> bool {
        let present = files(dir);
        let mut changed = false;
        let gone: Vec<PathBuf> = {
            let feeds = self.lock();
            let now: BTreeSet<&PathBuf> = present.iter().collect();
            feeds.stamps.keys().filter(|p| !now.contains(p)).cloned().collect()
        };
        for path in gone {
            let mut feeds = self.lock();
            feeds.stamps.remove(&path);
            changed |= feeds.by_source.remove(&path.display().to_string()).is_some();
            tracing::info!(feed = %path.display(), "threat feed file removed");
        }
        for path in present {
            let Some(now) = stamp(&path) else { continue };
            if self.lock().stamps.get(&path) == Some(&now) {
                continue;
            }
            self.lock().stamps.insert(path.clone(), now);
            let shown = path.display().to_string();
            match (kind_of(&path), std::fs::read(&path)) {
                (Ok((category, format)), Ok(bytes)) => {
                    changed |= self.take(shown.clone(), category, format, &String::from_utf8_lossy(&bytes), &shown);
                }
                (Err(why), _) => tracing::warn!(file = %shown, "ignored: {why}"),
                (_, Err(e)) => tracing::error!(file = %shown, error = %e, "cannot read a threat feed file"),
            }
        }
        changed
    }

    /// Checks `dir` every `every` and publishes when something changed, until `stop`.
    async fn watch(self, dir: PathBuf, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = stop.cancelled() => return,
            }
            if self.scan(&dir).await {
                self.publish().await;
            }
        }
    }

    /// Fetches feed `name` now and then every `cfg.every` until `stop`; a good version is kept under `cache`.
    async fn fetch_every(self, name: String, cfg: FetchConfig, cache: PathBuf, stop: CancellationToken) {
        loop {
            let fetched = tokio::select! {
                fetched = fetch::get(&cfg.url) => fetched,
                () = stop.cancelled() => return,
            };
            match fetched {
                Ok(text) => {
                    let source = format!("fetch:{name}");
                    if self.take(source, cfg.category, cfg.format, &text, &cfg.url) {
                        self.publish().await;
                        keep(&cache, &name, &text).await;
                    }
                }
                Err(e) => {
                    self.stats.refused.fetch_add(1, Relaxed);
                    tracing::error!(feed = %name, url = %cfg.url, error = %format!("{e:#}"), "fetching a threat feed failed; its previous version stays in force");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(cfg.every.max(Duration::from_millis(50))) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// The threat feeds as a service: loaded (and published) when made, kept current by
/// watching the directory and fetching each configured feed until stopped.
pub struct ThreatFeeds {
    loader: FeedLoader,
    config: ThreatsConfig,
    cache: PathBuf,
}

impl ThreatFeeds {
    /// Loads and publishes what is there now into `handle`.
    pub async fn load(config: &ThreatsConfig, data_dir: &Path, handle: ThreatsHandle) -> ThreatFeeds {
        let loader = FeedLoader::load(config, data_dir, handle).await;
        ThreatFeeds { loader, config: config.clone(), cache: data_dir.join("threats") }
    }

    /// Watches the directory and fetches every feed until `stop`.
    async fn keep_current(self, stop: CancellationToken) {
        let ThreatFeeds { loader, config, cache } = self;
        let mut loops = tokio::task::JoinSet::new();
        if let Some(dir) = config.dir.clone() {
            loops.spawn(loader.clone().watch(dir, config.check.max(Duration::from_millis(50)), stop.clone()));
        }
        for (name, fetch) in &config.fetch {
            loops.spawn(loader.clone().fetch_every(name.clone(), fetch.clone(), cache.clone(), stop.clone()));
        }
        while loops.join_next().await.is_some() {}
    }
}

impl Service for ThreatFeeds {
    const NAME: &'static str = "threat feeds";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        self.keep_current(stop.token()).await;
        Ok(())
    }
}

/// Writes a good download to `cache/NAME.feed` (through a temporary file and a rename).
async fn keep(cache: &Path, name: &str, text: &str) {
    let (tmp, path) = (cache.join(format!(".{name}.feed.tmp")), cache.join(format!("{name}.feed")));
    let result = async {
        tokio::fs::create_dir_all(cache).await?;
        tokio::fs::write(&tmp, text).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    if let Err(e) = result.await {
        tracing::warn!(file = %path.display(), error = %e, "cannot keep a copy of a threat feed");
    }
}
