//! What the kernel tables of one catalog generation hold, and how to get from one
//! generation to the next: the catalogued prefixes with their owners (organisation and
//! operator: the grants and the link binding read them), the blocked prefixes, the
//! openings (what catalogued sources may reach besides the web proxy: the gateway's
//! `allow` for everyone, each organisation's live grants) and each guarded interface's
//! operator, all taken from a [`Snapshot`] and `[gate]`; their difference, and the
//! choice between changing the live tables in place (small changes) and loading whole
//! new ones (large changes).
//!
//! Must not: talk to the kernel; the backends take these lists and diffs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use snapshot::{Family, Net, Opens, Service, Snapshot};

use crate::config::GateConfig;

/// Above this many changed entries a whole new generation is loaded and swapped in;
/// at or below it the live tables are changed element by element.
pub const INCREMENTAL_LIMIT: usize = 20_000;
/// The organisation of openings every catalogued source has (`[gate] allow`): the
/// store's ids start at 1.
pub const EVERYONE: u32 = 0;
/// An opening's expiry when it has none.
pub const NEVER: i64 = i64::MAX;

/// An IPv4 prefix (network, length) and an IPv6 one.
pub type Prefix4 = (u32, u8);
pub type Prefix6 = (u128, u8);

/// Who a catalogued prefix belongs to: the store's ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    pub organisation: u32,
    pub operator: u32,
}

/// One thing catalogued sources may reach besides the web proxy: an organisation (or
/// [`EVERYONE`]), an IP protocol number, a destination port (0 for ICMP) and a
/// destination prefix in one space for both families (IPv4 as `::ffff:a.b.c.d`, length
/// 96 + its own; length 0 is anywhere in either family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Opening {
    pub organisation: u32,
    pub proto: u8,
    pub port: u16,
    pub dst: u128,
    pub len: u8,
}

/// The IPv4-mapped prefix `::ffff:0:0/96`, under which IPv4 destinations live.
pub const MAPPED: u128 = 0xffff << 32;

impl Opening {
    /// The destination as a prefix of its own family; None for anywhere.
    pub fn destination(&self) -> Option<Net> {
        match self.len {
            0 => None,
            96.. if self.dst >> 32 == 0xffff => Net::new(IpAddr::V4((self.dst as u32).into()), self.len - 96),
            _ => Net::new(IpAddr::V6(self.dst.into()), self.len),
        }
    }
}

/// The destination space key of `net` (see [`Opening`]).
pub fn destination_key(net: &Net) -> (u128, u8) {
    match net.family() {
        Family::V4 => (MAPPED | net.bits(), 96 + net.len()),
        Family::V6 => (net.bits(), net.len()),
    }
}

/// The tables of one generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    pub generation: i64,
    /// Every catalogued prefix with its owner, sorted (nested prefixes included: the
    /// longest match names the owner).
    pub known4: Vec<(Prefix4, Owner)>,
    pub known6: Vec<(Prefix6, Owner)>,
    /// Blocked prefixes, sorted, none covered by another.
    pub blocked4: Vec<Prefix4>,
    pub blocked6: Vec<Prefix6>,
    /// Openings with their expiry (unix ms, [`NEVER`]), sorted; a nested destination's
    /// expiry is the latest of its own and those of the prefixes covering it, so the
    /// longest match answers for all.
    pub openings: Vec<(Opening, i64)>,
    /// Each guarded interface's operator (in `[gate] interfaces` order), when its link
    /// names one in the registry: sources of other operators are spoofed there.
    pub bound: Vec<Option<u32>>,
}

impl Tables {
    /// The tables for `snapshot` under `config` at `now` (unix ms): grants expired by
    /// then open nothing.
    pub fn from_snapshot(snapshot: &Snapshot, config: &GateConfig, now: i64) -> Tables {
        let (mut blocked4, mut blocked6) = (Vec::new(), Vec::new());
        for block in snapshot.blocked() {
            match block.prefix.family() {
                Family::V4 => blocked4.push((block.prefix.bits() as u32, block.prefix.len())),
                Family::V6 => blocked6.push((block.prefix.bits(), block.prefix.len())),
            }
        }
        blocked4.sort_unstable();
        blocked6.sort_unstable();
        let owner = |organisation, operator| Owner { organisation, operator };
        let bound = config
            .interfaces
            .iter()
            .map(|i| snapshot.link_operator(&i.link).and_then(|(id, _)| u32::try_from(id).ok()))
            .collect();
        Tables {
            generation: snapshot.generation(),
            known4: snapshot.known_v4().iter().map(|o| ((o.addr, o.len), owner(o.organisation, o.operator))).collect(),
            known6: snapshot.known_v6().iter().map(|o| ((o.addr, o.len), owner(o.organisation, o.operator))).collect(),
            blocked4: outermost(&blocked4, 96),
            blocked6: outermost(&blocked6, 0),
            openings: openings(snapshot, config, now),
            bound,
        }
    }

    /// Number of entries in all lists.
    pub fn len(&self) -> usize {
        self.known4.len() + self.known6.len() + self.blocked4.len() + self.blocked6.len() + self.openings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What changes from `self` to `next`.
    pub fn diff(&self, next: &Tables) -> Diff {
        Diff {
            generation: next.generation,
            known4: MapDiff::between(&self.known4, &next.known4),
            known6: MapDiff::between(&self.known6, &next.known6),
            blocked4: SetDiff::between(&self.blocked4, &next.blocked4),
            blocked6: SetDiff::between(&self.blocked6, &next.blocked6),
            openings: MapDiff::between(&self.openings, &next.openings),
            bound: self.bound != next.bound,
        }
    }
}

/// The services a grant opens under `config` (a category: what `[gate] risky` names).
pub fn services<'c>(opens: &'c Opens, config: &'c GateConfig) -> &'c [Service] {
    match opens {
        Opens::Service(s) => std::slice::from_ref(s),
        Opens::Category(c) => config.risky.get(c).map_or(&[], Vec::as_slice),
    }
}

/// The openings at `now`: `[gate] allow` for everyone, and each live grant's services
/// for its organisation; nested destinations carry the latest covering expiry.
fn openings(snapshot: &Snapshot, config: &GateConfig, now: i64) -> Vec<(Opening, i64)> {
    let mut all: Vec<(Opening, i64)> = Vec::new();
    for service in &config.allow {
        expand(EVERYONE, service, NEVER, &mut all);
    }
    for grant in snapshot.grants().iter().filter(|g| g.live(now)) {
        for service in services(&grant.opens, config) {
            expand(grant.organisation, service, grant.until.unwrap_or(NEVER), &mut all);
        }
    }
    // One entry per opening, with the latest expiry of its duplicates.
    let mut merged: BTreeMap<Opening, i64> = BTreeMap::new();
    for (o, until) in all {
        let e = merged.entry(o).or_insert(until);
        *e = (*e).max(until);
    }
    let mut out: Vec<(Opening, i64)> = Vec::with_capacity(merged.len());
    // Sorted by (organisation, proto, port, dst, len): covering prefixes come first.
    let mut covering: Vec<(Opening, i64)> = Vec::new();
    for (o, until) in merged {
        covering.retain(|(c, _)| same_service(c, &o) && covers(c, &o));
        let effective = covering.iter().map(|c| c.1).fold(until, i64::max);
        covering.push((o, effective));
        out.push((o, effective));
    }
    out
}

fn same_service(a: &Opening, b: &Opening) -> bool {
    (a.organisation, a.proto, a.port) == (b.organisation, b.proto, b.port)
}

fn covers(outer: &Opening, inner: &Opening) -> bool {
    outer.len <= inner.len && (outer.len == 0 || (outer.dst ^ inner.dst) >> (128 - u32::from(outer.len)) == 0)
}

/// Every opening `service` makes for `organisation`.
fn expand(organisation: u32, service: &Service, until: i64, out: &mut Vec<(Opening, i64)>) {
    let ports = match service.each_port() {
        p if p.is_empty() => vec![0],
        p => p,
    };
    let dsts: Vec<(u128, u8)> = match service.to.is_empty() {
        true => vec![(0, 0)],
        false => service.to.iter().map(destination_key).collect(),
    };
    for &proto in service.proto.numbers() {
        for &port in &ports {
            for &(dst, len) in &dsts {
                out.push((Opening { organisation, proto, port, dst, len }, until));
            }
        }
    }
}

/// The earliest expiry after `now` among the snapshot's grants: when the tables must be
/// taken again even if nothing else moves.
pub fn next_expiry(snapshot: &Snapshot, now: i64) -> Option<i64> {
    snapshot.grants().iter().filter_map(|g| g.until).filter(|u| *u > now).min()
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

/// Disjoint ranges (first, last, value) of nested prefixes (first, last, value) sorted
/// with containing prefixes first: each address takes the value of the most specific
/// prefix holding it, as a longest-prefix match would. What nftables interval sets need.
pub fn flatten<V: Copy>(nested: &[(u128, u128, V)]) -> Vec<(u128, u128, V)> {
    let mut out = Vec::new();
    // Open prefixes (last address, value), innermost last, and the first address not
    // yet given out (None: past the end of the space).
    let mut open: Vec<(u128, V)> = Vec::new();
    let mut next: Option<u128> = None;
    for &(first, last, value) in nested {
        close(&mut out, &mut open, &mut next, Some(first));
        if let (Some(&(_, outer)), Some(from)) = (open.last(), next)
            && from < first
        {
            out.push((from, first - 1, outer));
        }
        open.push((last, value));
        next = Some(first);
    }
    close(&mut out, &mut open, &mut next, None);
    out
}

/// Gives out the rest of each open prefix that ends before `limit` (every one with None).
fn close<V: Copy>(
    out: &mut Vec<(u128, u128, V)>,
    open: &mut Vec<(u128, V)>,
    next: &mut Option<u128>,
    limit: Option<u128>,
) {
    while let Some(&(last, value)) = open.last() {
        if limit.is_some_and(|l| last >= l) {
            break;
        }
        if let Some(from) = *next
            && from <= last
        {
            out.push((from, last, value));
        }
        *next = last.checked_add(1);
        open.pop();
    }
}

/// Prefixes to add and to remove in one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDiff<A> {
    pub add: Vec<(A, u8)>,
    pub remove: Vec<(A, u8)>,
}

impl<A: Ord + Copy> SetDiff<A> {
    /// The difference of two sorted, duplicate-free lists, by one merge walk.
    pub fn between(old: &[(A, u8)], new: &[(A, u8)]) -> SetDiff<A> {
        let d = MapDiff::between(
            &old.iter().map(|&k| (k, ())).collect::<Vec<_>>(),
            &new.iter().map(|&k| (k, ())).collect::<Vec<_>>(),
        );
        SetDiff { add: d.set.into_iter().map(|(k, _)| k).collect(), remove: d.remove }
    }

    pub fn len(&self) -> usize {
        self.add.len() + self.remove.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Entries to set (new, or with a new value) and keys to remove in one keyed list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDiff<K, V> {
    pub set: Vec<(K, V)>,
    pub remove: Vec<K>,
}

impl<K: Ord + Copy, V: PartialEq + Copy> MapDiff<K, V> {
    /// The difference of two lists sorted by key without duplicate keys, by one merge
    /// walk: a key whose value changes is set, not removed.
    pub fn between(old: &[(K, V)], new: &[(K, V)]) -> MapDiff<K, V> {
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            match old[i].0.cmp(&new[j].0) {
                std::cmp::Ordering::Less => {
                    remove.push(old[i].0);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    set.push(new[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if old[i].1 != new[j].1 {
                        set.push(new[j]);
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        remove.extend(old[i..].iter().map(|e| e.0));
        set.extend_from_slice(&new[j..]);
        MapDiff { set, remove }
    }

    pub fn len(&self) -> usize {
        self.set.len() + self.remove.len()
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
    pub known4: MapDiff<Prefix4, Owner>,
    pub known6: MapDiff<Prefix6, Owner>,
    pub blocked4: SetDiff<u32>,
    pub blocked6: SetDiff<u128>,
    pub openings: MapDiff<Opening, i64>,
    /// Whether an interface's operator changed (a whole load follows).
    pub bound: bool,
}

impl Diff {
    pub fn len(&self) -> usize {
        self.known4.len() + self.known6.len() + self.blocked4.len() + self.blocked6.len() + self.openings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && !self.bound
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
        _ if diff.bound => Plan::Whole,
        0 => Plan::Nothing,
        n if n <= INCREMENTAL_LIMIT => Plan::InPlace(diff),
        _ => Plan::Whole,
    }
}

#[cfg(test)]
#[path = "tables_tests.rs"]
mod tests;
