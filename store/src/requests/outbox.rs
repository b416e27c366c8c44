//! The desk's outbox: every e-mail an application's filing, transition or reminder
//! causes is recorded in the same transaction as the event, then sent by whichever
//! process claims it first (the claim moves its next attempt, as for the reconciler's
//! notices), retried with backoff until the SMTP server accepts it, and given up after
//! a bounded number of attempts, which stays visible on the application.
//!
//! Must not: compose or send a message (the binary does), or drop one unsent.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store};

/// A message to record with an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMail {
    /// What it tells: `file`, a transition's verb, `remind`, `incident`.
    pub event: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    /// Attachments of the application sent with it (the technical conditions).
    pub attachments: Vec<i64>,
}

/// A recorded message due to be sent.
#[derive(Clone, Debug)]
pub struct PendingMail {
    pub id: i64,
    pub application_id: i64,
    pub mail: OutMail,
    pub attempts: i64,
}

/// What the desk shows of a message (never its body).
#[derive(Clone, Debug, Serialize)]
pub struct MailInfo {
    pub id: i64,
    pub event: String,
    pub recipients: Vec<String>,
    /// `pending`, `sent` or `failed` (given up).
    pub status: crate::states::OutboxStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Records `mails` of application `id` as pending, due at once.
pub(super) async fn enqueue(conn: &mut sqlx::AnyConnection, id: i64, mails: &[OutMail], now: i64) -> Result<()> {
    for m in mails {
        sqlx::query(
            "INSERT INTO desk_mail (application_id, created_at, event, recipients, subject, body, status, attempts, \
             next_attempt, attachments) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $2, $7)",
        )
        .bind(id)
        .bind(now)
        .bind(&m.event)
        .bind(serde_json::to_string(&m.recipients).unwrap_or_else(|_| "[]".into()))
        .bind(&m.subject)
        .bind(&m.body)
        .bind((!m.attachments.is_empty()).then(|| serde_json::to_string(&m.attachments).unwrap_or_default()))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn recipients(row: &sqlx::any::AnyRow) -> Result<Vec<String>> {
    Ok(serde_json::from_str(&row.try_get::<String, _>("recipients")?).unwrap_or_default())
}

fn attachments(row: &sqlx::any::AnyRow) -> Result<Vec<i64>> {
    let text: Option<String> = row.try_get("attachments")?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
}

impl Store {
    /// Messages due at `now`, oldest first.
    pub async fn due_desk_mail(&self, now: i64) -> Result<Vec<PendingMail>> {
        let rows = sqlx::query(
            "SELECT id, application_id, event, recipients, subject, body, attempts, attachments FROM desk_mail \
             WHERE status = 'pending' AND next_attempt <= $1 ORDER BY id LIMIT 500",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingMail {
                    id: r.try_get("id")?,
                    application_id: r.try_get("application_id")?,
                    mail: OutMail {
                        event: r.try_get("event")?,
                        recipients: recipients(r)?,
                        subject: r.try_get("subject")?,
                        body: r.try_get("body")?,
                        attachments: attachments(r)?,
                    },
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Claims a due message for one send until `until`; false when another sender
    /// holds it or it is no longer due.
    pub async fn claim_desk_mail(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        crate::notices::claim(&self.pool, "desk_mail", id, now, until).await
    }

    /// Records that the SMTP server accepted message `id`.
    pub async fn desk_mail_sent(&self, id: i64, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE desk_mail SET status = 'sent', attempts = attempts + 1, sent_at = $1, last_error = NULL \
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `next_attempt`, or given up without one.
    pub async fn desk_mail_failed(&self, id: i64, error: &str, next_attempt: Option<i64>) -> Result<()> {
        use crate::states::OutboxStatus;
        let status = if next_attempt.is_some() { OutboxStatus::Pending } else { OutboxStatus::Failed };
        sqlx::query(
            "UPDATE desk_mail SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt = COALESCE($3, next_attempt) WHERE id = $4 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(next_attempt)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The messages of application `id`, oldest first.
    pub async fn desk_mail(&self, id: i64) -> Result<Vec<MailInfo>> {
        let rows = sqlx::query(
            "SELECT id, event, recipients, status, attempts, last_error, created_at, sent_at FROM desk_mail \
             WHERE application_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MailInfo {
                    id: r.try_get("id")?,
                    event: r.try_get("event")?,
                    recipients: recipients(r)?,
                    status: crate::states::read(r, "status")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    created_at: r.try_get("created_at")?,
                    sent_at: r.try_get("sent_at")?,
                })
            })
            .collect()
    }
}
