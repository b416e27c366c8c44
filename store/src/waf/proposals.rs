//! Exclusions proposed from a WAF site's events: a rule (and a target, such as
//! `ARGS:comment`) that matched a legitimate request, named with the transaction it was
//! seen in. The duty team confirms one (the site's settings, with the exclusion added by
//! the caller, are stored in the same transaction as the confirmation) or declines it;
//! every step is audited under the site's subject.
//!
//! Must not: write the exclusion into the settings itself: the caller brings the new
//! settings, checked by the WAF's engine.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::{WafSiteRecord, fetch, subject};
use crate::states::{ProposalStatus, read};
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// One proposed exclusion.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WafProposal {
    pub id: i64,
    pub site: String,
    pub rule: u32,
    pub target: Option<String>,
    pub transaction: Option<String>,
    pub note: String,
    pub status: ProposalStatus,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

const SELECT: &str = "SELECT p.id, s.domain, p.rule, p.target, p.transaction_id, p.note, p.status, p.proposed_by, \
     p.proposed_at, p.decided_by, p.decided_at FROM waf_proposals p JOIN waf_sites s ON s.id = p.site_id";

fn from_row(row: &sqlx::any::AnyRow) -> Result<WafProposal> {
    let rule: i64 = row.try_get("rule")?;
    Ok(WafProposal {
        id: row.try_get("id")?,
        site: row.try_get("domain")?,
        rule: u32::try_from(rule).map_err(|_| StoreError::Invalid(format!("stored rule id {rule}")))?,
        target: row.try_get("target")?,
        transaction: row.try_get("transaction_id")?,
        note: row.try_get("note")?,
        status: read(row, "status")?,
        proposed_by: row.try_get("proposed_by")?,
        proposed_at: row.try_get("proposed_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
    })
}

async fn fetch_proposal(conn: &mut sqlx::AnyConnection, id: i64) -> Result<WafProposal> {
    let row = sqlx::query(&format!("{SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "exclusion proposal", name: id.to_string() })?;
    from_row(&row)
}

impl Store {
    /// Records a proposed exclusion of `rule` (on `target`, or everywhere) for `domain`,
    /// seen in `transaction`.
    pub async fn propose_waf_exclusion(
        &self,
        actor: &str,
        domain: &str,
        (rule, target): (u32, Option<&str>),
        transaction: Option<&str>,
        note: &str,
    ) -> Result<WafProposal> {
        if rule == 0 {
            return Err(StoreError::Invalid("0 is not a rule id".into()));
        }
        let mut tx = self.pool.begin().await?;
        let site = fetch(&mut tx, domain).await?;
        let row = sqlx::query(
            "INSERT INTO waf_proposals (site_id, rule, target, transaction_id, note, status, proposed_by, proposed_at) \
             VALUES ($1, $2, $3, $4, $5, 'proposed', $6, $7) RETURNING id",
        )
        .bind(site.id)
        .bind(i64::from(rule))
        .bind(target)
        .bind(transaction)
        .bind(note.trim())
        .bind(actor)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let proposal = fetch_proposal(&mut tx, row.try_get("id")?).await?;
        audit(&mut tx, actor, "waf.exclusion.propose", &subject(domain), None, Some(json!(proposal))).await?;
        tx.commit().await?;
        Ok(proposal)
    }

    /// The proposals of `domain` (every site's when `None`), newest first.
    pub async fn waf_proposals(&self, domain: Option<&str>) -> Result<Vec<WafProposal>> {
        let rows = sqlx::query(&format!("{SELECT} WHERE ($1 = '' OR s.domain = $1) ORDER BY p.id DESC"))
            .bind(domain.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// One proposal.
    pub async fn waf_proposal(&self, id: i64) -> Result<WafProposal> {
        let mut conn = self.pool.acquire().await?;
        fetch_proposal(&mut conn, id).await
    }

    /// Confirms proposal `id`: the site's settings become `settings` (the exclusion
    /// added, checked by the caller against the site as it was at `version`) in the
    /// same transaction. Returns the site as it now is.
    pub async fn confirm_waf_proposal(
        &self,
        actor: &str,
        id: i64,
        version: i64,
        settings: serde_json::Value,
    ) -> Result<WafSiteRecord> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let proposal = decide(&mut tx, actor, id, ProposalStatus::Confirmed).await?;
        let before = fetch(&mut tx, &proposal.site).await?;
        if before.version != version {
            return Err(StoreError::Conflict(format!("WAF site {} changed meanwhile; read it again", before.domain)));
        }
        sqlx::query("UPDATE waf_sites SET settings = $1, version = version + 1, updated_at = $2 WHERE id = $3")
            .bind(settings.to_string())
            .bind(now_ms())
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
        let after = fetch(&mut tx, &proposal.site).await?;
        let event = json!({ "proposal": proposal, "settings": after.settings });
        audit(&mut tx, actor, "waf.exclusion.confirm", &subject(&after.domain), Some(json!(before)), Some(event))
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Declines proposal `id`.
    pub async fn decline_waf_proposal(&self, actor: &str, id: i64) -> Result<WafProposal> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let proposal = decide(&mut tx, actor, id, ProposalStatus::Declined).await?;
        audit(&mut tx, actor, "waf.exclusion.decline", &subject(&proposal.site), None, Some(json!(proposal))).await?;
        tx.commit().await?;
        Ok(proposal)
    }
}

/// Marks a proposal still open as `status`; a decided one is a conflict.
async fn decide(tx: &mut sqlx::AnyConnection, actor: &str, id: i64, status: ProposalStatus) -> Result<WafProposal> {
    let before = fetch_proposal(tx, id).await?;
    if before.status != ProposalStatus::Proposed {
        return Err(StoreError::Conflict(format!("proposal {id} is already {}", before.status)));
    }
    sqlx::query("UPDATE waf_proposals SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(actor)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    fetch_proposal(tx, id).await
}
