//! Console sessions: a 256-bit secret in the person's cookie, stored only as its
//! SHA-256 hash, with a CSRF token for the forms of that session. A session ends on
//! logout, when the person is disabled or re-keyed, after an idle time and after an
//! absolute time, whichever comes first.
//!
//! Must not: store or log a session secret.

use sqlx::Row;

use crate::tokens::{hash, random_hex};
use crate::users::{User, user_from_row};
use crate::{Result, Store};

/// A live session and the person it belongs to.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub user: User,
    /// The token every form of this session carries.
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

/// How long a session lives: without a request, and at most.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

/// Requests closer together than this (or a quarter of the idle limit, if shorter) do
/// not rewrite `last_seen`.
const TOUCH_EVERY_MS: i64 = 30_000;

impl Store {
    /// Opens a session for a person who just logged in; returns the cookie's secret.
    pub async fn open_session(&self, user_id: i64, address: &str, now: i64) -> Result<String> {
        let secret = random_hex()?;
        sqlx::query(
            "INSERT INTO sessions (hash, user_id, csrf, created_at, last_seen, address) VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(hash(&secret))
        .bind(user_id)
        .bind(random_hex()?)
        .bind(now)
        .bind(address)
        .execute(&self.pool)
        .await?;
        Ok(secret)
    }

    /// The live session a cookie's secret names at `now`, if any; an expired one is
    /// deleted. A person disabled since is refused.
    pub async fn session(&self, secret: &str, now: i64, limits: SessionLimits) -> Result<Option<Session>> {
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.csrf, s.created_at AS session_created, s.last_seen, u.id, u.name, u.role, \
             o.name AS operator, g.bin AS organisation, u.lang, u.created_at, u.disabled_at, u.locked_until, \
             u.password_hash, u.failed_logins FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN operators o ON o.id = u.operator_id LEFT JOIN organisations g ON g.id = u.organisation_id \
             WHERE s.hash = $1",
        )
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("session_id")?;
        let (created_at, last_seen): (i64, i64) = (row.try_get("session_created")?, row.try_get("last_seen")?);
        let (user, _, _) = user_from_row(&row)?;
        let expired = now - last_seen > limits.idle_ms || now - created_at > limits.absolute_ms;
        if expired || user.disabled_at.is_some() {
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
            return Ok(None);
        }
        // Short idle limits need fresher marks: a request must always count as activity.
        if now - last_seen > TOUCH_EVERY_MS.min(limits.idle_ms / 4) {
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(Session { id, user, csrf: row.try_get("csrf")?, created_at, last_seen: now }))
    }

    /// Ends a session (logout).
    pub async fn close_session(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes every session past its limits at `now`; returns how many.
    pub async fn expire_sessions(&self, now: i64, limits: SessionLimits) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen < $1 OR created_at < $2")
            .bind(now - limits.idle_ms)
            .bind(now - limits.absolute_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
