//! [`DataMemory`]: the memory all sessions together may hold for messages being received,
//! and [`Reservation`], one message's share of it, grown as its content arrives and given
//! back when the reservation is dropped (the message stored or refused). Lock-free: one
//! atomic counter. Must not: allocate anything itself (it only accounts).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget of bytes for messages in flight.
#[derive(Debug, Clone)]
pub struct DataMemory {
    free: Arc<AtomicUsize>,
    total: usize,
}

impl DataMemory {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        Self { free: Arc::new(AtomicUsize::new(total)), total }
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> usize {
        self.free.load(Ordering::Relaxed)
    }

    /// The whole budget.
    pub fn total(&self) -> usize {
        self.total
    }

    /// An empty reservation that can grow.
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation { memory: self.clone(), held: 0 }
    }

    fn take(&self, n: usize) -> bool {
        self.free.fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| free.checked_sub(n)).is_ok()
    }

    fn give(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }
}

/// Bytes reserved for one message; returned on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    memory: DataMemory,
    held: usize,
}

impl Reservation {
    /// Makes the reservation at least `bytes`; false (and unchanged) when the budget
    /// has not that much left.
    pub fn grow_to(&mut self, bytes: usize) -> bool {
        if bytes <= self.held {
            return true;
        }
        if !self.memory.take(bytes - self.held) {
            return false;
        }
        self.held = bytes;
        true
    }

    /// Gives back what is held beyond `bytes`.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.held {
            self.memory.give(self.held - bytes);
            self.held = bytes;
        }
    }

    /// Gives everything back (the message was dropped).
    pub fn clear(&mut self) {
        self.memory.give(std::mem::take(&mut self.held));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back() {
        let m = DataMemory::new(100);
        let mut a = m.reservation();
        let mut b = m.reservation();
        assert!(a.grow_to(60));
        assert!(a.grow_to(40), "asking less asks nothing");
        a.shrink_to(50);
        assert_eq!(m.available(), 50);
        assert!(a.grow_to(60));
        assert!(!b.grow_to(50), "only 40 left");
        assert!(b.grow_to(40));
        assert_eq!(m.available(), 0);
        drop(a);
        assert_eq!(m.available(), 60);
        b.clear();
        assert_eq!(m.available(), 100);
    }
}
