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

use crate::format::{Problem, Problems, RawRow, ShownProblems};

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

/// An import that was refused: its problems (the earliest by line, and how many more),
/// nothing applied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the list has {} problem(s); nothing was applied", .0.total())]
    Rejected(ShownProblems),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the person importing may learn of other operators' data in the problems: the
/// duty team everything, an operator only that a prefix or organisation is not theirs
/// to list (not whose, not which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    Full,
    OwnOnly,
}

/// One import: who, into which operator's list, and whether only to compare.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub actor: &'a str,
    pub operator: &'a str,
    pub dry_run: bool,
    pub disclosure: Disclosure,
}

/// Replaces the operator's list with `rows` as a whole, or on a dry run only reports
/// the difference. `problems` are those found while reading the file: any of them
/// refuses the import too. Checks happen under the store's write lock, so a concurrent
/// import of another operator cannot slip an overlapping prefix in between.
pub async fn import(
    store: &Store,
    request: &Request<'_>,
    rows: Vec<RawRow>,
    problems: Problems,
    progress: Progress<'_>,
) -> Result<ImportOutcome, ImportError> {
    let (operator, dry_run, actor) = (request.operator, request.dry_run, request.actor);
    let mut change = store.begin_list_change(operator).await?;
    let orgs = change.organisations().await?;
    let others = OtherPrefixes::new(change.others().await?);
    let judge = Judge { orgs: &orgs, others: &others, operator, disclosure: request.disclosure };
    let entries = judge.check(rows, problems).map_err(|p| ImportError::Rejected(p.into_sorted()))?;
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

/// What a list is judged against: the organisations, the other operators' prefixes,
/// and what the person importing may learn of them.
struct Judge<'a> {
    orgs: &'a HashMap<Bin, OrgInfo>,
    others: &'a OtherPrefixes,
    operator: &'a str,
    disclosure: Disclosure,
}

impl Judge<'_> {
    /// Parses and judges every row; returns the entries, or the problems found.
    fn check(&self, rows: Vec<RawRow>, mut problems: Problems) -> Result<Vec<Entry>, Problems> {
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(entry) = self.row(row, &mut problems) {
                entries.push(entry);
            }
        }
        entries.sort_unstable_by_key(|e| (e.net, e.line));
        for pair in entries.windows(2) {
            if pair[0].net == pair[1].net {
                let msg = format!("{} is listed twice (first on line {})", pair[1].net, pair[0].line);
                problems.push(Problem::new(pair[1].line, Some("prefix"), msg));
            }
        }
        if problems.is_empty() { Ok(entries) } else { Err(problems) }
    }

    fn row(&self, row: RawRow, problems: &mut Problems) -> Option<Entry> {
        let line = row.line;
        let net = self.prefix(&row.prefix).map_err(|m| problems.push(Problem::new(line, Some("prefix"), m)));
        let org = self.bin(&row.bin).map_err(|m| problems.push(Problem::new(line, Some("bin"), m)));
        let (net, (bin, org)) = (net.ok()?, org.ok()?);
        Some(Entry { line, net, bin, organisation_id: org.id, comment: row.comment })
    }

    fn prefix(&self, text: &str) -> Result<Net, String> {
        if text.is_empty() {
            return Err("missing".into());
        }
        let net: Net = text.parse().map_err(|e: snapshot::net::NetError| e.to_string())?;
        if let Some(r) = net.reserved_overlap() {
            return Err(format!("{net} overlaps the reserved {} range {}", r.name, r.cidr));
        }
        match (self.others.overlap(&net), self.disclosure) {
            (None, _) => Ok(net),
            (Some((other, owner)), Disclosure::Full) => {
                Err(format!("{net} overlaps {other}, which operator '{owner}' has registered"))
            }
            (Some(_), Disclosure::OwnOnly) => Err(format!("{net} overlaps a prefix another operator has registered")),
        }
    }

    fn bin(&self, text: &str) -> Result<(Bin, &OrgInfo), String> {
        if text.is_empty() {
            return Err("missing".into());
        }
        let bin: Bin = text.parse().map_err(|e: policies::BinError| e.to_string())?;
        let operator = self.operator;
        match (self.orgs.get(&bin), self.disclosure) {
            (Some(org), _) if org.connected => Ok((bin, org)),
            (Some(org), Disclosure::Full) => {
                Err(format!("organisation {bin} ({}) is not connected through operator '{operator}'", org.name))
            }
            (None, Disclosure::Full) => Err(format!("no organisation with BIN {bin} is registered")),
            (_, Disclosure::OwnOnly) => {
                Err(format!("no organisation with BIN {bin} is connected through operator '{operator}'"))
            }
        }
    }
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

/// Changed prefixes listed per kind in a [`DiffSummary`]; the counts are always whole.
pub const MAX_DIFF_LINES: usize = 10_000;

impl DiffSummary {
    /// Counts and the changed prefixes (at most [`MAX_DIFF_LINES`] of each kind), for
    /// people and the API.
    pub fn of(diff: &ListDiff) -> DiffSummary {
        let line = |net: &Net, bin: &Bin| DiffLine { prefix: net.to_string(), bin: bin.to_string(), from_bin: None };
        let mv = |(c, e): &(Current, Entry)| DiffLine {
            prefix: e.net.to_string(),
            bin: e.bin.to_string(),
            from_bin: Some(c.bin.to_string()),
        };
        let first = MAX_DIFF_LINES;
        DiffSummary {
            added: diff.added.iter().take(first).map(|e| line(&e.net, &e.bin)).collect(),
            removed: diff.removed.iter().take(first).map(|c| line(&c.net, &c.bin)).collect(),
            moved: diff.moved.iter().take(first).map(mv).collect(),
            updated: diff.updated.iter().take(first).map(|(_, e)| line(&e.net, &e.bin)).collect(),
            unchanged: diff.unchanged,
            counts: DiffCounts {
                added: diff.added.len(),
                removed: diff.removed.len(),
                moved: diff.moved.len(),
                updated: diff.updated.len(),
            },
        }
    }
}

/// The printable form of a [`ListDiff`]: the changed prefixes of each kind (at most
/// [`MAX_DIFF_LINES`], in prefix order) and the whole counts.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DiffSummary {
    pub added: Vec<DiffLine>,
    pub removed: Vec<DiffLine>,
    pub moved: Vec<DiffLine>,
    pub updated: Vec<DiffLine>,
    pub unchanged: usize,
    pub counts: DiffCounts,
}

/// How many prefixes of each kind change.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DiffCounts {
    pub added: usize,
    pub removed: usize,
    pub moved: usize,
    pub updated: usize,
}

/// One changed prefix.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DiffLine {
    pub prefix: String,
    pub bin: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_bin: Option<String>,
}
