//! The IPv6 table: the flattened intervals' starts, sorted, under a two-level direct
//! index. The first level splits the space by its top 16 bits; a bucket holding more
//! than a cache line of starts gets its own second level over the next bits, sized to
//! the bucket (about two starts per entry), so a lookup reads two or three index words
//! and then searches a handful of starts instead of the whole bucket.

use super::pages::prefetch;
use super::{BuildError, Match, flatten, span};

/// Payload of an interval no prefix covers.
const NONE: u32 = u32::MAX;

/// Buckets of the first level: the top 16 address bits.
const TOP_BITS: u32 = 16;
const BUCKETS: usize = 1 << TOP_BITS;
/// A bucket with at most this many starts (one cache line) is searched directly.
const SMALL: usize = 4;
/// The widest second level, in address bits.
const MAX_SUB_BITS: u32 = 16;
/// Low bits of `Bucket::sub` that hold the second level's width.
const WIDTH_BITS: u32 = 5;
/// Addresses between the stages of `lookup_into`.
const AHEAD: usize = 8;
const RING: usize = 2 * AHEAD;

fn encode(value: u32, len: u8) -> u32 {
    value << 8 | u32::from(len)
}

/// One first-level bucket: the index of its first start, and its second level as
/// offset << WIDTH_BITS | width (width 0: no second level).
#[derive(Clone, Copy, Default)]
struct Bucket {
    first: u32,
    sub: u32,
}

/// Where a lookup goes after the first level.
#[derive(Clone, Copy)]
enum Step {
    /// The slice `keys[lo..hi]` holds the answer.
    Slice(usize, usize),
    /// `sub[at]` and `sub[at + 1]` bound the slice.
    Sub(usize),
}

/// An IPv6 longest-prefix-match table.
pub struct LpmV6 {
    buckets: Vec<Bucket>,
    /// Second levels, each `2^width + 1` indices into `keys`: where each slice begins.
    pub(super) sub: Vec<u32>,
    keys: Vec<u128>,
    payloads: Vec<u32>,
    prefixes: usize,
}

/// The width of a bucket's second level for `n` starts: about two starts per entry.
fn width_for(n: usize) -> u32 {
    if n <= SMALL { 0 } else { (n.next_power_of_two().trailing_zeros() - 1).min(MAX_SUB_BITS) }
}

/// The `width` address bits below the top 16.
#[inline(always)]
fn slot(addr: u128, width: u32) -> usize {
    ((addr << TOP_BITS) >> (128 - width)) as usize
}

impl LpmV6 {
    /// Builds from (network, length, value); host bits must be clear.
    pub fn build(prefixes: Vec<(u128, u8, u32)>) -> Result<LpmV6, BuildError> {
        let count = prefixes.len();
        let spans = prefixes.into_iter().map(|(net, len, value)| span(net, len, value, 128, encode));
        let intervals = flatten(spans.collect::<Result<_, _>>()?, 128, NONE)?;
        let keys: Vec<u128> = intervals.iter().map(|(s, _)| *s).collect();
        let (buckets, sub) = index(&keys)?;
        Ok(LpmV6 { buckets, sub, keys, payloads: intervals.iter().map(|(_, p)| *p).collect(), prefixes: count })
    }

    /// The most specific prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: u128) -> Option<Match> {
        self.search(addr, self.slice(self.step(addr)))
    }

    /// `lookup` for many addresses, answers in order into `out` (as long as `addrs`).
    /// The addresses go through the index in stages a few apart, each stage starting
    /// the memory load the next one needs, so that the loads of several addresses are
    /// in flight at once.
    pub fn lookup_into(&self, addrs: &[u128], out: &mut [Option<Match>]) {
        assert_eq!(addrs.len(), out.len(), "one answer per address");
        let Some(last) = addrs.len().checked_sub(1) else { return };
        // Past the end, keep working on the last address: cheaper than a branch.
        let addr = |i: usize| addrs[i.min(last)];
        let (mut steps, mut slices) = ([Step::Slice(0, 0); RING], [(0, 0); RING]);
        let first_stage = |i: usize| prefetch(&self.buckets, (addr(i) >> (128 - TOP_BITS)) as usize);
        let second_stage = |i: usize, steps: &mut [Step; RING]| {
            let step = self.step(addr(i));
            if let Step::Sub(at) = step {
                prefetch(&self.sub, at);
            }
            steps[i % RING] = step;
        };
        let third_stage = |i: usize, steps: &[Step; RING], slices: &mut [(usize, usize); RING]| {
            let (lo, hi) = self.slice(steps[i % RING]);
            prefetch(&self.keys, lo);
            prefetch(&self.payloads, lo.saturating_sub(1));
            slices[i % RING] = (lo, hi);
        };
        for i in 0..3 * AHEAD {
            first_stage(i);
        }
        for i in 0..2 * AHEAD {
            second_stage(i, &mut steps);
        }
        for i in 0..AHEAD {
            third_stage(i, &steps, &mut slices);
        }
        for (i, answer) in out.iter_mut().enumerate() {
            first_stage(i + 3 * AHEAD);
            second_stage(i + 2 * AHEAD, &mut steps);
            third_stage(i + AHEAD, &steps, &mut slices);
            *answer = self.search(addrs[i], slices[i % RING]);
        }
    }

    /// The first level's answer for `addr`: its slice of starts, or where in the
    /// second level to find it.
    #[inline(always)]
    fn step(&self, addr: u128) -> Step {
        let b = (addr >> (128 - TOP_BITS)) as usize;
        let bucket = self.buckets[b];
        let width = bucket.sub & ((1 << WIDTH_BITS) - 1);
        if width == 0 {
            Step::Slice(bucket.first as usize, self.buckets[b + 1].first as usize)
        } else {
            Step::Sub((bucket.sub >> WIDTH_BITS) as usize + slot(addr, width))
        }
    }

    /// The slice of `keys` a step leads to.
    #[inline(always)]
    fn slice(&self, step: Step) -> (usize, usize) {
        match step {
            Step::Slice(lo, hi) => (lo, hi),
            Step::Sub(at) => (self.sub[at] as usize, self.sub[at + 1] as usize),
        }
    }

    /// The answer for `addr` among the starts `keys[lo..hi]`.
    #[inline(always)]
    fn search(&self, addr: u128, (lo, hi): (usize, usize)) -> Option<Match> {
        // Every start before `lo` is below the slice's first address and the first
        // interval starts at 0, so `lo + below` is at least 1.
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
        self.buckets.capacity() * size_of::<Bucket>()
            + self.sub.capacity() * 4
            + self.keys.capacity() * 16
            + self.payloads.capacity() * 4
    }
}

/// Both levels of the index over the sorted starts `keys`.
fn index(keys: &[u128]) -> Result<(Vec<Bucket>, Vec<u32>), BuildError> {
    let position = |i: usize| u32::try_from(i).map_err(|_| BuildError::TooLarge);
    let mut buckets = vec![Bucket::default(); BUCKETS + 1];
    let mut sub = Vec::new();
    let mut i = 0;
    for (b, bucket) in buckets.iter_mut().enumerate().take(BUCKETS) {
        let first = i;
        while keys.get(i).is_some_and(|k| (*k >> (128 - TOP_BITS)) as usize == b) {
            i += 1;
        }
        let width = width_for(i - first);
        bucket.first = position(first)?;
        if width == 0 {
            continue;
        }
        bucket.sub = position(sub.len())?.checked_mul(1 << WIDTH_BITS).ok_or(BuildError::TooLarge)? | width;
        let mut k = first;
        for s in 0..1usize << width {
            while k < i && slot(keys[k], width) < s {
                k += 1;
            }
            sub.push(position(k)?);
        }
        sub.push(position(i)?);
    }
    buckets[BUCKETS].first = position(keys.len())?;
    Ok((buckets, sub))
}
