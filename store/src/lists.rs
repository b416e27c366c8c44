//! Operators' prefix lists in the store: a list replaced as a whole inside one
//! transaction under the write lock ([`ListChange`]: read what the catalog's checks
//! need, then commit the difference or drop it), the current list, and the history
//! that answers who held an address at a given time.
//!
//! Must not: judge a list; the catalog's import checks rows and computes the
//! difference, the store only applies it.

use std::collections::HashMap;

use policies::Bin;
use serde::{Deserialize, Serialize};
use serde_json::json;
use snapshot::lpm::{LpmV4, LpmV6};
use snapshot::net::{Family, Net};
use sqlx::Row;

use crate::states::ObservationStatus;
use crate::{Backend, Result, Store, StoreError, audit, now_ms, write_lock};

/// One prefix assigned to an organisation through an operator, with its validity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub prefix: Net,
    pub bin: Bin,
    pub organisation: String,
    pub operator: String,
    pub comment: String,
    /// Unix milliseconds when it entered the catalog.
    pub valid_from: i64,
    /// Unix milliseconds when it left the catalog; `None` while current.
    pub valid_to: Option<i64>,
}

/// Rows per multi-row statement: 10 parameters each stays far below both databases'
/// parameter limits.
const BATCH: usize = 500;

/// Rows changed by one import above which PostgreSQL's statistics are refreshed at once.
const ANALYZE_AFTER: usize = 10_000;

/// Receives progress while a large list is applied: (rows written, rows to write).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Send + Sync);

/// A checked row of a new list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub net: Net,
    pub bin: Bin,
    pub organisation_id: i64,
    pub comment: String,
}

/// What the store knows about an organisation named in a list.
#[derive(Clone, Debug)]
pub struct OrgInfo {
    pub id: i64,
    pub name: String,
    /// Whether the importing operator connects this organisation.
    pub connected: bool,
}

/// A prefix in the operator's current list, as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    pub row_id: i64,
    pub net: Net,
    pub bin: Bin,
    pub organisation_id: i64,
    pub comment: String,
}

/// How a new list differs from the current one: what a commit writes.
#[derive(Debug, Default)]
pub struct ListDiff {
    pub added: Vec<Entry>,
    pub removed: Vec<Current>,
    /// Same prefix, another organisation.
    pub moved: Vec<(Current, Entry)>,
    /// Same prefix and organisation, another comment.
    pub updated: Vec<(Current, Entry)>,
    pub unchanged: usize,
}

impl ListDiff {
    /// True when applying the diff changes nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.moved.is_empty() && self.updated.is_empty()
    }
}

/// What a committed list change did.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The audit entry of the change.
    pub change: i64,
    /// Unknown addresses the new list covers: closed, and unblocked if they were blocked.
    pub resolved: Vec<String>,
    pub unblocked: Vec<String>,
}

/// One operator's list being replaced: a transaction holding the write lock, so a
/// concurrent change of another operator's list cannot slip an overlapping prefix in
/// between the checks and the commit. Dropped without `commit`, it changes nothing.
pub struct ListChange {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    pool: sqlx::AnyPool,
    backend: Backend,
    op_id: i64,
    operator: String,
}

impl Store {
    /// Starts replacing `operator`'s list.
    pub async fn begin_list_change(&self, operator: &str) -> Result<ListChange> {
        let mut tx = self.pool.begin().await?;
        write_lock(&mut tx).await?;
        let op_id = self.require_operator(&mut tx, operator).await?;
        Ok(ListChange { tx, pool: self.pool.clone(), backend: self.backend, op_id, operator: operator.to_string() })
    }

    /// The operator's current list, sorted by prefix.
    pub async fn list(&self, operator: &str) -> Result<Vec<Assignment>> {
        let mut conn = self.pool.acquire().await?;
        let op_id = self.require_operator(&mut conn, operator).await?;
        let rows = sqlx::query(&format!("{ASSIGNMENT_SELECT} WHERE a.operator_id = $1 AND a.valid_to IS NULL"))
            .bind(op_id)
            .fetch_all(&mut *conn)
            .await?;
        let mut list = rows.iter().map(assignment).collect::<Result<Vec<_>>>()?;
        list.sort_by_key(|a| a.prefix);
        Ok(list)
    }

    /// Every assignment whose prefix contains `ip` and whose validity overlaps
    /// `[from, to)` (unix ms), most specific first: who held the address then.
    pub async fn holders(&self, ip: std::net::IpAddr, from: i64, to: i64) -> Result<Vec<Assignment>> {
        // One exact lookup per prefix length that can contain the address (index
        // `assignments_prefix`); a range condition on the keys scans half the table.
        let nets: Vec<String> = (0..=Net::host(ip).len()).map(|len| Net::containing(ip, len).to_string()).collect();
        let marks: Vec<String> = (3..3 + nets.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{ASSIGNMENT_SELECT} WHERE a.valid_from < $1 AND (a.valid_to IS NULL OR a.valid_to > $2) \
             AND a.prefix IN ({})",
            marks.join(", ")
        );
        let query = sqlx::query(&sql).bind(to).bind(from);
        let rows = nets.iter().fold(query, |q, n| q.bind(n.clone())).fetch_all(&self.pool).await?;
        let mut found = rows.iter().map(assignment).collect::<Result<Vec<_>>>()?;
        found.sort_by_key(|a| (std::cmp::Reverse(a.prefix.len()), a.valid_from));
        Ok(found)
    }

    /// Every current assignment as (prefix, organisation id, operator id), for
    /// building the lookup snapshot.
    pub async fn current_assignments(&self) -> Result<Vec<(Net, i64, i64)>> {
        let rows = sqlx::query("SELECT prefix, organisation_id, operator_id FROM assignments WHERE valid_to IS NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((parse_net(r.try_get("prefix")?)?, r.try_get("organisation_id")?, r.try_get("operator_id")?)))
            .collect()
    }
}

impl ListChange {
    /// Every organisation by BIN, with whether this operator connects it.
    pub async fn organisations(&mut self) -> Result<HashMap<Bin, OrgInfo>> {
        org_infos(&mut self.tx, self.op_id).await
    }

    /// Other operators' current prefixes with the operator's name.
    pub async fn others(&mut self) -> Result<Vec<(Net, String)>> {
        other_prefixes(&mut self.tx, self.op_id).await
    }

    /// This operator's current list; `bins` names the organisations by id.
    pub async fn current(&mut self, bins: &HashMap<i64, Bin>) -> Result<Vec<Current>> {
        current(&mut self.tx, self.op_id, bins).await
    }

    /// Applies `diff` as one audited change by `actor` and commits: closed rows leave
    /// the catalog, new rows enter it, and the unknown addresses the arriving prefixes
    /// cover are resolved (their automatic blocks lifted).
    pub async fn commit(mut self, actor: &str, diff: &ListDiff, progress: Progress<'_>) -> Result<Applied> {
        let counts = json!({"added": diff.added.len(), "removed": diff.removed.len(), "moved": diff.moved.len(),
            "updated": diff.updated.len(), "unchanged": diff.unchanged});
        let subject = format!("operator:{}", self.operator);
        let change = audit(&mut self.tx, actor, "list.import", &subject, None, Some(counts)).await?;
        apply(&mut self.tx, self.backend, self.op_id, change, diff, progress).await?;
        let arriving = diff.added.iter().chain(diff.moved.iter().map(|(_, e)| e)).map(|e| e.net);
        let (resolved, unblocked) = resolve_covered(&mut self.tx, Arriving::new(arriving)?, actor, change).await?;
        self.tx.commit().await?;
        if self.backend == Backend::Postgres && diff.added.len() + diff.removed.len() + diff.moved.len() > ANALYZE_AFTER
        {
            // A large change leaves PostgreSQL's planner with stale statistics until
            // autovacuum runs; the console's list pages then take seconds instead of ms.
            if let Err(e) = sqlx::query("ANALYZE assignments").execute(&self.pool).await {
                tracing::warn!(error = %e, "refreshing the planner statistics after a large import failed");
            }
        }
        Ok(Applied { change, resolved, unblocked })
    }
}

/// The prefixes a list change brings in, as lookup tables.
struct Arriving {
    v4: LpmV4,
    v6: LpmV6,
}

impl Arriving {
    fn new(nets: impl Iterator<Item = Net>) -> Result<Arriving> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in nets {
            match net.family() {
                Family::V4 => v4.push((net.bits() as u32, net.len(), 0)),
                Family::V6 => v6.push((net.bits(), net.len(), 0)),
            }
        }
        let err = |e: snapshot::lpm::BuildError| StoreError::Invalid(format!("arriving prefixes: {e}"));
        Ok(Arriving { v4: LpmV4::build(v4).map_err(err)?, v6: LpmV6::build(v6).map_err(err)? })
    }

    fn covers(&self, ip: std::net::IpAddr) -> bool {
        match ip {
            std::net::IpAddr::V4(a) => self.v4.lookup(u32::from(a)).is_some(),
            std::net::IpAddr::V6(a) => self.v6.lookup(u128::from(a)).is_some(),
        }
    }
}

const ASSIGNMENT_SELECT: &str = "SELECT a.prefix, g.bin, g.name AS organisation, o.name AS operator, a.comment, \
     a.valid_from, a.valid_to FROM assignments a JOIN organisations g ON g.id = a.organisation_id \
     JOIN operators o ON o.id = a.operator_id";

fn assignment(r: &sqlx::any::AnyRow) -> Result<Assignment> {
    let bin: String = r.try_get("bin")?;
    Ok(Assignment {
        prefix: parse_net(r.try_get("prefix")?)?,
        bin: bin.parse().map_err(|e| StoreError::Invalid(format!("stored {e}")))?,
        organisation: r.try_get("organisation")?,
        operator: r.try_get("operator")?,
        comment: r.try_get("comment")?,
        valid_from: r.try_get("valid_from")?,
        valid_to: r.try_get("valid_to")?,
    })
}

fn parse_net(text: String) -> Result<Net> {
    text.parse().map_err(|e| StoreError::Invalid(format!("stored prefix: {e}")))
}

pub(crate) fn family_code(f: Family) -> i64 {
    match f {
        Family::V4 => 4,
        Family::V6 => 6,
    }
}

async fn org_infos(tx: &mut sqlx::AnyConnection, op_id: i64) -> Result<HashMap<Bin, OrgInfo>> {
    let rows = sqlx::query(
        "SELECT g.id, g.bin, g.name, c.operator_id FROM organisations g \
         LEFT JOIN connections c ON c.organisation_id = g.id AND c.operator_id = $1",
    )
    .bind(op_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut orgs = HashMap::with_capacity(rows.len());
    for r in rows {
        let bin: String = r.try_get("bin")?;
        let Ok(bin) = bin.parse::<Bin>() else { continue };
        let connected = r.try_get::<Option<i64>, _>("operator_id")?.is_some();
        orgs.insert(bin, OrgInfo { id: r.try_get("id")?, name: r.try_get("name")?, connected });
    }
    Ok(orgs)
}

async fn other_prefixes(tx: &mut sqlx::AnyConnection, op_id: i64) -> Result<Vec<(Net, String)>> {
    let rows = sqlx::query(
        "SELECT a.prefix, o.name FROM assignments a JOIN operators o ON o.id = a.operator_id \
         WHERE a.valid_to IS NULL AND a.operator_id <> $1",
    )
    .bind(op_id)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(|r| Ok((parse_net(r.try_get("prefix")?)?, r.try_get("name")?))).collect()
}

async fn current(tx: &mut sqlx::AnyConnection, op_id: i64, bins: &HashMap<i64, Bin>) -> Result<Vec<Current>> {
    let rows = sqlx::query(
        "SELECT id, prefix, organisation_id, comment FROM assignments WHERE operator_id = $1 AND valid_to IS NULL",
    )
    .bind(op_id)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| {
            let organisation_id: i64 = r.try_get("organisation_id")?;
            let bin = bins
                .get(&organisation_id)
                .cloned()
                .ok_or_else(|| StoreError::Invalid("assignment without organisation".into()))?;
            Ok(Current {
                row_id: r.try_get("id")?,
                net: parse_net(r.try_get("prefix")?)?,
                bin,
                organisation_id,
                comment: r.try_get("comment")?,
            })
        })
        .collect()
}

/// True when a current assignment covers `ip`.
pub(super) async fn covered(tx: &mut sqlx::AnyConnection, ip: std::net::IpAddr) -> Result<bool> {
    let host = Net::host(ip);
    let key = Net::key(host.family(), host.bits());
    let row = sqlx::query(
        "SELECT 1 AS hit FROM assignments WHERE family = $1 AND start_key <= $2 AND end_key >= $2 AND valid_to IS NULL LIMIT 1",
    )
    .bind(family_code(host.family()))
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.is_some())
}

/// Closes the live unknown-address records that the arriving prefixes cover and lifts
/// their automatic blocks at once. Returns (resolved, unblocked) addresses.
async fn resolve_covered(
    tx: &mut sqlx::AnyConnection,
    arriving: Arriving,
    actor: &str,
    change: i64,
) -> Result<(Vec<String>, Vec<String>)> {
    let rows =
        sqlx::query("SELECT id, ip, status FROM observations WHERE status <> 'resolved'").fetch_all(&mut *tx).await?;
    let (mut resolved, mut unblocked) = (Vec::new(), Vec::new());
    let now = now_ms();
    for r in rows {
        let ip_text: String = r.try_get("ip")?;
        let Ok(ip) = ip_text.parse::<std::net::IpAddr>() else { continue };
        if !arriving.covers(ip) {
            continue;
        }
        let (id, status): (i64, ObservationStatus) = (r.try_get("id")?, crate::states::read(&r, "status")?);
        sqlx::query("UPDATE observations SET status = 'resolved', closed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if status == ObservationStatus::Blocked {
            let live = sqlx::query("SELECT id FROM blocks WHERE prefix = $1 AND kind = $2 AND lifted_at IS NULL")
                .bind(Net::host(ip).to_string())
                .bind(crate::states::BlockKind::Auto.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(b) = live {
                let why = format!("registered in change {change}");
                crate::blocks::lift(tx, b.try_get("id")?, actor, &why).await?;
                unblocked.push(ip_text.clone());
            }
        }
        resolved.push(ip_text);
    }
    Ok((resolved, unblocked))
}

/// Closes the rows that leave and inserts the rows that arrive, in batches.
async fn apply(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    op_id: i64,
    change: i64,
    diff: &ListDiff,
    progress: Progress<'_>,
) -> Result<()> {
    let closing: Vec<i64> = diff
        .removed
        .iter()
        .map(|c| c.row_id)
        .chain(diff.moved.iter().chain(&diff.updated).map(|(c, _)| c.row_id))
        .collect();
    let inserting: Vec<&Entry> =
        diff.added.iter().chain(diff.moved.iter().chain(&diff.updated).map(|(_, e)| e)).collect();
    let total = closing.len() + inserting.len();
    let now = now_ms();
    for (i, ids) in closing.chunks(BATCH).enumerate() {
        let (head, marks) = (placeholders(backend, 2, 1, 1), placeholders(backend, ids.len(), 1, 3));
        let (valid_to, removed_by) = head.split_once(", ").unwrap_or_default();
        let sql =
            format!("UPDATE assignments SET valid_to = {valid_to}, removed_by = {removed_by} WHERE id IN ({marks})");
        let query = ids.iter().fold(sqlx::query(&sql).bind(now).bind(change), |q, id| q.bind(*id));
        query.execute(&mut *tx).await?;
        progress((i * BATCH + ids.len()).min(total), total);
    }
    for (i, rows) in inserting.chunks(BATCH).enumerate() {
        insert_batch(tx, backend, op_id, change, now, rows).await?;
        progress(closing.len() + (i * BATCH + rows.len()), total);
    }
    Ok(())
}

async fn insert_batch(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    op_id: i64,
    change: i64,
    now: i64,
    rows: &[&Entry],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO assignments (operator_id, organisation_id, prefix, family, start_key, end_key, plen, comment, \
         valid_from, added_by) VALUES {}",
        placeholders(backend, rows.len(), 10, 1)
    );
    let mut query = sqlx::query(&sql);
    for e in rows {
        let family = e.net.family();
        query = query
            .bind(op_id)
            .bind(e.organisation_id)
            .bind(e.net.to_string())
            .bind(family_code(family))
            .bind(Net::key(family, e.net.bits()))
            .bind(Net::key(family, e.net.last()))
            .bind(i64::from(e.net.len()))
            .bind(e.comment.clone())
            .bind(now)
            .bind(change);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Parameter marks for `groups` groups of `width` values, numbered from `first`:
/// `($1, $2), ($3, $4)` when width > 1, a flat list when width is 1. SQLite gets
/// anonymous `?` marks: looking up a numbered mark there costs time linear in the
/// number of marks, which makes large statements quadratic.
pub(super) fn placeholders(backend: Backend, groups: usize, width: usize, first: usize) -> String {
    let mark = |i: usize| match backend {
        Backend::Sqlite => "?".to_string(),
        Backend::Postgres => format!("${i}"),
    };
    let group = |g: usize| {
        let marks: Vec<String> = (0..width).map(|i| mark(first + g * width + i)).collect();
        if width == 1 { marks.join(", ") } else { format!("({})", marks.join(", ")) }
    };
    (0..groups).map(group).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// One page of an operator's current list in the order it was entered; `contains`
    /// narrows it to the prefixes that cover an address, `bin` to one organisation's.
    pub async fn list_page(
        &self,
        operator: &str,
        contains: Option<std::net::IpAddr>,
        bin: Option<&Bin>,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<(i64, Assignment)>> {
        use crate::pages::{Keyset, Value};
        let select = ASSIGNMENT_SELECT.replacen("SELECT ", "SELECT a.id, ", 1);
        let mut q = Keyset::new(select, "a.id", false);
        q.condition("a.valid_to IS NULL");
        // With an address, the exact prefix lookups below are the way in; `+` keeps the
        // planner (SQLite's) from walking the operator's whole list in id order instead.
        let by_operator = if contains.is_some() { "+a.operator_id" } else { "a.operator_id" };
        q.filter(
            &format!("{by_operator} = (SELECT id FROM operators WHERE name = ?)"),
            Value::Text(operator.to_string()),
        );
        if let Some(ip) = contains {
            // One exact lookup per prefix length through the unique index of current
            // prefixes: a range condition would scan half the table at a million rows.
            let nets = (0..=Net::host(ip).len()).map(|len| Value::Text(Net::containing(ip, len).to_string()));
            q.filter_in("a.prefix", nets.collect());
        }
        if let Some(bin) = bin {
            q.filter("a.organisation_id = (SELECT id FROM organisations WHERE bin = ?)", Value::Text(bin.to_string()));
        }
        q.page(&self.pool, page, |r| Ok((r.try_get("id")?, assignment(r)?)), |(id, _)| *id).await
    }

    /// How many prefixes an operator's current list holds, counted up to `cap + 1`
    /// (an exact count of a million rows costs more than a page may).
    pub async fn count_list(&self, operator: &str, cap: i64) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM assignments WHERE valid_to IS NULL \
             AND operator_id = (SELECT id FROM operators WHERE name = $1) LIMIT $2) capped",
        )
        .bind(operator)
        .bind(cap + 1)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_groups_in_order() {
        use super::Backend::{Postgres, Sqlite};
        assert_eq!(super::placeholders(Postgres, 2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(super::placeholders(Postgres, 3, 1, 3), "$3, $4, $5");
        assert_eq!(super::placeholders(Sqlite, 2, 2, 1), "(?, ?), (?, ?)");
    }
}
