//! Room left on the spool's file system: below `limits.min_spool_free` (or one and a half
//! times the largest message, whichever is more) a new transaction gets 452 4.3.1 at
//! MAIL, so that mail piling up (a destination that stalls, a flood from outside) stops
//! being taken before the disk is full, with the sender told to try later, and the rest
//! of the node (its store, its logs) keeps working.
//!
//! Must not: refuse when the file system cannot be asked (the spool's own write still
//! fails cleanly with 451 then).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::smtp::Verdict;

/// The spool's directory and the room it must keep.
pub(crate) struct Room {
    dir: PathBuf,
    keep: u64,
    /// Whether the last look found the room short (the log says so once per change,
    /// not at every refused MAIL: the log shares the disk).
    short: AtomicBool,
}

impl Room {
    /// Keeps at least `min_free` bytes, and one and a half times `max_message`.
    pub fn new(dir: PathBuf, min_free: u64, max_message: usize) -> Room {
        let message = u64::try_from(max_message).unwrap_or(u64::MAX);
        Room { dir, keep: min_free.max(message.saturating_add(message / 2)), short: AtomicBool::new(false) }
    }

    /// Bytes an unprivileged writer may still use on the spool's file system.
    fn free(&self) -> Option<u64> {
        let st = rustix::fs::statvfs(&self.dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// The refusal of a new transaction when the room is short, if it is.
    pub fn short(&self) -> Option<Verdict> {
        let free = self.free()?;
        let short = free < self.keep;
        if self.short.swap(short, Relaxed) != short {
            let spool = self.dir.display();
            match short {
                true => {
                    tracing::warn!(free, keep = self.keep, %spool, "spool file system nearly full; new mail refused")
                }
                false => tracing::info!(free, keep = self.keep, %spool, "spool file system has room again; mail taken"),
            }
        }
        short.then(|| Verdict::temp_fail(452, (4, 3, 1), "Insufficient system storage; try again later"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_is_refused_only_below_the_room_kept() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Room::new(dir.path().into(), 0, 1 << 20).short().is_none(), "a test machine has 1.5 MiB free");
        let refused = Room::new(dir.path().into(), u64::MAX, 1 << 20).short().expect("never that much room");
        let text = format!("{refused:?}");
        assert!(text.contains("452") && text.contains("Insufficient system storage"), "{text}");
        let unknown = Room::new(dir.path().join("missing"), u64::MAX, 1 << 20);
        assert!(unknown.short().is_none(), "a file system that cannot be asked refuses nothing");
    }
}
