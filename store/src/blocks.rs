//! Blocks: addresses or prefixes the gateways must deny. Automatic ones come from a
//! passed deadline and are lifted when the operator registers the address; manual ones
//! are set and lifted by the duty team with a mandatory reason. Lifted blocks stay as
//! history.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::states::{BlockKind, ObservationStatus, read};
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};
use snapshot::net::Net;

/// A block, live or lifted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Block {
    pub id: i64,
    pub prefix: Net,
    /// `auto` (deadline passed) or `manual` (duty team).
    pub kind: BlockKind,
    pub reason: String,
    pub notice: Option<i64>,
    pub operator: Option<String>,
    pub since: i64,
    pub actor: String,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

/// Which blocks to list.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockFilter {
    /// Include lifted blocks too.
    #[serde(default)]
    pub all: bool,
    pub kind: Option<String>,
    pub operator: Option<String>,
    /// Only blocks whose prefix contains this address.
    pub ip: Option<std::net::IpAddr>,
}

const BLOCK_SELECT: &str = "SELECT k.id, k.prefix, k.kind, k.reason, k.notice_id, o.name AS operator, k.since, k.actor, \
     k.lifted_at, k.lifted_by, k.lift_reason FROM blocks k LEFT JOIN operators o ON o.id = k.operator_id";

impl Store {
    /// Blocks a prefix by hand. The reason is mandatory.
    pub async fn block(&self, actor: &str, prefix: Net, reason: &str) -> Result<Block> {
        let reason = required_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let live = sqlx::query("SELECT reason FROM blocks WHERE prefix = $1 AND lifted_at IS NULL")
            .bind(prefix.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(r) = live {
            let why: String = r.try_get("reason")?;
            return Err(StoreError::Conflict(format!("{prefix} is already blocked: {why}")));
        }
        let id = insert_block(&mut tx, &prefix, BlockKind::Manual, reason, None, None, actor, now_ms()).await?;
        let block = self.block_by_id(&mut tx, id).await?;
        audit(&mut tx, actor, "block.add", &format!("block:{prefix}"), None, Some(json!(block))).await?;
        tx.commit().await?;
        Ok(block)
    }

    /// Lifts the live block on exactly this prefix. The reason is mandatory. Lifting an
    /// automatic block also closes the unknown-address record it came from.
    pub async fn unblock(&self, actor: &str, prefix: Net, reason: &str) -> Result<Block> {
        let reason = required_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let row = sqlx::query("SELECT id FROM blocks WHERE prefix = $1 AND lifted_at IS NULL")
            .bind(prefix.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "live block on", name: prefix.to_string() })?;
        let id: i64 = row.try_get("id")?;
        let before = self.block_by_id(&mut tx, id).await?;
        lift(&mut tx, id, actor, reason).await?;
        if before.kind == BlockKind::Auto {
            sqlx::query("UPDATE observations SET status = $1, closed_at = $2 WHERE ip = $3 AND status = $4")
                .bind(ObservationStatus::Resolved.as_str())
                .bind(now_ms())
                .bind(prefix.network().to_string())
                .bind(ObservationStatus::Blocked.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let after = self.block_by_id(&mut tx, id).await?;
        audit(&mut tx, actor, "block.lift", &format!("block:{prefix}"), Some(json!(before)), Some(json!(after)))
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Blocks matching the filter, newest first. An operator's blocks are the
    /// automatic ones of its unknown addresses and the manual ones that touch its
    /// current list.
    pub async fn blocks(&self, filter: &BlockFilter) -> Result<Vec<Block>> {
        let sql = format!("{BLOCK_SELECT} WHERE ($1 = 1 OR k.lifted_at IS NULL) ORDER BY k.id DESC");
        let rows = sqlx::query(&sql).bind(i64::from(filter.all)).fetch_all(&self.pool).await?;
        let mut blocks = rows.iter().map(block_from_row).collect::<Result<Vec<_>>>()?;
        blocks.retain(|b| {
            filter.kind.as_ref().is_none_or(|k| b.kind.as_str() == k)
                && filter.ip.is_none_or(|ip| b.prefix.contains_ip(ip))
        });
        let Some(operator) = &filter.operator else { return Ok(blocks) };
        let mut theirs = Vec::with_capacity(blocks.len());
        for b in blocks {
            let mine = match &b.operator {
                Some(o) => o == operator,
                None => self.touches_list(&b.prefix, operator).await?,
            };
            if mine {
                theirs.push(b);
            }
        }
        Ok(theirs)
    }

    /// Whether `prefix` overlaps any prefix in `operator`'s current list.
    pub async fn touches_list(&self, prefix: &Net, operator: &str) -> Result<bool> {
        let family = prefix.family();
        let row = sqlx::query(
            "SELECT 1 AS hit FROM assignments a JOIN operators o ON o.id = a.operator_id \
             WHERE o.name = $1 AND a.family = $2 AND a.start_key <= $3 AND a.end_key >= $4 AND a.valid_to IS NULL LIMIT 1",
        )
        .bind(operator)
        .bind(crate::lists::family_code(family))
        .bind(Net::key(family, prefix.last()))
        .bind(Net::key(family, prefix.bits()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub(super) async fn block_by_id(&self, tx: &mut sqlx::AnyConnection, id: i64) -> Result<Block> {
        let row = sqlx::query(&format!("{BLOCK_SELECT} WHERE k.id = $1")).bind(id).fetch_one(&mut *tx).await?;
        block_from_row(&row)
    }
}

fn required_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::Invalid("a reason is required".into()));
    }
    Ok(reason)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_block(
    tx: &mut sqlx::AnyConnection,
    prefix: &Net,
    kind: BlockKind,
    reason: &str,
    notice: Option<i64>,
    operator: Option<i64>,
    actor: &str,
    since: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO blocks (prefix, kind, reason, notice_id, operator_id, since, actor) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(prefix.to_string())
    .bind(kind.as_str())
    .bind(reason)
    .bind(notice)
    .bind(operator)
    .bind(since)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.try_get("id")?)
}

pub(super) async fn lift(tx: &mut sqlx::AnyConnection, id: i64, actor: &str, reason: &str) -> Result<()> {
    sqlx::query("UPDATE blocks SET lifted_at = $1, lifted_by = $2, lift_reason = $3 WHERE id = $4")
        .bind(now_ms())
        .bind(actor)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn block_from_row(r: &sqlx::any::AnyRow) -> Result<Block> {
    let prefix: String = r.try_get("prefix")?;
    Ok(Block {
        id: r.try_get("id")?,
        prefix: prefix.parse().map_err(|e| StoreError::Invalid(format!("stored block prefix: {e}")))?,
        kind: read(r, "kind")?,
        reason: r.try_get("reason")?,
        notice: r.try_get("notice_id")?,
        operator: r.try_get("operator")?,
        since: r.try_get("since")?,
        actor: r.try_get("actor")?,
        lifted_at: r.try_get("lifted_at")?,
        lifted_by: r.try_get("lifted_by")?,
        lift_reason: r.try_get("lift_reason")?,
    })
}

impl Store {
    /// One page of blocks matching the filter, newest first. `prefix` narrows to
    /// prefixes whose text starts with it.
    pub async fn blocks_page(
        &self,
        filter: &BlockFilter,
        prefix: Option<&str>,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<Block>> {
        use crate::pages::{Keyset, Value, like_prefix};
        let mut q = Keyset::new(BLOCK_SELECT, "k.id", true);
        if !filter.all {
            q.condition("k.lifted_at IS NULL");
        }
        if let Some(kind) = &filter.kind {
            q.filter("k.kind = ?", Value::Text(kind.clone()));
        }
        if let Some(op) = &filter.operator {
            q.filter("k.operator_id = (SELECT id FROM operators WHERE name = ?)", Value::Text(op.clone()));
        }
        if let Some(p) = prefix {
            q.filter("k.prefix LIKE ? ESCAPE '\\'", Value::Text(like_prefix(p)));
        }
        q.page(&self.pool, page, block_from_row, |b| b.id).await
    }

    /// Blocks made at or after `since` (unix ms), newest first.
    pub async fn blocks_since(&self, since: i64, operator: Option<&str>) -> Result<Vec<Block>> {
        let rows = sqlx::query(&format!(
            "{BLOCK_SELECT} WHERE k.since >= $1 AND ($2 = '' OR k.operator_id = \
             (SELECT id FROM operators WHERE name = $2)) ORDER BY k.id DESC LIMIT 200"
        ))
        .bind(since)
        .bind(operator.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(block_from_row).collect()
    }
}
