//! One look at a site's files: the root listed (`walk`), each watched file hashed when
//! its size or time moved since the last look (every file on a full pass), and the
//! result compared with the reference into added, changed and deleted files. Taking a
//! reference is the same look keeping every file as an object.
//!
//! Must not: call a file deleted because it could not be read (it is "unreadable", an
//! event), or keep more than the site's bounds.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::names::Rel;
use super::reference::{Manifest, RefEntry, SiteDir, sha256};
use super::remote::{OpError, Remote, Stat};
use super::walk::{Kind, Refusal, WalkError, walk};
use crate::DefaceConfig;
use crate::site::PathFilter;

/// How a file differs from the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Changed,
    Deleted,
}

/// One file that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    pub rel: Rel,
    pub change: Change,
    /// The hash found (none for a deleted file).
    pub found: Option<String>,
}

/// What was last seen of each file: its attributes and hash.
pub type Seen = HashMap<Rel, (Stat, String)>;

/// The result of one look.
#[derive(Debug, Default)]
pub struct Scan {
    pub changes: Vec<FileChange>,
    /// Entries refused by name or link, and files that could not be read whole.
    pub refused: Vec<Refusal>,
    pub checked: u64,
}

/// Why a look failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error("{0}")]
    Op(OpError),
    #[error("{0}")]
    Bound(String),
    #[error("the reference copy cannot be kept: {0}")]
    Disk(String),
}

/// Reads the file at `path` whole, again while it changes (`attempts` reads in all).
pub async fn read_stable(remote: &Remote, path: &str, max: u64, attempts: u32) -> Result<(Vec<u8>, Stat), OpError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match remote.read(path, max).await {
            Err(OpError::Unstable { .. }) if tries < attempts => {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}

/// Whether an error concerns one file (an event) rather than the session (a failed look).
fn per_file(e: &OpError) -> Option<Refusal> {
    match e {
        OpError::Unstable { path } => Some(Refusal {
            kind: "unstable",
            path: path.clone(),
            reason: "it kept changing while it was read; left as it is".into(),
        }),
        OpError::TooLarge { path, size, max } => Some(Refusal {
            kind: "too-large",
            path: path.clone(),
            reason: format!("{size} bytes, over deface.max_file_bytes ({max}); left as it is"),
        }),
        _ => None,
    }
}

/// Looks at the site's files and compares them with `reference`.
pub async fn scan(
    remote: &Remote,
    root: &str,
    filter: &PathFilter,
    reference: &Manifest,
    seen: &mut Seen,
    full: bool,
    cfg: &DefaceConfig,
) -> Result<Scan, ScanError> {
    let listing = walk(remote, root, filter, cfg.max_site_files).await?;
    let mut out = Scan { refused: listing.refused, ..Scan::default() };
    let mut current: BTreeMap<Rel, String> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (rel, entry) in &listing.entries {
        out.checked += 1;
        let hash = match &entry.kind {
            Kind::Link(target) => sha256(target.as_bytes()),
            Kind::File => match seen.get(rel) {
                Some((stat, hash)) if !full && *stat == entry.stat => hash.clone(),
                _ => match read_stable(remote, &rel.remote(root), cfg.max_file_bytes, cfg.copy_attempts).await {
                    Ok((data, stat)) => {
                        let hash = sha256(&data);
                        seen.insert(rel.clone(), (stat, hash.clone()));
                        hash
                    }
                    // Gone between the listing and the read: looked at again next time.
                    Err(OpError::Missing { .. }) => {
                        unreadable.push(rel.clone());
                        continue;
                    }
                    Err(e) => match per_file(&e) {
                        Some(refusal) => {
                            out.refused.push(refusal);
                            unreadable.push(rel.clone());
                            continue;
                        }
                        None => return Err(ScanError::Op(e)),
                    },
                },
            },
        };
        current.insert(rel.clone(), hash);
    }
    seen.retain(|rel, _| listing.entries.contains_key(rel));
    out.changes = compare(reference, &current, &unreadable);
    Ok(out)
}

/// The differences between the reference and what was found (pure).
pub fn compare(reference: &Manifest, current: &BTreeMap<Rel, String>, unreadable: &[Rel]) -> Vec<FileChange> {
    let mut changes = Vec::new();
    for (rel, hash) in current {
        match reference.entry(rel) {
            None => changes.push(FileChange { rel: rel.clone(), change: Change::Added, found: Some(hash.clone()) }),
            Some(r) if r.sha256 != *hash => {
                changes.push(FileChange { rel: rel.clone(), change: Change::Changed, found: Some(hash.clone()) })
            }
            Some(_) => {}
        }
    }
    for key in reference.files.keys() {
        let Ok(rel) = Rel::parse(key) else { continue };
        if !current.contains_key(&rel) && !unreadable.contains(&rel) {
            changes.push(FileChange { rel, change: Change::Deleted, found: None });
        }
    }
    changes.sort_by(|a, b| a.rel.cmp(&b.rel));
    changes
}

/// Takes a new reference of the site's files: every watched file read and kept as an
/// object (within the site's bounds). Files that cannot be read whole are left out and
/// returned as refusals. Pages are added by the caller.
pub async fn take(
    remote: &Remote,
    root: &str,
    filter: &PathFilter,
    dir: &SiteDir,
    seen: &mut Seen,
    cfg: &DefaceConfig,
) -> Result<(Manifest, Vec<Refusal>), ScanError> {
    let listing = walk(remote, root, filter, cfg.max_site_files).await?;
    let mut m = Manifest { dirs: listing.dirs.iter().map(|d| d.as_str().to_string()).collect(), ..Manifest::default() };
    let mut refused = listing.refused;
    let mut bytes = 0u64;
    seen.clear();
    for (rel, entry) in &listing.entries {
        let r = match &entry.kind {
            Kind::Link(target) => RefEntry {
                sha256: sha256(target.as_bytes()),
                size: 0,
                mode: entry.stat.mode,
                link: Some(target.clone()),
            },
            Kind::File => match read_stable(remote, &rel.remote(root), cfg.max_file_bytes, cfg.copy_attempts).await {
                Ok((data, stat)) => {
                    bytes += data.len() as u64;
                    if bytes > cfg.max_site_bytes {
                        return Err(ScanError::Bound(format!(
                            "the files hold more than deface.max_site_bytes ({})",
                            cfg.max_site_bytes
                        )));
                    }
                    let hash = dir.put_object(&data).map_err(|e| ScanError::Disk(e.to_string()))?;
                    seen.insert(rel.clone(), (stat, hash.clone()));
                    RefEntry { sha256: hash, size: data.len() as u64, mode: stat.mode, link: None }
                }
                Err(OpError::Missing { .. }) => continue,
                Err(e) => match per_file(&e) {
                    Some(refusal) => {
                        refused.push(refusal);
                        continue;
                    }
                    None => return Err(ScanError::Op(e)),
                },
            },
        };
        m.files.insert(rel.as_str().to_string(), r);
    }
    m.taken_at = store::now_ms();
    Ok((m, refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_and_deleted_files_are_told_apart_and_unreadable_ones_are_not_deleted() {
        let mut m = Manifest::default();
        for (p, h) in [("index.html", "a"), ("css/site.css", "b"), ("big.bin", "c"), ("same.txt", "d")] {
            m.files.insert(p.into(), RefEntry { sha256: h.into(), size: 1, mode: 0o644, link: None });
        }
        let mut current = BTreeMap::new();
        current.insert(Rel::parse("index.html").unwrap(), "x".to_string());
        current.insert(Rel::parse("shell.php").unwrap(), "y".to_string());
        current.insert(Rel::parse("same.txt").unwrap(), "d".to_string());
        let changes = compare(&m, &current, &[Rel::parse("big.bin").unwrap()]);
        let got: Vec<(&str, Change)> = changes.iter().map(|c| (c.rel.as_str(), c.change)).collect();
        assert_eq!(
            got,
            [("css/site.css", Change::Deleted), ("index.html", Change::Changed), ("shell.php", Change::Added)]
        );
    }
}
