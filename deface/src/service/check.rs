//! One check of one site: connect (host key against the pin), take the first reference,
//! or look at the files and pages, then put an unauthorised change back, record a change
//! in a maintenance window, or record pages that changed with no file changed. States
//! and their events are told once per change of state.
//!
//! Must not: restore anything when the look failed midway or the host key changed.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;
use store::{DefaceFinding, DefaceSiteRecord, NewDefaceFinding, now_ms};

use super::{Deface, DefaceError, Runtime};
use crate::files::reference::{Manifest, SiteDir};
use crate::files::remote::{ConnectError, Remote};
use crate::files::restore::{FileOutcome, restore};
use crate::files::scan::{FileChange, ScanError, scan};
use crate::files::walk::Refusal;
use crate::notice::Notice;
use crate::pages::{self, PageChange};
use crate::site::SiteSpec;

/// What one check saw and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    pub domain: String,
    /// The site's state after the check.
    pub state: String,
    pub files_checked: u64,
    /// Files that differed from the reference.
    pub changes: usize,
    pub page_changes: usize,
    pub finding: Option<DefaceFinding>,
    /// Event kinds recorded by this check.
    pub events: Vec<String>,
}

/// States in which nothing is looked at or restored.
const DOWN: [&str; 2] = ["unreachable", "host-key-changed"];

impl Deface {
    pub(super) async fn check_locked(&self, domain: &str, rt: &mut Runtime) -> Result<CheckReport, DefaceError> {
        let m = &self.inner.metrics;
        m.bump(&m.cycles, 1);
        let rec = self.inner.store.deface_site(domain).await?;
        let spec: SiteSpec = serde_json::from_value(rec.spec.clone())
            .map_err(|e| DefaceError::Invalid(vec![format!("{domain}: {e}")]))?;
        let secret = self.secret(&rec)?;
        let mut report = CheckReport { domain: domain.to_string(), ..CheckReport::default() };
        let timeout = self.inner.cfg.timeout;
        let mut connected = Remote::connect(&spec.access, &secret, rec.host_key.as_deref(), timeout).await;
        if let Err(ConnectError::Unreachable(_)) = connected {
            // One more try after a moment: a busy server drops a connection now and then.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            connected = Remote::connect(&spec.access, &secret, rec.host_key.as_deref(), timeout).await;
        }
        let remote = match connected {
            Ok(r) => r,
            Err(ConnectError::HostKeyChanged { pinned, offered }) => {
                let detail = format!(
                    "the server at {}:{} shows host key {} where {} was pinned; nothing is done until a person \
                     confirms the new key with the site's owner",
                    spec.access.host,
                    spec.access.port,
                    super::fingerprint(&offered).unwrap_or(offered),
                    super::fingerprint(&pinned).unwrap_or(pinned),
                );
                self.enter(&rec, "host-key-changed", &detail, &mut report).await?;
                return Ok(report);
            }
            Err(e) => {
                self.enter(&rec, "unreachable", &format!("cannot log in over SFTP: {e}"), &mut report).await?;
                return Ok(report);
            }
        };
        let result = self.check_connected(&rec, &spec, &remote, rt, &mut report).await;
        remote.close().await;
        self.inner.store.note_deface_check(domain, now_ms()).await?;
        result.map(|()| report)
    }

    async fn check_connected(
        &self,
        rec: &DefaceSiteRecord,
        spec: &SiteSpec,
        remote: &Remote,
        rt: &mut Runtime,
        report: &mut CheckReport,
    ) -> Result<(), DefaceError> {
        let domain = rec.domain.as_str();
        if rec.host_key.is_none() {
            self.inner.store.pin_deface_host_key(domain, &remote.host_key).await?;
            let detail = format!(
                "host key {} ({}) pinned at the first connection: confirm it with the site's owner",
                super::fingerprint(&remote.host_key).unwrap_or_default(),
                remote.host_key
            );
            self.event(domain, "host-key-pinned", &detail).await?;
            report.events.push("host-key-pinned".into());
        }
        let dir = SiteDir::new(&self.inner.data_dir, domain);
        let Some(reference) = dir.load().map_err(|e| DefaceError::Disk(e.to_string()))? else {
            return match self.take_reference(rec, spec, remote, rt, "deface").await {
                Ok(refused) => {
                    self.report_refusals(domain, &refused, rt, report).await?;
                    let state = if rec.window_open { "window" } else { "protected" };
                    self.enter(rec, state, "reference taken", report).await
                }
                Err(DefaceError::Unreachable(why)) => self.enter(rec, "unreachable", &why, report).await,
                Err(e) => Err(e),
            };
        };
        let filter = spec.filter().map_err(|e| DefaceError::Invalid(vec![e]))?;
        let full = rt.last_full.is_none_or(|t| t.elapsed() >= self.inner.cfg.full_hash_every);
        let root = spec.access.root.as_str();
        let look = scan(remote, root, &filter, &reference, &mut rt.seen, full, &self.inner.cfg).await;
        let look = match look {
            Ok(l) => l,
            Err(e @ (ScanError::Walk(_) | ScanError::Op(_))) => {
                return self
                    .enter(rec, "unreachable", &format!("the look at the files failed midway: {e}"), report)
                    .await;
            }
            Err(e) => return Err(DefaceError::Disk(e.to_string())),
        };
        if full {
            rt.last_full = Some(Instant::now());
        }
        let m = &self.inner.metrics;
        m.bump(&m.files_checked, look.checked);
        report.files_checked = look.checked;
        report.changes = look.changes.len();
        self.report_refusals(domain, &look.refused, rt, report).await?;
        let page_changes = self.look_at_pages(domain, spec, &reference, rt, report).await?;
        report.page_changes = page_changes.len();

        if rec.window_open {
            self.record_unrestored(rec, "window", &look.changes, &page_changes, rt, report).await?;
            return self.enter(rec, "window", "changes are recorded, not put back", report).await;
        }
        if look.changes.is_empty() {
            if page_changes.is_empty() {
                rt.recorded = None;
                return self.enter(rec, "protected", "as the reference", report).await;
            }
            // A change made while this check ran can show in the pages after the files
            // were looked at: the files are looked at once more before the pages are
            // called a change of their own, so one change is one finding.
            let again = scan(remote, root, &filter, &reference, &mut rt.seen, false, &self.inner.cfg).await;
            if let Ok(again) = again
                && !again.changes.is_empty()
            {
                report.changes = again.changes.len();
                return self
                    .put_back(rec, spec, remote, &dir, &reference, &again.changes, &page_changes, rt, report)
                    .await;
            }
            self.record_unrestored(rec, "pages", &[], &page_changes, rt, report).await?;
            return self.enter(rec, "changed", "pages differ with no file changed: see the findings", report).await;
        }
        self.put_back(rec, spec, remote, &dir, &reference, &look.changes, &page_changes, rt, report).await
    }

    /// The pages compared with the reference; a failure to fetch them is told once.
    async fn look_at_pages(
        &self,
        domain: &str,
        spec: &SiteSpec,
        reference: &Manifest,
        rt: &mut Runtime,
        report: &mut CheckReport,
    ) -> Result<Vec<PageChange>, DefaceError> {
        let (changes, failures) = pages::check(&self.inner.fetcher, spec, &reference.pages).await;
        if !failures.is_empty() && !rt.pages_down {
            self.event(domain, "pages-unreachable", &failures.join("\n")).await?;
            report.events.push("pages-unreachable".into());
        }
        rt.pages_down = !failures.is_empty();
        Ok(changes)
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_back(
        &self,
        rec: &DefaceSiteRecord,
        spec: &SiteSpec,
        remote: &Remote,
        dir: &SiteDir,
        reference: &Manifest,
        changes: &[FileChange],
        page_changes: &[PageChange],
        rt: &mut Runtime,
        report: &mut CheckReport,
    ) -> Result<(), DefaceError> {
        let domain = rec.domain.as_str();
        let detected_at = now_ms();
        let started = Instant::now();
        self.enter(rec, "restoring", &format!("{} files differ from the reference", changes.len()), report).await?;
        let folder = dir.new_evidence().map_err(|e| DefaceError::Disk(e.to_string()))?;
        let root = spec.access.root.as_str();
        let restored = restore(remote, root, dir, reference, changes, &folder, &self.inner.cfg).await;
        let restored_at = now_ms();
        for c in changes {
            rt.seen.remove(&c.rel);
        }
        let m = &self.inner.metrics;
        m.bump(&m.findings, 1);
        if restored.complete() {
            m.restored(started.elapsed());
        } else {
            m.bump(&m.restore_failures, 1);
        }
        let (after, _) = pages::check(&self.inner.fetcher, spec, &reference.pages).await;
        let confirmed_at = after.is_empty().then(now_ms);
        let mut diff = restored.diff.clone();
        for p in page_changes {
            diff.push_str(&p.diff);
        }
        let finding = NewDefaceFinding {
            kind: "unauthorised".into(),
            detected_at,
            restored_at: Some(restored_at),
            confirmed_at,
            outcome: if restored.complete() { "restored" } else { "partly-restored" }.into(),
            files: json!(restored.files),
            pages: json!(page_changes.iter().map(|p| json!({"url": p.url, "reasons": p.reasons})).collect::<Vec<_>>()),
            diff,
            evidence: Some(folder),
        };
        let finding = self.inner.store.add_deface_finding(domain, finding).await?;
        self.tell(Notice::Finding(finding.clone())).await;
        report.finding = Some(finding);
        if restored.complete() {
            self.enter(rec, "protected", "put back from the reference", report).await
        } else {
            let left: Vec<String> = restored
                .files
                .iter()
                .filter(|f| f.action == "left")
                .map(|f| format!("{}: {}", f.path, f.reason.clone().unwrap_or_default()))
                .collect();
            self.event(domain, "restore-failed", &left.join("\n")).await?;
            report.events.push("restore-failed".into());
            self.enter(rec, "changed", "some files could not be put back: see the events", report).await
        }
    }

    /// Records a change set that is not put back (a window, pages alone), once.
    async fn record_unrestored(
        &self,
        rec: &DefaceSiteRecord,
        kind: &str,
        changes: &[FileChange],
        page_changes: &[PageChange],
        rt: &mut Runtime,
        report: &mut CheckReport,
    ) -> Result<(), DefaceError> {
        if changes.is_empty() && page_changes.is_empty() {
            return Ok(());
        }
        let files: Vec<FileOutcome> = changes
            .iter()
            .map(|c| FileOutcome {
                path: c.rel.as_str().to_string(),
                change: c.change,
                action: "recorded".into(),
                reason: None,
                mode: None,
            })
            .collect();
        let pages: Vec<_> = page_changes.iter().map(|p| json!({"url": p.url, "reasons": p.reasons})).collect();
        let signature = json!({"kind": kind, "files": files, "found": changes.iter().map(|c| &c.found).collect::<Vec<_>>(), "pages": pages}).to_string();
        if rt.recorded.as_deref() == Some(signature.as_str()) {
            return Ok(());
        }
        rt.recorded = Some(signature);
        let diff: String = page_changes.iter().map(|p| p.diff.as_str()).collect();
        let f = NewDefaceFinding {
            kind: kind.into(),
            detected_at: now_ms(),
            outcome: "recorded".into(),
            files: json!(files),
            pages: json!(pages),
            diff,
            ..NewDefaceFinding::default()
        };
        let finding = self.inner.store.add_deface_finding(&rec.domain, f).await?;
        let m = &self.inner.metrics;
        m.bump(&m.findings, 1);
        self.tell(Notice::Finding(finding.clone())).await;
        report.finding = Some(finding);
        Ok(())
    }

    /// Tells each refused entry once while it stays.
    pub(super) async fn report_refusals(
        &self,
        domain: &str,
        refused: &[Refusal],
        rt: &mut Runtime,
        report: &mut CheckReport,
    ) -> Result<(), DefaceError> {
        let now: BTreeSet<String> = refused.iter().map(|r| format!("{}:{}", r.kind, r.path)).collect();
        for r in refused {
            let key = format!("{}:{}", r.kind, r.path);
            if !rt.reported.contains(&key) {
                self.event(domain, r.kind, &format!("{}: {}", r.path, r.reason)).await?;
                report.events.push(r.kind.to_string());
            }
        }
        rt.reported = now;
        Ok(())
    }

    /// Moves the site to `state`; entering or leaving a state in which nothing is done
    /// is an event, told once.
    pub(super) async fn enter(
        &self,
        rec: &DefaceSiteRecord,
        state: &str,
        detail: &str,
        report: &mut CheckReport,
    ) -> Result<(), DefaceError> {
        let current = self.inner.store.deface_site(&rec.domain).await?.state;
        self.inner.store.set_deface_state(&rec.domain, state, Some(detail)).await?;
        report.state = state.to_string();
        if current == state {
            return Ok(());
        }
        if DOWN.contains(&state) {
            self.event(&rec.domain, state, detail).await?;
            report.events.push(state.to_string());
        } else if DOWN.contains(&current.as_str()) {
            self.event(&rec.domain, "reachable", &format!("checked again: {state}")).await?;
            report.events.push("reachable".into());
        }
        Ok(())
    }
}
