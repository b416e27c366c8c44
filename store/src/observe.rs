//! Unknown source addresses reported by the gateways: merged per (address, operator)
//! into one live record with first/last seen and a count, and listed for the duty team
//! and the operator with the notice and deadline that apply. Bounded: an operator has
//! at most [`MAX_UNKNOWN_PER_OPERATOR`] live records (or what the store was opened
//! with, [`Store::keeping_unknown`]); past it only the addresses it
//! already has are updated (a link whose users spoof random sources cannot grow the
//! store, the lists and the notices without end; the gate drops those packets anyway).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use snapshot::Observation;

use crate::{Result, Store};

/// What happened to a batch of observations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    pub accepted: usize,
    /// Reports refused, with the reason (unknown link, bad times).
    pub refused: Vec<String>,
    /// New addresses not recorded because their operator already has as many live
    /// unknown addresses as the store keeps.
    #[serde(default)]
    pub over_limit: usize,
}

/// The most live (unresolved) unknown addresses kept per operator, by default.
pub const MAX_UNKNOWN_PER_OPERATOR: i64 = 100_000;

/// A live unknown address with its notice and deadline, as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnknownAddress {
    pub ip: String,
    pub operator: String,
    pub link: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub seen: i64,
    pub status: crate::states::ObservationStatus,
    pub notice: Option<i64>,
    pub deadline_day: Option<String>,
    pub deadline_at: Option<i64>,
}

/// Rows per upsert statement.
const BATCH: usize = 400;

impl Store {
    /// Merges a batch of observations into the store. Reports on unknown links are
    /// refused one by one; the rest are applied.
    /// At most the store's cap of live addresses is kept per operator, checked per batch
    /// (one batch may pass it by its own size).
    pub async fn record_observations(&self, batch: Vec<Observation>) -> Result<IngestReport> {
        let links = self.link_map().await?;
        let mut report = IngestReport::default();
        let mut merged: HashMap<(IpAddr, i64), Merged> = HashMap::new();
        for o in batch {
            let Some(&op) = links.get(&o.link) else {
                report.refused.push(format!("{}: link '{}' belongs to no operator", o.ip, o.link));
                continue;
            };
            if o.first_seen > o.last_seen || o.count < 1 {
                report.refused.push(format!("{}: first_seen after last_seen, or count below 1", o.ip));
                continue;
            }
            let ip = canonical(o.ip);
            merged.entry((ip, op)).and_modify(|m| m.merge(&o)).or_insert_with(|| Merged::from(&o));
            report.accepted += 1;
        }
        let mut rows: Vec<_> = merged.into_iter().collect();
        let full = self.operators_at(self.unknown_cap, rows.iter().map(|((_, op), _)| *op)).await?;
        if !full.is_empty() {
            let known = self.live_of(&full, &rows).await?;
            let before = rows.len();
            rows.retain(|((ip, op), _)| !full.contains(op) || known.contains(&(ip.to_string(), *op)));
            report.over_limit = before - rows.len();
        }
        for chunk in rows.chunks(BATCH) {
            self.upsert(chunk).await?;
        }
        Ok(report)
    }

    /// Which of `operators` have `cap` or more live unknown addresses.
    async fn operators_at(&self, cap: i64, operators: impl Iterator<Item = i64>) -> Result<HashSet<i64>> {
        let mut full = HashSet::new();
        for op in operators.collect::<HashSet<_>>() {
            let row = sqlx::query(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM observations WHERE operator_id = $1 AND status <> 'resolved'",
            )
            .bind(op)
            .fetch_one(&self.pool)
            .await?;
            if row.try_get::<i64, _>("n")? >= cap {
                full.insert(op);
            }
        }
        Ok(full)
    }

    /// The (address, operator) pairs of `rows` of the `full` operators that are live already.
    async fn live_of(&self, full: &HashSet<i64>, rows: &[((IpAddr, i64), Merged)]) -> Result<HashSet<(String, i64)>> {
        let mut live = HashSet::new();
        for &op in full {
            let ips: Vec<String> =
                rows.iter().filter(|((_, o), _)| *o == op).map(|((ip, _), _)| ip.to_string()).collect();
            for chunk in ips.chunks(BATCH) {
                let (first, list) = (
                    crate::lists::placeholders(self.backend, 1, 1, 1),
                    crate::lists::placeholders(self.backend, chunk.len(), 1, 2),
                );
                let sql = format!(
                    "SELECT ip FROM observations WHERE operator_id = {first} AND status <> 'resolved' AND ip IN ({list})"
                );
                let mut query = sqlx::query(&sql).bind(op);
                for ip in chunk {
                    query = query.bind(ip.clone());
                }
                for row in query.fetch_all(&self.pool).await? {
                    live.insert((row.try_get("ip")?, op));
                }
            }
        }
        Ok(live)
    }

    async fn upsert(&self, rows: &[((IpAddr, i64), Merged)]) -> Result<()> {
        let values = crate::lists::placeholders(self.backend, rows.len(), 7, 1);
        let sql = format!(
            "INSERT INTO observations (ip, operator_id, link, first_seen, last_seen, seen, status) VALUES {values} \
             ON CONFLICT (ip, operator_id) WHERE status <> 'resolved' DO UPDATE SET \
             first_seen = CASE WHEN excluded.first_seen < observations.first_seen THEN excluded.first_seen ELSE observations.first_seen END, \
             last_seen = CASE WHEN excluded.last_seen > observations.last_seen THEN excluded.last_seen ELSE observations.last_seen END, \
             link = CASE WHEN excluded.last_seen > observations.last_seen THEN excluded.link ELSE observations.link END, \
             seen = observations.seen + excluded.seen"
        );
        let mut query = sqlx::query(&sql);
        for ((ip, op), m) in rows {
            query = query
                .bind(ip.to_string())
                .bind(*op)
                .bind(m.link.clone())
                .bind(m.first)
                .bind(m.last)
                .bind(m.count)
                .bind(crate::states::ObservationStatus::Open.as_str());
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Link name → operator id.
    async fn link_map(&self) -> Result<HashMap<String, i64>> {
        let rows = sqlx::query("SELECT name, operator_id FROM links").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("operator_id")?))).collect()
    }

    /// Live (unresolved) unknown addresses, optionally of one operator, oldest first.
    pub async fn unknown_addresses(&self, operator: Option<&str>) -> Result<Vec<UnknownAddress>> {
        let rows = sqlx::query(&format!(
            "{UNKNOWN_SELECT} WHERE b.status <> 'resolved' AND ($1 = '' OR o.name = $1) ORDER BY b.first_seen, b.ip"
        ))
        .bind(operator.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| unknown_from_row(r).map(|(_, u)| u)).collect()
    }
}

/// IPv4-mapped IPv6 addresses are stored as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

struct Merged {
    link: String,
    first: i64,
    last: i64,
    count: i64,
}

impl Merged {
    fn from(o: &Observation) -> Merged {
        Merged { link: o.link.clone(), first: o.first_seen, last: o.last_seen, count: o.count }
    }

    fn merge(&mut self, o: &Observation) {
        self.first = self.first.min(o.first_seen);
        if o.last_seen > self.last {
            self.last = o.last_seen;
            self.link = o.link.clone();
        }
        self.count = self.count.saturating_add(o.count);
    }
}

/// Which unknown addresses a console page lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct UnknownFilter {
    pub operator: Option<String>,
    /// `open`, `noticed` or `blocked`.
    pub status: Option<String>,
    /// The address's text starts with this.
    pub ip: Option<String>,
}

const UNKNOWN_SELECT: &str = "SELECT b.id, b.ip, o.name AS operator, b.link, b.first_seen, b.last_seen, b.seen, \
     b.status, b.notice_id, n.deadline_day, n.deadline_at FROM observations b JOIN operators o ON o.id = b.operator_id \
     LEFT JOIN notices n ON n.id = b.notice_id";

fn unknown_from_row(r: &sqlx::any::AnyRow) -> Result<(i64, UnknownAddress)> {
    Ok((
        r.try_get("id")?,
        UnknownAddress {
            ip: r.try_get("ip")?,
            operator: r.try_get("operator")?,
            link: r.try_get("link")?,
            first_seen: r.try_get("first_seen")?,
            last_seen: r.try_get("last_seen")?,
            seen: r.try_get("seen")?,
            status: crate::states::read(r, "status")?,
            notice: r.try_get("notice_id")?,
            deadline_day: r.try_get("deadline_day")?,
            deadline_at: r.try_get("deadline_at")?,
        },
    ))
}

impl Store {
    /// One page of live unknown addresses, oldest record first, with their record ids.
    pub async fn unknown_page(
        &self,
        filter: &UnknownFilter,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<(i64, UnknownAddress)>> {
        use crate::pages::{Keyset, Value, like_prefix};
        let mut q = Keyset::new(UNKNOWN_SELECT, "b.id", false);
        q.condition("b.status <> 'resolved'");
        if let Some(op) = &filter.operator {
            q.filter("b.operator_id = (SELECT id FROM operators WHERE name = ?)", Value::Text(op.clone()));
        }
        if let Some(status) = &filter.status {
            q.filter("b.status = ?", Value::Text(status.clone()));
        }
        if let Some(ip) = &filter.ip {
            q.filter("b.ip LIKE ? ESCAPE '\\'", Value::Text(like_prefix(ip)));
        }
        q.page(&self.pool, page, unknown_from_row, |(id, _)| *id).await
    }

    /// Noticed addresses whose deadline falls on or before `last_day` (YYYY-MM-DD),
    /// soonest first, at most `limit`; and how many there are in all.
    pub async fn unknown_due(
        &self,
        operator: Option<&str>,
        last_day: &str,
        limit: i64,
    ) -> Result<(Vec<UnknownAddress>, i64)> {
        let scope = "b.status = 'noticed' AND b.notice_id IN (SELECT id FROM notices WHERE status = 'sent' \
             AND deadline_day <= $1) AND ($2 = '' OR b.operator_id = (SELECT id FROM operators WHERE name = $2))";
        let rows = sqlx::query(&format!("{UNKNOWN_SELECT} WHERE {scope} ORDER BY n.deadline_at, b.id LIMIT $3"))
            .bind(last_day)
            .bind(operator.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let count = sqlx::query(&format!("SELECT COUNT(*) AS n FROM observations b WHERE {scope}"))
            .bind(last_day)
            .bind(operator.unwrap_or(""))
            .fetch_one(&self.pool)
            .await?;
        let list = rows.iter().map(|r| unknown_from_row(r).map(|(_, u)| u)).collect::<Result<_>>()?;
        Ok((list, count.try_get("n")?))
    }

    /// How many live unknown addresses have this status (`open`: not yet in a notice).
    pub async fn count_unknown(&self, operator: Option<&str>, status: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM observations WHERE status = $1 \
             AND ($2 = '' OR operator_id = (SELECT id FROM operators WHERE name = $2))",
        )
        .bind(status)
        .bind(operator.unwrap_or(""))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }
}
