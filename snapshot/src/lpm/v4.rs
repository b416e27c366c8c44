//! The IPv4 table: run bitmaps over /24 slots.
//!
//! The address space is cut into 262,144 quarters of a /16 (a /18 each, 64 slots of a
//! /24). Each quarter holds one 64-bit word with a bit set where a new answer begins
//! and the offset of its first answer in one shared array of answers. A lookup reads
//! the quarter, counts the bits up to its slot, and reads that answer: two loads, no
//! search. A /24 in which the answer changes (prefixes longer than /24) answers with a
//! reference to a deep node that does the same over its 256 addresses.
//!
//! Answers are codes of 3 bytes when every value fits (below 262,143, as owner and
//! block indices do), else 4, so that 1M prefixes take about 10 bytes each and stay in
//! cache. The arrays sit on huge pages, and `lookup_into` pipelines a batch with
//! prefetches so that the loads of many addresses are in flight at once.

use super::pages::{Pages, prefetch};
use super::{BuildError, Match, flatten, span};

/// Address bits below a quarter's index.
const QUARTER_SHIFT: u32 = 14;
const QUARTERS: usize = 1 << (32 - QUARTER_SHIFT);
/// The low six bits of a code: a prefix length (0–32) or one of these tags.
const NONE: u32 = 63;
const DEEP: u32 = 62;
/// How far ahead `lookup_into` starts each address's loads.
const AHEAD: usize = 16;
const RING: usize = 2 * AHEAD;

fn code(value: u32, len: u8) -> u32 {
    value << 6 | u32::from(len)
}

/// Bits of `word` at or below bit `at`.
#[inline(always)]
fn upto(word: u64, at: u32) -> u32 {
    (word & (u64::MAX >> (63 - at))).count_ones()
}

/// One /18: where its answers begin (bit per /24 slot) and the offset of its first
/// answer minus one, so that `base + upto(word, slot)` is the slot's answer.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, packed(4))]
struct Quarter {
    word: u64,
    base: u32,
}

/// One /24 whose answer changes inside it: the same over its 256 addresses.
#[derive(Clone, Copy, Default)]
struct Node {
    words: [u64; 4],
    base: u32,
}

impl Node {
    fn answer_at(&self, low: u32) -> u32 {
        let w = (low >> 6) as usize;
        let before: u32 = self.words[..w].iter().map(|x| x.count_ones()).sum();
        self.base.wrapping_add(before + upto(self.words[w], low & 63))
    }
}

/// The answers, packed `width` bytes each.
struct Answers {
    bytes: Pages<u8>,
    width: usize,
    mask: u32,
}

impl Answers {
    fn pack(codes: &[u32]) -> Result<Answers, BuildError> {
        let width = if codes.iter().all(|c| *c < 1 << 24) { 3 } else { 4 };
        let mut bytes = Vec::with_capacity(codes.len() * width + 1);
        for c in codes {
            bytes.extend_from_slice(&c.to_le_bytes()[..width]);
        }
        // A 3-byte answer is read as 4 bytes; the last one needs one byte after it.
        bytes.push(0);
        let mask = if width == 3 { (1 << 24) - 1 } else { u32::MAX };
        Ok(Answers { bytes: Pages::from_slice(&bytes)?, width, mask })
    }

    /// The code at byte offset `at` of `bytes` (this table's, taken once by callers
    /// that read many).
    #[inline(always)]
    fn read(&self, bytes: &[u8], at: usize) -> u32 {
        bytes.get(at..at + 4).map_or(NONE, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & self.mask)
    }
}

/// An IPv4 longest-prefix-match table.
pub struct LpmV4 {
    quarters: Pages<Quarter>,
    deep: Vec<Node>,
    answers: Answers,
    prefixes: usize,
}

/// The table under construction: codes unpacked, deep nodes' answers apart.
#[derive(Default)]
struct Builder {
    quarters: Vec<Quarter>,
    codes: Vec<u32>,
    deep: Vec<Node>,
    deep_codes: Vec<u32>,
}

impl Builder {
    /// Walks the intervals (start, code), sorted, the first at 0, quarter by quarter.
    /// A quarter whose first answer is the previous quarter's last one shares that
    /// code, so a long stretch under one answer (a short prefix, or unlisted space)
    /// costs one code and one copied record per quarter.
    fn walk(&mut self, intervals: &[(u32, u32)]) {
        let (mut i, mut last, mut q) = (0, None, 0);
        while q < QUARTERS {
            let first = (q as u32) << QUARTER_SHIFT;
            let (mut word, mut base, mut slot) = (0u64, 0u32, 0u32);
            let mut next = None;
            while slot < 64 {
                let start = first | slot << 8;
                while intervals.get(i + 1).is_some_and(|n| n.0 <= start) {
                    i += 1;
                }
                next = intervals.get(i + 1).map(|n| n.0);
                let deep = next.is_some_and(|n| n <= start | 0xff);
                let c = if deep { self.deep_node(intervals, i, start) << 6 | DEEP } else { intervals[i].1 };
                if deep || last != Some(c) {
                    self.codes.push(c);
                    word |= 1 << slot;
                }
                if slot == 0 {
                    // The slot-0 answer is the last code, pushed now or carried over.
                    word |= 1;
                    base = (self.codes.len() as u32).wrapping_sub(2);
                }
                last = (!deep).then_some(c);
                // Nothing changes before the /24 where the next interval starts.
                slot = match next {
                    _ if deep => slot + 1,
                    Some(n) if n >> QUARTER_SHIFT == first >> QUARTER_SHIFT => (n >> 8) & 63,
                    _ => 64,
                };
            }
            let quarter = Quarter { word, base };
            // One answer throughout: so are the quarters before the next interval's.
            let end = match next {
                Some(n) if word == 1 && last.is_some() => (n >> QUARTER_SHIFT) as usize,
                None if word == 1 && last.is_some() => QUARTERS,
                _ => q + 1,
            };
            self.quarters.resize(end.max(q + 1), quarter);
            q = end.max(q + 1);
        }
    }

    /// A deep node for the /24 at `start`, where interval `i` covers `start` and a
    /// later one begins inside; returns its index.
    fn deep_node(&mut self, intervals: &[(u32, u32)], i: usize, start: u32) -> u32 {
        let mut node = Node { words: [0; 4], base: (self.deep_codes.len() as u32).wrapping_sub(1) };
        for (s, c) in std::iter::once((start, intervals[i].1))
            .chain(intervals[i + 1..].iter().copied().take_while(|n| n.0 <= start | 0xff))
        {
            let low = s & 0xff;
            node.words[(low >> 6) as usize] |= 1 << (low & 63);
            self.deep_codes.push(c);
        }
        self.deep.push(node);
        self.deep.len() as u32 - 1
    }

    /// Appends the deep nodes' answers after the quarters' and packs everything.
    fn finish(mut self, prefixes: usize) -> Result<LpmV4, BuildError> {
        let offset = self.codes.len() as u32;
        for node in &mut self.deep {
            node.base = node.base.wrapping_add(offset);
        }
        self.codes.extend(&self.deep_codes);
        Ok(LpmV4 {
            quarters: Pages::from_slice(&self.quarters)?,
            deep: self.deep,
            answers: Answers::pack(&self.codes)?,
            prefixes,
        })
    }
}

impl LpmV4 {
    /// Builds from (network, length, value); host bits must be clear.
    pub fn build(prefixes: Vec<(u32, u8, u32)>) -> Result<LpmV4, BuildError> {
        let count = prefixes.len();
        let spans = prefixes.into_iter().map(|(net, len, value)| span(u128::from(net), len, value, 32, code));
        let intervals: Vec<(u32, u32)> =
            flatten(spans.collect::<Result<_, _>>()?, 32, NONE)?.into_iter().map(|(s, c)| (s as u32, c)).collect();
        let mut builder = Builder::default();
        builder.walk(&intervals);
        builder.finish(count)
    }

    /// Byte offset of the answer for `addr` in its quarter.
    #[inline(always)]
    fn offset(&self, quarters: &[Quarter; QUARTERS], addr: u32) -> usize {
        let q = quarters[(addr >> QUARTER_SHIFT) as usize];
        q.base.wrapping_add(upto(q.word, (addr >> 8) & 63)) as usize * self.answers.width
    }

    fn quarters(&self) -> &[Quarter; QUARTERS] {
        self.quarters.as_slice().try_into().expect("a table has one quarter per /18")
    }

    /// The answer a code gives for `addr`, following a deep node's reference.
    #[inline(always)]
    fn answer(&self, bytes: &[u8], code: u32, addr: u32) -> Option<Match> {
        let code = if code & 63 == DEEP { self.deep_code(bytes, code, addr) } else { code };
        // Built without a branch: whether a random address is covered is unpredictable.
        let len = code & 63;
        (len != NONE).then_some(Match { value: code >> 6, len: len as u8 })
    }

    /// The code for `addr` in the deep node a code refers to: rare, kept out of line.
    #[cold]
    #[inline(never)]
    fn deep_code(&self, bytes: &[u8], code: u32, addr: u32) -> u32 {
        let at = self.deep[(code >> 6) as usize].answer_at(addr & 0xff) as usize;
        self.answers.read(bytes, at * self.answers.width)
    }

    /// The most specific prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<Match> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            #[allow(unsafe_code)]
            // SAFETY: the processor has just been found to have POPCNT.
            return unsafe { self.lookup_popcnt(addr) };
        }
        self.lookup_with(addr)
    }

    /// `lookup` compiled with the POPCNT instruction (the baseline x86-64 target counts
    /// bits in a dozen instructions).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_popcnt(&self, addr: u32) -> Option<Match> {
        self.lookup_with(addr)
    }

    #[inline(always)]
    fn lookup_with(&self, addr: u32) -> Option<Match> {
        let bytes = self.answers.bytes.as_slice();
        let code = self.answers.read(bytes, self.offset(self.quarters(), addr));
        self.answer(bytes, code, addr)
    }

    /// Looks up every address of `addrs` into the same place of `out` (which must be
    /// as long), with each address's loads started well before its answer is needed,
    /// so that the cache misses of many lookups overlap. For callers that hold a batch,
    /// such as a packet gate reading a ring of packets.
    pub fn lookup_into(&self, addrs: &[u32], out: &mut [Option<Match>]) {
        assert_eq!(addrs.len(), out.len(), "one answer per address");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            #[allow(unsafe_code)]
            // SAFETY: the processor has just been found to have POPCNT.
            return unsafe { self.lookup_into_popcnt(addrs, out) };
        }
        self.lookup_into_with(addrs, out)
    }

    /// `lookup_into` compiled with the POPCNT instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_into_popcnt(&self, addrs: &[u32], out: &mut [Option<Match>]) {
        self.lookup_into_with(addrs, out)
    }

    #[inline(always)]
    fn lookup_into_with(&self, addrs: &[u32], out: &mut [Option<Match>]) {
        let Some(last) = addrs.len().checked_sub(1) else { return };
        let (quarters, bytes) = (self.quarters(), self.answers.bytes.as_slice());
        // Past the end, keep prefetching the last address: cheaper than a branch.
        let addr = |i: usize| addrs[i.min(last)];
        let mut ring = [0usize; RING];
        let locate = |i: usize, ring: &mut [usize; RING]| {
            let at = self.offset(quarters, addr(i));
            prefetch(bytes, at);
            ring[i % RING] = at;
        };
        for i in 0..2 * AHEAD {
            prefetch(quarters, (addr(i) >> QUARTER_SHIFT) as usize);
        }
        for i in 0..AHEAD {
            locate(i, &mut ring);
        }
        for (i, slot) in out.iter_mut().enumerate() {
            prefetch(quarters, (addr(i + 2 * AHEAD) >> QUARTER_SHIFT) as usize);
            locate(i + AHEAD, &mut ring);
            *slot = self.answer(bytes, self.answers.read(bytes, ring[i % RING]), addrs[i]);
        }
    }

    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    /// Bytes of memory the table holds.
    pub fn heap_bytes(&self) -> usize {
        self.quarters.bytes() + self.answers.bytes.bytes() + self.deep.capacity() * std::mem::size_of::<Node>()
    }
}
