//! The group-commit writer: one dedicated OS thread owns the active segment.
//!
//! It blocks on the bounded request channel, then drains whatever else is
//! already waiting (up to a record and byte budget), appends the whole batch
//! (one positioned write, plus one for each large message body, which is
//! written from the buffer it arrived in rather than copied), calls `sync_data`
//! once, applies the batch to the index and only then acknowledges every
//! request of the batch.
//!
//! A batch that extends the file also writes [`ZERO_AHEAD`] bytes of zeros
//! after itself, made durable by the same `sync_data`. The batches that follow
//! overwrite blocks that already exist, so their `sync_data` flushes data only,
//! without the file-size and block-allocation metadata (on ext4 here: about
//! 0.25 ms instead of 0.45–0.55 ms per commit). Recovery reads an all-zero tail
//! as the clean end of a segment.
//!
//! A failed write or fsync poisons the writer: the page-cache state is unknown
//! after a failed fsync, so every later request is refused until a restart
//! recovers.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::codec::StateOp;
use super::error::{Result, SpoolError};
use super::index::{Index, Location};
use super::record::{self, RecordKind};
use super::{CompactReport, MessageId, SpoolConfig, Stats, segment};

/// A record tail at least this large is written from its own buffer.
const DIRECT_TAIL: usize = 64 << 10;

/// Zeros written past the end of a batch that extends the segment file.
const ZERO_AHEAD: u64 = 1 << 20;
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// What a committed record changes in the index.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Insert { id: MessageId, recipients: usize },
    State { id: MessageId, op: StateOp },
}

/// One record to append; acknowledged after its batch is fsynced.
pub(crate) struct Append {
    pub kind: RecordKind,
    /// The payload, or its head when `tail` is not empty.
    pub payload: Vec<u8>,
    /// The rest of the payload (a message body, shared with its sender: never copied
    /// when large).
    pub tail: Bytes,
    /// Checksum of `payload` followed by `tail`.
    pub pcrc: u32,
    pub effect: Effect,
    pub ack: oneshot::Sender<Result<()>>,
}

/// A part of a batch as written: a range of the batch buffer, or an append's tail.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Buf(usize, usize),
    Tail(usize),
}

/// A request to the writer.
pub(crate) enum Op {
    Append(Append),
    Compact(oneshot::Sender<Result<CompactReport>>),
    Shutdown(oneshot::Sender<()>),
}

/// State owned by the writer thread.
pub(crate) struct Writer {
    pub dir: PathBuf,
    pub cfg: SpoolConfig,
    pub file: File,
    pub seq: u64,
    pub size: u64,
    /// The file's length: `size` plus the zeros written ahead of it.
    pub zeroed_to: u64,
    pub batch: u64,
    pub index: Arc<Mutex<Index>>,
    pub stats: Arc<Stats>,
    /// Held for the writer's lifetime: the directory lock.
    pub _lock: File,
    pub poisoned: Option<String>,
    pub buf: Vec<u8>,
    pub dirty_since: Option<Instant>,
}

impl Writer {
    /// Starts the writer thread.
    pub fn spawn(self, rx: mpsc::Receiver<Op>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("spool-writer".into()).spawn(move || self.run(rx))
    }

    fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        while let Some(first) = rx.blocking_recv() {
            let (appends, control) = self.gather(first, &mut rx);
            if !appends.is_empty() {
                self.commit(appends);
            }
            if let Some(op) = control
                && self.control(op)
            {
                break;
            }
        }
        // Dropping `self` closes the active segment and releases the lock.
    }

    /// Collects the batch: `first` plus whatever is queued, stopping at a
    /// control request so that ordering is preserved.
    fn gather(&self, first: Op, rx: &mut mpsc::Receiver<Op>) -> (Vec<Append>, Option<Op>) {
        let mut appends = Vec::new();
        let mut bytes = 0usize;
        let mut next = Some(first);
        while let Some(op) = next.take() {
            match op {
                Op::Append(a) => {
                    bytes += a.payload.len() + a.tail.len() + record::HEADER_LEN;
                    appends.push(a);
                }
                control => return (appends, Some(control)),
            }
            if appends.len() < self.cfg.max_batch_records && bytes < self.cfg.max_batch_bytes {
                next = rx.try_recv().ok();
            }
        }
        (appends, None)
    }

    fn control(&mut self, op: Op) -> bool {
        match op {
            Op::Append(a) => {
                self.commit(vec![a]);
                false
            }
            Op::Compact(ack) => {
                let _ = ack.send(self.compact());
                false
            }
            Op::Shutdown(ack) => {
                let _ = ack.send(());
                true
            }
        }
    }

    fn poison(&mut self, err: &SpoolError) {
        tracing::error!(error = %err, "spool writer failed; refusing further writes");
        self.poisoned = Some(err.to_string());
    }

    fn commit(&mut self, appends: Vec<Append>) {
        if self.poisoned.is_none()
            && self.size >= self.cfg.segment_size
            && let Err(e) = self.rotate()
        {
            self.poison(&e);
        }
        if let Some(reason) = &self.poisoned {
            for a in appends {
                let _ = a.ack.send(Err(SpoolError::Poisoned(reason.clone())));
            }
            return;
        }
        let (locs, pieces) = self.encode(&appends);
        let written = match self.write_and_sync(&appends, &pieces) {
            Ok(n) => n,
            Err(e) => {
                self.poison(&e);
                return self.commit(appends);
            }
        };
        self.size += written;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.records.fetch_add(appends.len() as u64, Ordering::Relaxed);
        self.apply(&appends, &locs);
        for a in appends {
            let _ = a.ack.send(Ok(()));
        }
        self.maybe_compact();
    }

    /// Frames the batch into the buffer, leaving out large tails; returns each record's
    /// place and the pieces to write in order.
    fn encode(&mut self, appends: &[Append]) -> (Vec<Location>, Vec<Piece>) {
        self.batch += 1;
        self.buf.clear();
        if self.buf.capacity() > 2 * self.cfg.max_batch_bytes {
            self.buf.shrink_to(self.cfg.max_batch_bytes);
        }
        let mut locs = Vec::with_capacity(appends.len());
        let mut pieces = Vec::new();
        let (mut offset, mut from) = (self.size, 0);
        for (i, a) in appends.iter().enumerate() {
            let len = a.payload.len() + a.tail.len();
            record::encode_header_into(&mut self.buf, a.kind, self.batch, len, a.pcrc);
            self.buf.extend_from_slice(&a.payload);
            if a.tail.len() >= DIRECT_TAIL {
                pieces.push(Piece::Buf(from, self.buf.len()));
                pieces.push(Piece::Tail(i));
                from = self.buf.len();
            } else {
                self.buf.extend_from_slice(&a.tail);
            }
            let total = record::HEADER_LEN + len;
            locs.push(Location { seg: self.seq, offset, len: total as u32 });
            offset += total as u64;
        }
        pieces.push(Piece::Buf(from, self.buf.len()));
        (locs, pieces)
    }

    /// Writes the pieces one after the other at the end of the segment, then syncs;
    /// returns the bytes written.
    fn write_and_sync(&mut self, appends: &[Append], pieces: &[Piece]) -> Result<u64> {
        let path = segment::path(&self.dir, self.seq);
        let mut end = self.size;
        for piece in pieces {
            let bytes = match *piece {
                Piece::Buf(from, to) => &self.buf[from..to],
                Piece::Tail(i) => &appends[i].tail[..],
            };
            self.file.write_all_at(bytes, end).map_err(|e| SpoolError::io("append", &path, e))?;
            end += bytes.len() as u64;
        }
        if end > self.zeroed_to {
            let to = (end + ZERO_AHEAD).min(self.cfg.segment_size).max(end);
            self.zero(end, to).map_err(|e| SpoolError::io("extend", &path, e))?;
            self.zeroed_to = to;
        }
        self.file.sync_data().map_err(|e| SpoolError::io("fsync", &path, e))?;
        Ok(end - self.size)
    }

    /// Writes zeros over `[from, to)`.
    fn zero(&self, mut from: u64, to: u64) -> std::io::Result<()> {
        while from < to {
            let n = ZEROS.len().min(usize::try_from(to - from).unwrap_or(usize::MAX));
            self.file.write_all_at(&ZEROS[..n], from)?;
            from += n as u64;
        }
        Ok(())
    }

    fn apply(&mut self, appends: &[Append], locs: &[Location]) {
        let mut idx = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        idx.set_size(self.seq, self.size);
        for (a, loc) in appends.iter().zip(locs) {
            match &a.effect {
                Effect::Insert { id, recipients } => {
                    idx.insert(*id, *loc, *recipients);
                }
                Effect::State { id, op } => {
                    if idx.apply(*id, op.clone(), self.seq) && self.dirty_since.is_none() {
                        self.dirty_since = Some(Instant::now());
                    }
                }
            }
        }
    }

    fn rotate(&mut self) -> Result<()> {
        let next = self.seq + 1;
        self.file = segment::create(&self.dir, next)?;
        self.seq = next;
        self.size = 0;
        self.zeroed_to = 0;
        self.index.lock().unwrap_or_else(PoisonError::into_inner).set_active(next);
        self.dirty_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    fn maybe_compact(&mut self) {
        let due = self.dirty_since.is_some_and(|t| t.elapsed() >= self.cfg.compact_interval);
        if due && let Err(e) = self.compact() {
            tracing::error!(error = %e, "spool compaction failed");
        }
    }

    /// Deletes every segment the index says is no longer needed.
    pub fn compact(&mut self) -> Result<CompactReport> {
        self.dirty_since = None;
        let (seqs, bytes) = self.index.lock().unwrap_or_else(PoisonError::into_inner).take_deletable();
        segment::remove(&self.dir, &seqs)?;
        self.stats.segments_deleted.fetch_add(seqs.len() as u64, Ordering::Relaxed);
        Ok(CompactReport { segments_deleted: seqs.len(), bytes_freed: bytes })
    }
}
