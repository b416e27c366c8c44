//! A site's reference copy on this machine, under `DATA/sites/DOMAIN/`: the manifest
//! (`reference.json`: every watched file's hash, size and mode, the folders, the pages'
//! renderings) and the files themselves, content-addressed (`objects/AB/CDEF…`), and the
//! evidence folders (`evidence/N/…`, mode 0700, files 0600) where an intruder's files are
//! kept aside. Every write goes to a temporary name, is synced, then renamed.
//!
//! Must not: keep anything outside the site's directory, or lose the manifest halfway
//! (a reader sees the old one or the new one).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::names::Rel;
use crate::pages::ReferencePage;

/// One watched file (or link) of the reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefEntry {
    /// Hex SHA-256 of the content (of the target text, for a link).
    pub sha256: String,
    pub size: u64,
    pub mode: u32,
    /// The target, when the entry is a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// What a site looks like when nobody has changed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, RefEntry>,
    pub dirs: BTreeSet<String>,
    pub pages: BTreeMap<String, ReferencePage>,
    /// Unix milliseconds.
    pub taken_at: i64,
}

impl Manifest {
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }

    /// The reference entry of `rel`.
    pub fn entry(&self, rel: &Rel) -> Option<&RefEntry> {
        self.files.get(rel.as_str())
    }
}

/// The directory of one site's reference and evidence.
#[derive(Clone, Debug)]
pub struct SiteDir {
    base: PathBuf,
}

/// Hex SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> String {
    crate::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

impl SiteDir {
    /// `data_dir/sites/DOMAIN` (the domain was checked: lower-case labels only).
    pub fn new(data_dir: &Path, domain: &str) -> SiteDir {
        SiteDir { base: data_dir.join("sites").join(domain) }
    }

    pub fn path(&self) -> &Path {
        &self.base
    }

    fn manifest_path(&self) -> PathBuf {
        self.base.join("reference.json")
    }

    /// The manifest, if a reference was taken.
    pub fn load(&self) -> std::io::Result<Option<Manifest>> {
        match std::fs::read(self.manifest_path()) {
            Ok(bytes) => {
                let m: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", self.manifest_path().display())))?;
                for rel in m.files.keys() {
                    Rel::parse(rel)
                        .map_err(|e| std::io::Error::other(format!("{}: {e}", self.manifest_path().display())))?;
                }
                Ok(Some(m))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the manifest in one step, then drops objects it no longer names.
    pub fn save(&self, m: &Manifest) -> std::io::Result<()> {
        private_dir(&self.base)?;
        let text = serde_json::to_vec(m).map_err(std::io::Error::other)?;
        write_atomic(&self.manifest_path(), &text)?;
        let keep: BTreeSet<&str> = m.files.values().map(|f| f.sha256.as_str()).collect();
        self.sweep(&keep)
    }

    fn object_path(&self, hash: &str) -> PathBuf {
        let (a, b) = hash.split_at(2.min(hash.len()));
        self.base.join("objects").join(a).join(b)
    }

    /// Keeps `data` as an object; returns its hash.
    pub fn put_object(&self, data: &[u8]) -> std::io::Result<String> {
        let hash = sha256(data);
        let path = self.object_path(&hash);
        if !path.exists() {
            private_dir(path.parent().unwrap_or(&self.base))?;
            write_atomic(&path, data)?;
        }
        Ok(hash)
    }

    /// The object `hash`, checked against its hash.
    pub fn object(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        let data = std::fs::read(self.object_path(hash))?;
        if sha256(&data) != hash {
            return Err(std::io::Error::other(format!("reference object {hash} is damaged")));
        }
        Ok(data)
    }

    pub fn has_object(&self, hash: &str) -> bool {
        self.object_path(hash).exists()
    }

    fn sweep(&self, keep: &BTreeSet<&str>) -> std::io::Result<()> {
        let objects = self.base.join("objects");
        let Ok(dirs) = std::fs::read_dir(&objects) else { return Ok(()) };
        for dir in dirs.flatten() {
            let prefix = dir.file_name().to_string_lossy().into_owned();
            for f in std::fs::read_dir(dir.path())?.flatten() {
                let name = format!("{prefix}{}", f.file_name().to_string_lossy());
                if !keep.contains(name.as_str()) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
        Ok(())
    }

    /// A new evidence folder's name (`N`, one above the highest so far).
    pub fn new_evidence(&self) -> std::io::Result<String> {
        let dir = self.base.join("evidence");
        private_dir(&dir)?;
        let next = std::fs::read_dir(&dir)?
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
            .max()
            .map_or(1, |n| n + 1);
        private_dir(&dir.join(next.to_string()))?;
        Ok(next.to_string())
    }

    /// Keeps `data` found at `rel` in evidence folder `folder` (mode 0600).
    pub fn keep_evidence(&self, folder: &str, rel: &Rel, data: &[u8]) -> std::io::Result<()> {
        let path = rel.local(&self.base.join("evidence").join(folder).join("files"));
        private_dir(path.parent().unwrap_or(&self.base))?;
        write_atomic(&path, data)
    }

    /// What evidence folder `folder` kept of `rel`.
    pub fn evidence(&self, folder: &str, rel: &Rel) -> std::io::Result<Vec<u8>> {
        std::fs::read(rel.local(&self.base.join("evidence").join(folder).join("files")))
    }
}

fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Writes `data` to `path` through a temporary file in the same folder, synced, renamed.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn objects_manifests_and_evidence_round_trip_privately() {
        let dir = tempfile::tempdir().unwrap();
        let site = SiteDir::new(dir.path(), "site.example.kz");
        assert!(site.load().unwrap().is_none());
        let a = site.put_object(b"<h1>Welcome</h1>").unwrap();
        let b = site.put_object(b"old").unwrap();
        let mut m = Manifest::default();
        m.files.insert("index.html".into(), RefEntry { sha256: a.clone(), size: 16, mode: 0o644, link: None });
        site.save(&m).unwrap();
        assert_eq!(site.load().unwrap().unwrap(), m);
        assert_eq!(site.object(&a).unwrap(), b"<h1>Welcome</h1>");
        assert!(!site.has_object(&b), "an object no manifest names is dropped");
        let folder = site.new_evidence().unwrap();
        assert_eq!(folder, "1");
        let rel = Rel::parse("shell.php").unwrap();
        site.keep_evidence(&folder, &rel, b"<?php system($_GET['c']);").unwrap();
        assert_eq!(site.evidence(&folder, &rel).unwrap(), b"<?php system($_GET['c']);");
        let mode = std::fs::metadata(rel.local(&site.path().join("evidence/1/files"))).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(site.new_evidence().unwrap(), "2");
    }
}
