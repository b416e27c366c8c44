//! Requests to delete a suspended mail system's held mail. The mail lives in the running
//! gateway's spool, so the duty team's request (from the CLI) is written here, audited,
//! and applied by the gateway, which records how many messages it deleted.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use policies::MailStatus;

use crate::mail::fetch;
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// Key prefix of a pending request in the saved state documents.
const PREFIX: &str = "held-delete:";

/// A pending deletion of a system's held mail.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldDeletion {
    pub system: String,
    pub actor: String,
    pub reason: String,
    /// When it was requested, ms since the epoch.
    pub at: i64,
}

impl Store {
    /// Asks the running mail gateway to delete the held mail of a suspended system
    /// (after review; held mail is otherwise kept and released on resumption).
    pub async fn request_held_deletion(&self, actor: &str, name: &str, reason: &str) -> Result<HeldDeletion> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a reason is required".into()));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let system = fetch(&mut tx, name).await?;
        if system.status != MailStatus::Suspended {
            return Err(StoreError::Conflict(format!(
                "mail system '{name}' is {}: only a suspended system's mail is held",
                system.status
            )));
        }
        let request =
            HeldDeletion { system: name.into(), actor: actor.into(), reason: reason.trim().into(), at: now_ms() };
        sqlx::query(
            "INSERT INTO saved_state (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(format!("{PREFIX}{name}"))
        .bind(json!(request).to_string())
        .bind(request.at)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, actor, "mail.held.delete_requested", &format!("mail:{name}"), None, Some(json!(request)))
            .await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Deletion requests the gateway has not applied yet.
    pub async fn pending_held_deletions(&self) -> Result<Vec<HeldDeletion>> {
        let rows = sqlx::query("SELECT name, value FROM saved_state WHERE name LIKE $1 ORDER BY name")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let (key, value): (String, String) = (r.try_get("name")?, r.try_get("value")?);
                serde_json::from_str(&value)
                    .map_err(|e| StoreError::Invalid(format!("saved request '{key}' does not parse: {e}")))
            })
            .collect()
    }

    /// Records that the gateway applied `request`, deleting `messages` held messages;
    /// audited as the requester's `mail.held.delete`, as the API's deletion is.
    pub async fn complete_held_deletion(&self, request: &HeldDeletion, messages: usize) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM saved_state WHERE name = $1")
            .bind(format!("{PREFIX}{}", request.system))
            .execute(&mut *tx)
            .await?;
        let event =
            json!({ "action": "delete", "messages": messages, "reason": request.reason, "applied_by": "mail gateway" });
        let subject = format!("mail:{}", request.system);
        audit(&mut tx, &request.actor, "mail.held.delete", &subject, None, Some(event)).await?;
        tx.commit().await?;
        Ok(())
    }
}
