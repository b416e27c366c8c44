//! Who a protected site belongs to (the organisation whose incidents it files, the
//! technical contacts told of each finding), and the removal of a site with its history.
//! Every change is audited under the subject `deface:DOMAIN`.
//!
//! Must not: judge a site or decide whom to tell (the binary does).

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// The owner of a protected site.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DefaceOwner {
    /// The organisation's BIN; none for a site the duty team added without one.
    pub org: Option<String>,
    /// The site's technical contacts (e-mail addresses).
    pub contacts: Vec<String>,
}

impl Store {
    /// Sets the owner of `domain` (audited).
    pub async fn set_deface_owner(&self, actor: &str, domain: &str, owner: &DefaceOwner) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let contacts = serde_json::to_string(&owner.contacts).unwrap_or_else(|_| "[]".into());
        let done =
            sqlx::query("UPDATE deface_sites SET org_bin = $1, contacts_json = $2, updated_at = $3 WHERE domain = $4")
                .bind(owner.org.as_deref())
                .bind(contacts)
                .bind(now_ms())
                .bind(domain)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "protected site", name: domain.to_string() });
        }
        let after = json!({"org": owner.org, "contacts": owner.contacts});
        audit(&mut tx, actor, "deface.site.owner", &format!("deface:{domain}"), None, Some(after)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The owner of `domain`.
    pub async fn deface_owner(&self, domain: &str) -> Result<DefaceOwner> {
        let row = sqlx::query("SELECT org_bin, contacts_json FROM deface_sites WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "protected site", name: domain.to_string() })?;
        let contacts: String = row.try_get("contacts_json")?;
        Ok(DefaceOwner { org: row.try_get("org_bin")?, contacts: serde_json::from_str(&contacts).unwrap_or_default() })
    }

    /// The domains of the sites `org` owns.
    pub async fn deface_domains_of(&self, org: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT domain FROM deface_sites WHERE org_bin = $1 ORDER BY domain")
            .bind(org)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("domain")?)).collect()
    }

    /// The site connected from application `id`, if any.
    pub async fn deface_domain_of_application(&self, id: i64) -> Result<Option<String>> {
        // The first site connected from it, should an application ever have two.
        let row = sqlx::query("SELECT domain FROM deface_sites WHERE application_id = $1 ORDER BY id LIMIT 1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("domain")).transpose()?)
    }

    /// Stops protecting `domain`: the site, its findings and events are removed (the
    /// audit keeps the removal with the site's spec).
    pub async fn remove_deface_site(&self, actor: &str, domain: &str) -> Result<()> {
        let site = self.deface_site(domain).await?;
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        for table in ["deface_findings", "deface_events"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE site_id = $1")).bind(site.id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM deface_sites WHERE id = $1").bind(site.id).execute(&mut *tx).await?;
        let before = json!({"spec": site.spec, "application_id": site.application_id, "state": site.state});
        audit(&mut tx, actor, "deface.site.remove", &format!("deface:{domain}"), Some(before), None).await?;
        tx.commit().await?;
        Ok(())
    }
}
