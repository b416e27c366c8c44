//! Replacing an operator's list: every row is parsed and judged (CIDR, host bits,
//! reserved ranges, BIN, duplicates, overlap with other operators) and every problem is
//! reported with its line; then the new list is compared with the current one and the
//! difference applied as one audited change, all inside one store transaction
//! ([`import`]). The checks themselves are pure functions over what the store supplies.
//!
//! Must not: apply anything when a single row has a problem.

use std::collections::HashMap;

use serde::Serialize;

use policies::Bin;
use snapshot::net::{Family, Net};
use store::{Current, Entry, ListDiff, OrgInfo, Progress, Store, StoreError};

use crate::format::{Problem, RawRow};

/// The result of an import: the diff, and whether it was applied.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ImportOutcome {
    pub operator: String,
    pub applied: bool,
    /// The audit entry of an applied import.
    pub change: Option<i64>,
    pub diff: DiffSummary,
    /// Unknown addresses the new list covers: closed, and unblocked if they were blocked.
    #[serde(default)]
    pub resolved: Vec<String>,
    #[serde(default)]
    pub unblocked: Vec<String>,
}

/// An import that was refused: every problem, nothing applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the list has {} problem(s); nothing was applied", .0.len())]
    Rejected(Vec<Problem>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replaces `operator`'s list with `rows` as a whole, or on a dry run only reports the
/// difference. `read_problems` are the problems found while reading the file: any of
/// them refuses the import too. Checks happen under the store's write lock, so a
/// concurrent import of another operator cannot slip an overlapping prefix in between.
pub async fn import(
    store: &Store,
    actor: &str,
    operator: &str,
    rows: Vec<RawRow>,
    read_problems: Vec<Problem>,
    dry_run: bool,
    progress: Progress<'_>,
) -> Result<ImportOutcome, ImportError> {
    let mut change = store.begin_list_change(operator).await?;
    let orgs = change.organisations().await?;
    let others = OtherPrefixes::new(change.others().await?);
    let entries = check(rows, read_problems, &orgs, &others, operator).map_err(ImportError::Rejected)?;
    let bins: HashMap<i64, Bin> = orgs.into_iter().map(|(bin, o)| (o.id, bin)).collect();
    let diff = diff(change.current(&bins).await?, entries);
    let summary = DiffSummary::of(&diff);
    let operator = operator.to_string();
    if dry_run || diff.is_empty() {
        return Ok(ImportOutcome {
            operator,
            applied: false,
            change: None,
            diff: summary,
            resolved: vec![],
            unblocked: vec![],
        });
    }
    let applied = change.commit(actor, &diff, progress).await?;
    Ok(ImportOutcome {
        operator,
        applied: true,
        change: Some(applied.change),
        diff: summary,
        resolved: applied.resolved,
        unblocked: applied.unblocked,
    })
}

/// Other operators' current prefixes, arranged to answer "does this prefix overlap
/// any of them, and which".
#[derive(Default)]
pub struct OtherPrefixes {
    names: Vec<String>,
    v4: Ranges,
    v6: Ranges,
}

#[derive(Default)]
struct Ranges {
    /// (prefix, owner) sorted by first address.
    spans: Vec<(Net, u32)>,
    /// max_last[i] = the highest last address among spans[..=i].
    max_last: Vec<u128>,
}

impl OtherPrefixes {
    /// Builds from (prefix, operator name) pairs.
    pub fn new(prefixes: impl IntoIterator<Item = (Net, String)>) -> OtherPrefixes {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut out = OtherPrefixes::default();
        for (net, operator) in prefixes {
            let next = index.len() as u32;
            let owner = *index.entry(operator.clone()).or_insert(next);
            if owner == next {
                out.names.push(operator);
            }
            let ranges = if net.family() == Family::V4 { &mut out.v4 } else { &mut out.v6 };
            ranges.spans.push((net, owner));
        }
        for ranges in [&mut out.v4, &mut out.v6] {
            ranges.spans.sort_unstable();
            let mut max = 0;
            ranges.max_last = ranges
                .spans
                .iter()
                .map(|(n, _)| {
                    max = max.max(n.last());
                    max
                })
                .collect();
        }
        out
    }

    /// An overlapping prefix of another operator, with that operator's name.
    pub fn overlap(&self, net: &Net) -> Option<(Net, &str)> {
        let ranges = if net.family() == Family::V4 { &self.v4 } else { &self.v6 };
        let end = ranges.spans.partition_point(|(n, _)| n.bits() <= net.last());
        if end == 0 || ranges.max_last[end - 1] < net.bits() {
            return None;
        }
        let (other, owner) = ranges.spans[..end].iter().rev().find(|(n, _)| n.last() >= net.bits())?;
        Some((*other, self.names[*owner as usize].as_str()))
    }
}

/// Parses and judges every row; returns the entries, or every problem found.
pub fn check(
    rows: Vec<RawRow>,
    mut problems: Vec<Problem>,
    orgs: &HashMap<Bin, OrgInfo>,
    others: &OtherPrefixes,
    operator: &str,
) -> Result<Vec<Entry>, Vec<Problem>> {
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        match check_row(row, orgs, others, operator) {
            Ok(entry) => entries.push(entry),
            Err(mut found) => problems.append(&mut found),
        }
    }
    entries.sort_unstable_by_key(|e| (e.net, e.line));
    for pair in entries.windows(2) {
        if pair[0].net == pair[1].net {
            let msg = format!("{} is listed twice (first on line {})", pair[1].net, pair[0].line);
            problems.push(Problem::new(pair[1].line, Some("prefix"), msg));
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

fn check_row(
    row: RawRow,
    orgs: &HashMap<Bin, OrgInfo>,
    others: &OtherPrefixes,
    operator: &str,
) -> Result<Entry, Vec<Problem>> {
    let line = row.line;
    let net = check_prefix(&row.prefix, others).map_err(|m| Problem::new(line, Some("prefix"), m));
    let org = check_bin(&row.bin, orgs, operator).map_err(|m| Problem::new(line, Some("bin"), m));
    match (net, org) {
        (Ok(net), Ok((bin, org))) => Ok(Entry { line, net, bin, organisation_id: org.id, comment: row.comment }),
        (net, org) => Err(net.err().into_iter().chain(org.err()).collect()),
    }
}

fn check_prefix(text: &str, others: &OtherPrefixes) -> Result<Net, String> {
    if text.is_empty() {
        return Err("missing".into());
    }
    let net: Net = text.parse().map_err(|e: snapshot::net::NetError| e.to_string())?;
    if let Some(r) = net.reserved_overlap() {
        return Err(format!("{net} overlaps the reserved {} range {}", r.name, r.cidr));
    }
    if let Some((other, owner)) = others.overlap(&net) {
        return Err(format!("{net} overlaps {other}, which operator '{owner}' has registered"));
    }
    Ok(net)
}

fn check_bin<'o>(text: &str, orgs: &'o HashMap<Bin, OrgInfo>, operator: &str) -> Result<(Bin, &'o OrgInfo), String> {
    if text.is_empty() {
        return Err("missing".into());
    }
    let bin: Bin = text.parse().map_err(|e: policies::BinError| e.to_string())?;
    let org = orgs.get(&bin).ok_or_else(|| format!("no organisation with BIN {bin} is registered"))?;
    if !org.connected {
        return Err(format!("organisation {bin} ({}) is not connected through operator '{operator}'", org.name));
    }
    Ok((bin, org))
}

/// Compares the checked new list with the current one.
pub fn diff(current: Vec<Current>, new: Vec<Entry>) -> ListDiff {
    let mut old: HashMap<Net, Current> = current.into_iter().map(|c| (c.net, c)).collect();
    let mut diff = ListDiff::default();
    for entry in new {
        match old.remove(&entry.net) {
            None => diff.added.push(entry),
            Some(c) if c.organisation_id != entry.organisation_id => diff.moved.push((c, entry)),
            Some(c) if c.comment != entry.comment => diff.updated.push((c, entry)),
            Some(_) => diff.unchanged += 1,
        }
    }
    diff.removed = old.into_values().collect();
    diff.removed.sort_unstable_by_key(|c| c.net);
    diff
}

impl DiffSummary {
    /// Counts and the changed prefixes, for people and the API.
    pub fn of(diff: &ListDiff) -> DiffSummary {
        let line = |net: &Net, bin: &Bin| DiffLine { prefix: net.to_string(), bin: bin.to_string(), from_bin: None };
        let mv = |(c, e): &(Current, Entry)| DiffLine {
            prefix: e.net.to_string(),
            bin: e.bin.to_string(),
            from_bin: Some(c.bin.to_string()),
        };
        DiffSummary {
            added: diff.added.iter().map(|e| line(&e.net, &e.bin)).collect(),
            removed: diff.removed.iter().map(|c| line(&c.net, &c.bin)).collect(),
            moved: diff.moved.iter().map(mv).collect(),
            updated: diff.updated.iter().map(|(_, e)| line(&e.net, &e.bin)).collect(),
            unchanged: diff.unchanged,
        }
    }
}

/// The printable form of a [`Diff`].
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DiffSummary {
    pub added: Vec<DiffLine>,
    pub removed: Vec<DiffLine>,
    pub moved: Vec<DiffLine>,
    pub updated: Vec<DiffLine>,
    pub unchanged: usize,
}

/// One changed prefix.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DiffLine {
    pub prefix: String,
    pub bin: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_bin: Option<String>,
}
