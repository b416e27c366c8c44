//! People who use the console: the duty team, operators' staff (limited to their
//! operator), organisations' staff (limited to their own applications at the desk) and
//! auditors (read-only, see everything). Passwords are stored only as
//! argon2id hashes (PHC strings); consecutive wrong passwords lock the account for a
//! while. Creating, re-keying and disabling a person are audited under `user:NAME`.
//!
//! Must not: keep or log a password; tell a caller whether an unknown name exists.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use policies::Bin;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::{Result, Store, StoreError, audit, now_ms, valid_handle, write_lock};

/// What a person may do in the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum UserRole {
    /// Sees and changes everything.
    Duty,
    /// Sees everything, changes nothing.
    Auditor,
    /// Sees and changes only this operator's data.
    Operator { operator: String },
    /// Sees and files only this organisation's applications; no operator's data.
    Organisation { organisation: Bin },
}

impl UserRole {
    /// The operator this person is limited to; `None` for the duty team and auditors.
    /// An organisation's staff are limited to no operator at all: `Some("")`, a name no
    /// operator has, so that every operator-scoped page shows them nothing even if the
    /// console's allow-list of their pages were bypassed.
    pub fn own_operator(&self) -> Option<&str> {
        match self {
            UserRole::Operator { operator } => Some(operator),
            UserRole::Organisation { .. } => Some(""),
            UserRole::Duty | UserRole::Auditor => None,
        }
    }

    /// True when this person may read the given operator's data.
    pub fn may_see(&self, operator: &str) -> bool {
        self.own_operator().is_none_or(|own| own == operator)
    }

    /// The short name shown and stored: `duty`, `auditor` or `operator`.
    pub fn kind(&self) -> &'static str {
        match self {
            UserRole::Duty => "duty",
            UserRole::Auditor => "auditor",
            UserRole::Operator { .. } => "operator",
            UserRole::Organisation { .. } => "organisation",
        }
    }
}

/// A person as listed (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub role: UserRole,
    /// `en`, `ru` or `kk`.
    pub lang: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub locked_until: Option<i64>,
}

/// How many consecutive wrong passwords lock an account, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Lockout {
    pub after: i64,
    pub for_ms: i64,
}

/// The answer to a login attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Accepted(User),
    /// Wrong password or no such (live) person: the caller cannot tell which.
    Refused,
    /// Too many wrong passwords; try again after this instant (unix ms).
    Locked {
        until: i64,
    },
}

/// Languages the console speaks.
pub const LANGUAGES: [&str; 3] = ["en", "ru", "kk"];

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

const USER_SELECT: &str = "SELECT u.id, u.name, u.role, o.name AS operator, g.bin AS organisation, u.lang, \
     u.created_at, u.disabled_at, u.locked_until, u.password_hash, u.failed_logins FROM users u \
     LEFT JOIN operators o ON o.id = u.operator_id LEFT JOIN organisations g ON g.id = u.organisation_id";

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hashes a password with a fresh salt (CPU-heavy: call off the async workers).
fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| StoreError::Invalid("the system random source failed".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Invalid(format!("password salt: {e}")))?;
    let hash =
        hasher().hash_password(password.as_bytes(), &salt).map_err(|e| StoreError::Invalid(format!("hashing: {e}")))?;
    Ok(hash.to_string())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
}

/// Runs a hash computation on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Invalid(format!("password hashing stopped: {e}")))
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(StoreError::Invalid(format!("the password must have at least {MIN_PASSWORD} characters")));
    }
    Ok(())
}

fn check_lang(lang: &str) -> Result<()> {
    if LANGUAGES.contains(&lang) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("language '{lang}': use one of {}", LANGUAGES.join(", "))))
    }
}

/// A hash that matches no password, verified when the name is unknown so that a
/// refusal takes as long either way.
static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Store {
    /// Registers a person with a password and a language.
    pub async fn add_user(&self, actor: &str, name: &str, role: &UserRole, password: &str, lang: &str) -> Result<User> {
        if !valid_handle(name) {
            return Err(StoreError::Invalid(format!(
                "user name '{name}': use 1-64 lowercase letters, digits, '-', '_' or '.'"
            )));
        }
        check_password(password)?;
        check_lang(lang)?;
        let password = password.to_string();
        let phc = blocking(move || hash_password(&password)).await??;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let taken = sqlx::query("SELECT id FROM users WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("a user named '{name}' already exists")));
        }
        let (op_id, org_id) = match role {
            UserRole::Operator { operator } => (Some(self.require_operator(&mut tx, operator).await?), None),
            UserRole::Organisation { organisation } => {
                (None, Some(self.require_organisation(&mut tx, organisation).await?))
            }
            UserRole::Duty | UserRole::Auditor => (None, None),
        };
        sqlx::query(
            "INSERT INTO users (name, role, operator_id, organisation_id, password_hash, lang, created_at, \
             failed_logins) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(name)
        .bind(role.kind())
        .bind(op_id)
        .bind(org_id)
        .bind(phc)
        .bind(lang)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let user = user_named(&mut tx, name).await?.0;
        audit(&mut tx, actor, "user.add", &format!("user:{name}"), None, Some(json!(user))).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Sets a new password; clears a lockout and ends the person's sessions.
    pub async fn set_password(&self, actor: &str, name: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let password = password.to_string();
        let phc = blocking(move || hash_password(&password)).await??;
        let mut tx = self.pool.begin().await?;
        let user = user_named(&mut tx, name).await?.0;
        sqlx::query("UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL WHERE id = $2")
            .bind(phc)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.id).execute(&mut *tx).await?;
        audit(&mut tx, actor, "user.passwd", &format!("user:{name}"), None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables a person (or enables one again); disabling ends every session at once.
    pub async fn set_user_disabled(&self, actor: &str, name: &str, disabled: bool) -> Result<User> {
        let mut tx = self.pool.begin().await?;
        let before = user_named(&mut tx, name).await?.0;
        let at = disabled.then(now_ms);
        sqlx::query("UPDATE users SET disabled_at = $1, failed_logins = 0, locked_until = NULL WHERE id = $2")
            .bind(at)
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(before.id).execute(&mut *tx).await?;
        }
        let after = user_named(&mut tx, name).await?.0;
        let action = if disabled { "user.disable" } else { "user.enable" };
        audit(&mut tx, actor, action, &format!("user:{name}"), Some(json!(before)), Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Sets the language a person reads the console in.
    pub async fn set_user_lang(&self, actor: &str, user_id: i64, lang: &str) -> Result<()> {
        check_lang(lang)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT name, lang FROM users WHERE id = $1").bind(user_id).fetch_one(&mut *tx).await?;
        let (name, before): (String, String) = (row.try_get("name")?, row.try_get("lang")?);
        if before == lang {
            return Ok(());
        }
        sqlx::query("UPDATE users SET lang = $1 WHERE id = $2").bind(lang).bind(user_id).execute(&mut *tx).await?;
        let subject = format!("user:{name}");
        audit(&mut tx, actor, "user.lang", &subject, Some(json!({"lang": before})), Some(json!({"lang": lang})))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every person, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("{USER_SELECT} ORDER BY u.name")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| user_from_row(r).map(|(u, _, _)| u)).collect()
    }

    /// Checks a name and password at `now`. A wrong password counts towards the
    /// lockout, in one statement, so that wrong passwords sent at once each count; a
    /// right one resets the count. A locked or disabled account is refused whatever the
    /// password. Every answer costs one password hash, for a name that exists or not.
    pub async fn login(&self, name: &str, password: &str, now: i64, lockout: Lockout) -> Result<LoginOutcome> {
        let row =
            sqlx::query(&format!("{USER_SELECT} WHERE u.name = $1")).bind(name).fetch_optional(&self.pool).await?;
        let found = row.as_ref().map(user_from_row).transpose()?;
        let Some((user, phc, _)) = found.filter(|(u, _, _)| u.disabled_at.is_none()) else {
            verify_decoy(password).await?;
            return Ok(LoginOutcome::Refused);
        };
        if let Some(until) = user.locked_until.filter(|&u| u > now) {
            verify_decoy(password).await?;
            return Ok(LoginOutcome::Locked { until });
        }
        let password = password.to_string();
        if blocking(move || verify_password(&password, &phc)).await? {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(user.id)
                .execute(&self.pool)
                .await?;
            return Ok(LoginOutcome::Accepted(User { locked_until: None, ..user }));
        }
        self.count_wrong_password(&user, now, lockout).await
    }

    /// Counts a wrong password for `user` atomically (an expired lock starts the count
    /// again) and locks the account when the count reaches `lockout.after`: only the
    /// statement that still finds the count there locks and audits it.
    async fn count_wrong_password(&self, user: &User, now: i64, lockout: Lockout) -> Result<LoginOutcome> {
        let row = sqlx::query(
            "UPDATE users SET \
               failed_logins = CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE failed_logins + 1 END, \
               locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN NULL ELSE locked_until END \
             WHERE id = $1 RETURNING failed_logins, locked_until",
        )
        .bind(user.id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let failed: i64 = row.try_get("failed_logins")?;
        if let Some(until) = row.try_get::<Option<i64>, _>("locked_until")?.filter(|&u| u > now) {
            return Ok(LoginOutcome::Locked { until });
        }
        if failed < lockout.after {
            return Ok(LoginOutcome::Refused);
        }
        let until = now + lockout.for_ms;
        let mut tx = self.pool.begin().await?;
        let locked = sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = $1 \
             WHERE id = $2 AND failed_logins >= $3 AND (locked_until IS NULL OR locked_until <= $4)",
        )
        .bind(until)
        .bind(user.id)
        .bind(lockout.after)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() == 1 {
            let after = json!({"locked_until": until, "wrong_passwords": failed});
            audit(&mut tx, "console", "user.locked", &format!("user:{}", user.name), None, Some(after)).await?;
            tx.commit().await?;
            return Ok(LoginOutcome::Locked { until });
        }
        tx.commit().await?;
        // Another wrong password sent at the same time locked it first.
        let row =
            sqlx::query("SELECT locked_until FROM users WHERE id = $1").bind(user.id).fetch_one(&self.pool).await?;
        let until: Option<i64> = row.try_get("locked_until")?;
        Ok(until.filter(|&u| u > now).map_or(LoginOutcome::Refused, |until| LoginOutcome::Locked { until }))
    }
}

/// Checks `password` against a hash no account has, to answer in the time a real check takes.
async fn verify_decoy(password: &str) -> Result<()> {
    let password = password.to_string();
    blocking(move || {
        let decoy = DECOY.get_or_init(|| hash_password("decoy password never set").unwrap_or_default());
        verify_password(&password, decoy)
    })
    .await?;
    Ok(())
}

async fn user_named(conn: &mut sqlx::AnyConnection, name: &str) -> Result<(User, String, i64)> {
    let row = sqlx::query(&format!("{USER_SELECT} WHERE u.name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "user", name: name.to_string() })?;
    user_from_row(&row)
}

/// A person, their password hash and their count of consecutive wrong passwords.
pub(crate) fn user_from_row(r: &sqlx::any::AnyRow) -> Result<(User, String, i64)> {
    let role = match r.try_get::<String, _>("role")?.as_str() {
        "duty" => UserRole::Duty,
        "auditor" => UserRole::Auditor,
        "operator" => UserRole::Operator { operator: r.try_get("operator")? },
        "organisation" => UserRole::Organisation { organisation: crate::tokens::stored_bin(r)? },
        other => return Err(StoreError::Invalid(format!("stored user role '{other}' is unknown"))),
    };
    let user = User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role,
        lang: r.try_get("lang")?,
        created_at: r.try_get("created_at")?,
        disabled_at: r.try_get("disabled_at")?,
        locked_until: r.try_get("locked_until")?,
    };
    Ok((user, r.try_get("password_hash")?, r.try_get("failed_logins")?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_verify_only_their_password_and_are_salted() {
        let a = super::hash_password("correct horse battery").unwrap();
        let b = super::hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(super::verify_password("correct horse battery", &a));
        assert!(!super::verify_password("correct horse batterY", &a));
        assert!(!super::verify_password("anything", "not a phc string"));
    }
}
