//! The sites the web application firewall protects (rule 17): domain and aliases, origin
//! addresses and how to trust them, the certificate and its private key (kept only
//! sealed: `sealed_key` is read by the service alone and is in no record, audit entry or
//! listing), the rule settings as the WAF reads them (JSON), the organisation whose site
//! it is, the desk application it came from, and the exclusions proposed from its events
//! (`proposals`). Every change is audited under the subject `waf:DOMAIN`; a change made
//! on an older version of a site than the stored one is refused, so two people editing
//! at once cannot undo each other's work.
//!
//! Must not: judge settings (whether a rule loads, whether a certificate fits its key):
//! the binary checks them with the WAF's engine before it stores them.

mod proposals;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

pub use proposals::WafProposal;

use crate::entities::valid_email;
use crate::{Result, Store, StoreError, audit, now_ms, write_lock};
use policies::Bin;

/// A protected site as the store holds it. Its private key is not here: only whether
/// one is kept.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WafSiteRecord {
    pub id: i64,
    pub domain: String,
    pub aliases: Vec<String>,
    pub origins: Vec<SocketAddr>,
    /// `{verify, ca_pem, server_name}`; none: plain HTTP to the origins.
    pub origin_tls: Option<serde_json::Value>,
    /// The certificate chain (PEM); none until one is given.
    pub certificate: Option<String>,
    /// Whether its private key is kept (sealed; never shown).
    pub key_kept: bool,
    /// The rule settings, rate limit and address lists, as the WAF reads them.
    pub settings: serde_json::Value,
    pub owner_bin: Option<String>,
    pub application_id: Option<i64>,
    pub contacts: Vec<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A site as the duty team (or a connected desk application) adds it.
#[derive(Clone, Default)]
pub struct NewWafSite {
    pub domain: String,
    pub aliases: Vec<String>,
    pub origins: Vec<SocketAddr>,
    pub origin_tls: Option<serde_json::Value>,
    pub certificate: Option<String>,
    /// The private key, already sealed with the desk key.
    pub sealed_key: Option<String>,
    pub settings: serde_json::Value,
    pub owner_bin: Option<Bin>,
    pub application_id: Option<i64>,
    pub contacts: Vec<String>,
}

/// What a change replaces; `None` keeps the stored value.
#[derive(Clone, Default)]
pub struct WafSiteChange {
    pub aliases: Option<Vec<String>>,
    pub origins: Option<Vec<SocketAddr>>,
    pub origin_tls: Option<Option<serde_json::Value>>,
    /// A new certificate with its key, sealed.
    pub certificate: Option<(String, String)>,
    pub settings: Option<serde_json::Value>,
    pub contacts: Option<Vec<String>>,
}

/// A host name as browsers send it: lower-case labels of letters, digits and hyphens.
fn valid_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn check_names(domain: &str, aliases: &[String]) -> Result<()> {
    let bad = std::iter::once(domain).chain(aliases.iter().map(String::as_str)).find(|n| !valid_name(n));
    match bad {
        Some(name) => Err(StoreError::Invalid(format!("'{name}' is not a lower-case host name"))),
        None => Ok(()),
    }
}

fn check_parts(origins: &[SocketAddr], contacts: &[String]) -> Result<()> {
    if origins.is_empty() {
        return Err(StoreError::Invalid("a site needs at least one origin address".into()));
    }
    if let Some(c) = contacts.iter().find(|c| !valid_email(c)) {
        return Err(StoreError::Invalid(format!("contact '{c}' is not an e-mail address")));
    }
    Ok(())
}

const SELECT: &str = "SELECT id, domain, aliases, origins, origin_tls, certificate, \
     CAST(CASE WHEN sealed_key IS NULL THEN 0 ELSE 1 END AS BIGINT) AS key_kept, settings, owner_bin, \
     application_id, contacts, version, created_at, updated_at FROM waf_sites";

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

fn json_column(row: &sqlx::any::AnyRow, column: &str, domain: &str) -> Result<Option<serde_json::Value>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| StoreError::Invalid(format!("stored WAF site {domain} {column}: {e}")))
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<WafSiteRecord> {
    let domain: String = row.try_get("domain")?;
    let origins: String = row.try_get("origins")?;
    let origins = origins
        .split_whitespace()
        .map(|o| o.parse().map_err(|e| StoreError::Invalid(format!("stored WAF site {domain} origin {o}: {e}"))))
        .collect::<Result<_>>()?;
    Ok(WafSiteRecord {
        id: row.try_get("id")?,
        aliases: words(&row.try_get::<String, _>("aliases")?),
        origins,
        origin_tls: json_column(row, "origin_tls", &domain)?,
        certificate: row.try_get("certificate")?,
        key_kept: row.try_get::<i64, _>("key_kept")? != 0,
        settings: json_column(row, "settings", &domain)?.unwrap_or_else(|| json!({})),
        owner_bin: row.try_get("owner_bin")?,
        application_id: row.try_get("application_id")?,
        contacts: words(&row.try_get::<String, _>("contacts")?),
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        domain,
    })
}

pub(crate) fn subject(domain: &str) -> String {
    format!("waf:{domain}")
}

/// Refuses names that another site already answers to.
async fn check_free(conn: &mut sqlx::AnyConnection, domain: &str, names: &[&str]) -> Result<()> {
    let rows = sqlx::query(&format!("{SELECT} WHERE domain <> $1")).bind(domain).fetch_all(&mut *conn).await?;
    for other in rows.iter().map(from_row) {
        let other = other?;
        let taken = std::iter::once(&other.domain).chain(&other.aliases);
        if let Some(name) = taken.into_iter().find(|n| names.contains(&n.as_str())) {
            return Err(StoreError::Conflict(format!("{name} is already a name of WAF site {}", other.domain)));
        }
    }
    Ok(())
}

impl Store {
    /// Adds a site. Its names must be free; its owner, when given, an organisation.
    pub async fn add_waf_site(&self, actor: &str, new: NewWafSite) -> Result<WafSiteRecord> {
        check_names(&new.domain, &new.aliases)?;
        check_parts(&new.origins, &new.contacts)?;
        if let Some(bin) = &new.owner_bin {
            self.organisation(bin).await?;
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let names: Vec<&str> =
            std::iter::once(new.domain.as_str()).chain(new.aliases.iter().map(String::as_str)).collect();
        if sqlx::query("SELECT id FROM waf_sites WHERE domain = $1")
            .bind(&new.domain)
            .fetch_optional(&mut *tx)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!("WAF site {} already exists", new.domain)));
        }
        check_free(&mut tx, &new.domain, &names).await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO waf_sites (domain, aliases, origins, origin_tls, certificate, sealed_key, settings, \
             owner_bin, application_id, contacts, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11)",
        )
        .bind(&new.domain)
        .bind(join(&new.aliases))
        .bind(join(&new.origins))
        .bind(new.origin_tls.as_ref().map(ToString::to_string))
        .bind(&new.certificate)
        .bind(&new.sealed_key)
        .bind(new.settings.to_string())
        .bind(new.owner_bin.as_ref().map(ToString::to_string))
        .bind(new.application_id)
        .bind(join(&new.contacts))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let after = fetch(&mut tx, &new.domain).await?;
        audit(&mut tx, actor, "waf.site.add", &subject(&new.domain), None, Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Every site, by domain.
    pub async fn waf_sites(&self) -> Result<Vec<WafSiteRecord>> {
        let rows = sqlx::query(&format!("{SELECT} ORDER BY domain")).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The site `domain`.
    pub async fn waf_site(&self, domain: &str) -> Result<WafSiteRecord> {
        let mut conn = self.pool.acquire().await?;
        fetch(&mut conn, domain).await
    }

    /// The site created from desk application `id`, if any.
    pub async fn waf_site_of_application(&self, id: i64) -> Result<Option<WafSiteRecord>> {
        let row =
            sqlx::query(&format!("{SELECT} WHERE application_id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The sealed private key of every site that has one, by domain: for the service
    /// that serves them (it opens them with the desk key), never for display.
    pub async fn waf_sealed_keys(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT domain, sealed_key FROM waf_sites WHERE sealed_key IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("domain")?, r.try_get("sealed_key")?))).collect()
    }

    /// Applies `change` to the site as it was at `version` (refused if it changed since),
    /// audited as `action` with the record before and after.
    pub async fn change_waf_site(
        &self,
        actor: &str,
        action: &str,
        (domain, version): (&str, i64),
        change: WafSiteChange,
    ) -> Result<WafSiteRecord> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let before = fetch(&mut tx, domain).await?;
        if before.version != version {
            return Err(StoreError::Conflict(format!(
                "WAF site {domain} changed meanwhile (version {} now, {version} read); read it again",
                before.version
            )));
        }
        let aliases = change.aliases.unwrap_or_else(|| before.aliases.clone());
        let origins = change.origins.unwrap_or_else(|| before.origins.clone());
        let contacts = change.contacts.unwrap_or_else(|| before.contacts.clone());
        check_names(domain, &aliases)?;
        check_parts(&origins, &contacts)?;
        let names: Vec<&str> = std::iter::once(domain).chain(aliases.iter().map(String::as_str)).collect();
        check_free(&mut tx, domain, &names).await?;
        let origin_tls = change.origin_tls.unwrap_or_else(|| before.origin_tls.clone());
        let settings = change.settings.unwrap_or_else(|| before.settings.clone());
        let (certificate, sealed_key) = match change.certificate {
            Some((cert, key)) => (Some(cert), Some(key)),
            None => (before.certificate.clone(), None),
        };
        sqlx::query(
            "UPDATE waf_sites SET aliases = $1, origins = $2, origin_tls = $3, certificate = $4, \
             sealed_key = COALESCE($5, sealed_key), settings = $6, contacts = $7, version = version + 1, \
             updated_at = $8 WHERE domain = $9",
        )
        .bind(join(&aliases))
        .bind(join(&origins))
        .bind(origin_tls.as_ref().map(ToString::to_string))
        .bind(certificate)
        .bind(sealed_key)
        .bind(settings.to_string())
        .bind(join(&contacts))
        .bind(now_ms())
        .bind(domain)
        .execute(&mut *tx)
        .await?;
        let after = fetch(&mut tx, domain).await?;
        audit(&mut tx, actor, action, &subject(domain), Some(json!(before)), Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Removes a site (its proposals with it); audited with the record it was.
    pub async fn remove_waf_site(&self, actor: &str, domain: &str, reason: &str) -> Result<WafSiteRecord> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a reason is required".into()));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let before = fetch(&mut tx, domain).await?;
        sqlx::query("DELETE FROM waf_proposals WHERE site_id = $1").bind(before.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM waf_sites WHERE id = $1").bind(before.id).execute(&mut *tx).await?;
        let event = json!({ "reason": reason.trim() });
        audit(&mut tx, actor, "waf.site.remove", &subject(domain), Some(json!(before)), Some(event)).await?;
        tx.commit().await?;
        Ok(before)
    }
}

pub(super) async fn fetch(conn: &mut sqlx::AnyConnection, domain: &str) -> Result<WafSiteRecord> {
    let row = sqlx::query(&format!("{SELECT} WHERE domain = $1"))
        .bind(domain)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "WAF site", name: domain.to_string() })?;
    from_row(&row)
}
