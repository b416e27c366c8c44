//! A bounded map with CLOCK (second-chance) eviction.
//!
//! Lives here: [`ClockCache`], used by the forge service for forged leaves.
//! A lookup only sets a reference bit; eviction sweeps a hand over the slots
//! and evicts the first entry not referenced since the last sweep. Must
//! not: lock (callers wrap it), allocate on a hit, or exceed its capacity.

use std::collections::HashMap;
use std::hash::Hash;

struct Slot<K, V> {
    key: K,
    value: V,
    referenced: bool,
}

/// Fixed-capacity cache with CLOCK eviction.
pub(crate) struct ClockCache<K, V> {
    slots: Vec<Slot<K, V>>,
    index: HashMap<K, usize>,
    hand: usize,
    capacity: usize,
}

impl<K: Clone + Eq + Hash, V> ClockCache<K, V> {
    /// An empty cache holding at most `capacity` (at least 1) entries.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            slots: Vec::with_capacity(capacity.min(4096)),
            index: HashMap::with_capacity(capacity.min(4096)),
            hand: 0,
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The value for `key`, marking it recently used.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        let slot = &mut self.slots[*self.index.get(key)?];
        slot.referenced = true;
        Some(&slot.value)
    }

    /// Inserts or replaces; returns `true` if another entry was evicted.
    pub(crate) fn insert(&mut self, key: K, value: V) -> bool {
        if let Some(&i) = self.index.get(&key) {
            self.slots[i].value = value;
            self.slots[i].referenced = true;
            return false;
        }
        if self.slots.len() < self.capacity {
            self.index.insert(key.clone(), self.slots.len());
            self.slots.push(Slot { key, value, referenced: false });
            return false;
        }
        let victim = self.advance_to_victim();
        let old = std::mem::replace(&mut self.slots[victim], Slot { key: key.clone(), value, referenced: false });
        self.index.remove(&old.key);
        self.index.insert(key, victim);
        true
    }

    /// Moves the hand to an unreferenced slot, clearing bits on the way;
    /// returns that slot and leaves the hand just past it.
    fn advance_to_victim(&mut self) -> usize {
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if !slot.referenced {
                return i;
            }
            slot.referenced = false;
        }
    }

    /// Removes `key` if present.
    pub(crate) fn remove(&mut self, key: &K) {
        let Some(i) = self.index.remove(key) else {
            return;
        };
        self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.key.clone(), i);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_capacity_and_gives_second_chance() {
        let mut cache = ClockCache::new(3);
        for k in 0..3 {
            assert!(!cache.insert(k, k * 10));
        }
        assert_eq!(cache.get(&0), Some(&0));
        assert!(cache.insert(3, 30), "full cache evicts");
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&0), Some(&0), "referenced entry survives");
        assert_eq!(cache.get(&1), None, "unreferenced entry is evicted");
    }

    #[test]
    fn remove_keeps_index_consistent() {
        let mut cache = ClockCache::new(4);
        for k in 0..4 {
            cache.insert(k, k);
        }
        cache.remove(&1);
        cache.remove(&7);
        assert_eq!(cache.len(), 3);
        for k in [0, 2, 3] {
            assert_eq!(cache.get(&k), Some(&k));
        }
        assert!(!cache.insert(5, 5));
        assert_eq!(cache.get(&5), Some(&5));
    }
}
