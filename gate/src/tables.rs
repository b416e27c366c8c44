//! What the kernel tables of one catalog generation hold, and how to get from one
//! generation to the next: four sorted prefix lists (known and blocked, IPv4 and IPv6)
//! taken from a [`Snapshot`], their difference, and the choice between changing the live
//! tables in place (small changes) and loading whole new ones (large changes).
//!
//! Must not: talk to the kernel; the backends take these lists and diffs.

use snapshot::{Family, Snapshot};

/// Above this many changed prefixes a whole new generation is loaded and swapped in;
/// at or below it the live tables are changed element by element.
pub const INCREMENTAL_LIMIT: usize = 20_000;

/// The prefixes one generation puts in the kernel: (network as an integer, length),
/// each list sorted ascending without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    pub generation: i64,
    pub known4: Vec<(u32, u8)>,
    pub known6: Vec<(u128, u8)>,
    pub blocked4: Vec<(u32, u8)>,
    pub blocked6: Vec<(u128, u8)>,
}

impl Tables {
    pub fn from_snapshot(snapshot: &Snapshot) -> Tables {
        let (mut blocked4, mut blocked6) = (Vec::new(), Vec::new());
        for block in snapshot.blocked() {
            match block.prefix.family() {
                Family::V4 => blocked4.push((block.prefix.bits() as u32, block.prefix.len())),
                Family::V6 => blocked6.push((block.prefix.bits(), block.prefix.len())),
            }
        }
        blocked4.sort_unstable();
        blocked6.sort_unstable();
        Tables {
            generation: snapshot.generation(),
            known4: outermost(snapshot.known_v4(), 96),
            known6: outermost(snapshot.known_v6(), 0),
            blocked4: outermost(&blocked4, 96),
            blocked6: outermost(&blocked6, 0),
        }
    }

    /// Number of prefixes in all four lists.
    pub fn len(&self) -> usize {
        self.known4.len() + self.known6.len() + self.blocked4.len() + self.blocked6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What changes from `self` to `next`.
    pub fn diff(&self, next: &Tables) -> Diff {
        Diff {
            generation: next.generation,
            known4: SetDiff::between(&self.known4, &next.known4),
            known6: SetDiff::between(&self.known6, &next.known6),
            blocked4: SetDiff::between(&self.blocked4, &next.blocked4),
            blocked6: SetDiff::between(&self.blocked6, &next.blocked6),
        }
    }
}

/// The prefixes of a sorted list that no other prefix of the list covers, in order:
/// the gate only asks whether an address is in the list, and disjoint prefixes let the
/// nftables interval sets hold them without merging (so any one can be deleted later).
/// `shift` places the address at the top of a u128 (96 for IPv4, 0 for IPv6).
pub fn outermost<A: Copy + Into<u128>>(sorted: &[(A, u8)], shift: u32) -> Vec<(A, u8)> {
    let mut out: Vec<(A, u8)> = Vec::with_capacity(sorted.len());
    let mut last: Option<(u128, u8)> = None;
    for &(addr, len) in sorted {
        let bits = addr.into() << shift;
        if let Some((top, top_len)) = last
            && top_len <= len
            && (top_len == 0 || (top ^ bits) >> (128 - u32::from(top_len)) == 0)
        {
            continue;
        }
        last = Some((bits, len));
        out.push((addr, len));
    }
    out
}

/// Prefixes to add and to remove in one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDiff<A> {
    pub add: Vec<(A, u8)>,
    pub remove: Vec<(A, u8)>,
}

impl<A: Ord + Copy> SetDiff<A> {
    /// The difference of two sorted, duplicate-free lists, by one merge walk.
    pub fn between(old: &[(A, u8)], new: &[(A, u8)]) -> SetDiff<A> {
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            match old[i].cmp(&new[j]) {
                std::cmp::Ordering::Less => {
                    remove.push(old[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    add.push(new[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            }
        }
        remove.extend_from_slice(&old[i..]);
        add.extend_from_slice(&new[j..]);
        SetDiff { add, remove }
    }

    pub fn len(&self) -> usize {
        self.add.len() + self.remove.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything that changes between two generations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The generation the tables hold once the diff is applied.
    pub generation: i64,
    pub known4: SetDiff<u32>,
    pub known6: SetDiff<u128>,
    pub blocked4: SetDiff<u32>,
    pub blocked6: SetDiff<u128>,
}

impl Diff {
    pub fn len(&self) -> usize {
        self.known4.len() + self.known6.len() + self.blocked4.len() + self.blocked6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a backend gets from the generation it holds to the next one.
#[derive(Debug)]
pub enum Plan {
    /// Nothing the kernel holds changes (only the generation number moves).
    Nothing,
    /// Change the live tables element by element: additions first, then removals, so a
    /// prefix that is replaced by its own parts or its parent never leaves a gap.
    InPlace(Diff),
    /// Build whole new tables and swap them in at once.
    Whole,
}

/// The plan from `held` (None: nothing loaded yet) to `next`.
pub fn plan(held: Option<&Tables>, next: &Tables) -> Plan {
    let Some(held) = held else { return Plan::Whole };
    let diff = held.diff(next);
    match diff.len() {
        0 => Plan::Nothing,
        n if n <= INCREMENTAL_LIMIT => Plan::InPlace(diff),
        _ => Plan::Whole,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use snapshot::{BlockRef, Net, OrgRef};

    use super::*;

    fn net(text: &str) -> Net {
        text.parse().expect("prefix")
    }

    fn snapshot(known: &[&str], blocked: &[&str], generation: i64) -> Snapshot {
        let orgs = HashMap::from([(1, OrgRef { bin: "980140000015".into(), name: "A".into() })]);
        let ops = HashMap::from([(1, "alpha".to_owned())]);
        let assignments = known.iter().map(|k| (net(k), 1, 1)).collect();
        let blocks = blocked.iter().map(|b| BlockRef { prefix: net(b), reason: "test".into(), since: 0 }).collect();
        Snapshot::build(assignments, orgs, ops, blocks, generation).expect("builds")
    }

    #[test]
    fn tables_split_families_and_sort_blocks() {
        let s = snapshot(
            &["198.51.100.0/24", "2001:db8:1::/64"],
            &["2001:db8:1::9/128", "198.51.100.9/32", "198.51.100.7/32"],
            3,
        );
        let t = Tables::from_snapshot(&s);
        assert_eq!(t.generation, 3);
        assert_eq!(t.known4, vec![(0xc633_6400, 24)]);
        assert_eq!(t.known6, vec![(net("2001:db8:1::/64").bits(), 64)]);
        assert_eq!(t.blocked4, vec![(0xc633_6407, 32), (0xc633_6409, 32)]);
        assert_eq!(t.blocked6.len(), 1);
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn covered_prefixes_and_duplicates_are_left_out() {
        let s = snapshot(
            &[
                "10.0.0.0/8",
                "10.1.0.0/16",
                "10.1.2.0/24",
                "11.0.0.0/24",
                "11.0.1.0/24",
                "2001:db8::/32",
                "2001:db8:1::/64",
                "2001:db9::/48",
            ],
            &["198.51.100.0/24", "198.51.100.9/32"],
            1,
        );
        let t = Tables::from_snapshot(&s);
        assert_eq!(t.known4, vec![(0x0a00_0000, 8), (0x0b00_0000, 24), (0x0b00_0100, 24)]);
        assert_eq!(t.known6, vec![(net("2001:db8::/32").bits(), 32), (net("2001:db9::/48").bits(), 48)]);
        assert_eq!(t.blocked4, vec![(0xc633_6400, 24)]);
        assert_eq!(outermost(&[(0u32, 0), (5, 32)], 96), vec![(0, 0)], "the default route covers all");
        assert_eq!(outermost(&[(5u32, 32), (5, 32)], 96), vec![(5, 32)]);
    }

    #[test]
    fn diff_of_sorted_lists_finds_additions_and_removals() {
        let old = [(1u32, 24), (2, 24), (5, 16), (9, 8)];
        let new = [(0u32, 8), (2, 24), (5, 16), (5, 17), (10, 8)];
        let d = SetDiff::between(&old, &new);
        assert_eq!(d.add, vec![(0, 8), (5, 17), (10, 8)]);
        assert_eq!(d.remove, vec![(1, 24), (9, 8)]);
        assert!(SetDiff::between(&new, &new).is_empty());
        assert_eq!(SetDiff::between(&[], &new).add.len(), new.len());
        assert_eq!(SetDiff::between(&new, &[]).remove.len(), new.len());
    }

    #[test]
    fn applying_a_diff_gives_the_new_lists() {
        // Property: old - remove + add == new, for many random pairs of lists.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut list = move || {
            let n = next() % 40;
            let mut v: Vec<(u32, u8)> = (0..n).map(|_| ((next() % 64) as u32, (next() % 3) as u8)).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for _ in 0..200 {
            let (old, new) = (list(), list());
            let d = SetDiff::between(&old, &new);
            let mut applied: Vec<(u32, u8)> = old.iter().filter(|p| !d.remove.contains(p)).copied().collect();
            applied.extend(&d.add);
            applied.sort_unstable();
            assert_eq!(applied, new);
        }
    }

    #[test]
    fn plan_is_whole_first_then_in_place_for_small_changes() {
        let a = Tables::from_snapshot(&snapshot(&["198.51.100.0/24"], &[], 1));
        let b = Tables::from_snapshot(&snapshot(&["198.51.100.0/24"], &["198.51.100.9/32"], 2));
        assert!(matches!(plan(None, &a), Plan::Whole));
        assert!(matches!(plan(Some(&a), &a), Plan::Nothing));
        match plan(Some(&a), &b) {
            Plan::InPlace(d) => {
                assert_eq!(d.blocked4.add, vec![(0xc633_6409, 32)]);
                assert_eq!((d.len(), d.generation), (1, 2));
            }
            other => panic!("expected an in-place change, got {other:?}"),
        }
    }

    #[test]
    fn plan_is_whole_for_large_changes() {
        let mut big =
            Tables { known4: (0..(INCREMENTAL_LIMIT as u32 + 1)).map(|i| (i << 8, 24)).collect(), ..Tables::default() };
        assert!(matches!(plan(Some(&Tables::default()), &big), Plan::Whole));
        big.known4.pop();
        assert!(matches!(plan(Some(&Tables::default()), &big), Plan::InPlace(_)));
    }
}
