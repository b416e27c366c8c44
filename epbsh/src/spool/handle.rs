//! [`Spool`], the cloneable handle: open/recover, accept, state changes,
//! reads, compaction and shutdown. All file work happens on the writer thread
//! or in `spawn_blocking`; the async methods only encode and wait.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::codec::{self, StateOp};
use super::error::{Result, SpoolError};
use super::fresh::Fresh;
use super::index::{Index, Location};
use super::record::{self, RecordKind};
use super::recovery::{self, Recovered};
use super::writer::{Append, Effect, Op, Writer};
use super::{
    CompactReport, MessageId, QueuedMessage, RecipientOutcome, Retry, SpoolConfig, SpoolStats, Stats, segment,
};
use crate::envelope::Envelope;

/// Bodies above this size are encoded and checksummed off the async workers.
const INLINE_ENCODE_MAX: usize = 256 << 10;

/// Handle to an open spool; cheap to clone, shared by all sessions.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Op>,
    index: Arc<Mutex<Index>>,
    stats: Arc<Stats>,
    next_id: AtomicU64,
    dir: PathBuf,
    max_record: u32,
    fresh: Mutex<Fresh>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn now_micros() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(0)
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, recovers its content and
    /// starts the writer. Returns the messages still queued, in log order.
    ///
    /// This does blocking file I/O: call it at start-up or from
    /// `spawn_blocking`.
    pub fn open(dir: impl AsRef<Path>, config: SpoolConfig) -> Result<(Self, Vec<QueuedMessage>)> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| SpoolError::io("create spool directory", &dir, e))?;
        let lock = segment::lock(&dir)?;
        let rec = recovery::recover(&dir, config.max_record_size)?;
        let seq = rec.last_segment.map_or(1, |s| s + 1);
        let file = segment::create(&dir, seq)?;
        let Recovered { mut index, messages, max_id, max_batch, corrupt, torn_tails, .. } = rec;
        index.set_active(seq);
        let index = Arc::new(Mutex::new(index));
        let stats = Arc::new(Stats::default());
        stats.corrupt_records.store(corrupt, Ordering::Relaxed);
        stats.torn_tails.store(torn_tails, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let writer = Writer {
            dir: dir.clone(),
            cfg: config.clone(),
            file,
            seq,
            size: 0,
            zeroed_to: 0,
            batch: max_batch,
            index: index.clone(),
            stats: stats.clone(),
            _lock: lock,
            poisoned: None,
            buf: Vec::new(),
            dirty_since: Some(std::time::Instant::now()),
        };
        let thread = writer.spawn(rx).map_err(|e| SpoolError::io("spawn writer", &dir, e))?;
        let inner = Inner {
            tx,
            index,
            stats,
            next_id: AtomicU64::new((max_id + 1).max(now_micros())),
            dir,
            max_record: config.max_record_size,
            fresh: Mutex::new(Fresh::new(config.fresh_budget)),
            thread: Mutex::new(Some(thread)),
        };
        Ok((Self { inner: Arc::new(inner) }, messages))
    }

    /// Stores a message; returns only once it is fsynced (group commit).
    pub async fn accept(&self, envelope: Envelope, body: Bytes) -> Result<MessageId> {
        let id = MessageId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let recipients = envelope.recipients.len();
        let (encoded, envelope) = if body.len() > INLINE_ENCODE_MAX {
            let shared = body.clone();
            tokio::task::spawn_blocking(move || (encode_message(id, &envelope, &shared), envelope))
                .await
                .map_err(|_| SpoolError::Closed)?
        } else {
            (encode_message(id, &envelope, &body), envelope)
        };
        let (head, pcrc) = encoded?;
        let size = head.len() + body.len() + record::HEADER_LEN;
        if size > self.inner.max_record as usize {
            return Err(SpoolError::TooLarge { size, max: self.inner.max_record });
        }
        let effect = Effect::Insert { id, recipients };
        self.append(RecordKind::Message, head, body.clone(), pcrc, effect).await?;
        self.fresh().put(id, envelope, body);
        Ok(id)
    }

    /// Records the final outcome for recipient `index` (0-based, RCPT order).
    /// When no recipient is pending any more the message is finished.
    pub async fn mark(&self, id: MessageId, index: usize, outcome: RecipientOutcome) -> Result<()> {
        let count = self.live(id)?.recipients.len();
        let recipient = u32::try_from(index).ok().filter(|_| index < count);
        let recipient = recipient.ok_or(SpoolError::NoSuchRecipient { id, index })?;
        self.state(id, StateOp::Outcome { recipient, outcome }).await
    }

    /// Holds a message: recovery and [`Self::status`] report it as held.
    pub async fn hold(&self, id: MessageId) -> Result<()> {
        self.live(id)?;
        self.state(id, StateOp::Hold).await
    }

    /// Releases a held message.
    pub async fn release(&self, id: MessageId) -> Result<()> {
        self.live(id)?;
        self.state(id, StateOp::Release).await
    }

    /// Releases a held message (or any queued one) and records `since` as the new start of
    /// its queue lifetime, so that expiry counts from there, also after a restart.
    pub async fn requeue(&self, id: MessageId, since: OffsetDateTime) -> Result<()> {
        self.live(id)?;
        let since = i64::try_from(since.unix_timestamp_nanos())
            .map_err(|_| SpoolError::InvalidEnvelope("requeue time out of range"))?;
        self.state(id, StateOp::Requeue { since }).await
    }

    /// When the current queue lifetime of a queued message started, if a [`Self::requeue`]
    /// restarted it (otherwise it started at the envelope's `received_at`).
    pub fn requeued_at(&self, id: MessageId) -> Option<OffsetDateTime> {
        let nanos = self.index().live(id)?.requeued_at?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()
    }

    /// Records that an attempt left recipients pending: attempts so far, the next due, the
    /// last error. After a restart the message waits for that time instead of being tried
    /// at once, and an expiry report still quotes the error (losing this record in a
    /// crash only brings the retry forward).
    pub async fn defer(&self, id: MessageId, retry: &Retry) -> Result<()> {
        self.live(id)?;
        let next_at = retry
            .next_at
            .map_or(Ok(0), |n| i64::try_from(n.unix_timestamp_nanos()))
            .map_err(|_| SpoolError::InvalidEnvelope("retry time out of range"))?;
        let error = codec::bounded(retry.last_error.as_deref().unwrap_or_default()).to_owned();
        self.state(id, StateOp::Defer { attempts: retry.attempts, next_at, error }).await
    }

    /// The retry state of a queued message as last recorded by [`Self::defer`] (a release
    /// or requeue makes it due at once and counts attempts afresh).
    pub fn retry_state(&self, id: MessageId) -> Option<Retry> {
        let index = self.index();
        let entry = index.live(id)?;
        let next_at = entry.next_at.and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).ok());
        Some(Retry { attempts: entry.attempts, next_at, last_error: entry.last_error.clone() })
    }

    /// Removes a message from the queue whatever its recipients' states.
    pub async fn finish(&self, id: MessageId) -> Result<()> {
        self.live(id)?;
        self.state(id, StateOp::Finish).await
    }

    /// Reads a queued message: its first read after acceptance from memory when it
    /// was kept there, otherwise from disk (checksums verified).
    pub async fn read(&self, id: MessageId) -> Result<QueuedMessage> {
        let LiveEntry { loc, recipients, held } = self.live(id)?;
        if let Some((envelope, body)) = self.fresh().take(id) {
            return Ok(QueuedMessage { id, envelope, body, recipients, held });
        }
        let dir = self.inner.dir.clone();
        let max = self.inner.max_record;
        let bytes = tokio::task::spawn_blocking(move || read_at(&dir, loc)).await.map_err(|_| SpoolError::Closed)??;
        let frame = record::decode(&bytes, max).map_err(|_| SpoolError::CorruptOnRead(id))?;
        let m = codec::decode_message(frame.payload).map_err(|_| SpoolError::CorruptOnRead(id))?;
        if m.id != id {
            return Err(SpoolError::CorruptOnRead(id));
        }
        let start = m.body.as_ptr() as usize - bytes.as_ptr() as usize;
        let body = start..start + m.body.len();
        let envelope = m.envelope;
        Ok(QueuedMessage { id, envelope, body: Bytes::from(bytes).slice(body), recipients, held })
    }

    /// Ids of all queued (not finished) messages, ascending.
    pub fn queued(&self) -> Vec<MessageId> {
        self.index().live_ids()
    }

    /// Recipient states and hold flag of a queued message.
    pub fn status(&self, id: MessageId) -> Option<(Vec<super::RecipientState>, bool)> {
        self.index().live(id).map(|e| (e.recipients.clone(), e.held))
    }

    /// Deletes the segments no longer needed (also runs automatically).
    pub async fn compact(&self) -> Result<CompactReport> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Compact(tx)).await?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    /// Counters since open.
    pub fn stats(&self) -> SpoolStats {
        let idx = self.index();
        self.inner.stats.snapshot(idx.live_ids().len(), idx.segment_count())
    }

    /// Stops the writer after the requests already queued and waits for its
    /// thread; the directory lock is released when this returns.
    pub async fn shutdown(self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.send(Op::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let thread = self.inner.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(t) = thread {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|_| SpoolError::Closed)?
                .map_err(|_| SpoolError::Closed)?;
        }
        Ok(())
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.inner.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self, id: MessageId) -> Result<LiveEntry> {
        let idx = self.index();
        let e = idx.live(id).ok_or(SpoolError::UnknownMessage(id))?;
        Ok(LiveEntry { loc: e.loc, recipients: e.recipients.clone(), held: e.held })
    }

    fn fresh(&self) -> std::sync::MutexGuard<'_, Fresh> {
        self.inner.fresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn state(&self, id: MessageId, op: StateOp) -> Result<()> {
        self.fresh().take(id);
        let payload = codec::encode_state(id, &op);
        let pcrc = record::checksum(&payload);
        self.append(RecordKind::State, payload, Bytes::new(), pcrc, Effect::State { id, op }).await
    }

    /// Appends a record whose payload is `payload` followed by `tail`.
    async fn append(&self, kind: RecordKind, payload: Vec<u8>, tail: Bytes, pcrc: u32, effect: Effect) -> Result<()> {
        let (ack, rx) = oneshot::channel();
        self.send(Op::Append(Append { kind, payload, tail, pcrc, effect, ack })).await?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    async fn send(&self, op: Op) -> Result<()> {
        self.inner.tx.send(op).await.map_err(|_| SpoolError::Closed)
    }
}

struct LiveEntry {
    loc: Location,
    recipients: Vec<super::RecipientState>,
    held: bool,
}

/// The record head of a message (the body follows it unchanged) and the checksum of both.
fn encode_message(id: MessageId, envelope: &Envelope, body: &[u8]) -> Result<(Vec<u8>, u32)> {
    let head = codec::encode_message_head(id, envelope)?;
    let pcrc = record::checksum2(&head, body);
    Ok((head, pcrc))
}

fn read_at(dir: &Path, loc: Location) -> Result<Vec<u8>> {
    let p = segment::path(dir, loc.seg);
    let mut buf = vec![0u8; loc.len as usize];
    File::open(&p)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(loc.offset))?;
            f.read_exact(&mut buf)
        })
        .map_err(|e| SpoolError::io("read message", &p, e))?;
    Ok(buf)
}
