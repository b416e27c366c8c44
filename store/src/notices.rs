//! Notices to operators about their unknown addresses, and the deadline that follows:
//! a notice is recorded (with the addresses it covers) before it is sent, marked sent
//! with its deadline once the SMTP server accepted it, retried with backoff otherwise.
//! When a deadline has passed, the store offers each address it listed with whether a
//! list covers it now ([`DeadlineChange`], under the write lock) and records the outcome
//! the catalog's reconciler decides for it: a block, or closed as resolved.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::blocks::insert_block;
use crate::lists::covered;
use crate::states::{BlockKind, NoticeStatus, ObservationStatus, read};
use crate::{Result, Store, audit, write_lock};
use snapshot::net::Net;

/// A notice waiting to be (re)sent, with everything the e-mail needs.
#[derive(Clone, Debug)]
pub struct PendingNotice {
    pub id: i64,
    pub operator: String,
    pub operator_full_name: String,
    pub recipients: Vec<String>,
    pub message_id: String,
    pub attempts: i64,
    pub addresses: Vec<NoticeAddress>,
}

/// One address listed in a notice.
#[derive(Clone, Debug, Serialize)]
pub struct NoticeAddress {
    pub ip: String,
    pub link: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub seen: i64,
}

/// A notice as listed for the duty team.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoticeInfo {
    pub id: i64,
    pub operator: String,
    pub created_at: i64,
    pub recipients: Vec<String>,
    pub addresses: i64,
    pub status: NoticeStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub deadline_day: Option<String>,
    pub deadline_at: Option<i64>,
}

/// What a pass over the passed deadlines did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadlineReport {
    pub blocked: Vec<String>,
    pub resolved: Vec<String>,
}

impl Store {
    /// Opens a notice for every operator with new unknown addresses that has had no
    /// notice since `period_start` (the latest scheduled sending time). Operators
    /// without a contact address are skipped and named in the result.
    pub async fn create_notices(&self, now: i64, period_start: i64) -> Result<(Vec<i64>, Vec<String>)> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.contacts, (SELECT MAX(n.created_at) FROM notices n WHERE n.operator_id = o.id) AS last \
             FROM operators o WHERE EXISTS (SELECT 1 FROM observations b WHERE b.operator_id = o.id AND b.status = 'open')",
        )
        .fetch_all(&mut *tx)
        .await?;
        let (mut created, mut skipped) = (Vec::new(), Vec::new());
        for r in rows {
            let last: Option<i64> = r.try_get("last")?;
            if last.is_some_and(|l| l >= period_start) {
                continue;
            }
            let (op_id, name): (i64, String) = (r.try_get("id")?, r.try_get("name")?);
            let contacts: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("contacts")?).unwrap_or_default();
            if contacts.is_empty() {
                skipped.push(name);
                continue;
            }
            created.push(open_notice(&mut tx, op_id, &name, &contacts, now).await?);
        }
        tx.commit().await?;
        Ok((created, skipped))
    }

    /// Notices due for a (re)send at `now`.
    pub async fn due_notices(&self, now: i64) -> Result<Vec<PendingNotice>> {
        let rows = sqlx::query(
            "SELECT n.id, o.name, o.full_name, n.recipients, n.message_id, n.attempts FROM notices n \
             JOIN operators o ON o.id = n.operator_id WHERE n.status = 'pending' AND n.next_attempt <= $1 ORDER BY n.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let addrs = sqlx::query(
                "SELECT ip, link, first_seen, last_seen, seen FROM observations WHERE notice_id = $1 ORDER BY ip",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let addresses = addrs
                .iter()
                .map(|a| {
                    Ok(NoticeAddress {
                        ip: a.try_get("ip")?,
                        link: a.try_get("link")?,
                        first_seen: a.try_get("first_seen")?,
                        last_seen: a.try_get("last_seen")?,
                        seen: a.try_get("seen")?,
                    })
                })
                .collect::<Result<_>>()?;
            due.push(PendingNotice {
                id,
                operator: r.try_get("name")?,
                operator_full_name: r.try_get("full_name")?,
                recipients: serde_json::from_str(&r.try_get::<String, _>("recipients")?).unwrap_or_default(),
                message_id: r.try_get("message_id")?,
                attempts: r.try_get("attempts")?,
                addresses,
            });
        }
        Ok(due)
    }

    /// Claims a due notice for one send: its next attempt moves to `until`, so no other
    /// node (or pass) sends it meanwhile; a sender that dies leaves it due again then.
    /// False when another sender holds it or it is no longer due.
    pub async fn claim_notice(&self, id: i64, now: i64, until: i64) -> Result<bool> {
        claim(&self.pool, "notices", id, now, until).await
    }

    /// Records that the SMTP server accepted a notice, and its deadline.
    pub async fn notice_sent(&self, id: i64, sent_at: i64, deadline_day: &str, deadline_at: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE notices SET status = 'sent', attempts = attempts + 1, sent_at = $1, deadline_day = $2, deadline_at = $3, \
             last_error = NULL WHERE id = $4 AND status = 'pending'",
        )
        .bind(sent_at)
        .bind(deadline_day)
        .bind(deadline_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let after = json!({"sent_at": sent_at, "deadline": deadline_day});
        audit(&mut tx, "reconciler", "notice.sent", &format!("notice:{id}"), None, Some(after)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retry at `next_attempt`, or give up when `None`.
    pub async fn notice_failed(&self, id: i64, error: &str, next_attempt: Option<i64>) -> Result<()> {
        let status = if next_attempt.is_some() { NoticeStatus::Pending } else { NoticeStatus::Failed };
        sqlx::query(
            "UPDATE notices SET status = $1, attempts = attempts + 1, last_error = $2, next_attempt = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(next_attempt.unwrap_or(i64::MAX))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notices, newest first, optionally of one operator.
    pub async fn notices(&self, operator: Option<&str>) -> Result<Vec<NoticeInfo>> {
        let rows = sqlx::query(&format!("{NOTICE_SELECT} WHERE ($1 = '' OR o.name = $1) ORDER BY n.id DESC"))
            .bind(operator.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(notice_from_row).collect()
    }

    /// The noticed addresses whose deadline has passed at `now`, each with whether a
    /// list covers it now, read under the write lock: until the change is recorded (or
    /// dropped) no import can cover or uncover one of them.
    pub async fn deadlines(&self, now: i64) -> Result<DeadlineChange> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let rows = sqlx::query(
            "SELECT b.id, b.ip, b.operator_id, b.notice_id FROM observations b JOIN notices n ON n.id = b.notice_id \
             WHERE b.status = $1 AND n.status = $2 AND n.deadline_at <= $3",
        )
        .bind(ObservationStatus::Noticed.as_str())
        .bind(NoticeStatus::Sent.as_str())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for r in rows {
            let ip_text: String = r.try_get("ip")?;
            let Ok(ip) = ip_text.parse::<IpAddr>() else { continue };
            let covered = covered(&mut tx, ip).await?;
            let (id, operator_id, notice) = (r.try_get("id")?, r.try_get("operator_id")?, r.try_get("notice_id")?);
            due.push(DueDeadline { id, ip, operator_id, notice, covered });
        }
        Ok(DeadlineChange { tx, now, due })
    }
}

/// A noticed address whose deadline has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueDeadline {
    /// The observation's id.
    pub id: i64,
    pub ip: IpAddr,
    pub operator_id: i64,
    /// The notice that listed it.
    pub notice: i64,
    /// Whether an operator's list covers the address now.
    pub covered: bool,
}

/// What the catalog decided for a due address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadlineOutcome {
    /// Covered now: the observation is closed.
    Resolved,
    /// Still uncovered: blocked (automatically) with this reason, unless a live block
    /// already covers exactly this address.
    Blocked { reason: String },
}

/// The passed deadlines, read and then answered in one transaction under the write lock.
pub struct DeadlineChange {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    now: i64,
    due: Vec<DueDeadline>,
}

impl DeadlineChange {
    /// The due addresses, with whether each is covered.
    pub fn due(&self) -> &[DueDeadline] {
        &self.due
    }

    /// Records the outcome decided for each due address (by its observation's id), in
    /// one audited transaction. An id that is not due is an error and records nothing.
    pub async fn record(mut self, outcomes: Vec<(i64, DeadlineOutcome)>) -> Result<DeadlineReport> {
        let now = self.now;
        let mut report = DeadlineReport::default();
        for (id, outcome) in outcomes {
            let Some(due) = self.due.iter().find(|d| d.id == id) else {
                return Err(crate::StoreError::Invalid(format!("observation {id} has no passed deadline")));
            };
            let host = Net::host(due.ip);
            let status = match outcome {
                DeadlineOutcome::Resolved => {
                    report.resolved.push(due.ip.to_string());
                    ObservationStatus::Resolved
                }
                DeadlineOutcome::Blocked { reason } => {
                    let live = sqlx::query("SELECT id FROM blocks WHERE prefix = $1 AND lifted_at IS NULL")
                        .bind(host.to_string())
                        .fetch_optional(&mut *self.tx)
                        .await?;
                    if live.is_none() {
                        let (notice, op) = (Some(due.notice), Some(due.operator_id));
                        insert_block(&mut self.tx, &host, BlockKind::Auto, &reason, notice, op, "reconciler", now)
                            .await?;
                    }
                    report.blocked.push(due.ip.to_string());
                    ObservationStatus::Blocked
                }
            };
            sqlx::query("UPDATE observations SET status = $1, closed_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind((status == ObservationStatus::Resolved).then_some(now))
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
        }
        if !report.blocked.is_empty() || !report.resolved.is_empty() {
            audit(&mut self.tx, "reconciler", "deadline.apply", "deadlines", None, Some(json!(report))).await?;
        }
        self.tx.commit().await?;
        Ok(report)
    }
}

async fn open_notice(
    tx: &mut sqlx::AnyConnection,
    op_id: i64,
    operator: &str,
    contacts: &[String],
    now: i64,
) -> Result<i64> {
    let count = sqlx::query("SELECT COUNT(*) AS c FROM observations WHERE operator_id = $1 AND status = 'open'")
        .bind(op_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("c")?;
    let message_id = format!("<notice.{operator}.{now}@perimeter.invalid>");
    let row = sqlx::query(
        "INSERT INTO notices (operator_id, created_at, recipients, addresses, message_id, status, attempts, next_attempt) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $2) RETURNING id",
    )
    .bind(op_id)
    .bind(now)
    .bind(json!(contacts).to_string())
    .bind(count)
    .bind(&message_id)
    .fetch_one(&mut *tx)
    .await?;
    let id: i64 = row.try_get("id")?;
    sqlx::query(
        "UPDATE observations SET status = 'noticed', notice_id = $1 WHERE operator_id = $2 AND status = 'open'",
    )
    .bind(id)
    .bind(op_id)
    .execute(&mut *tx)
    .await?;
    let after = json!({"notice": id, "addresses": count, "recipients": contacts});
    audit(tx, "reconciler", "notice.create", &format!("operator:{operator}"), None, Some(after)).await?;
    Ok(id)
}

const NOTICE_SELECT: &str = "SELECT n.id, o.name, n.created_at, n.recipients, n.addresses, n.status, n.attempts, \
     n.last_error, n.sent_at, n.deadline_day, n.deadline_at FROM notices n JOIN operators o ON o.id = n.operator_id";

fn notice_from_row(r: &sqlx::any::AnyRow) -> Result<NoticeInfo> {
    Ok(NoticeInfo {
        id: r.try_get("id")?,
        operator: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        recipients: serde_json::from_str(&r.try_get::<String, _>("recipients")?).unwrap_or_default(),
        addresses: r.try_get("addresses")?,
        status: read(r, "status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        sent_at: r.try_get("sent_at")?,
        deadline_day: r.try_get("deadline_day")?,
        deadline_at: r.try_get("deadline_at")?,
    })
}

impl Store {
    /// One page of notices, newest first, optionally of one operator and one status
    /// (`pending`, `sent`, `failed`).
    pub async fn notices_page(
        &self,
        operator: Option<&str>,
        status: Option<&str>,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<NoticeInfo>> {
        use crate::pages::{Keyset, Value};
        let mut q = Keyset::new(NOTICE_SELECT, "n.id", true);
        if let Some(op) = operator {
            q.filter("n.operator_id = (SELECT id FROM operators WHERE name = ?)", Value::Text(op.to_string()));
        }
        if let Some(status) = status {
            q.filter("n.status = ?", Value::Text(status.to_string()));
        }
        q.page(&self.pool, page, notice_from_row, |n| n.id).await
    }

    /// Notices that could not be sent: given up, or waiting for a retry after a failure.
    pub async fn undelivered_notices(&self, operator: Option<&str>) -> Result<Vec<NoticeInfo>> {
        let rows = sqlx::query(&format!(
            "{NOTICE_SELECT} WHERE (n.status = 'failed' OR (n.status = 'pending' AND n.attempts > 0)) \
             AND ($1 = '' OR o.name = $1) ORDER BY n.id DESC LIMIT 200"
        ))
        .bind(operator.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }
}

/// Claims pending message `id` of an outbox table (`notices`, `desk_mail`) for one
/// send: its next attempt moves to `until`. False when another sender holds it or it
/// is no longer due.
pub(crate) async fn claim(pool: &sqlx::AnyPool, table: &'static str, id: i64, now: i64, until: i64) -> Result<bool> {
    let sql =
        format!("UPDATE {table} SET next_attempt = $1 WHERE id = $2 AND status = 'pending' AND next_attempt <= $3");
    let done = sqlx::query(&sql).bind(until).bind(id).bind(now).execute(pool).await?;
    Ok(done.rows_affected() == 1)
}
