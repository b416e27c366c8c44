//! The attachments of an application: checked by the desk's rules (size, content type
//! against content, how many and how much one application holds, counted under the
//! store's write lock so that simultaneous uploads cannot pass it together), kept whole
//! with their name, type, size, SHA-256 and, for a signed document the caller verified,
//! its signer; audited (without the content). A filing or a transition may bring one
//! in its own transaction (a signed application, the technical conditions).

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::json;
use sqlx::Row;

use super::{AttachmentInfo, Verified, subject};
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// A file to attach with an event (a signed application at filing, the technical
/// conditions at their issue), in the event's transaction.
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub name: String,
    pub content_type: String,
    pub content: Vec<u8>,
    pub signer: Option<Verified>,
}

/// Checks and records an attachment of application `id` inside the caller's
/// transaction (which holds the write lock); audited.
pub(super) async fn insert(
    tx: &mut sqlx::AnyConnection,
    actor: &str,
    id: i64,
    file: (&str, &str, &[u8]),
    signer: Option<Verified>,
) -> Result<AttachmentInfo> {
    let (name, content_type, content) = file;
    let content_type = desk::attachment::check(name, content_type, content).map_err(StoreError::Invalid)?;
    let sha256: String = digest(&SHA256, content).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
    let held = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total \
         FROM application_attachments WHERE application_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let (count, total): (i64, i64) = (held.try_get("n")?, held.try_get("total")?);
    desk::attachment::room(count, total, name, size).map_err(StoreError::Invalid)?;
    let row = sqlx::query(
        "INSERT INTO application_attachments (application_id, name, content_type, size, sha256, signer, \
         signer_bin, added_at, actor, content, signs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind(id)
    .bind(name)
    .bind(&content_type)
    .bind(size)
    .bind(&sha256)
    .bind(signer.as_ref().map(|s| s.subject.clone()))
    .bind(signer.as_ref().and_then(|s| s.bin.clone()))
    .bind(now_ms())
    .bind(actor)
    .bind(content.to_vec())
    .bind(signer.as_ref().and_then(|s| s.signs))
    .fetch_one(&mut *tx)
    .await?;
    let info = AttachmentInfo {
        id: row.try_get("id")?,
        name: name.to_string(),
        content_type,
        size,
        sha256,
        signer: signer.as_ref().map(|s| s.subject.clone()),
        signer_bin: signer.as_ref().and_then(|s| s.bin.clone()),
        signs: signer.and_then(|s| s.signs),
        added_at: now_ms(),
    };
    audit(tx, actor, "request.attach", &subject(id), None, Some(json!(info))).await?;
    Ok(info)
}

impl Store {
    /// Records an attachment of application `id` after checking it; `signer` is the
    /// verified signer of a signed document (subject, BIN).
    pub async fn attach(
        &self,
        actor: &str,
        id: i64,
        file: (&str, &str, &[u8]),
        signer: Option<Verified>,
    ) -> Result<AttachmentInfo> {
        desk::attachment::check(file.0, file.1, file.2).map_err(StoreError::Invalid)?;
        self.application(id).await?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let info = insert(&mut tx, actor, id, file, signer).await?;
        tx.commit().await?;
        Ok(info)
    }

    /// The attachments of application `id`.
    pub async fn attachments(&self, id: i64) -> Result<Vec<AttachmentInfo>> {
        let rows = sqlx::query(&format!("{INFO} WHERE application_id = $1 ORDER BY id"))
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(info).collect()
    }

    /// Attachment `attachment` of application `id` with its content (`None` for one
    /// recorded before contents were kept).
    pub async fn attachment(&self, id: i64, attachment: i64) -> Result<(AttachmentInfo, Option<Vec<u8>>)> {
        let row = sqlx::query(
            "SELECT id, name, content_type, size, sha256, signer, signer_bin, added_at, signs, content \
             FROM application_attachments WHERE application_id = $1 AND id = $2",
        )
        .bind(id)
        .bind(attachment)
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or_else(|| StoreError::NotFound { what: "attachment", name: format!("{id}/{attachment}") })?;
        Ok((info(&row)?, row.try_get("content")?))
    }
}

const INFO: &str =
    "SELECT id, name, content_type, size, sha256, signer, signer_bin, added_at, signs FROM application_attachments";

fn info(r: &sqlx::any::AnyRow) -> Result<AttachmentInfo> {
    Ok(AttachmentInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        signer: r.try_get("signer")?,
        signer_bin: r.try_get("signer_bin")?,
        signs: r.try_get("signs")?,
        added_at: r.try_get("added_at")?,
    })
}
