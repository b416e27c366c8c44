//! Recovery on open: scans every segment in order, rebuilds the index from
//! message and state records, and returns the messages still queued.
//!
//! - Sealed segments: a bad record is reported loudly, counted, and skipped by
//!   resynchronising on the next valid record; nothing panics.
//! - Last segment: a bad region followed by no valid record, or only by records
//!   of the final group-commit batch, is a torn write of a batch that was never
//!   acknowledged: the segment is truncated there (any checksummed records in
//!   the dropped bytes are first copied to a quarantine file). A bad record of
//!   an earlier batch (its intact header says so, or a later batch follows it)
//!   is damage to data that was fsynced before that later batch was written:
//!   counted and skipped like in a sealed segment.
//! - Any segment: an all-zero tail is the zeros the writer lays ahead of its
//!   batches, the clean end of the data (the last segment is cut there quietly).

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;

use super::codec::{self, StateOp};
use super::error::Result;
use super::index::{Index, Location};
use super::record::{self, Frame, FrameError, RecordKind};
use super::{MessageId, QueuedMessage, segment};
use crate::envelope::Envelope;

/// What recovery found.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub index: Index,
    pub messages: Vec<QueuedMessage>,
    pub last_segment: Option<u64>,
    pub max_id: u64,
    pub max_batch: u64,
    pub corrupt: u64,
    pub torn_tails: u64,
}

struct Scan<'a> {
    frames: Vec<(usize, Frame<'a>)>,
    corrupt: u64,
    truncate_at: Option<usize>,
    /// Where the all-zero tail begins, if there is one.
    zero_tail: Option<usize>,
}

/// Highest batch number among the valid records of `buf`.
fn max_batch(buf: &[u8], max: u32) -> u64 {
    let mut best = 0;
    let mut pos = 0;
    while pos < buf.len() {
        match record::decode(&buf[pos..], max) {
            Ok(f) => {
                best = best.max(f.batch);
                pos += f.total;
            }
            Err(_) => match record::resync(buf, pos + 1, max) {
                Some(n) => pos = n,
                None => break,
            },
        }
    }
    best
}

/// Where scanning resumes after the bad record at `pos`, and whether the bad
/// bytes may belong to the final batch of the segment (`final_batch`).
fn classify(buf: &[u8], pos: usize, err: FrameError, final_batch: u64, max: u32) -> (Option<usize>, bool) {
    match err {
        FrameError::BadPayload { batch, total } => {
            let next = pos + total;
            let next = if record::decode(&buf[next.min(buf.len())..], max).is_ok() {
                Some(next)
            } else {
                record::resync(buf, pos + 1, max)
            };
            (next, batch >= final_batch)
        }
        FrameError::Incomplete | FrameError::Corrupt => {
            let next = record::resync(buf, pos + 1, max);
            let in_final = next.is_none_or(|n| record::decode(&buf[n..], max).is_ok_and(|f| f.batch >= final_batch));
            (next, in_final)
        }
    }
}

fn scan(buf: &[u8], last: bool, max: u32) -> Scan<'_> {
    let mut out = Scan { frames: Vec::new(), corrupt: 0, truncate_at: None, zero_tail: None };
    let final_batch = if last { max_batch(buf, max) } else { 0 };
    let mut pos = 0;
    while pos < buf.len() {
        let err = match record::decode(&buf[pos..], max) {
            Ok(f) => {
                let total = f.total;
                out.frames.push((pos, f));
                pos += total;
                continue;
            }
            Err(e) => e,
        };
        if buf[pos..].iter().all(|&b| b == 0) {
            out.zero_tail = Some(pos);
            break;
        }
        let (next, in_final) = classify(buf, pos, err, final_batch, max);
        if last && in_final {
            out.truncate_at = Some(pos);
            break;
        }
        out.corrupt += 1;
        match next {
            Some(n) => pos = n,
            None => break,
        }
    }
    out
}

/// Live messages being rebuilt: envelope and body by id, in log order.
#[derive(Default)]
struct Pending {
    order: Vec<MessageId>,
    bodies: HashMap<MessageId, (Envelope, Bytes)>,
}

fn replay_frame(rec: &mut Recovered, pending: &mut Pending, seq: u64, off: usize, f: &Frame<'_>) -> bool {
    rec.max_batch = rec.max_batch.max(f.batch);
    match f.kind {
        RecordKind::Message => {
            let Ok(m) = codec::decode_message(f.payload) else {
                return false;
            };
            let loc = Location { seg: seq, offset: off as u64, len: f.total as u32 };
            if !rec.index.insert(m.id, loc, m.envelope.recipients.len()) {
                return false;
            }
            rec.max_id = rec.max_id.max(m.id.0);
            pending.order.push(m.id);
            pending.bodies.insert(m.id, (m.envelope, Bytes::copy_from_slice(m.body)));
            true
        }
        RecordKind::State => {
            let Ok((id, op)) = codec::decode_state(f.payload) else {
                return false;
            };
            let finish = matches!(op, StateOp::Finish);
            if rec.index.apply(id, op, seq) || finish {
                pending.bodies.remove(&id);
            }
            true
        }
    }
}

fn recover_segment(
    dir: &Path,
    seq: u64,
    last: bool,
    max: u32,
    rec: &mut Recovered,
    pending: &mut Pending,
) -> Result<()> {
    let buf = segment::read(dir, seq)?;
    let s = scan(&buf, last, max);
    let mut size = buf.len() as u64;
    if let Some(at) = s.truncate_at {
        rec.torn_tails += 1;
        let dropped = &buf[at..];
        if record::resync(dropped, 0, max).is_some() {
            let q = segment::quarantine(dir, seq, at, dropped)?;
            tracing::error!(segment = seq, offset = at, quarantine = %q.display(), "torn final batch contained checksummed records; saved before truncation");
        } else {
            tracing::warn!(segment = seq, offset = at, bytes = dropped.len(), "truncating torn tail of last segment");
        }
        segment::truncate(dir, seq, at as u64)?;
        size = at as u64;
    } else if let Some(at) = s.zero_tail {
        if last {
            segment::truncate(dir, seq, at as u64)?;
        }
        size = at as u64;
    }
    if s.corrupt > 0 {
        tracing::error!(segment = seq, count = s.corrupt, "corrupt records skipped in spool segment");
    }
    rec.corrupt += s.corrupt;
    rec.index.add_segment(seq, size);
    for (off, f) in &s.frames {
        if !replay_frame(rec, pending, seq, *off, f) {
            tracing::error!(segment = seq, offset = off, "undecodable or duplicate record skipped");
            rec.corrupt += 1;
        }
    }
    Ok(())
}

/// Scans the spool directory and rebuilds its state.
pub(crate) fn recover(dir: &Path, max_record: u32) -> Result<Recovered> {
    let seqs = segment::list(dir)?;
    let mut rec = Recovered { last_segment: seqs.last().copied(), ..Recovered::default() };
    let mut pending = Pending::default();
    for (i, &seq) in seqs.iter().enumerate() {
        recover_segment(dir, seq, i + 1 == seqs.len(), max_record, &mut rec, &mut pending)?;
    }
    for id in pending.order {
        let (Some((envelope, body)), Some(e)) = (pending.bodies.remove(&id), rec.index.live(id)) else {
            continue;
        };
        rec.messages.push(QueuedMessage { id, envelope, body, recipients: e.recipients.clone(), held: e.held });
    }
    Ok(rec)
}
