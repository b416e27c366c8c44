//! In-memory index of the spool: where each message lives, the state of each
//! recipient, and which segments may be deleted by compaction.
//!
//! Deletion rule (keeps recovery exact whatever subset of files survives a
//! crash in the middle of a compaction, since files are removed oldest first):
//! a sealed segment can go when every message record in it is finished, and
//! every state record in it concerns a message whose own record is gone or
//! lives in that same segment (otherwise deleting it would lose a "delivered"
//! or "finished" mark of a message still on disk and it would be redelivered).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::codec::StateOp;
use super::{MessageId, RecipientState};

/// Position of a message record on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub seg: u64,
    pub offset: u64,
    pub len: u32,
}

/// What the spool knows about one message.
#[derive(Debug)]
pub(crate) struct Entry {
    pub loc: Location,
    pub recipients: Vec<RecipientState>,
    pub held: bool,
    /// Start of the current queue lifetime when it was restarted by a requeue (unix ns).
    pub requeued_at: Option<i64>,
    /// Delivery attempts that left recipients pending, and when the next is due (unix
    /// ns; none: due at once).
    pub attempts: u32,
    pub next_at: Option<i64>,
    /// The last error a next hop gave, as recorded with the last deferral.
    pub last_error: Option<String>,
    pub finished: bool,
    record_alive: bool,
    state_segs: BTreeSet<u64>,
}

#[derive(Debug, Default)]
struct SegInfo {
    messages: Vec<MessageId>,
    state_refs: HashSet<MessageId>,
    unfinished: usize,
    size: u64,
}

/// The index; owned behind a mutex shared by the writer and the handles.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: HashMap<MessageId, Entry>,
    segs: BTreeMap<u64, SegInfo>,
    active: Option<u64>,
}

impl Index {
    /// Registers a segment (sealed unless made active).
    pub fn add_segment(&mut self, seq: u64, size: u64) {
        self.segs.entry(seq).or_default().size = size;
    }

    /// Marks `seq` as the segment receiving appends (never compacted).
    pub fn set_active(&mut self, seq: u64) {
        self.add_segment(seq, 0);
        self.active = Some(seq);
    }

    /// Updates the recorded size of a segment.
    pub fn set_size(&mut self, seq: u64, size: u64) {
        self.add_segment(seq, size);
    }

    /// Adds a message record; false if the id is already known.
    pub fn insert(&mut self, id: MessageId, loc: Location, recipients: usize) -> bool {
        if self.entries.contains_key(&id) {
            return false;
        }
        let seg = self.segs.entry(loc.seg).or_default();
        seg.messages.push(id);
        seg.unfinished += 1;
        let entry = Entry {
            loc,
            recipients: vec![RecipientState::Pending; recipients],
            held: false,
            requeued_at: None,
            attempts: 0,
            next_at: None,
            last_error: None,
            finished: false,
            record_alive: true,
            state_segs: BTreeSet::new(),
        };
        self.entries.insert(id, entry);
        true
    }

    /// The entry of a message that is still queued.
    pub fn live(&self, id: MessageId) -> Option<&Entry> {
        self.entries.get(&id).filter(|e| !e.finished)
    }

    /// Applies a state record stored in segment `seg`. Returns true when this
    /// finished the message. Records for unknown ids are ignored.
    pub fn apply(&mut self, id: MessageId, op: StateOp, seg: u64) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        entry.state_segs.insert(seg);
        self.segs.entry(seg).or_default().state_refs.insert(id);
        if entry.finished {
            return false;
        }
        match op {
            StateOp::Outcome { recipient, outcome } => {
                if let Some(r) = entry.recipients.get_mut(recipient as usize) {
                    *r = outcome.into();
                }
            }
            StateOp::Hold => entry.held = true,
            StateOp::Release => {
                entry.held = false;
                entry.next_at = None;
            }
            StateOp::Requeue { since } => {
                entry.held = false;
                entry.requeued_at = Some(since);
                (entry.attempts, entry.next_at, entry.last_error) = (0, None, None);
            }
            StateOp::Defer { attempts, next_at, error } => {
                (entry.attempts, entry.next_at) = (attempts, Some(next_at));
                entry.last_error = (!error.is_empty()).then_some(error);
            }
            StateOp::Finish => entry.finished = true,
        }
        if !entry.finished && entry.recipients.iter().all(|r| *r != RecipientState::Pending) {
            entry.finished = true;
        }
        if !entry.finished {
            return false;
        }
        if entry.record_alive
            && let Some(s) = self.segs.get_mut(&entry.loc.seg)
        {
            s.unfinished = s.unfinished.saturating_sub(1);
        }
        true
    }

    /// Ids of the messages still queued.
    pub fn live_ids(&self) -> Vec<MessageId> {
        let mut ids: Vec<_> = self.entries.iter().filter(|(_, e)| !e.finished).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Number of segments (sealed and active).
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    fn deletable(&self, seq: u64, info: &SegInfo) -> bool {
        Some(seq) != self.active
            && info.unfinished == 0
            && info.state_refs.iter().all(|id| match self.entries.get(id) {
                None => true,
                Some(e) => !e.record_alive || e.loc.seg == seq,
            })
    }

    /// Picks the segments compaction may delete (oldest first), removes them
    /// from the index and returns their numbers and total size.
    pub fn take_deletable(&mut self) -> (Vec<u64>, u64) {
        let seqs: Vec<u64> = self.segs.keys().copied().collect();
        let mut out = Vec::new();
        let mut bytes = 0;
        for seq in seqs {
            let ok = self.segs.get(&seq).is_some_and(|info| self.deletable(seq, info));
            if ok && let Some(info) = self.segs.remove(&seq) {
                bytes += info.size;
                self.forget_segment(seq, info);
                out.push(seq);
            }
        }
        (out, bytes)
    }

    fn forget_segment(&mut self, seq: u64, info: SegInfo) {
        for id in info.messages.iter().chain(info.state_refs.iter()) {
            let Some(e) = self.entries.get_mut(id) else {
                continue;
            };
            if e.loc.seg == seq {
                e.record_alive = false;
            }
            e.state_segs.remove(&seq);
            if !e.record_alive && e.state_segs.is_empty() {
                self.entries.remove(id);
            }
        }
    }
}
