//! The audit trail: every change to the store is recorded in `changes` (who, when,
//! what, the state before and after) inside the same transaction as the change itself;
//! events outside the tables (a CA rotation, say) are recorded here too.
//!
//! Must not: record anything outside the transaction of the change it describes.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Result, Store, now_ms};

/// One audited change: who, when, what, and the state before and after.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Change {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Store {
    /// Audited changes, newest first; `subject` filters by exact subject
    /// (`operator:NAME`, `organisation:BIN`, `token:NAME`).
    pub async fn changes(&self, subject: Option<&str>, limit: i64) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, subject, before_json, after_json FROM changes \
             WHERE ($1 = '' OR subject = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(subject.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change_from_row).collect()
    }

    /// Records an event that happened outside the catalog tables (a CA rotation, say)
    /// in the audit trail.
    pub async fn record(&self, actor: &str, action: &str, subject: &str, after: serde_json::Value) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id = audit(&mut tx, actor, action, subject, None, Some(after)).await?;
        tx.commit().await?;
        Ok(id)
    }
}

fn change_from_row(row: &sqlx::any::AnyRow) -> Result<Change> {
    let json = |col: &str| -> Result<Option<serde_json::Value>> {
        let text: Option<String> = row.try_get(col)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    };
    Ok(Change {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        before: json("before_json")?,
        after: json("after_json")?,
    })
}

/// Records one change inside the caller's transaction and returns its id.
pub(crate) async fn audit(
    tx: &mut sqlx::AnyConnection,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO changes (at, actor, action, subject, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(before.map(|v| v.to_string()))
    .bind(after.map(|v| v.to_string()))
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.try_get("id")?)
}

impl Store {
    /// One page of the audit trail, newest first.
    pub async fn changes_page(
        &self,
        filter: &crate::AuditFilter,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<Change>> {
        use crate::pages::{Keyset, Value, like_prefix};
        let mut q =
            Keyset::new("SELECT id, at, actor, action, subject, before_json, after_json FROM changes", "id", true);
        if let Some(subject) = &filter.subject {
            q.filter("subject = ?", Value::Text(subject.clone()));
        }
        if let Some(actor) = &filter.actor {
            q.filter("actor = ?", Value::Text(actor.clone()));
        }
        if let Some(action) = &filter.action {
            q.filter("action LIKE ? ESCAPE '\\'", Value::Text(like_prefix(action)));
        }
        if let Some(from) = filter.from {
            q.filter("at >= ?", Value::Int(from));
        }
        if let Some(to) = filter.to {
            q.filter("at < ?", Value::Int(to));
        }
        q.page(&self.pool, page, change_from_row, |c| c.id).await
    }
}
