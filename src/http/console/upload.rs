//! Lists uploaded through the operator portal, from the form to their confirmation:
//! each file is streamed to a private file (mode 0600, in `DATA_DIR/console-uploads`)
//! as it arrives, so an upload costs disk and never the whole list in memory; at most
//! one waits per person, for half an hour, and it is deleted once applied, refused,
//! replaced or expired. The directory is emptied when the service starts.
//!
//! Must not: hold a list in memory whole; hand one person's upload to another.

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::Multipart;
use catalog::format::Format;
use tokio::io::AsyncWriteExt;

use super::error::{ConsoleError, Result};

const TTL: Duration = Duration::from_secs(30 * 60);
const MAX_PENDING: usize = 64;
/// Bytes kept from the start of a file to tell CSV from JSON.
const HEAD: usize = 64;

/// A list waiting for its confirmation.
pub struct Pending {
    pub user: i64,
    pub operator: String,
    pub format: Format,
    pub path: PathBuf,
    at: Instant,
}

impl Pending {
    pub fn new(user: i64, operator: String, format: Format, path: PathBuf) -> Pending {
        Pending { user, operator, format, path, at: Instant::now() }
    }
}

/// What the upload form sent: its CSRF field, the file's name, where the file is now
/// and its first bytes.
pub struct Received {
    pub csrf: Option<String>,
    pub file_name: Option<String>,
    pub id: String,
    pub path: PathBuf,
    pub head: Vec<u8>,
}

/// The uploads waiting for confirmation.
pub struct Uploads {
    dir: PathBuf,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Uploads {
    /// Uploads kept in `dir`; whatever an earlier run left there is removed.
    pub fn new(dir: PathBuf) -> Uploads {
        let _ = std::fs::remove_dir_all(&dir);
        Uploads { dir, pending: Mutex::new(HashMap::new()) }
    }

    /// Streams the form's `list` file to a private file; reads the `csrf` field.
    pub async fn receive(&self, mut multipart: Multipart) -> Result<Received> {
        let bad = |e: axum::extract::multipart::MultipartError| ConsoleError::new(e.status(), e.body_text());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| ConsoleError::from(anyhow::anyhow!("cannot create {}: {e}", self.dir.display())))?;
        let id = super::catalog::random_id();
        let path = self.dir.join(&id);
        let (mut csrf, mut file_name, mut head) = (None, None, Vec::new());
        let mut file = None;
        while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
            match field.name() {
                Some("csrf") => csrf = Some(field.text().await.map_err(bad)?),
                Some("list") if file.is_none() => {
                    file_name = field.file_name().map(str::to_string);
                    let mut out = open_private(&path).await?;
                    while let Some(chunk) = field.chunk().await.map_err(|e| {
                        let _ = std::fs::remove_file(&path);
                        bad(e)
                    })? {
                        if head.len() < HEAD {
                            head.extend_from_slice(&chunk[..chunk.len().min(HEAD - head.len())]);
                        }
                        out.write_all(&chunk).await.map_err(|e| write_error(&path, e))?;
                    }
                    out.flush().await.map_err(|e| write_error(&path, e))?;
                    file = Some(());
                }
                _ => {}
            }
        }
        if file.is_none() {
            return Err(ConsoleError::bad_request("choose a list file to upload"));
        }
        Ok(Received { csrf, file_name, id, path, head })
    }

    /// Keeps an upload for its person's confirmation (replacing their earlier one).
    pub fn keep(&self, id: String, pending: Pending) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, p| {
            let keep = p.at.elapsed() < TTL && p.user != pending.user;
            if !keep {
                discard(&p.path);
            }
            keep
        });
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map.iter().min_by_key(|(_, p)| p.at).map(|(k, _)| k.clone())
            && let Some(p) = map.remove(&oldest)
        {
            discard(&p.path);
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

fn write_error(path: &Path, e: std::io::Error) -> ConsoleError {
    discard(path);
    ConsoleError::from(anyhow::anyhow!("cannot store the upload: {e}"))
}

/// Deletes an upload's file (gone already is fine).
pub fn discard(path: &Path) {
    let _ = std::fs::remove_file(path);
}
