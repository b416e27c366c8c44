//! The nftables backend's sets, rendered from one generation's [`Tables`]: the catalog
//! (`known4/6`, `blocked4/6`), each bound operator's own prefixes (`own4_N/own6_N`), the
//! organisations' grants (`grant4/6`: source range . protocol . port . destination
//! range, each element with the timeout of its grant, so the kernel ends it on time
//! whether or not the gate still runs) and the gateway's `allow` (`allow4/6` for TCP and
//! UDP, `allowicmp4/6`). Interval sets need disjoint elements: nested prefixes are
//! flattened to ranges that take the most specific prefix's owner or expiry.
//!
//! Must not: run `nft`; the backend does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::tables::{EVERYONE, MAPPED, NEVER, Opening, Owner, Tables, flatten, outermost};

/// One element and when it ends (unix ms, [`NEVER`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Elem {
    pub text: String,
    pub until: i64,
}

/// A set: its declaration (type and flags) and elements, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub decl: &'static str,
    pub elems: Vec<Elem>,
}

const V4: &str = "type ipv4_addr; flags interval;";
const V6: &str = "type ipv6_addr; flags interval;";
const GRANT4: &str = "type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags interval,timeout;";
const GRANT6: &str = "type ipv6_addr . inet_proto . inet_service . ipv6_addr; flags interval,timeout;";
const ALLOW4: &str = "type inet_proto . inet_service . ipv4_addr; flags interval;";
const ALLOW6: &str = "type inet_proto . inet_service . ipv6_addr; flags interval;";

/// Content sets by name.
pub type Sets = BTreeMap<String, Set>;

/// Destinations as nested ranges (first, last, expiry), by (organisation, protocol, port).
type ByService = BTreeMap<(u32, u8, u16), Vec<(u128, u128, i64)>>;

/// The set of operator `op`'s own prefixes in one family.
pub fn own_set(op: u32, v6: bool) -> String {
    format!("own{}_{op}", if v6 { 6 } else { 4 })
}

/// Every content set of `tables`, by name.
pub fn sets(tables: &Tables) -> Sets {
    let plain = |decl, texts: Vec<String>| Set { decl, elems: texts.into_iter().map(never).collect() };
    let keys4: Vec<(u32, u8)> = tables.known4.iter().map(|e| e.0).collect();
    let keys6: Vec<(u128, u8)> = tables.known6.iter().map(|e| e.0).collect();
    let mut out = BTreeMap::from([
        ("known4".to_owned(), plain(V4, outermost(&keys4, 96).into_iter().map(|(a, l)| text4(a, l)).collect())),
        ("known6".to_owned(), plain(V6, outermost(&keys6, 0).into_iter().map(|(a, l)| text6(a, l)).collect())),
        ("blocked4".to_owned(), plain(V4, tables.blocked4.iter().map(|&(a, l)| text4(a, l)).collect())),
        ("blocked6".to_owned(), plain(V6, tables.blocked6.iter().map(|&(a, l)| text6(a, l)).collect())),
    ]);
    for op in tables.bound.iter().flatten().collect::<BTreeSet<_>>() {
        let mine4: Vec<(u32, u8)> = tables.known4.iter().filter(|e| e.1.operator == *op).map(|e| e.0).collect();
        let mine6: Vec<(u128, u8)> = tables.known6.iter().filter(|e| e.1.operator == *op).map(|e| e.0).collect();
        let own4 = outermost(&mine4, 96).into_iter().map(|(a, l)| text4(a, l)).collect();
        let own6 = outermost(&mine6, 0).into_iter().map(|(a, l)| text6(a, l)).collect();
        out.insert(own_set(*op, false), plain(V4, own4));
        out.insert(own_set(*op, true), plain(V6, own6));
    }
    let (grant4, grant6) = grants(tables);
    out.insert("grant4".into(), Set { decl: GRANT4, elems: grant4 });
    out.insert("grant6".into(), Set { decl: GRANT6, elems: grant6 });
    let (allow4, allow6, icmp4, icmp6) = allowed(tables);
    out.insert("allow4".into(), plain(ALLOW4, allow4));
    out.insert("allow6".into(), plain(ALLOW6, allow6));
    out.insert("allowicmp4".into(), plain(V4, icmp4));
    out.insert("allowicmp6".into(), plain(V6, icmp6));
    for set in out.values_mut() {
        set.elems.sort();
        set.elems.dedup();
    }
    out
}

fn never(text: String) -> Elem {
    Elem { text, until: NEVER }
}

/// The grant sets: every organisation's own source ranges times its openings.
fn grants(tables: &Tables) -> (Vec<Elem>, Vec<Elem>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let mine: Vec<&(Opening, i64)> = tables.openings.iter().filter(|(o, _)| o.organisation != EVERYONE).collect();
    if mine.is_empty() {
        return (v4, v6);
    }
    let known4: Vec<((u128, u8), Owner)> = tables.known4.iter().map(|&((a, l), o)| ((u128::from(a), l), o)).collect();
    let sources4 = owned_ranges(&known4, 32);
    let sources6 = owned_ranges(&tables.known6, 128);
    for ((org, proto, port), dsts) in by_service(&mine) {
        let src4: Vec<String> =
            sources4.get(&org).into_iter().flatten().map(|&(f, l)| range4(f as u32, l as u32)).collect();
        let src6: Vec<String> = sources6.get(&org).into_iter().flatten().map(|&(f, l)| range6(f, l)).collect();
        for (first, last, until) in flatten(&dsts) {
            for (family6, dst) in by_family(first, last) {
                let sources = if family6 { &src6 } else { &src4 };
                let out = if family6 { &mut v6 } else { &mut v4 };
                for src in sources {
                    out.push(Elem { text: format!("{src} . {proto} . {port} . {dst}"), until });
                }
            }
        }
    }
    (v4, v6)
}

/// The gateway's `allow`: TCP and UDP by protocol, port and destination; ICMP by
/// destination.
fn allowed(tables: &Tables) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let (mut v4, mut v6, mut icmp4, mut icmp6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let everyone: Vec<&(Opening, i64)> = tables.openings.iter().filter(|(o, _)| o.organisation == EVERYONE).collect();
    for ((_, proto, port), dsts) in by_service(&everyone) {
        for (first, last, _) in flatten(&dsts) {
            for (family6, dst) in by_family(first, last) {
                match (proto, family6) {
                    (1, false) => icmp4.push(dst),
                    (58, true) => icmp6.push(dst),
                    (1 | 58, _) => {}
                    (_, false) => v4.push(format!("{proto} . {port} . {dst}")),
                    (_, true) => v6.push(format!("{proto} . {port} . {dst}")),
                }
            }
        }
    }
    (v4, v6, icmp4, icmp6)
}

/// Openings grouped by (organisation, protocol, port), each with its destinations as
/// nested ranges (first, last, expiry) in the order `flatten` needs.
fn by_service(openings: &[&(Opening, i64)]) -> ByService {
    let mut out = ByService::new();
    for (o, until) in openings {
        let last = match o.len {
            0 => u128::MAX,
            128.. => o.dst,
            n => o.dst | (u128::MAX >> n),
        };
        out.entry((o.organisation, o.proto, o.port)).or_default().push((o.dst, last, *until));
    }
    out
}

/// Each organisation's source ranges in one family of `bits` (32 or 128), where it is the
/// most specific owner.
fn owned_ranges(known: &[((u128, u8), Owner)], bits: u32) -> BTreeMap<u32, Vec<(u128, u128)>> {
    let nested: Vec<(u128, u128, u32)> = known
        .iter()
        .map(|&((addr, len), o)| {
            let host = bits - u32::from(len);
            let last = if host >= 128 { u128::MAX } else { addr | ((1u128 << host) - 1) };
            (addr, last, o.organisation)
        })
        .collect();
    let mut out: BTreeMap<u32, Vec<(u128, u128)>> = BTreeMap::new();
    for (first, last, org) in flatten(&nested) {
        let ranges = out.entry(org).or_default();
        // Adjacent ranges of one organisation become one element.
        match ranges.last_mut() {
            Some(prev) if prev.1.checked_add(1) == Some(first) => prev.1 = last,
            _ => ranges.push((first, last)),
        }
    }
    out
}

/// A destination range in the shared space as text of its family: (IPv6?, text). The
/// IPv4-mapped block is IPv4; a range across its edges is cut there.
fn by_family(first: u128, last: u128) -> Vec<(bool, String)> {
    let (m_first, m_last) = (MAPPED, MAPPED | 0xffff_ffff);
    let mut out = Vec::new();
    if first < m_first {
        out.push((true, range6(first, last.min(m_first - 1))));
    }
    if first <= m_last && last >= m_first {
        out.push((false, range4(first.max(m_first) as u32, last.min(m_last) as u32)));
    }
    if last > m_last {
        out.push((true, range6(first.max(m_last + 1), last)));
    }
    out
}

/// `a.b.c.d/n` when the range is a prefix, else `first-last`.
fn range4(first: u32, last: u32) -> String {
    let size = u64::from(last - first) + 1;
    match size.is_power_of_two() && u64::from(first).is_multiple_of(size) {
        true => text4(first, 32 - size.trailing_zeros() as u8),
        false => format!("{}-{}", Ipv4Addr::from(first), Ipv4Addr::from(last)),
    }
}

fn range6(first: u128, last: u128) -> String {
    if first == 0 && last == u128::MAX {
        return "::/0".into();
    }
    let size = last - first + 1;
    match size.is_power_of_two() && first.is_multiple_of(size) {
        true => text6(first, 128 - size.trailing_zeros() as u8),
        false => format!("{}-{}", Ipv6Addr::from(first), Ipv6Addr::from(last)),
    }
}

pub fn text4(a: u32, len: u8) -> String {
    format!("{}/{len}", Ipv4Addr::from(a))
}

pub fn text6(a: u128, len: u8) -> String {
    format!("{}/{len}", Ipv6Addr::from(a))
}

/// `set NAME { DECL elements = { ... }; }` with each element's timeout from `now`;
/// elements already expired are left out.
pub fn declare(out: &mut String, name: &str, set: &Set, elems: &[Elem], now: i64) {
    let texts: Vec<String> = elems
        .iter()
        .filter(|e| e.until > now)
        .map(|e| match e.until {
            NEVER => e.text.clone(),
            until => format!("{} timeout {}s", e.text, ((until - now + 999) / 1000).max(1)),
        })
        .collect();
    let _ = write!(out, "  set {name} {{ {}", set.decl);
    if !texts.is_empty() {
        let _ = write!(out, " elements = {{ {} }};", texts.join(", "));
    }
    out.push_str(" }\n");
}

#[cfg(test)]
mod tests {
    use super::super::tables::{Opening, Owner};
    use super::*;

    fn owner(organisation: u32, operator: u32) -> Owner {
        Owner { organisation, operator }
    }

    #[test]
    fn grants_cross_the_organisations_own_sources_with_their_openings() {
        let tables = Tables {
            known4: vec![((0xc633_6400, 24), owner(1, 1)), ((0xc633_6480, 25), owner(2, 1))],
            known6: vec![((0x2001_0db8_0001u128 << 80, 64), owner(1, 1))],
            openings: vec![
                (Opening { organisation: 1, proto: 17, port: 1194, dst: 0, len: 0 }, 5_000),
                (Opening { organisation: 1, proto: 17, port: 1194, dst: MAPPED | 0xcb00_710a, len: 128 }, 9_000),
            ],
            bound: vec![Some(1)],
            ..Tables::default()
        };
        let sets = sets(&tables);
        let g4: Vec<(&str, i64)> = sets["grant4"].elems.iter().map(|e| (e.text.as_str(), e.until)).collect();
        assert_eq!(
            g4,
            [
                ("198.51.100.0/25 . 17 . 1194 . 0.0.0.0-203.0.113.9", 5_000),
                ("198.51.100.0/25 . 17 . 1194 . 203.0.113.10/32", 9_000),
                ("198.51.100.0/25 . 17 . 1194 . 203.0.113.11-255.255.255.255", 5_000),
            ],
            "organisation 2's nested /25 is not organisation 1's"
        );
        let g6: Vec<&str> = sets["grant6"].elems.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(g6.len(), 2, "anywhere in IPv6 but the IPv4-mapped block: {g6:?}");
        assert!(g6[0].starts_with("2001:db8:1::/64 . 17 . 1194 . ::-::fffe:ffff:ffff"), "{g6:?}");
        assert_eq!(sets["own4_1"].elems.len(), 1);
        let mut text = String::new();
        declare(&mut text, "grant4", &sets["grant4"], &sets["grant4"].elems, 2_000);
        assert!(text.contains("203.0.113.10/32 timeout 7s"), "{text}");
        let mut later = String::new();
        declare(&mut later, "grant4", &sets["grant4"], &sets["grant4"].elems, 6_000);
        assert!(!later.contains("0.0.0.0-203.0.113.9") && later.contains("timeout 3s"), "expired left out: {later}");
    }

    #[test]
    fn allow_splits_tcp_udp_from_icmp() {
        let tables = Tables {
            openings: vec![
                (Opening { organisation: 0, proto: 1, port: 0, dst: 0, len: 0 }, NEVER),
                (Opening { organisation: 0, proto: 17, port: 53, dst: MAPPED | 0xc000_0235, len: 128 }, NEVER),
                (Opening { organisation: 0, proto: 58, port: 0, dst: 0, len: 0 }, NEVER),
            ],
            ..Tables::default()
        };
        let sets = sets(&tables);
        let texts = |name: &str| sets[name].elems.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts("allow4"), ["17 . 53 . 192.0.2.53/32"]);
        assert_eq!(texts("allowicmp4"), ["0.0.0.0/0"]);
        assert_eq!(texts("allowicmp6").len(), 2, "all IPv6 around the mapped block");
        assert!(texts("grant4").is_empty() && texts("allow6").is_empty());
    }
}
