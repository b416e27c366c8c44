//! Defacement protection's records (rule 18): the protected sites (their spec, sealed
//! secret, pinned host key, state and reference size), their findings (each change set
//! with its diff, evidence folder and outcome) and the events of their checks. Every
//! change a person makes (a site added, a host key confirmed, a window opened or closed,
//! a change accepted) and every state change, finding and event is audited under the
//! subject `deface:DOMAIN`; the time of the last check is not.
//!
//! Must not: judge a site (what counts as a change, when to restore): the `deface` crate
//! decides and brings the values.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// A protected site as the store holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DefaceSiteRecord {
    pub id: i64,
    pub domain: String,
    /// The site's spec (the deface crate's `SiteSpec`), without its secret.
    pub spec: serde_json::Value,
    /// `key` or `password`.
    pub secret_kind: String,
    /// Never shown: opened only by the service that connects.
    #[serde(skip_serializing)]
    pub sealed_secret: String,
    pub application_id: Option<i64>,
    pub host_key: Option<String>,
    pub host_key_confirmed_by: Option<String>,
    pub host_key_confirmed_at: Option<i64>,
    pub state: String,
    pub state_detail: Option<String>,
    pub state_since: i64,
    pub window_open: bool,
    pub last_check: Option<i64>,
    pub reference_files: i64,
    pub reference_bytes: i64,
    pub reference_pages: i64,
    pub reference_at: Option<i64>,
    pub created_at: i64,
}

/// A site to protect, as the duty team (or a connected application) gives it.
#[derive(Clone, Debug)]
pub struct NewDefaceSite {
    pub domain: String,
    pub spec: serde_json::Value,
    pub secret_kind: String,
    pub sealed_secret: String,
    pub application_id: Option<i64>,
}

/// One change set found on a site.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DefaceFinding {
    pub id: i64,
    pub domain: String,
    /// `unauthorised`, `window` or `pages`.
    pub kind: String,
    pub detected_at: i64,
    pub restored_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    /// `restored`, `partly-restored`, `recorded`, `accepted`.
    pub outcome: String,
    pub files: serde_json::Value,
    pub pages: serde_json::Value,
    pub diff: String,
    pub evidence: Option<String>,
    pub accepted_by: Option<String>,
    pub accepted_at: Option<i64>,
}

/// A finding to record.
#[derive(Clone, Debug, Default)]
pub struct NewDefaceFinding {
    pub kind: String,
    pub detected_at: i64,
    pub restored_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub outcome: String,
    pub files: serde_json::Value,
    pub pages: serde_json::Value,
    pub diff: String,
    pub evidence: Option<String>,
}

/// One event of a site's checks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaceEvent {
    pub id: i64,
    pub domain: String,
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

const SITE_COLUMNS: &str = "id, domain, spec_json, secret_kind, sealed_secret, application_id, host_key, \
    host_key_confirmed_by, host_key_confirmed_at, state, state_detail, state_since, window_open, last_check, \
    reference_files, reference_bytes, reference_pages, reference_at, created_at";

fn site_from_row(row: &sqlx::any::AnyRow) -> Result<DefaceSiteRecord> {
    let spec: String = row.try_get("spec_json")?;
    Ok(DefaceSiteRecord {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        spec: serde_json::from_str(&spec).map_err(|e| StoreError::Invalid(format!("deface site spec: {e}")))?,
        secret_kind: row.try_get("secret_kind")?,
        sealed_secret: row.try_get("sealed_secret")?,
        application_id: row.try_get("application_id")?,
        host_key: row.try_get("host_key")?,
        host_key_confirmed_by: row.try_get("host_key_confirmed_by")?,
        host_key_confirmed_at: row.try_get("host_key_confirmed_at")?,
        state: row.try_get("state")?,
        state_detail: row.try_get("state_detail")?,
        state_since: row.try_get("state_since")?,
        window_open: row.try_get::<i64, _>("window_open")? != 0,
        last_check: row.try_get("last_check")?,
        reference_files: row.try_get("reference_files")?,
        reference_bytes: row.try_get("reference_bytes")?,
        reference_pages: row.try_get("reference_pages")?,
        reference_at: row.try_get("reference_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn subject(domain: &str) -> String {
    format!("deface:{domain}")
}

impl Store {
    /// Records a new protected site (state `new`); a domain already protected is a conflict.
    pub async fn add_deface_site(&self, actor: &str, site: NewDefaceSite) -> Result<DefaceSiteRecord> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let taken = sqlx::query("SELECT id FROM deface_sites WHERE domain = $1")
            .bind(&site.domain)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("{} is already protected", site.domain)));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO deface_sites (domain, spec_json, secret_kind, sealed_secret, application_id, state, \
             state_since, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'new', $6, $6, $6)",
        )
        .bind(&site.domain)
        .bind(site.spec.to_string())
        .bind(&site.secret_kind)
        .bind(&site.sealed_secret)
        .bind(site.application_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let after = json!({"spec": site.spec, "secret_kind": site.secret_kind, "application_id": site.application_id});
        audit(&mut tx, actor, "deface.site.add", &subject(&site.domain), None, Some(after)).await?;
        tx.commit().await?;
        self.deface_site(&site.domain).await
    }

    /// Every protected site, by domain.
    pub async fn deface_sites(&self) -> Result<Vec<DefaceSiteRecord>> {
        let rows = sqlx::query(&format!("SELECT {SITE_COLUMNS} FROM deface_sites ORDER BY domain"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(site_from_row).collect()
    }

    /// One protected site.
    pub async fn deface_site(&self, domain: &str) -> Result<DefaceSiteRecord> {
        let row = sqlx::query(&format!("SELECT {SITE_COLUMNS} FROM deface_sites WHERE domain = $1"))
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "protected site", name: domain.to_string() })?;
        site_from_row(&row)
    }

    /// Moves a site to `state` (audited when it changes; the same state again only
    /// updates its detail).
    pub async fn set_deface_state(&self, domain: &str, state: &str, detail: Option<&str>) -> Result<()> {
        // The write lock first: a read that a write follows would fail at once on SQLite
        // when another writer got in between.
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let row = sqlx::query("SELECT state FROM deface_sites WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "protected site", name: domain.to_string() })?;
        let before: String = row.try_get("state")?;
        let now = now_ms();
        if before == state {
            sqlx::query("UPDATE deface_sites SET state_detail = $1 WHERE domain = $2")
                .bind(detail)
                .bind(domain)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE deface_sites SET state = $1, state_detail = $2, state_since = $3, updated_at = $3 WHERE domain = $4",
            )
            .bind(state)
            .bind(detail)
            .bind(now)
            .bind(domain)
            .execute(&mut *tx)
            .await?;
            let (b, a) = (json!({"state": before}), json!({"state": state, "detail": detail}));
            audit(&mut tx, "deface", "deface.state", &subject(domain), Some(b), Some(a)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Notes the time of a check (not audited: it moves every cycle).
    pub async fn note_deface_check(&self, domain: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE deface_sites SET last_check = $1 WHERE domain = $2")
            .bind(at)
            .bind(domain)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the size of a site's new reference (audited with who made it).
    pub async fn set_deface_reference(
        &self,
        actor: &str,
        domain: &str,
        files: i64,
        bytes: i64,
        pages: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE deface_sites SET reference_files = $1, reference_bytes = $2, reference_pages = $3, \
             reference_at = $4, updated_at = $4 WHERE domain = $5",
        )
        .bind(files)
        .bind(bytes)
        .bind(pages)
        .bind(now)
        .bind(domain)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "protected site", name: domain.to_string() });
        }
        let after = json!({"files": files, "bytes": bytes, "pages": pages});
        audit(&mut tx, actor, "deface.reference", &subject(domain), None, Some(after)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pins the host key seen at the first connection (audited; it waits for a person's
    /// confirmation, [`Store::confirm_deface_host_key`]).
    pub async fn pin_deface_host_key(&self, domain: &str, key: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE deface_sites SET host_key = $1, host_key_confirmed_by = NULL, host_key_confirmed_at = NULL \
             WHERE domain = $2 AND host_key IS NULL",
        )
        .bind(key)
        .bind(domain)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            audit(&mut tx, "deface", "deface.host-key.pin", &subject(domain), None, Some(json!({"host_key": key})))
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A person confirms the pinned host key (`key` must be the pinned one), or replaces
    /// a changed one after checking it with the site's owner.
    pub async fn confirm_deface_host_key(&self, actor: &str, domain: &str, key: &str) -> Result<()> {
        let site = self.deface_site(domain).await?;
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE deface_sites SET host_key = $1, host_key_confirmed_by = $2, host_key_confirmed_at = $3, \
             updated_at = $3 WHERE domain = $4",
        )
        .bind(key)
        .bind(actor)
        .bind(now)
        .bind(domain)
        .execute(&mut *tx)
        .await?;
        let before = json!({"host_key": site.host_key});
        audit(
            &mut tx,
            actor,
            "deface.host-key.confirm",
            &subject(domain),
            Some(before),
            Some(json!({"host_key": key})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens or closes a site's maintenance window (audited with who).
    pub async fn set_deface_window(&self, actor: &str, domain: &str, open: bool) -> Result<()> {
        let site = self.deface_site(domain).await?;
        if site.window_open == open {
            let what = if open { "already open" } else { "not open" };
            return Err(StoreError::Conflict(format!("the maintenance window of {domain} is {what}")));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE deface_sites SET window_open = $1, updated_at = $2 WHERE domain = $3")
            .bind(i64::from(open))
            .bind(now_ms())
            .bind(domain)
            .execute(&mut *tx)
            .await?;
        let action = if open { "deface.window.open" } else { "deface.window.close" };
        audit(&mut tx, actor, action, &subject(domain), None, Some(json!({"window_open": open}))).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a finding (audited) and returns it with its id.
    pub async fn add_deface_finding(&self, domain: &str, f: NewDefaceFinding) -> Result<DefaceFinding> {
        let site = self.deface_site(domain).await?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO deface_findings (site_id, kind, detected_at, restored_at, confirmed_at, outcome, files_json, \
             pages_json, diff, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(site.id)
        .bind(&f.kind)
        .bind(f.detected_at)
        .bind(f.restored_at)
        .bind(f.confirmed_at)
        .bind(&f.outcome)
        .bind(f.files.to_string())
        .bind(f.pages.to_string())
        .bind(&f.diff)
        .bind(&f.evidence)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let after = json!({"finding": id, "kind": f.kind, "outcome": f.outcome, "files": f.files, "pages": f.pages});
        audit(&mut tx, "deface", "deface.finding", &subject(domain), None, Some(after)).await?;
        tx.commit().await?;
        self.deface_finding(id).await
    }

    /// One finding.
    pub async fn deface_finding(&self, id: i64) -> Result<DefaceFinding> {
        let row = sqlx::query(&format!("{FINDING_SELECT} WHERE f.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "finding", name: id.to_string() })?;
        finding_from_row(&row)
    }

    /// A site's findings, newest first.
    pub async fn deface_findings(&self, domain: &str, limit: i64) -> Result<Vec<DefaceFinding>> {
        let rows = sqlx::query(&format!("{FINDING_SELECT} WHERE s.domain = $1 ORDER BY f.id DESC LIMIT $2"))
            .bind(domain)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(finding_from_row).collect()
    }

    /// Marks a finding accepted by `actor` (audited): its change is now the reference.
    pub async fn accept_deface_finding(&self, actor: &str, id: i64) -> Result<DefaceFinding> {
        let f = self.deface_finding(id).await?;
        if f.outcome == "accepted" {
            return Err(StoreError::Conflict(format!("finding {id} is already accepted")));
        }
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE deface_findings SET outcome = 'accepted', accepted_by = $1, accepted_at = $2 WHERE id = $3",
        )
        .bind(actor)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let (b, a) = (json!({"finding": id, "outcome": f.outcome}), json!({"finding": id, "outcome": "accepted"}));
        audit(&mut tx, actor, "deface.accept", &subject(&f.domain), Some(b), Some(a)).await?;
        tx.commit().await?;
        self.deface_finding(id).await
    }

    /// Records an event of a site's checks (audited).
    pub async fn add_deface_event(&self, domain: &str, kind: &str, detail: &str) -> Result<DefaceEvent> {
        let site = self.deface_site(domain).await?;
        let mut tx = self.pool.begin().await?;
        let at = now_ms();
        let row =
            sqlx::query("INSERT INTO deface_events (site_id, at, kind, detail) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(site.id)
                .bind(at)
                .bind(kind)
                .bind(detail)
                .fetch_one(&mut *tx)
                .await?;
        let id: i64 = row.try_get("id")?;
        audit(&mut tx, "deface", "deface.event", &subject(domain), None, Some(json!({"kind": kind, "detail": detail})))
            .await?;
        tx.commit().await?;
        Ok(DefaceEvent { id, domain: domain.to_string(), at, kind: kind.to_string(), detail: detail.to_string() })
    }

    /// A site's events, newest first.
    pub async fn deface_events(&self, domain: &str, limit: i64) -> Result<Vec<DefaceEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, s.domain, e.at, e.kind, e.detail FROM deface_events e JOIN deface_sites s ON s.id = e.site_id \
             WHERE s.domain = $1 ORDER BY e.id DESC LIMIT $2",
        )
        .bind(domain)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DefaceEvent {
                    id: r.try_get("id")?,
                    domain: r.try_get("domain")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}

const FINDING_SELECT: &str = "SELECT f.id, s.domain, f.kind, f.detected_at, f.restored_at, f.confirmed_at, f.outcome, \
    f.files_json, f.pages_json, f.diff, f.evidence, f.accepted_by, f.accepted_at \
    FROM deface_findings f JOIN deface_sites s ON s.id = f.site_id";

fn finding_from_row(row: &sqlx::any::AnyRow) -> Result<DefaceFinding> {
    let json = |col: &str| -> Result<serde_json::Value> {
        let text: String = row.try_get(col)?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    };
    Ok(DefaceFinding {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        kind: row.try_get("kind")?,
        detected_at: row.try_get("detected_at")?,
        restored_at: row.try_get("restored_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        outcome: row.try_get("outcome")?,
        files: json("files_json")?,
        pages: json("pages_json")?,
        diff: row.try_get("diff")?,
        evidence: row.try_get("evidence")?,
        accepted_by: row.try_get("accepted_by")?,
        accepted_at: row.try_get("accepted_at")?,
    })
}
