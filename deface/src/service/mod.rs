//! The defacement service: one task ([`Deface::run`]) that checks every protected site
//! on its cycle, at most `[deface] parallel` at once, until its stop signal; and the
//! functions the binary's CLI, API and desk call (add a site, list, show, check now,
//! accept a change, open and close a maintenance window, confirm a host key). One
//! check, restore or acceptance runs at a time per site (`check`, `change`).
//!
//! Must not: hold a site's secret beyond one session; run a check after the stop signal.

mod change;
mod check;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use store::{DefaceEvent, DefaceFinding, DefaceSiteRecord, NewDefaceSite, Sealer, Store, StoreError};
use tokio_util::sync::CancellationToken;

pub use check::CheckReport;

use crate::files::scan::Seen;
use crate::notice::{Hook, Notice};
use crate::pages::Fetcher;
use crate::site::{Access, Mask, PageSpec, Secret, SiteSpec};
use crate::{DefaceConfig, Metrics};

/// What went wrong, said so a person can act on it.
#[derive(Debug, thiserror::Error)]
pub enum DefaceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("the reference copy on this machine: {0}")]
    Disk(String),
}

/// A site to protect.
#[derive(Clone, Debug)]
pub struct NewSite {
    pub spec: SiteSpec,
    pub secret: Secret,
    pub application_id: Option<i64>,
}

impl NewSite {
    /// A site from the fields of an applied defacement application: the site's domain
    /// and addresses, the access URL (`sftp://USER@HOST[:PORT]/PATH`), the login, the
    /// secret (a password or a private key), the pages watched.
    pub fn from_application(
        site: &str,
        addresses: &[IpAddr],
        access: &str,
        login: &str,
        secret: &str,
        pages: &[String],
        application_id: i64,
    ) -> Result<NewSite, DefaceError> {
        let access = Access::parse(access, Some(login).filter(|l| !l.is_empty()))
            .map_err(|e| DefaceError::Invalid(vec![format!("credentials.access: {e}")]))?;
        let domain = site.trim().trim_end_matches('.').to_ascii_lowercase();
        let pages = pages.iter().map(|u| PageSpec { url: u.clone(), masks: Vec::new() }).collect();
        let spec =
            SiteSpec { domain, addresses: addresses.to_vec(), access, pages, include: Vec::new(), exclude: Vec::new() };
        Ok(NewSite { spec, secret: Secret::from_text(secret), application_id: Some(application_id) })
    }

    /// Adds `mask` (a CSS selector or `re:REGEX`) to the page `url` (listed if it was not).
    pub fn mask(&mut self, url: &str, mask: &str) -> Result<(), DefaceError> {
        let m = Mask::parse(mask).map_err(|e| DefaceError::Invalid(vec![e]))?;
        match self.spec.pages.iter_mut().find(|p| p.url == url) {
            Some(p) => p.masks.push(m),
            None => self.spec.pages.push(PageSpec { url: url.to_string(), masks: vec![m] }),
        }
        Ok(())
    }
}

/// A site as people see it.
#[derive(Clone, Debug, Serialize)]
pub struct SiteView {
    #[serde(flatten)]
    pub record: DefaceSiteRecord,
    /// The pinned host key's SHA-256 fingerprint, as `ssh-keygen -l` shows it.
    pub host_key_fingerprint: Option<String>,
    /// Findings not accepted, in all.
    pub open_findings: usize,
}

/// A site with its history.
#[derive(Clone, Debug, Serialize)]
pub struct SiteDetail {
    #[serde(flatten)]
    pub site: SiteView,
    pub findings: Vec<DefaceFinding>,
    pub events: Vec<DefaceEvent>,
}

/// What the service remembers of a site between checks.
#[derive(Default)]
struct Runtime {
    seen: Seen,
    last_full: Option<Instant>,
    /// Events reported and still true (a refused name, a file too large...).
    reported: BTreeSet<String>,
    /// The last change set recorded without a restore (window, pages), not to repeat it.
    recorded: Option<String>,
    pages_down: bool,
}

struct Inner {
    store: Store,
    sealer: Arc<Sealer>,
    cfg: DefaceConfig,
    data_dir: PathBuf,
    fetcher: Fetcher,
    hook: Arc<dyn Hook>,
    metrics: Metrics,
    sites: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Runtime>>>>,
}

/// The defacement service; cheap to clone.
#[derive(Clone)]
pub struct Deface {
    inner: Arc<Inner>,
}

impl Deface {
    /// The service over `store`, opening secrets with `sealer` (the desk's key), keeping
    /// reference copies under `data_dir`, telling `hook` of every finding and event.
    pub fn new(
        store: Store,
        sealer: Arc<Sealer>,
        cfg: DefaceConfig,
        data_dir: PathBuf,
        hook: Arc<dyn Hook>,
    ) -> Result<Deface, DefaceError> {
        cfg.check().map_err(DefaceError::Invalid)?;
        let fetcher = Fetcher::new(&cfg).map_err(|e| DefaceError::Invalid(vec![e]))?;
        std::fs::create_dir_all(&data_dir).map_err(|e| DefaceError::Disk(format!("{}: {e}", data_dir.display())))?;
        let inner = Inner {
            store,
            sealer,
            cfg,
            data_dir,
            fetcher,
            hook,
            metrics: Metrics::default(),
            sites: std::sync::Mutex::new(HashMap::new()),
        };
        Ok(Deface { inner: Arc::new(inner) })
    }

    pub fn metrics(&self) -> crate::MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    fn runtime(&self, domain: &str) -> Arc<tokio::sync::Mutex<Runtime>> {
        let mut sites = self.inner.sites.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(sites.entry(domain.to_string()).or_default())
    }

    /// Protects a new site; its reference is taken at its first check.
    pub async fn add_site(&self, actor: &str, site: NewSite) -> Result<SiteView, DefaceError> {
        site.spec.check().map_err(DefaceError::Invalid)?;
        if let Secret::Key(text) = &site.secret {
            russh::keys::decode_secret_key(text, None).map_err(|e| {
                DefaceError::Invalid(vec![format!(
                    "the private key cannot be read (Ed25519 or ECDSA, OpenSSH format): {e}"
                )])
            })?;
        }
        let sealed = self.inner.sealer.seal(site.secret.text())?;
        let spec = serde_json::to_value(&site.spec).map_err(|e| DefaceError::Invalid(vec![e.to_string()]))?;
        let new = NewDefaceSite {
            domain: site.spec.domain.clone(),
            spec,
            secret_kind: site.secret.kind().to_string(),
            sealed_secret: sealed,
            application_id: site.application_id,
        };
        let record = self.inner.store.add_deface_site(actor, new).await?;
        self.view(record).await
    }

    /// Every protected site.
    pub async fn sites(&self) -> Result<Vec<SiteView>, DefaceError> {
        let mut out = Vec::new();
        for r in self.inner.store.deface_sites().await? {
            out.push(self.view(r).await?);
        }
        Ok(out)
    }

    /// One site with its last 50 findings and 50 events.
    pub async fn site(&self, domain: &str) -> Result<SiteDetail, DefaceError> {
        let site = self.view(self.inner.store.deface_site(domain).await?).await?;
        let findings = self.inner.store.deface_findings(domain, 50).await?;
        let events = self.inner.store.deface_events(domain, 50).await?;
        Ok(SiteDetail { site, findings, events })
    }

    async fn view(&self, record: DefaceSiteRecord) -> Result<SiteView, DefaceError> {
        let findings = self.inner.store.deface_findings(&record.domain, 1000).await?;
        let open_findings = findings.iter().filter(|f| f.outcome != "accepted").count();
        let host_key_fingerprint = record.host_key.as_deref().and_then(fingerprint);
        Ok(SiteView { record, host_key_fingerprint, open_findings })
    }

    /// A person confirms the site's host key (the pinned one, or a new one after a change
    /// was checked with the site's owner).
    pub async fn confirm_host_key(&self, actor: &str, domain: &str, key: &str) -> Result<(), DefaceError> {
        let key = key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        if fingerprint(&key).is_none() {
            return Err(DefaceError::Invalid(vec![format!("'{key}' is not an OpenSSH public key (TYPE BASE64)")]));
        }
        let rt = self.runtime(domain);
        let _guard = rt.lock().await;
        self.inner.store.confirm_deface_host_key(actor, domain, &key).await?;
        Ok(())
    }

    /// Checks every site on its cycle until `stop` is cancelled; a check under way is
    /// given `[deface] timeout` to end, then cut.
    pub async fn run(&self, stop: CancellationToken) {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.inner.cfg.parallel as usize));
        let mut due: HashMap<String, Instant> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            while tasks.try_join_next().is_some() {}
            let sites = match self.inner.store.deface_sites().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("defacement service: cannot read the sites: {e}");
                    continue;
                }
            };
            let now = Instant::now();
            for site in sites {
                if due.get(&site.domain).is_some_and(|t| *t > now) {
                    continue;
                }
                due.insert(site.domain.clone(), now + self.inner.cfg.cycle);
                let (me, permits, stop) = (self.clone(), Arc::clone(&permits), stop.clone());
                tasks.spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else { return };
                    tokio::select! {
                        () = stop.cancelled() => {}
                        r = me.check_if_idle(&site.domain) => if let Err(e) = r {
                            tracing::warn!(site = site.domain, "defacement check failed: {e}");
                        }
                    }
                });
            }
        }
        let grace = self.inner.cfg.timeout;
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tasks.abort_all();
        }
    }

    /// One check of `domain` unless one is under way.
    async fn check_if_idle(&self, domain: &str) -> Result<(), DefaceError> {
        let Ok(mut rt) = self.runtime(domain).try_lock_owned() else { return Ok(()) };
        self.check_locked(domain, &mut rt).await.map(|_| ())
    }

    /// One check of `domain` now (waits for one under way to end).
    pub async fn check_now(&self, domain: &str) -> Result<CheckReport, DefaceError> {
        let rt = self.runtime(domain);
        let mut rt = rt.lock().await;
        self.check_locked(domain, &mut rt).await
    }

    /// Records and hands a notice to the hook, within the timeout.
    async fn tell(&self, notice: Notice) {
        if tokio::time::timeout(self.inner.cfg.timeout, self.inner.hook.notify(notice)).await.is_err() {
            tracing::warn!("defacement notice hook did not answer within {:?}", self.inner.cfg.timeout);
        }
    }

    async fn event(&self, domain: &str, kind: &str, detail: &str) -> Result<DefaceEvent, DefaceError> {
        let e = self.inner.store.add_deface_event(domain, kind, detail).await?;
        self.inner.metrics.bump(&self.inner.metrics.events, 1);
        self.tell(Notice::Event(e.clone())).await;
        Ok(e)
    }

    fn secret(&self, record: &DefaceSiteRecord) -> Result<Secret, DefaceError> {
        let text = self.inner.sealer.open(&record.sealed_secret)?;
        Ok(if record.secret_kind == "key" { Secret::Key(text) } else { Secret::Password(text) })
    }
}

/// `SHA256:…` of an OpenSSH public key text.
pub fn fingerprint(key: &str) -> Option<String> {
    russh::keys::PublicKey::from_openssh(key).ok().map(|k| k.fingerprint(russh::keys::HashAlg::Sha256).to_string())
}
