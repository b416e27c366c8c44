//! Lists uploaded through the operator portal, from the form to their confirmation:
//! each file is streamed to a private file (mode 0600, in `DATA_DIR/console-uploads`)
//! as it arrives, so an upload costs disk and never the whole list in memory; the disk
//! all uploads take (waiting or arriving) is bounded by `[console] upload_disk_mib`
//! (507 past it); at most one waits per person, for half an hour, and its file is
//! deleted once applied, refused, replaced or expired, or when its request ends early
//! (a cut or closed connection). The directory is emptied when the service starts.
//!
//! Must not: hold a list in memory whole; hand one person's upload to another; leave
//! a file behind that no waiting upload owns.

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use catalog::format::Format;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{ConsoleError, Result};
use crate::http::body::FormParts;

const TTL: Duration = Duration::from_secs(30 * 60);
const MAX_PENDING: usize = 64;
/// Bytes kept from the start of a file to tell CSV from JSON.
const HEAD: usize = 64;

/// An upload's file and the disk it holds: deleted and given back when dropped.
pub struct Spooled {
    pub path: PathBuf,
    _disk: Option<OwnedSemaphorePermit>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A list waiting for its confirmation.
pub struct Pending {
    pub user: i64,
    pub operator: String,
    pub format: Format,
    pub file: Spooled,
    at: Instant,
}

impl Pending {
    pub fn new(user: i64, operator: String, format: Format, file: Spooled) -> Pending {
        Pending { user, operator, format, file, at: Instant::now() }
    }
}

/// What the upload form sent: the file's name, the file, and its first bytes.
pub struct Received {
    pub file_name: Option<String>,
    pub id: String,
    pub file: Spooled,
    pub head: Vec<u8>,
}

/// The uploads waiting for confirmation.
pub struct Uploads {
    dir: PathBuf,
    pending: Mutex<HashMap<String, Pending>>,
    /// KiB of disk for upload files, waiting or arriving.
    disk: Arc<Semaphore>,
}

impl Uploads {
    /// Uploads kept in `dir`, at most `disk_mib` MiB of them; whatever an earlier run
    /// left there is removed.
    pub fn new(dir: PathBuf, disk_mib: usize) -> Uploads {
        let _ = std::fs::remove_dir_all(&dir);
        let kib = (disk_mib.max(1) << 10).min(Semaphore::MAX_PERMITS);
        Uploads { dir, pending: Mutex::new(HashMap::new()), disk: Arc::new(Semaphore::new(kib)) }
    }

    /// Streams the form's `list` file to a private file (the form's token already
    /// checked); other fields are ignored.
    pub async fn receive(&self, mut form: FormParts) -> Result<Received> {
        self.prune();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| ConsoleError::from(anyhow::anyhow!("cannot create {}: {e}", self.dir.display())))?;
        let id = super::catalog::random_id();
        let mut file = Spooled { path: self.dir.join(&id), _disk: None };
        let (mut file_name, mut head, mut received) = (None, Vec::new(), false);
        while let Some(mut field) = form.next().await? {
            if field.name() != Some("list") || received {
                continue;
            }
            file_name = field.file_name().map(str::to_string);
            let mut out = open_private(&file.path).await?;
            while let Some(chunk) = field.chunk().await.map_err(crate::http::body::multipart_error)? {
                self.take_disk(&mut file, chunk.len())?;
                if head.len() < HEAD {
                    head.extend_from_slice(&chunk[..chunk.len().min(HEAD - head.len())]);
                }
                out.write_all(&chunk).await.map_err(write_error)?;
            }
            out.flush().await.map_err(write_error)?;
            received = true;
        }
        if !received {
            return Err(ConsoleError::bad_request("choose a list file to upload"));
        }
        Ok(Received { file_name, id, file, head })
    }

    /// Reserves `bytes` more disk for `file`.
    fn take_disk(&self, file: &mut Spooled, bytes: usize) -> Result<()> {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.disk).try_acquire_many_owned(kib).map_err(|_| {
            ConsoleError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "the uploads waiting for confirmation fill the space kept for them; try again later",
            )
        })?;
        match &mut file._disk {
            Some(held) => held.merge(permit),
            None => file._disk = Some(permit),
        }
        Ok(())
    }

    /// Drops the expired uploads (deleting their files).
    fn prune(&self) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, p| p.at.elapsed() < TTL);
    }

    /// Keeps an upload for its person's confirmation (replacing their earlier one).
    pub fn keep(&self, id: String, pending: Pending) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Dropping a pending upload deletes its file.
        map.retain(|_, p| p.at.elapsed() < TTL && p.user != pending.user);
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id, pending);
    }

    /// The upload `id` if it is this person's, for this operator, and not expired.
    pub fn take(&self, id: &str, user: i64, operator: &str) -> Option<Pending> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let fits = map.get(id).is_some_and(|p| p.user == user && p.operator == operator && p.at.elapsed() < TTL);
        if fits { map.remove(id) } else { None }
    }
}

async fn open_private(path: &Path) -> Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(|e| ConsoleError::from(anyhow::anyhow!("cannot store the upload in {}: {e}", path.display())))
}

fn write_error(e: std::io::Error) -> ConsoleError {
    ConsoleError::from(anyhow::anyhow!("cannot store the upload: {e}"))
}
