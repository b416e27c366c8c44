//! Putting a site's files back from the reference over SFTP, and the reverse when a
//! person accepts the change. A changed or added file is first kept aside as evidence
//! (read whole, stored under the data directory); only then is it replaced (the
//! reference written to a temporary name in the same folder and renamed over it) or
//! removed. A deleted file is written back the same way, its folders made again.
//!
//! Must not: remove or replace a file it could not keep as evidence, or write a path
//! that did not pass `names`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::names::Rel;
use super::reference::{Manifest, RefEntry, SiteDir, sha256};
use super::remote::{OpError, Remote};
use super::scan::{Change, FileChange, read_stable};
use crate::DefaceConfig;

/// What was done about one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOutcome {
    pub path: String,
    pub change: Change,
    /// `put back`, `removed`, `left` (could not be kept or written: see `reason`),
    /// `recorded` (a maintenance window).
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The mode the intruder's file had (to put it back if accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// The result of a restore.
#[derive(Debug, Default)]
pub struct Restored {
    pub files: Vec<FileOutcome>,
    pub diff: String,
}

impl Restored {
    pub fn complete(&self) -> bool {
        self.files.iter().all(|f| f.action != "left")
    }
}

/// The longest diff kept for one finding.
const MAX_FINDING_DIFF: usize = 256 * 1024;

static TMP: AtomicU64 = AtomicU64::new(0);

fn tmp_tag() -> String {
    format!("{}-{}", std::process::id(), TMP.fetch_add(1, Ordering::Relaxed))
}

/// A place under the root where the service writes a temporary copy of `rel`.
fn tmp_path(rel: &Rel, root: &str) -> String {
    format!("{}/{}", root.trim_end_matches('/'), rel.temporary(&tmp_tag()))
}

/// Puts `changes` back from `reference`, keeping what it replaces in evidence `folder`.
pub async fn restore(
    remote: &Remote,
    root: &str,
    dir: &SiteDir,
    reference: &Manifest,
    changes: &[FileChange],
    folder: &str,
    cfg: &DefaceConfig,
) -> Restored {
    let mut out = Restored::default();
    for c in changes {
        let outcome = match restore_one(remote, root, dir, reference, c, folder, cfg, &mut out.diff).await {
            Ok((action, mode)) => FileOutcome {
                path: c.rel.as_str().to_string(),
                change: c.change,
                action: action.into(),
                reason: None,
                mode,
            },
            Err(reason) => FileOutcome {
                path: c.rel.as_str().to_string(),
                change: c.change,
                action: "left".into(),
                reason: Some(reason),
                mode: None,
            },
        };
        out.files.push(outcome);
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn restore_one(
    remote: &Remote,
    root: &str,
    dir: &SiteDir,
    reference: &Manifest,
    c: &FileChange,
    folder: &str,
    cfg: &DefaceConfig,
    diff: &mut String,
) -> Result<(&'static str, Option<u32>), String> {
    let path = c.rel.remote(root);
    // Keep what is there before touching it.
    let mut kept_mode = None;
    if c.change != Change::Deleted {
        let found = keep_aside(remote, &path, &c.rel, dir, folder, cfg).await?;
        kept_mode = Some(found.1);
        let before = match reference.entry(&c.rel) {
            Some(r) if r.link.is_none() => dir.object(&r.sha256).map_err(|e| e.to_string())?,
            Some(r) => r.link.clone().unwrap_or_default().into_bytes(),
            None => Vec::new(),
        };
        append_diff(diff, &crate::diff::bytes(c.rel.as_str(), &before, &found.0));
    } else if let Some(r) = reference.entry(&c.rel)
        && r.link.is_none()
    {
        let before = dir.object(&r.sha256).map_err(|e| e.to_string())?;
        append_diff(diff, &crate::diff::bytes(c.rel.as_str(), &before, b""));
    }
    match (c.change, reference.entry(&c.rel)) {
        (Change::Added, _) => {
            remote.remove(&path).await.map_err(|e| e.to_string())?;
            Ok(("removed", kept_mode))
        }
        (_, Some(r)) => {
            make_parents(remote, root, &c.rel).await?;
            put_entry(remote, root, dir, &c.rel, r).await?;
            Ok(("put back", kept_mode))
        }
        (_, None) => Err("not in the reference".into()),
    }
}

/// Reads what is at `path` (a file or a link) and keeps it in evidence; returns the
/// bytes kept and the mode found.
async fn keep_aside(
    remote: &Remote,
    path: &str,
    rel: &Rel,
    dir: &SiteDir,
    folder: &str,
    cfg: &DefaceConfig,
) -> Result<(Vec<u8>, u32), String> {
    let stat = remote.lstat(path).await.map_err(|e| e.to_string())?;
    let data = if stat.is_symlink() {
        remote.read_link(path).await.map_err(|e| e.to_string())?.into_bytes()
    } else {
        read_stable(remote, path, cfg.max_file_bytes, cfg.copy_attempts)
            .await
            .map_err(|e| match e {
                OpError::TooLarge { .. } | OpError::Unstable { .. } => {
                    format!("not kept as evidence, so not touched: {e}")
                }
                e => e.to_string(),
            })?
            .0
    };
    dir.keep_evidence(folder, rel, &data).map_err(|e| format!("evidence could not be kept: {e}"))?;
    Ok((data, stat.mode))
}

/// Makes the folders above `rel` that are missing.
async fn make_parents(remote: &Remote, root: &str, rel: &Rel) -> Result<(), String> {
    let mut chain = Vec::new();
    let mut p = rel.parent();
    while let Some(d) = p {
        p = d.parent();
        chain.push(d);
    }
    for d in chain.into_iter().rev() {
        remote.mkdir(&d.remote(root), 0o755).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes the reference entry `r` at `rel` (a file through a temporary name; a link
/// made again).
async fn put_entry(remote: &Remote, root: &str, dir: &SiteDir, rel: &Rel, r: &RefEntry) -> Result<(), String> {
    let path = rel.remote(root);
    match &r.link {
        None => {
            let data = dir.object(&r.sha256).map_err(|e| e.to_string())?;
            remote.put(&path, &tmp_path(rel, root), &data, r.mode).await.map_err(|e| e.to_string())
        }
        Some(target) => {
            match remote.remove(&path).await {
                Ok(()) | Err(OpError::Missing { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
            remote.symlink(target, &path).await.map_err(|e| e.to_string())
        }
    }
}

/// Accepting a restored change: each file the finding put back or removed is made again
/// as it was found (from the evidence), a deleted file is deleted again, and the
/// reference follows. Returns the new reference.
pub async fn reverse(
    remote: &Remote,
    root: &str,
    dir: &SiteDir,
    reference: &Manifest,
    files: &[FileOutcome],
    folder: &str,
) -> Result<Manifest, String> {
    let mut m = reference.clone();
    for f in files {
        let rel = Rel::parse(&f.path).map_err(|e| format!("finding names {e}"))?;
        match (f.change, f.action.as_str()) {
            (Change::Deleted, "put back") => {
                match remote.remove(&rel.remote(root)).await {
                    Ok(()) | Err(OpError::Missing { .. }) => {}
                    Err(e) => return Err(e.to_string()),
                }
                m.files.remove(rel.as_str());
            }
            (Change::Added | Change::Changed, "put back" | "removed") => {
                let data = dir.evidence(folder, &rel).map_err(|e| format!("{rel}: the evidence is gone: {e}"))?;
                let mode = f.mode.or_else(|| reference.entry(&rel).map(|r| r.mode)).unwrap_or(0o100644);
                let hash = dir.put_object(&data).map_err(|e| e.to_string())?;
                if mode & 0o170000 == 0o120000 {
                    let target = String::from_utf8_lossy(&data).into_owned();
                    let r = RefEntry { sha256: sha256(target.as_bytes()), size: 0, mode, link: Some(target) };
                    put_entry(remote, root, dir, &rel, &r).await?;
                    m.files.insert(rel.as_str().to_string(), r);
                } else {
                    let r = RefEntry { sha256: hash, size: data.len() as u64, mode, link: None };
                    make_parents(remote, root, &rel).await?;
                    put_entry(remote, root, dir, &rel, &r).await?;
                    m.files.insert(rel.as_str().to_string(), r);
                }
            }
            _ => {}
        }
    }
    m.taken_at = store::now_ms();
    Ok(m)
}

fn append_diff(diff: &mut String, part: &str) {
    if diff.len() + part.len() <= MAX_FINDING_DIFF {
        diff.push_str(part);
    } else if !diff.ends_with("[more differences not shown]\n") {
        diff.push_str("[more differences not shown]\n");
    }
}
