//! What each node of a cluster tells the others: its traffic-watch counts of its current
//! windows per mail system (opaque JSON documents here), replaced every exchange, read
//! by the other nodes while fresh.
//!
//! Must not: interpret the documents; the mail gateway does.

use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// Replaces `node`'s shares with `shares` (system id, document) at `now`.
    pub async fn put_shares(&self, node: &str, shares: &[(i64, String)], now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM watch_shares WHERE node = $1").bind(node).execute(&mut *tx).await?;
        for (system, share) in shares {
            sqlx::query("INSERT INTO watch_shares (node, system_id, share_json, updated_at) VALUES ($1, $2, $3, $4)")
                .bind(node)
                .bind(*system)
                .bind(share)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The other nodes' shares written since `since`: (system id, document).
    pub async fn peer_shares(&self, node: &str, since: i64) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT system_id, share_json FROM watch_shares WHERE node <> $1 AND updated_at >= $2")
            .bind(node)
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("system_id")?, r.try_get("share_json")?))).collect()
    }

    /// Forgets shares not renewed since `before` (nodes that are gone).
    pub async fn drop_stale_shares(&self, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM watch_shares WHERE updated_at < $1").bind(before).execute(&self.pool).await?;
        Ok(())
    }
}
