//! Listing a document root over SFTP: every folder walked breadth first (links never
//! followed), each name checked, the include and exclude patterns applied, at most
//! `max_files` entries. A listing either completes or fails as a whole: the service
//! never judges a site from part of it.
//!
//! Must not: read file contents (the check does), or follow a link.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::names::{Rel, link_inside};
use super::remote::{OpError, Remote, Stat};
use crate::site::PathFilter;

/// What a watched entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    /// A link inside the root, with its target.
    Link(String),
}

/// One watched entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub stat: Stat,
}

/// An entry the service will not touch, with why (an event).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Refusal {
    /// `refused-name`, `link-outside` or `not-a-file`.
    pub kind: &'static str,
    /// Where, printable (control bytes escaped).
    pub path: String,
    pub reason: String,
}

/// A complete listing of the watched part of a root.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub entries: BTreeMap<Rel, Entry>,
    /// Every folder walked (the root is not named).
    pub dirs: BTreeSet<Rel>,
    pub refused: Vec<Refusal>,
}

/// Why a listing failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("listing failed: {0}")]
    Op(#[from] OpError),
    #[error("the root holds more than {0} entries (deface.max_site_files)")]
    TooMany(u64),
}

/// Lists the watched part of `root`.
pub async fn walk(remote: &Remote, root: &str, filter: &PathFilter, max_files: u64) -> Result<Listing, WalkError> {
    let top = remote.lstat(root).await?;
    if !top.is_dir() {
        return Err(
            OpError::Failed { path: root.to_string(), reason: "the document root is not a folder".into() }.into()
        );
    }
    let mut listing = Listing::default();
    let mut queue: VecDeque<Option<Rel>> = VecDeque::from([None]);
    let mut seen = 0u64;
    let budget = usize::try_from(max_files).unwrap_or(usize::MAX);
    while let Some(dir) = queue.pop_front() {
        let path = dir.as_ref().map_or_else(|| root.to_string(), |d| d.remote(root));
        for (name, stat) in remote.list(&path, budget).await? {
            if name == "." || name == ".." {
                continue;
            }
            seen += 1;
            if seen > max_files {
                return Err(WalkError::TooMany(max_files));
            }
            let rel = match Rel::child(dir.as_ref(), &name) {
                Ok(rel) => rel,
                Err(reason) => {
                    let shown = format!("{}/{}", dir.as_ref().map_or("", |d| d.as_str()), name.escape_debug());
                    listing.refused.push(Refusal { kind: "refused-name", path: shown, reason: reason.into() });
                    continue;
                }
            };
            if stat.is_dir() {
                if filter.walked(rel.as_str()) {
                    listing.dirs.insert(rel.clone());
                    queue.push_back(Some(rel));
                }
            } else if !filter.watched(rel.as_str()) {
                continue;
            } else if stat.is_symlink() {
                let target = remote.read_link(&rel.remote(root)).await?;
                if link_inside(&rel, &target) {
                    listing.entries.insert(rel, Entry { kind: Kind::Link(target), stat });
                } else {
                    let reason = format!("a link out of the root, to {}", target.escape_debug());
                    listing.refused.push(Refusal { kind: "link-outside", path: rel.to_string(), reason });
                }
            } else if stat.is_file() {
                listing.entries.insert(rel, Entry { kind: Kind::File, stat });
            } else {
                let reason = format!("not a file, folder or link (mode {:o})", stat.mode);
                listing.refused.push(Refusal { kind: "not-a-file", path: rel.to_string(), reason });
            }
        }
    }
    Ok(listing)
}
