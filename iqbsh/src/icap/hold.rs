//! Holding a body above its scan limit on disk until its verdict
//! (`over_limit = "hold"`): the hold space ([`HoldSpace`]: one directory and a
//! bound on what every connection holds together), each client connection's
//! share of it ([`HoldShare`], bounded too), and one body's file ([`Spool`]).
//! A spool file is created 0600 and unlinked at once, so it is gone when its
//! descriptor closes, after delivery or refusal, and after a crash too; what it
//! holds is counted against both bounds from the moment it is written until
//! the body has been read back or dropped.
//!
//! Must not: let a byte of a spool out before the caller has the verdict
//! (only [`Spool::into_body`] reads it back); write past a bound (the write
//! fails and the caller refuses the body: fail closed, never passed).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::body::Channel;
use super::config::{HoldConfig, Size};

/// Bytes read back from a spool file at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Frames queued towards the receiver of a body read back.
const READ_DEPTH: usize = 4;

/// Why a body could not be held.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HoldError {
    #[error("it would take this connection past the {0} it may hold for scanning")]
    Connection(Size),
    #[error("the gateway's space for holding content until it is scanned ({0}) is full")]
    Total(Size),
    #[error("the gateway could not hold it for scanning: {0}")]
    Io(#[from] io::Error),
}

/// The directory bodies wait in and the bound on all of them together.
#[derive(Debug)]
pub(crate) struct HoldSpace {
    dir: PathBuf,
    total: u64,
    per_connection: u64,
    used: AtomicU64,
    files: AtomicU64,
}

/// What one client connection holds now.
#[derive(Debug, Default)]
pub(crate) struct HoldShare {
    used: AtomicU64,
}

impl HoldSpace {
    /// Creates the directory (0700) and removes what an earlier run left in it.
    pub(crate) fn open(cfg: &HoldConfig) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&cfg.dir)?;
        std::fs::set_permissions(&cfg.dir, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(&cfg.dir)? {
            let path = entry?.path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("hold-")) {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(Self {
            dir: cfg.dir.clone(),
            total: cfg.total.0,
            per_connection: cfg.per_connection.0,
            used: AtomicU64::new(0),
            files: AtomicU64::new(0),
        })
    }

    /// Bytes held now, by every connection.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Relaxed)
    }

    /// A new, empty spool file counted against `share`.
    pub(crate) async fn spool(self: &Arc<Self>, share: &Arc<HoldShare>) -> Result<Spool, HoldError> {
        let n = self.files.fetch_add(1, Relaxed);
        let path = self.dir.join(format!("hold-{}-{n}", std::process::id()));
        let file = create(&path).await?;
        let reservation = Reservation { space: Arc::clone(self), share: Arc::clone(share), bytes: 0 };
        Ok(Spool { file, len: 0, reservation })
    }
}

/// Opens `path` 0600 (never an existing file) and unlinks it.
async fn create(path: &Path) -> io::Result<tokio::fs::File> {
    let file = tokio::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path).await?;
    tokio::fs::remove_file(path).await?;
    Ok(file)
}

/// Bytes counted against the connection's share and the space, given back when dropped.
#[derive(Debug)]
struct Reservation {
    space: Arc<HoldSpace>,
    share: Arc<HoldShare>,
    bytes: u64,
}

/// Adds `n` to `counter` unless that passes `bound`.
fn take(counter: &AtomicU64, n: u64, bound: u64) -> bool {
    counter.fetch_update(Relaxed, Relaxed, |used| used.checked_add(n).filter(|total| *total <= bound)).is_ok()
}

impl Reservation {
    fn grow(&mut self, n: u64) -> Result<(), HoldError> {
        if !take(&self.share.used, n, self.space.per_connection) {
            return Err(HoldError::Connection(Size(self.space.per_connection)));
        }
        if !take(&self.space.used, n, self.space.total) {
            self.share.used.fetch_sub(n, Relaxed);
            return Err(HoldError::Total(Size(self.space.total)));
        }
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.share.used.fetch_sub(self.bytes, Relaxed);
        self.space.used.fetch_sub(self.bytes, Relaxed);
    }
}

/// One body's bytes past the memory limit, on disk until the verdict.
#[derive(Debug)]
pub(crate) struct Spool {
    file: tokio::fs::File,
    len: u64,
    reservation: Reservation,
}

impl Spool {
    /// Appends `data`, if both bounds allow it.
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), HoldError> {
        self.reservation.grow(data.len() as u64)?;
        self.file.write_all(data).await?;
        self.len += data.len() as u64;
        Ok(())
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The held bytes as a body (read back on a task of their own), then `trailers`;
    /// the space is given back as they are read out, when the body is dropped at the latest.
    pub(crate) fn into_body(self, trailers: Option<HeaderMap>) -> Channel {
        let (tx, channel) = Channel::new(READ_DEPTH);
        tokio::spawn(async move {
            let Spool { mut file, mut len, reservation } = self;
            let _reservation = reservation;
            if let Err(e) = file.flush().await.and(file.rewind().await) {
                let _ = tx.send(Err(Box::new(e))).await;
                return;
            }
            while len > 0 {
                let mut buf = BytesMut::zeroed(READ_CHUNK.min(usize::try_from(len).unwrap_or(READ_CHUNK)));
                let item = match file.read_exact(&mut buf).await {
                    Ok(n) => Ok(Frame::data(Bytes::from(buf).slice(..n))),
                    Err(e) => Err(Box::new(e) as crate::http::page::BoxError),
                };
                let failed = item.is_err();
                len = len.saturating_sub(READ_CHUNK as u64);
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
            if let Some(trailers) = trailers {
                let _ = tx.send(Ok(Frame::trailers(trailers))).await;
            }
        });
        channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn space(dir: &Path, per_connection: u64, total: u64) -> Arc<HoldSpace> {
        let cfg = HoldConfig { dir: dir.to_owned(), per_connection: Size(per_connection), total: Size(total) };
        Arc::new(HoldSpace::open(&cfg).expect("opens"))
    }

    #[tokio::test]
    async fn a_spool_leaves_no_file_reads_back_in_order_and_gives_its_space_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("hold-1-1"), b"left by a crash").expect("write");
        let space = space(dir.path(), 1 << 20, 1 << 20);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "leftovers removed at start");
        let share = Arc::new(HoldShare::default());
        let mut spool = space.spool(&share).await.expect("spool");
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        for piece in data.chunks(7_000) {
            spool.write(piece).await.expect("write");
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "unlinked once opened");
        assert_eq!((space.used(), spool.len()), (200_000, 200_000));
        let mut trailers = HeaderMap::new();
        trailers.insert("x-check", "1".parse().expect("value"));
        let collected = spool.into_body(Some(trailers)).collect().await.expect("reads back");
        assert_eq!(collected.trailers().and_then(|t| t.get("x-check")).map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert!(collected.to_bytes() == data[..], "the same bytes in the same order");
        assert_eq!(space.used(), 0, "given back");
    }

    #[tokio::test]
    async fn a_write_past_either_bound_fails_and_takes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let space = space(dir.path(), 100, 150);
        let (a, b) = (Arc::new(HoldShare::default()), Arc::new(HoldShare::default()));
        let mut first = space.spool(&a).await.expect("spool");
        first.write(&[0; 80]).await.expect("within both");
        let mut second = space.spool(&a).await.expect("spool");
        assert!(matches!(second.write(&[0; 30]).await, Err(HoldError::Connection(_))), "the connection's bound");
        let mut other = space.spool(&b).await.expect("spool");
        other.write(&[0; 60]).await.expect("another connection");
        assert!(matches!(other.write(&[0; 20]).await, Err(HoldError::Total(_))), "the total");
        assert_eq!((space.used(), a.used.load(Relaxed), b.used.load(Relaxed)), (140, 80, 60));
        drop((first, second, other));
        assert_eq!(space.used(), 0);
    }
}
