//! The IPv6 table: the flattened intervals' starts, split by their top 16 bits under a
//! direct index of 65,536 offsets; a lookup searches the few intervals of its bucket.

use super::{BuildError, Match, flatten, span};

/// Payload of an interval no prefix covers.
const NONE: u32 = u32::MAX;

/// Buckets of the direct index: the top 16 address bits.
const BUCKETS: usize = 1 << 16;

fn encode(value: u32, len: u8) -> u32 {
    value << 8 | u32::from(len)
}

/// An IPv6 longest-prefix-match table.
pub struct LpmV6 {
    index: Vec<u32>,
    keys: Vec<u128>,
    payloads: Vec<u32>,
    prefixes: usize,
}

impl LpmV6 {
    /// Builds from (network, length, value); host bits must be clear.
    pub fn build(prefixes: Vec<(u128, u8, u32)>) -> Result<LpmV6, BuildError> {
        let count = prefixes.len();
        let spans = prefixes.into_iter().map(|(net, len, value)| span(net, len, value, 128, encode));
        let intervals = flatten(spans.collect::<Result<_, _>>()?, 128, NONE)?;
        let mut index = vec![0u32; BUCKETS + 1];
        for (start, _) in &intervals {
            index[(*start >> 112) as usize + 1] += 1;
        }
        for b in 0..BUCKETS {
            index[b + 1] += index[b];
        }
        Ok(LpmV6 {
            index,
            keys: intervals.iter().map(|(s, _)| *s).collect(),
            payloads: intervals.iter().map(|(_, p)| *p).collect(),
            prefixes: count,
        })
    }

    /// The most specific prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: u128) -> Option<Match> {
        let bucket = (addr >> 112) as usize;
        let (lo, hi) = (self.index[bucket] as usize, self.index[bucket + 1] as usize);
        // Every bucket before the first interval's is empty and the first interval
        // starts at 0, so `lo + below` is at least 1.
        let below = self.keys[lo..hi].partition_point(|k| *k <= addr);
        let p = self.payloads[lo + below - 1];
        (p != NONE).then_some(Match { value: p >> 8, len: p as u8 })
    }

    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    /// Bytes of memory the table owns.
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * 4 + self.keys.capacity() * 16 + self.payloads.capacity() * 4
    }
}
