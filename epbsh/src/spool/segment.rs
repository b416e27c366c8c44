//! Segment files: naming, listing, creation with directory fsync, truncation
//! of a torn tail, and quarantine of bytes dropped by recovery.
//!
//! Segments are named `<16 hex digits>.seg` by their sequence number; exactly
//! one (the highest) is open for appends at run time, the others are sealed.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Result, SpoolError};

const SUFFIX: &str = ".seg";

/// Path of segment `seq` in `dir`.
pub(crate) fn path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}{SUFFIX}"))
}

/// Sequence numbers of all segments in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<u64>> {
    let rd = fs::read_dir(dir).map_err(|e| SpoolError::io("read_dir", dir, e))?;
    let mut seqs = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| SpoolError::io("read_dir", dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if stem.len() == 16
            && let Ok(seq) = u64::from_str_radix(stem, 16)
        {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// fsyncs the directory so that created or removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| SpoolError::io("fsync directory", dir, e))
}

/// Creates a new, empty segment for writing and makes its name durable.
pub(crate) fn create(dir: &Path, seq: u64) -> Result<File> {
    let p = path(dir, seq);
    let file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&p)
        .map_err(|e| SpoolError::io("create segment", &p, e))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Reads a whole segment.
pub(crate) fn read(dir: &Path, seq: u64) -> Result<Vec<u8>> {
    let p = path(dir, seq);
    fs::read(&p).map_err(|e| SpoolError::io("read segment", &p, e))
}

/// Cuts segment `seq` to `len` bytes and fsyncs it.
pub(crate) fn truncate(dir: &Path, seq: u64, len: u64) -> Result<()> {
    let p = path(dir, seq);
    let f = OpenOptions::new().write(true).open(&p).map_err(|e| SpoolError::io("open for truncate", &p, e))?;
    f.set_len(len).and_then(|()| f.sync_all()).map_err(|e| SpoolError::io("truncate segment", &p, e))
}

/// Saves bytes that recovery is about to drop (they contain checksummed
/// records) next to the segment, for an operator to inspect.
pub(crate) fn quarantine(dir: &Path, seq: u64, offset: usize, bytes: &[u8]) -> Result<PathBuf> {
    let p = dir.join(format!("{seq:016x}.torn-{offset}"));
    let mut f = File::create(&p).map_err(|e| SpoolError::io("create quarantine", &p, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| SpoolError::io("write quarantine", &p, e))?;
    sync_dir(dir)?;
    Ok(p)
}

/// Deletes sealed segments and fsyncs the directory once.
pub(crate) fn remove(dir: &Path, seqs: &[u64]) -> Result<()> {
    for &seq in seqs {
        let p = path(dir, seq);
        fs::remove_file(&p).map_err(|e| SpoolError::io("remove segment", &p, e))?;
    }
    if seqs.is_empty() { Ok(()) } else { sync_dir(dir) }
}

/// Takes the exclusive advisory lock of the spool directory.
pub(crate) fn lock(dir: &Path) -> Result<File> {
    let p = dir.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| SpoolError::io("open lock", &p, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(SpoolError::Locked(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(SpoolError::io("lock", &p, e)),
    }
}
