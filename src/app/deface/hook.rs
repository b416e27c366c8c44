//! What a finding becomes outside the service: an unauthorised change (put back or not),
//! pages changed, a host key that changed or a restore that failed is filed as an
//! `incident` application at the desk for the site's organisation, with the evidence
//! (files, pages, diff, times) as its details, and one e-mail with the whole evidence is
//! recorded in the desk's outbox to the site's technical contacts and the duty team
//! (sent at once, retried until accepted). Changes recorded in a maintenance window and
//! the other events (unreachable, back, names refused...) stay on the site's record and
//! in the log.
//!
//! Must not: lose a notice silently: one that cannot be filed (no organisation, nobody
//! to tell, the desk refuses) is logged as an error with why.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use deface::{Hook, Notice};
use desk::{Applicant, Kind};
use serde_json::json;

use crate::app::requests::{Desk, Evidence, Filing, day_of};

/// The longest evidence kept in the incident's details (the desk's bound on a text
/// field); the e-mail carries all of it.
const DETAILS_CHARS: usize = 1800;

/// Files incidents at the desk and e-mails them.
pub struct DeskHook {
    desk: Arc<Desk>,
}

impl DeskHook {
    pub fn new(desk: Arc<Desk>) -> DeskHook {
        DeskHook { desk }
    }

    async fn file(&self, notice: &Notice) -> anyhow::Result<Option<i64>> {
        if !worth_an_incident(notice) {
            return Ok(None);
        }
        let domain = notice.domain();
        let owner = self.desk.store.deface_owner(domain).await?;
        let Some(org) = owner.org else {
            anyhow::bail!(
                "the site has no organisation: nothing filed (set one with `perimeter deface site add --org`)"
            );
        };
        let applicant: Applicant = format!("org:{org}").parse().map_err(anyhow::Error::msg)?;
        let duty = self.desk.duty_contacts();
        let contacts = if owner.contacts.is_empty() { duty.to_vec() } else { owner.contacts };
        anyhow::ensure!(!contacts.is_empty(), "the site has no contacts and [desk] duty_contacts names nobody");
        let today = day_of(store::now_ms());
        let body = notice.body();
        let fields = json!({
            "summary": notice.subject(),
            "observed_on": today.to_string(),
            "details": details(&body, domain),
        });
        let filing = Filing { kind: Kind::Incident, applicant, contacts, fields, signed: None };
        let evidence = Evidence { subject: notice.subject(), body };
        let record = self.desk.report_incident("deface", filing, today, evidence).await?;
        Ok(Some(record.id))
    }
}

impl Hook for DeskHook {
    fn notify(&self, notice: Notice) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let site = notice.domain().to_string();
            match self.file(&notice).await {
                Ok(Some(id)) => tracing::warn!(site = %site, request = id, "{}: incident filed", notice.subject()),
                Ok(None) => tracing::info!(site = %site, "{}", notice.subject()),
                Err(e) => {
                    tracing::error!(site = %site, error = %format!("{e:#}"), "{}: the incident was not filed", notice.subject())
                }
            }
        })
    }
}

/// Whether `notice` is an incident: a change not authorised, pages changed, a host key
/// that changed, a restore that failed.
pub fn worth_an_incident(notice: &Notice) -> bool {
    match notice {
        Notice::Finding(f) => f.kind != "window",
        Notice::Event(e) => matches!(e.kind.as_str(), "host-key-changed" | "restore-failed"),
    }
}

/// The evidence within the desk's bound on a text field.
fn details(body: &str, domain: &str) -> String {
    if body.chars().count() <= DETAILS_CHARS {
        return body.to_string();
    }
    let cut: String = body.chars().take(DETAILS_CHARS).collect();
    format!("{cut}\n… (the rest: `perimeter deface site show {domain}` and the e-mail)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &str) -> Notice {
        Notice::Finding(store::DefaceFinding {
            id: 1,
            domain: "site.example.kz".into(),
            kind: kind.into(),
            detected_at: 0,
            restored_at: None,
            confirmed_at: None,
            outcome: "restored".into(),
            files: json!([]),
            pages: json!([]),
            diff: "x".repeat(5000),
            evidence: None,
            accepted_by: None,
            accepted_at: None,
        })
    }

    #[test]
    fn changes_not_authorised_are_incidents_and_window_changes_are_not() {
        assert!(worth_an_incident(&finding("unauthorised")));
        assert!(worth_an_incident(&finding("pages")));
        assert!(!worth_an_incident(&finding("window")));
        let event = |kind: &str| {
            Notice::Event(store::DefaceEvent {
                id: 1,
                domain: "d.kz".into(),
                at: 0,
                kind: kind.into(),
                detail: "".into(),
            })
        };
        assert!(worth_an_incident(&event("host-key-changed")));
        assert!(!worth_an_incident(&event("unreachable")));
    }

    #[test]
    fn long_evidence_is_cut_within_the_desks_bound() {
        let body = finding("unauthorised").body();
        let d = details(&body, "site.example.kz");
        assert!(d.chars().count() < desk::fields::MAX_TEXT, "{}", d.len());
        assert!(d.ends_with("`perimeter deface site show site.example.kz` and the e-mail)"));
    }
}
