//! Grants of network services besides the web proxy to one organisation (rule 15-2),
//! which the packet gate enforces: the duty team's grants (a service, a reason, an
//! optional expiry; revoked with a reason, kept as history), and the applied
//! risky-service applications of the request desk read as the category each opens.
//! Every grant and revocation is audited (`gate-grant:ID`), which moves the store's
//! generation, so the gate follows within its refresh.
//!
//! Must not: decide what a grant lets through (the gate does) or whether an application
//! is in force (its record says the last day; the publisher compares it with today).

use desk::{Fields, State};
use policies::Bin;
use policies::calendar::Date;
use serde::Serialize;
use serde_json::json;
use snapshot::net::Net;
use snapshot::{Ports, Proto, Service};
use sqlx::Row;

use crate::{Result, Store, StoreError, audit, now_ms, write_lock};

/// A duty-team grant, live, expired or revoked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GateGrant {
    pub id: i64,
    pub organisation_id: i64,
    pub bin: String,
    pub organisation: String,
    pub service: Service,
    pub reason: String,
    /// Unix milliseconds from which it opens nothing; None: until revoked.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub actor: String,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
}

impl GateGrant {
    /// `live`, `expired` or `revoked` at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        match (self.revoked_at, self.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            _ => "live",
        }
    }
}

/// An applied risky-service application as the gate reads it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RiskyGrant {
    pub request: i64,
    pub bin: String,
    pub category: String,
    pub purpose: String,
    /// The last day it is in force.
    pub valid_through: Option<Date>,
}

const SELECT: &str = "SELECT g.id, g.organisation_id, o.bin, o.name, g.proto, g.ports, g.destinations, g.reason, \
     g.expires_at, g.created_at, g.actor, g.revoked_at, g.revoked_by, g.revoke_reason \
     FROM gate_grants g JOIN organisations o ON o.id = g.organisation_id";

impl Store {
    /// Grants `service` to the organisation `bin`. The reason is mandatory; an expiry
    /// already past is refused.
    pub async fn grant_service(
        &self,
        actor: &str,
        bin: &Bin,
        service: &Service,
        reason: &str,
        expires_at: Option<i64>,
    ) -> Result<GateGrant> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid("a reason is required".into()));
        }
        service.check().map_err(StoreError::Invalid)?;
        if let Some(at) = expires_at.filter(|at| *at <= now_ms()) {
            return Err(StoreError::Invalid(format!("the expiry ({at} ms) has already passed")));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let org = sqlx::query("SELECT id FROM organisations WHERE bin = $1")
            .bind(bin.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "organisation", name: bin.to_string() })?;
        let org: i64 = org.try_get("id")?;
        let row = sqlx::query(
            "INSERT INTO gate_grants (organisation_id, proto, ports, destinations, reason, expires_at, created_at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(org)
        .bind(service.proto.as_str())
        .bind(join(&service.ports))
        .bind(join(&service.to))
        .bind(reason)
        .bind(expires_at)
        .bind(now_ms())
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let grant = by_id(&mut tx, id).await?;
        audit(&mut tx, actor, "gate.grant.add", &subject(id), None, Some(json!(grant))).await?;
        tx.commit().await?;
        Ok(grant)
    }

    /// Revokes grant `id`. The reason is mandatory; a grant revoked already is a conflict.
    pub async fn revoke_grant(&self, actor: &str, id: i64, reason: &str) -> Result<GateGrant> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid("a reason is required".into()));
        }
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let before = by_id(&mut tx, id).await?;
        if let Some(at) = before.revoked_at {
            let by = before.revoked_by.clone().unwrap_or_default();
            return Err(StoreError::Conflict(format!("grant {id} was revoked already (at {at} ms, by {by})")));
        }
        sqlx::query("UPDATE gate_grants SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 WHERE id = $4")
            .bind(now_ms())
            .bind(actor)
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let after = by_id(&mut tx, id).await?;
        audit(&mut tx, actor, "gate.grant.revoke", &subject(id), Some(json!(before)), Some(json!(after))).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// The duty team's grants, newest first: those not revoked, or every one with `all`.
    pub async fn gate_grants(&self, all: bool) -> Result<Vec<GateGrant>> {
        let sql = format!("{SELECT} WHERE ($1 = 1 OR g.revoked_at IS NULL) ORDER BY g.id DESC");
        let rows = sqlx::query(&sql).bind(i64::from(all)).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The risky-service applications in the applied state, oldest first.
    pub async fn applied_risky_services(&self) -> Result<Vec<RiskyGrant>> {
        let applied = self.applications(&crate::Visible::All).await?;
        let mut out: Vec<RiskyGrant> = applied
            .into_iter()
            .filter(|r| r.application.state == State::Applied)
            .filter_map(|r| match (&r.application.fields, &r.application.applicant) {
                (Fields::RiskyService { category, purpose }, desk::Applicant::Organisation(bin)) => Some(RiskyGrant {
                    request: r.id,
                    bin: bin.to_string(),
                    category: category.clone(),
                    purpose: purpose.clone(),
                    valid_through: r.application.valid_through,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|g| g.request);
        Ok(out)
    }
}

fn subject(id: i64) -> String {
    format!("gate-grant:{id}")
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

async fn by_id(tx: &mut sqlx::AnyConnection, id: i64) -> Result<GateGrant> {
    let row = sqlx::query(&format!("{SELECT} WHERE g.id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "grant", name: id.to_string() })?;
    from_row(&row)
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<GateGrant> {
    let id: i64 = r.try_get("id")?;
    let bad = |what: &str, e: String| StoreError::Invalid(format!("stored grant {id}: {what}: {e}"));
    let proto: Proto = r.try_get::<String, _>("proto")?.parse().map_err(|e| bad("protocol", e))?;
    let ports: Vec<Ports> = Service::parse_ports(&r.try_get::<String, _>("ports")?).map_err(|e| bad("ports", e))?;
    let to: Vec<Net> = r
        .try_get::<String, _>("destinations")?
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|e: snapshot::NetError| bad("destinations", e.to_string())))
        .collect::<Result<_>>()?;
    Ok(GateGrant {
        id,
        organisation_id: r.try_get("organisation_id")?,
        bin: r.try_get("bin")?,
        organisation: r.try_get("name")?,
        service: Service { proto, ports, to },
        reason: r.try_get("reason")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        actor: r.try_get("actor")?,
        revoked_at: r.try_get("revoked_at")?,
        revoked_by: r.try_get("revoked_by")?,
        revoke_reason: r.try_get("revoke_reason")?,
    })
}
