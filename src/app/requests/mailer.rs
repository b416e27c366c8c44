//! Sends the desk's outbox and runs its sweep. Every process that records desk e-mails
//! sends the due ones (a claim in the store keeps two senders off one message); a
//! failed send is retried with the notices' backoff and given up after
//! [`GIVE_UP_AFTER`] attempts, or at once when an address is not one. In `perimeter
//! up` the sweep (lapses and reminders) runs on the node that leads the `desk` job, so
//! a reminder is recorded once in a cluster.
//!
//! Must not: compose messages (they were composed when their event was recorded).

use std::sync::Arc;
use std::time::Duration;

use store::Leadership;

use super::{Desk, day_of, notify};
use crate::app::service::{Service, Stop};

/// Attempts after which a message is given up (with the notices' backoff, a day and more).
pub const GIVE_UP_AFTER: i64 = 30;

/// What one pass over the outbox did.
#[derive(Debug, Default, serde::Serialize)]
pub struct MailReport {
    pub sent: Vec<i64>,
    pub failed: Vec<(i64, String)>,
}

impl Desk {
    /// Sends every message due at `now` once.
    pub async fn send_due(&self, now: i64) -> Result<MailReport, store::StoreError> {
        let mut report = MailReport::default();
        let until = now + i64::try_from(self.claim.as_millis()).unwrap_or(i64::MAX / 2);
        for pending in self.store.due_desk_mail(now).await? {
            if !self.store.claim_desk_mail(pending.id, now, until).await? {
                continue;
            }
            // An address that is not one never will be: given up at once.
            let files = self.files_of(&pending).await?;
            let sent = match notify::message(&pending.mail, &self.from, files) {
                Ok(message) => self.mailer.send(message).await.map_err(|e| (e, false)),
                Err(e) => Err((e, true)),
            };
            match sent {
                Ok(()) => {
                    self.store.desk_mail_sent(pending.id, store::now_ms()).await?;
                    report.sent.push(pending.id);
                }
                Err((e, permanent)) => {
                    let attempts = pending.attempts + 1;
                    let retry = (!permanent && attempts < GIVE_UP_AFTER)
                        .then(|| now + catalog::reconcile::backoff(self.retry_base, pending.attempts));
                    self.store.desk_mail_failed(pending.id, &e, retry).await?;
                    let (request, mail) = (pending.application_id, pending.id);
                    match retry {
                        Some(at) => tracing::warn!(request, mail, error = %e, retry_at = at, "desk e-mail not sent"),
                        None => tracing::error!(request, mail, error = %e, attempts, "desk e-mail given up"),
                    }
                    report.failed.push((pending.id, e));
                }
            }
        }
        Ok(report)
    }

    /// The attachments a message carries, read from its application.
    async fn files_of(
        &self,
        pending: &store::PendingMail,
    ) -> Result<Vec<(String, String, Vec<u8>)>, store::StoreError> {
        let mut files = Vec::new();
        for id in &pending.mail.attachments {
            if let (info, Some(content)) = self.store.attachment(pending.application_id, *id).await? {
                files.push((info.name, info.content_type, content));
            }
        }
        Ok(files)
    }
}

/// Sends the outbox whenever a message is recorded (and every `every` for retries), and
/// sweeps every `every` while this node leads the `desk` job.
pub struct DeskJobs {
    pub desk: Arc<Desk>,
    pub every: Duration,
    pub lead: Leadership,
}

impl Service for DeskJobs {
    const NAME: &'static str = "desk outbox and sweep";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let DeskJobs { desk, every, lead } = self;
        let every = every.max(Duration::from_secs(1));
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            if lead.is_leader() && last_sweep.is_none_or(|at| at.elapsed() >= every) {
                last_sweep = Some(tokio::time::Instant::now());
                match desk.sweep(day_of(store::now_ms())).await {
                    Ok(s) if !s.lapsed.is_empty() || !s.reminded.is_empty() => {
                        tracing::info!(lapsed = ?s.lapsed, reminded = ?s.reminded, "the desk's sweep")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the desk's sweep failed; it runs again"),
                }
            }
            if let Err(e) = desk.send_due(store::now_ms()).await {
                tracing::warn!(error = %e, "the desk's outbox could not be read; it is tried again");
            }
            tokio::select! {
                _ = desk.outbox.notified() => {}
                _ = tokio::time::sleep(every) => {}
                _ = stop.stopped() => return Ok(()),
            }
        }
    }
}
