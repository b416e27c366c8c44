//! File helpers for the CA directory: atomic writes and key-mode checks.
//!
//! Lives here: writing a file atomically (temporary file created with its
//! final mode, fsync, rename, fsync of the directory) and refusing private
//! key files that group or other can access. Must not: widen a file's mode
//! after creation, or read key contents (that is the caller's business).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CaError;

/// Mode of private key files.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode of certificate and state files.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CaError {
    let path = path.to_path_buf();
    move |source| CaError::Io { action, path, source }
}

fn temp_path(target: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` atomically; the file is created with `mode`
/// (the umask can only narrow it) and never exists with a wider one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let tmp = temp_path(path);
    let result =
        write_temp(&tmp, bytes, mode).and_then(|()| fs::rename(&tmp, path).map_err(io_err("rename into place", path)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(path)
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(mode).open(tmp).map_err(io_err("create", tmp))?;
    file.write_all(bytes).map_err(io_err("write", tmp))?;
    file.sync_all().map_err(io_err("fsync", tmp))
}

fn sync_dir(path: &Path) -> Result<(), CaError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
}

/// Creates the CA directory (mode 0700) if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CaError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err("create directory", dir))
}

/// Reads a file to a string, naming it on error.
pub(crate) fn read_string(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(io_err("read", path))
}

/// Refuses a key file that group or other can read, write or execute.
pub(crate) fn check_key_mode(path: &Path) -> Result<(), CaError> {
    let meta = fs::metadata(path).map_err(io_err("stat", path))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CaError::KeyFilePermissions { path: path.to_path_buf(), mode });
    }
    Ok(())
}

/// Removes a file, naming it on error; a missing file is not an error.
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), CaError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}
