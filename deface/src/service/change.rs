//! Authorised change: taking a site's reference (at its first check, and when a
//! maintenance window closes), opening and closing the window, and accepting a change
//! set after it was found (the restore reversed, the reference following). Each is
//! audited with who and when.
//!
//! Must not: take a reference from a look that failed midway.

use store::{DefaceFinding, DefaceSiteRecord};

use super::{Deface, DefaceError, Runtime};
use crate::files::reference::SiteDir;
use crate::files::remote::Remote;
use crate::files::restore::{FileOutcome, reverse};
use crate::files::scan::{ScanError, take};
use crate::files::walk::Refusal;
use crate::pages;
use crate::site::SiteSpec;

impl Deface {
    /// Takes a new reference of files and pages and records it by `actor`; returns the
    /// files left out (each an event for the caller to tell).
    pub(super) async fn take_reference(
        &self,
        rec: &DefaceSiteRecord,
        spec: &SiteSpec,
        remote: &Remote,
        rt: &mut Runtime,
        actor: &str,
    ) -> Result<Vec<Refusal>, DefaceError> {
        let filter = spec.filter().map_err(|e| DefaceError::Invalid(vec![e]))?;
        let dir = SiteDir::new(&self.inner.data_dir, &rec.domain);
        let cfg = &self.inner.cfg;
        let (mut manifest, refused) =
            take(remote, &spec.access.root, &filter, &dir, &mut rt.seen, cfg).await.map_err(|e| match e {
                ScanError::Walk(_) | ScanError::Op(_) => {
                    DefaceError::Unreachable(format!("the reference could not be taken: {e}"))
                }
                ScanError::Bound(b) => DefaceError::Invalid(vec![b]),
                ScanError::Disk(d) => DefaceError::Disk(d),
            })?;
        let (pages, failures) = pages::gather(&self.inner.fetcher, spec, cfg.page_depth, cfg.max_pages).await;
        if !failures.is_empty() {
            self.event(
                &rec.domain,
                "pages-unreachable",
                &format!("left out of the reference:\n{}", failures.join("\n")),
            )
            .await?;
        }
        manifest.pages = pages;
        dir.save(&manifest).map_err(|e| DefaceError::Disk(e.to_string()))?;
        rt.last_full = Some(std::time::Instant::now());
        rt.recorded = None;
        let (files, bytes, pages) = (manifest.files.len() as i64, manifest.bytes() as i64, manifest.pages.len() as i64);
        self.inner.store.set_deface_reference(actor, &rec.domain, files, bytes, pages).await?;
        Ok(refused)
    }

    async fn connect(&self, rec: &DefaceSiteRecord) -> Result<(SiteSpec, Remote), DefaceError> {
        let spec: SiteSpec = serde_json::from_value(rec.spec.clone())
            .map_err(|e| DefaceError::Invalid(vec![format!("{}: {e}", rec.domain)]))?;
        let secret = self.secret(rec)?;
        let remote = Remote::connect(&spec.access, &secret, rec.host_key.as_deref(), self.inner.cfg.timeout)
            .await
            .map_err(|e| DefaceError::Unreachable(format!("{}: {e}", rec.domain)))?;
        Ok((spec, remote))
    }

    /// Opens (`true`) or closes the site's maintenance window as `actor`. Closing takes
    /// the site as it is now as the new reference.
    pub async fn window(&self, actor: &str, domain: &str, open: bool) -> Result<(), DefaceError> {
        let rt = self.runtime(domain);
        let mut rt = rt.lock().await;
        let rec = self.inner.store.deface_site(domain).await?;
        if rec.window_open == open {
            let what = if open { "already open" } else { "not open" };
            return Err(DefaceError::Conflict(format!("the maintenance window of {domain} is {what}")));
        }
        if open {
            self.inner.store.set_deface_window(actor, domain, true).await?;
            self.inner.store.set_deface_state(domain, "window", Some("opened by a person")).await?;
            return Ok(());
        }
        let (spec, remote) = self.connect(&rec).await?;
        let taken = self.take_reference(&rec, &spec, &remote, &mut rt, actor).await;
        remote.close().await;
        taken?;
        self.inner.store.set_deface_window(actor, domain, false).await?;
        self.inner
            .store
            .set_deface_state(domain, "protected", Some("the window closed: its changes are the reference"))
            .await?;
        Ok(())
    }

    /// Accepts finding `id` of `domain` (the newest not accepted when `None`) as `actor`:
    /// what it put back is made as it was found again and becomes the reference.
    pub async fn accept(&self, actor: &str, domain: &str, id: Option<i64>) -> Result<DefaceFinding, DefaceError> {
        let rt = self.runtime(domain);
        let mut rt = rt.lock().await;
        let finding = match id {
            Some(id) => self.inner.store.deface_finding(id).await?,
            None => self
                .inner
                .store
                .deface_findings(domain, 1000)
                .await?
                .into_iter()
                .find(|f| f.outcome != "accepted")
                .ok_or_else(|| DefaceError::Conflict(format!("{domain} has no finding to accept")))?,
        };
        if finding.domain != domain {
            return Err(DefaceError::Conflict(format!(
                "finding {} is of {}, not {domain}",
                finding.id, finding.domain
            )));
        }
        if finding.outcome == "accepted" {
            return Err(DefaceError::Conflict(format!("finding {} is already accepted", finding.id)));
        }
        let rec = self.inner.store.deface_site(domain).await?;
        let (spec, remote) = self.connect(&rec).await?;
        let result = self.reverse_finding(&rec, &spec, &remote, &finding, &mut rt).await;
        remote.close().await;
        result?;
        Ok(self.inner.store.accept_deface_finding(actor, finding.id).await?)
    }

    async fn reverse_finding(
        &self,
        rec: &DefaceSiteRecord,
        spec: &SiteSpec,
        remote: &Remote,
        finding: &DefaceFinding,
        rt: &mut Runtime,
    ) -> Result<(), DefaceError> {
        let dir = SiteDir::new(&self.inner.data_dir, &rec.domain);
        let reference = dir
            .load()
            .map_err(|e| DefaceError::Disk(e.to_string()))?
            .ok_or_else(|| DefaceError::Conflict(format!("{} has no reference yet", rec.domain)))?;
        let files: Vec<FileOutcome> = serde_json::from_value(finding.files.clone()).unwrap_or_default();
        let mut manifest = match (&finding.evidence, finding.kind.as_str()) {
            (Some(folder), "unauthorised") => reverse(remote, &spec.access.root, &dir, &reference, &files, folder)
                .await
                .map_err(|e| DefaceError::Unreachable(format!("the change could not be made again: {e}")))?,
            _ => reference,
        };
        let cfg = &self.inner.cfg;
        let (pages, _) = pages::gather(&self.inner.fetcher, spec, cfg.page_depth, cfg.max_pages).await;
        manifest.pages = pages;
        dir.save(&manifest).map_err(|e| DefaceError::Disk(e.to_string()))?;
        rt.seen.clear();
        rt.recorded = None;
        let (n, bytes, p) = (manifest.files.len() as i64, manifest.bytes() as i64, manifest.pages.len() as i64);
        self.inner.store.set_deface_reference("deface", &rec.domain, n, bytes, p).await?;
        Ok(())
    }
}
