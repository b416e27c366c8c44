//! API tokens: created for the duty team, for one operator or for one organisation
//! (which follows its own applications at the desk), shown once, stored only as a
//! SHA-256 hash (tokens are 256 random bits, so a fast hash is enough), revocable.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use policies::Bin;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::{Result, Store, StoreError, audit, now_ms, valid_handle, write_lock};

/// Who is acting: the duty team sees and changes everything; an operator only its own;
/// an organisation only its own applications at the desk (no operator's data at all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    Duty,
    Operator { operator: String },
    Organisation { organisation: Bin },
}

impl Role {
    /// True when this role may read or change the given operator's data.
    pub fn may_act_for(&self, operator: &str) -> bool {
        match self {
            Role::Duty => true,
            Role::Operator { operator: own } => own == operator,
            Role::Organisation { .. } => false,
        }
    }
}

/// What is shown about a token (never the secret).
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub name: String,
    #[serde(flatten)]
    pub role: Role,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Prefix that makes a perimeter token recognisable in logs and secret scanners.
const TOKEN_PREFIX: &str = "pmt_";

/// SHA-256 of a secret, in hex: what is stored of a token or a session.
pub(crate) fn hash(secret: &str) -> String {
    digest(&SHA256, secret.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits in hex.
pub(crate) fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| StoreError::Invalid("the system random source failed".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn new_secret() -> Result<String> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex()?))
}

impl Store {
    /// Creates a token and returns its secret, which is not stored and cannot be shown again.
    pub async fn create_token(&self, actor: &str, name: &str, role: &Role) -> Result<String> {
        if !valid_handle(name) {
            return Err(StoreError::Invalid(format!(
                "token name '{name}': use 1-64 lowercase letters, digits, '-', '_' or '.'"
            )));
        }
        let secret = new_secret()?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let taken = sqlx::query("SELECT id FROM tokens WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("a token named '{name}' already exists")));
        }
        let (role_text, op_id, org_id) = match role {
            Role::Duty => ("duty", None, None),
            Role::Operator { operator } => ("operator", Some(self.require_operator(&mut tx, operator).await?), None),
            Role::Organisation { organisation } => {
                ("organisation", None, Some(self.require_organisation(&mut tx, organisation).await?))
            }
        };
        sqlx::query(
            "INSERT INTO tokens (name, role, operator_id, organisation_id, hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(role_text)
        .bind(op_id)
        .bind(org_id)
        .bind(hash(&secret))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, actor, "token.create", &format!("token:{name}"), None, Some(json!(role))).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The token's name and role, if the secret belongs to a live token.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<(String, Role)>> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT t.name, t.role, o.name AS operator, g.bin AS organisation FROM tokens t \
             LEFT JOIN operators o ON o.id = t.operator_id LEFT JOIN organisations g ON g.id = t.organisation_id \
             WHERE t.hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((row.try_get("name")?, role_from(&row)?)))
    }

    /// Revokes a token by name.
    pub async fn revoke_token(&self, actor: &str, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "live token", name: name.to_string() });
        }
        audit(&mut tx, actor, "token.revoke", &format!("token:{name}"), None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// All tokens, without secrets.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.name, t.role, o.name AS operator, g.bin AS organisation, t.created_at, t.revoked_at \
             FROM tokens t LEFT JOIN operators o ON o.id = t.operator_id \
             LEFT JOIN organisations g ON g.id = t.organisation_id ORDER BY t.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    name: r.try_get("name")?,
                    role: role_from(r)?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }
}

fn role_from(row: &sqlx::any::AnyRow) -> Result<Role> {
    let role: String = row.try_get("role")?;
    match role.as_str() {
        "duty" => Ok(Role::Duty),
        "operator" => Ok(Role::Operator { operator: row.try_get("operator")? }),
        "organisation" => Ok(Role::Organisation { organisation: stored_bin(row)? }),
        other => Err(StoreError::Invalid(format!("stored token role '{other}' is unknown"))),
    }
}

/// The BIN of the organisation a token or a person is limited to (column `organisation`).
pub(crate) fn stored_bin(row: &sqlx::any::AnyRow) -> Result<Bin> {
    let text: String = row.try_get("organisation")?;
    text.parse().map_err(|e| StoreError::Invalid(format!("stored organisation BIN '{text}': {e}")))
}
