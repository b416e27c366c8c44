//! Longest-prefix match tables for IPv4 and IPv6, built once and then only read.
//!
//! The prefixes are flattened into disjoint address intervals, each carrying the
//! answer for every address in it (the value and length of the most specific prefix,
//! or nothing). Interval starts are split by their top 16 bits: a direct index of
//! 65,536 offsets finds the few intervals that start in the address's /16, a short
//! scan of their low bits finds the interval, one load gives the answer. For IPv4 the
//! low bits fit in a `u16`, so a typical /16 is one cache line of keys: about 6 bytes
//! per interval and two intervals per prefix.

use std::fmt;

/// The answer for an address: the matched prefix's value and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub value: u32,
    pub len: u8,
}

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The same network and length twice.
    Duplicate { network: u128, len: u8 },
    /// A length beyond the family's bits.
    Length(u8),
    /// A value that does not fit in 24 bits (`MAX_VALUE`).
    Value(u32),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Duplicate { network, len } => write!(f, "prefix {network:#x}/{len} is listed twice"),
            BuildError::Length(l) => write!(f, "prefix length {l} is out of range"),
            BuildError::Value(v) => write!(f, "value {v} exceeds {MAX_VALUE}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Largest value a prefix may carry.
pub const MAX_VALUE: u32 = (1 << 24) - 2;

/// Payload of an interval no prefix covers.
const NONE: u32 = u32::MAX;

/// Buckets of the direct index: the top 16 address bits.
const BUCKETS: usize = 1 << 16;

/// Flattens prefixes (network, last address, payload) over a `bits`-wide space into
/// disjoint intervals (start, payload) sorted by start, the first starting at 0.
fn flatten(mut prefixes: Vec<(u128, u128, u8, u32)>, bits: u8) -> Result<Vec<(u128, u32)>, BuildError> {
    prefixes.sort_unstable_by_key(|p| (p.0, p.2));
    if let Some(w) = prefixes.windows(2).find(|w| w[0].0 == w[1].0 && w[0].2 == w[1].2) {
        return Err(BuildError::Duplicate { network: w[0].0, len: w[0].2 });
    }
    let max = if bits == 32 { u32::MAX as u128 } else { u128::MAX };
    let mut out: Vec<(u128, u32)> = vec![(0, NONE)];
    let mut stack: Vec<(u128, u32)> = Vec::new();
    let emit = |out: &mut Vec<(u128, u32)>, at: u128, payload: u32| match out.last_mut() {
        Some(last) if last.0 == at => last.1 = payload,
        Some(last) if last.1 == payload => {}
        _ => out.push((at, payload)),
    };
    let close = |out: &mut Vec<(u128, u32)>, stack: &mut Vec<(u128, u32)>, before: Option<u128>| {
        while let Some(&(end, _)) = stack.last() {
            if before.is_some_and(|s| end >= s) {
                break;
            }
            stack.pop();
            if end < max {
                emit(out, end + 1, stack.last().map_or(NONE, |t| t.1));
            }
        }
    };
    for (start, last, _len, payload) in prefixes {
        close(&mut out, &mut stack, Some(start));
        emit(&mut out, start, payload);
        stack.push((last, payload));
    }
    close(&mut out, &mut stack, None);
    dedup(&mut out);
    Ok(out)
}

/// Merges neighbours with the same payload (left behind by replaced starts).
fn dedup(out: &mut Vec<(u128, u32)>) {
    out.dedup_by(|next, prev| next.1 == prev.1);
}

/// Offset, from the start of a bucket, of the interval containing `low`: the last key
/// at or below it, or -1 (the interval that began in an earlier bucket). A branchless
/// binary search: its few instructions let the processor overlap many lookups.
#[inline]
fn last_at_or_below(keys: &[u16], low: u16) -> usize {
    let (mut base, mut size) = (0usize, keys.len());
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        base = if keys[mid] <= low { mid } else { base };
        size -= half;
    }
    // Wraps to usize::MAX (-1) when no key of the bucket is at or below `low`; the
    // caller adds it to the bucket's start, which is never 0 in that case because the
    // first interval starts at address 0.
    (base + usize::from(keys.get(base).is_some_and(|k| *k <= low))).wrapping_sub(1)
}

fn payload(value: u32, len: u8) -> Result<u32, BuildError> {
    if value > MAX_VALUE {
        return Err(BuildError::Value(value));
    }
    Ok(value << 8 | u32::from(len))
}

fn answer(p: u32) -> Option<Match> {
    (p != NONE).then_some(Match { value: p >> 8, len: p as u8 })
}

/// Offsets of the first interval of each bucket, plus one past the end.
fn bucket_index(starts: impl Iterator<Item = usize>, count: usize) -> Vec<u32> {
    let mut index = vec![0u32; BUCKETS + 1];
    for b in starts {
        index[b + 1] += 1;
    }
    for b in 0..BUCKETS {
        index[b + 1] += index[b];
    }
    debug_assert_eq!(index[BUCKETS] as usize, count);
    index
}

/// An IPv4 longest-prefix-match table.
pub struct LpmV4 {
    index: Vec<u32>,
    keys: Vec<u16>,
    payloads: Vec<u32>,
    prefixes: usize,
}

impl LpmV4 {
    /// Builds from (network, length, value); host bits must be clear.
    pub fn build(prefixes: Vec<(u32, u8, u32)>) -> Result<LpmV4, BuildError> {
        let count = prefixes.len();
        let mut spans = Vec::with_capacity(count);
        for (net, len, value) in prefixes {
            if len > 32 {
                return Err(BuildError::Length(len));
            }
            let last = u128::from(net) | (u128::from(u32::MAX) >> len);
            spans.push((u128::from(net), last, len, payload(value, len)?));
        }
        let intervals = flatten(spans, 32)?;
        let index = bucket_index(intervals.iter().map(|(s, _)| (*s >> 16) as usize), intervals.len());
        Ok(LpmV4 {
            index,
            keys: intervals.iter().map(|(s, _)| *s as u16).collect(),
            payloads: intervals.iter().map(|(_, p)| *p).collect(),
            prefixes: count,
        })
    }

    /// The most specific prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<Match> {
        let bucket = (addr >> 16) as usize;
        let (lo, hi) = (self.index[bucket] as usize, self.index[bucket + 1] as usize);
        answer(self.payloads[lo.wrapping_add(last_at_or_below(&self.keys[lo..hi], addr as u16))])
    }

    /// Looks up `N` addresses in stages (all bucket bounds, then all searches, then all
    /// answers) so that their cache misses overlap; for callers that hold a batch, such
    /// as a packet gate reading a ring of packets.
    #[inline]
    pub fn lookup_many<const N: usize>(&self, addrs: &[u32; N]) -> [Option<Match>; N] {
        let bounds: [(usize, usize); N] = std::array::from_fn(|i| {
            let bucket = (addrs[i] >> 16) as usize;
            (self.index[bucket] as usize, self.index[bucket + 1] as usize)
        });
        let at: [usize; N] = std::array::from_fn(|i| {
            let (lo, hi) = bounds[i];
            lo.wrapping_add(last_at_or_below(&self.keys[lo..hi], addrs[i] as u16))
        });
        std::array::from_fn(|i| answer(self.payloads[at[i]]))
    }

    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    /// Bytes of memory the table owns.
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * 4 + self.keys.capacity() * 2 + self.payloads.capacity() * 4
    }
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
        let mut spans = Vec::with_capacity(count);
        for (net, len, value) in prefixes {
            if len > 128 {
                return Err(BuildError::Length(len));
            }
            let last = net | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            spans.push((net, last, len, payload(value, len)?));
        }
        let intervals = flatten(spans, 128)?;
        let index = bucket_index(intervals.iter().map(|(s, _)| (*s >> 112) as usize), intervals.len());
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
        let below = self.keys[lo..hi].partition_point(|k| *k <= addr);
        answer(self.payloads[lo + below - 1])
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

#[cfg(test)]
#[path = "lpm_tests.rs"]
mod tests;
