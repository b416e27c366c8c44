//! Connected government mail systems (the mail gateway's registry): connect, change
//! status (suspend, resume, disconnect now or at an agreed time), list; and small saved
//! state documents (the traffic watch's counters). Every change is audited under the
//! subject `mail:NAME`.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::entities::valid_email;
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};
use policies::{Bin, MailStatus};

/// A connected mail system as the store holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailSystemRecord {
    pub id: i64,
    pub name: String,
    pub owner_bin: String,
    pub domains: Vec<String>,
    pub servers: Vec<IpAddr>,
    pub deliver_to: Option<SocketAddr>,
    pub contacts: Vec<String>,
    /// `active`, `suspended` or `disconnected`.
    pub status: MailStatus,
    pub status_reason: Option<String>,
    pub status_since: i64,
    /// An agreed disconnection time, if one is scheduled.
    pub disconnect_at: Option<i64>,
    pub created_at: i64,
}

/// A mail system as the duty team connects it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMailSystem {
    pub name: String,
    /// BIN of the owner organisation (must be in the catalog).
    pub owner_bin: String,
    pub domains: Vec<String>,
    pub servers: Vec<IpAddr>,
    #[serde(default)]
    pub deliver_to: Option<SocketAddr>,
    pub contacts: Vec<String>,
}

fn valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl NewMailSystem {
    fn validate(&mut self) -> Result<Bin> {
        let bad = |m: String| Err(StoreError::Invalid(m));
        if !crate::valid_handle(&self.name) {
            return bad(format!(
                "mail system name '{}': use 1-64 lowercase letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        let bin: Bin = self.owner_bin.parse().map_err(|e| StoreError::Invalid(format!("owner: {e}")))?;
        for d in &mut self.domains {
            *d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        }
        self.domains.sort();
        self.domains.dedup();
        self.servers.sort();
        self.servers.dedup();
        if self.domains.is_empty() || self.servers.is_empty() || self.contacts.is_empty() {
            return bad("a mail system needs at least one domain, one server address and one contact".into());
        }
        if let Some(d) = self.domains.iter().find(|d| !valid_domain(d)) {
            return bad(format!("'{d}' is not a mail domain"));
        }
        if let Some(c) = self.contacts.iter().find(|c| !valid_email(c)) {
            return bad(format!("contact '{c}' is not an e-mail address"));
        }
        Ok(bin)
    }
}

const SELECT: &str = "SELECT id, name, owner_bin, domains, servers, deliver_to, contacts, status, status_reason, \
     status_since, disconnect_at, created_at FROM mail_systems";

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<MailSystemRecord> {
    let stored = |what: &str, e: String| StoreError::Invalid(format!("stored mail system {what}: {e}"));
    let servers: String = r.try_get("servers")?;
    let deliver_to: Option<String> = r.try_get("deliver_to")?;
    Ok(MailSystemRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        owner_bin: r.try_get("owner_bin")?,
        domains: words(&r.try_get::<String, _>("domains")?),
        servers: servers
            .split_whitespace()
            .map(|s| s.parse().map_err(|e| stored("server", format!("{e}"))))
            .collect::<Result<_>>()?,
        deliver_to: deliver_to.map(|d| d.parse().map_err(|e| stored("deliver_to", format!("{e}")))).transpose()?,
        contacts: words(&r.try_get::<String, _>("contacts")?),
        status: r.try_get::<String, _>("status")?.parse().map_err(|e| StoreError::Invalid(format!("stored {e}")))?,
        status_reason: r.try_get("status_reason")?,
        status_since: r.try_get("status_since")?,
        disconnect_at: r.try_get("disconnect_at")?,
        created_at: r.try_get("created_at")?,
    })
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

impl Store {
    /// Connects a mail system. Its domains and server addresses must not belong to another
    /// connected (not disconnected) system; its owner must be a catalog organisation.
    pub async fn connect_mail_system(&self, actor: &str, mut new: NewMailSystem) -> Result<MailSystemRecord> {
        let bin = new.validate()?;
        let owner = self.organisation(&bin).await?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let rows = sqlx::query(&format!("{SELECT} WHERE status <> 'disconnected' OR name = $1"))
            .bind(&new.name)
            .fetch_all(&mut *tx)
            .await?;
        for other in rows.iter().map(from_row) {
            let other = other?;
            if other.name == new.name {
                return Err(StoreError::Conflict(format!("mail system '{}' already exists", new.name)));
            }
            if let Some(d) = new.domains.iter().find(|d| other.domains.contains(d)) {
                return Err(StoreError::Conflict(format!(
                    "domain {d} already belongs to mail system '{}'",
                    other.name
                )));
            }
            if let Some(ip) = new.servers.iter().find(|ip| other.servers.contains(ip)) {
                return Err(StoreError::Conflict(format!(
                    "server address {ip} already belongs to mail system '{}'",
                    other.name
                )));
            }
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO mail_systems (name, owner_bin, domains, servers, deliver_to, contacts, status, \
             status_since, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)",
        )
        .bind(&new.name)
        .bind(owner.bin.as_str())
        .bind(join(&new.domains))
        .bind(join(&new.servers))
        .bind(new.deliver_to.map(|d| d.to_string()))
        .bind(join(&new.contacts))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let after = fetch(&mut tx, &new.name).await?;
        audit(&mut tx, actor, "mail.connect", &format!("mail:{}", new.name), None, Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Every mail system, connected or not, by name.
    pub async fn mail_systems(&self) -> Result<Vec<MailSystemRecord>> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn mail_system(&self, name: &str) -> Result<MailSystemRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, name).await
    }

    /// Suspends a system that is active now; `None` when it was not (another node of
    /// the cluster, or the duty team, got there first): who changed it tells its owner.
    pub async fn suspend_if_active(&self, actor: &str, name: &str, reason: &str) -> Result<Option<MailSystemRecord>> {
        let (record, changed) = self.change_mail_status(actor, name, MailStatus::Suspended, reason).await?;
        Ok(changed.then_some(record))
    }

    /// Moves a system to `status` with a reason;
    /// a disconnected system cannot come back (connect it anew). Setting the status it
    /// already has changes nothing and is not an error.
    pub async fn set_mail_status(
        &self,
        actor: &str,
        name: &str,
        status: MailStatus,
        reason: &str,
    ) -> Result<MailSystemRecord> {
        Ok(self.change_mail_status(actor, name, status, reason).await?.0)
    }

    /// [`Store::set_mail_status`], and whether this call changed the status.
    async fn change_mail_status(
        &self,
        actor: &str,
        name: &str,
        status: MailStatus,
        reason: &str,
    ) -> Result<(MailSystemRecord, bool)> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a reason is required".into()));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let before = fetch(&mut tx, name).await?;
        if before.status == status {
            return Ok((before, false));
        }
        if before.status == MailStatus::Disconnected {
            return Err(StoreError::Conflict(format!("mail system '{name}' is disconnected; connect it anew")));
        }
        let clear_schedule = status == MailStatus::Disconnected;
        sqlx::query(
            "UPDATE mail_systems SET status = $1, status_reason = $2, status_since = $3, \
             disconnect_at = CASE WHEN $4 = 1 THEN NULL ELSE disconnect_at END WHERE name = $5",
        )
        .bind(status.as_str())
        .bind(reason.trim())
        .bind(now_ms())
        .bind(i64::from(clear_schedule))
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let after = fetch(&mut tx, name).await?;
        audit(&mut tx, actor, status.audit_action(), &format!("mail:{name}"), Some(json!(before)), Some(json!(after)))
            .await?;
        tx.commit().await?;
        Ok((after, true))
    }

    /// Agrees a disconnection time (ms since the epoch); applied by
    /// [`Store::apply_due_disconnects`].
    pub async fn schedule_disconnect(
        &self,
        actor: &str,
        name: &str,
        at: i64,
        reason: &str,
    ) -> Result<MailSystemRecord> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a reason is required".into()));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let before = fetch(&mut tx, name).await?;
        if before.status == MailStatus::Disconnected {
            return Err(StoreError::Conflict(format!("mail system '{name}' is already disconnected")));
        }
        sqlx::query("UPDATE mail_systems SET disconnect_at = $1, status_reason = $2 WHERE name = $3")
            .bind(at)
            .bind(reason.trim())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let after = fetch(&mut tx, name).await?;
        let subject = format!("mail:{name}");
        audit(&mut tx, actor, "mail.schedule_disconnect", &subject, Some(json!(before)), Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Disconnects every system whose agreed time has come; returns their names.
    pub async fn apply_due_disconnects(&self, now: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!("{SELECT} WHERE status <> 'disconnected' AND disconnect_at <= $1"))
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut done = Vec::new();
        for r in rows.iter().map(from_row) {
            let r = r?;
            let reason = r.status_reason.clone().unwrap_or_else(|| "agreed disconnection".into());
            self.set_mail_status("scheduler", &r.name, MailStatus::Disconnected, &reason).await?;
            done.push(r.name);
        }
        Ok(done)
    }

    /// Saves a named state document (replacing the previous one).
    pub async fn save_state(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO saved_state (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn load_state(&self, name: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT value FROM saved_state WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }
}

pub(super) async fn fetch(conn: &mut sqlx::AnyConnection, name: &str) -> Result<MailSystemRecord> {
    let row = sqlx::query(&format!("{SELECT} WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "mail system", name: name.to_string() })?;
    from_row(&row)
}
