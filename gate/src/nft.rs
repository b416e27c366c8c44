//! The nftables backend, for hosts where XDP cannot be used: one `inet perimeter` table
//! with the content sets of [`super::nft_sets`] (catalog, bound operators' prefixes,
//! grants, the gateway's `allow`), a prerouting chain at priority -300 (before
//! connection tracking) jumping to one chain per guarded interface with the same
//! verdicts in the same order as the XDP program, packet counts per interface and
//! verdict (one counting set per verdict keyed by interface name: `nft` lists one set
//! without fetching the catalog's elements, while listing named counters fetches them
//! all, ten seconds with a million prefixes), sampling of unknown sources through a
//! timeout set and `log group N`, and of catalogued sources dropped by policy through
//! `log group N prefix "ungranted"` / `"spoofed"` (read by [`super::nflog`]).
//!
//! The first generation creates the table (so does one whose interfaces' operators
//! changed: the chains change); each later whole generation flushes and refills the
//! content sets in one `nft -f` transaction. A small change is one transaction too: a
//! set that only grows gets its new elements declared (nft adds declared elements
//! without reading the table: 0.07 s for 1,000 elements beside 200k, where `add element`
//! reads every element first, 20 s); a set that loses any element is flushed and
//! declared whole (blocks and grants are few, so lifting one is as fast).
//!
//! Must not: leave the table behind on a clean stop (it is deleted on drop).

use std::fmt::Write;
use std::time::Duration;

use snapshot::now_ms;

use super::counters::{Counts, Verdict};
use super::nft_sets::{Sets, declare, own_set, sets};
use super::rules::{delete_table, nft_json, quic_answer, replace_table, run_nft};
use super::tables::{Diff, Tables};
use super::{Applied, Backend, BackendKind, CounterSource, GateError, Iface};

/// The gate's table in the `inet` family.
pub const TABLE: &str = "perimeter";

/// What the rendered table needs besides the prefixes.
#[derive(Debug, Clone)]
pub struct NftOptions {
    pub ifaces: Vec<Iface>,
    pub sample_interval: Duration,
    pub nflog_group: u16,
    pub quic_reject: bool,
    pub quic_reject_rate: u32,
}

pub struct NftBackend {
    options: NftOptions,
    /// The content sets the kernel holds and the interfaces' operators they were made
    /// for, once loaded.
    held: Option<(Sets, Vec<Option<u32>>)>,
}

impl NftBackend {
    pub fn open(options: NftOptions) -> Result<NftBackend, GateError> {
        super::rules::nft_version()?;
        Ok(NftBackend { options, held: None })
    }

    pub fn counters(&self) -> NftCounters {
        NftCounters { names: self.options.ifaces.iter().map(|i| i.name.clone()).collect() }
    }
}

impl Drop for NftBackend {
    fn drop(&mut self) {
        if self.held.is_some()
            && let Err(e) = run_nft(&delete_table(TABLE))
        {
            tracing::warn!(error = %e, "could not remove the gate's nftables table");
        }
    }
}

impl Backend for NftBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Nftables
    }

    fn load(&mut self, tables: &Tables) -> Result<(), GateError> {
        let next = sets(tables);
        // Once the table stands with the same chains, a new generation refills its
        // content sets (one transaction) so the counts and the sampling sets carry on.
        let script = match &self.held {
            Some((_, bound)) if *bound == tables.bound => refill(&next, now_ms()),
            _ => ruleset(&self.options, tables, &next, now_ms()),
        };
        run_nft(&script)?;
        self.held = Some((next, tables.bound.clone()));
        Ok(())
    }

    fn apply(&mut self, diff: &Diff, next: &Tables) -> Result<Applied, GateError> {
        let Some((held, bound)) = &self.held else { return Ok(Applied::NeedsWhole) };
        if diff.bound || *bound != next.bound {
            return Ok(Applied::NeedsWhole);
        }
        let next_sets = sets(next);
        let script = changes(held, &next_sets, now_ms());
        if !script.is_empty() {
            run_nft(&script)?;
        }
        self.held = Some((next_sets, next.bound.clone()));
        Ok(Applied::Done)
    }

    fn attach(&mut self) -> Result<(), GateError> {
        // The table's chain is hooked as soon as it is loaded.
        Ok(())
    }

    fn modes(&self) -> Vec<String> {
        vec!["nftables prerouting".to_owned(); self.options.ifaces.len()]
    }

    fn on_crash(&self) -> String {
        format!(
            "keeps enforcing the last catalog it loaded: the table inet {TABLE} stays in the kernel (grants end at \
             their expiry there too), and the next start replaces it in one transaction"
        )
    }
}

/// The whole `inet perimeter` table for `tables` (whose content sets are `content`),
/// replacing any previous one.
pub fn ruleset(o: &NftOptions, tables: &Tables, content: &Sets, now: i64) -> String {
    let mut body = String::new();
    for v in Verdict::ALL {
        let _ = writeln!(body, "  set {} {{ type ifname; size 64; flags dynamic; counter; }}", count_set(v));
    }
    for (name, set) in content {
        declare(&mut body, name, set, &set.elems, now);
    }
    let timeout = o.sample_interval.as_millis().max(1);
    for (name, kind) in [
        ("seen4", "ipv4_addr"),
        ("seen6", "ipv6_addr"),
        ("spoofseen4", "ipv4_addr"),
        ("spoofseen6", "ipv6_addr"),
        ("noted4", "ipv4_addr . inet_proto"),
        ("noted6", "ipv6_addr . inet_proto"),
    ] {
        let _ =
            writeln!(body, "  set {name} {{ type {kind}; size 65536; flags dynamic,timeout; timeout {timeout}ms; }}");
    }
    body.push_str("  chain prerouting {\n    type filter hook prerouting priority -300; policy accept;\n");
    for iface in &o.ifaces {
        let _ = writeln!(body, "    iifname \"{}\" jump i{}", iface.name, iface.slot);
    }
    body.push_str("  }\n  chain quic {\n");
    body.push_str(&quic_answer("", o.quic_reject_rate.max(1), o.quic_reject));
    body.push_str("  }\n");
    for (i, iface) in o.ifaces.iter().enumerate() {
        let bound = tables.bound.get(i).copied().flatten();
        interface_chain(&mut body, iface.slot, bound, o.nflog_group);
    }
    replace_table(TABLE, &body)
}

/// A QUIC long header (header form and fixed bit set) of version 1, 2 or a draft, as in
/// the XDP program: QUIC on any port.
const QUIC_LONG_HEADER: &str = "@th,64,8 & 0xc0 == 0xc0 @th,72,32 { 0x00000001, 0x6b3343cf, 0xff000000-0xff0000ff }";

/// IPv6 neighbour discovery (ICMPv6 133-137).
const ND: &str = "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect";

/// The verdicts for one interface, in the XDP program's order: link control (neighbour
/// discovery with hop limit 255, anything from a link-local, unspecified or 0.0.0.0
/// source) only to the gateway itself (a link-local or link-scope multicast destination,
/// IPv4 broadcast, or an address of the gateway), then blocked, unknown, spoofed (when
/// the interface's link is `bound` to an operator), then what a catalogued source may
/// reach: TCP 443/80, its organisation's grants, QUIC dropped, the gateway's `allow`,
/// the gateway itself; the rest ungranted. A later fragment has no ports, so it is
/// ungranted here: where connection tracking runs (the redirect to the proxy turns it
/// on) the stack has put each datagram together before this chain, and elsewhere a
/// fragment the chain cannot decide is dropped, never passed on its own.
fn interface_chain(body: &mut String, slot: u32, bound: Option<u32>, group: u16) {
    let c = |v| format!("update @{} {{ iifname }}", count_set(v));
    let _ = write!(
        body,
        "  chain i{slot} {{\n\
         \x20   ip6 saddr {{ fe80::/10, :: }} ip6 daddr {{ fe80::/10, ff02::/16 }} accept\n\
         \x20   ip6 saddr {{ fe80::/10, :: }} fib daddr type local accept\n\
         \x20   ip6 saddr {{ fe80::/10, :: }} {u} drop\n\
         \x20   icmpv6 type {{ {nd} }} ip6 hoplimit 255 ip6 daddr {{ fe80::/10, ff02::/16 }} accept\n\
         \x20   icmpv6 type {{ {nd} }} ip6 hoplimit 255 fib daddr type local accept\n\
         \x20   ip saddr 0.0.0.0 ip daddr 255.255.255.255 accept\n\
         \x20   ip saddr 0.0.0.0 fib daddr type local accept\n\
         \x20   ip saddr 0.0.0.0 {u} drop\n\
         \x20   ip saddr @blocked4 {b} drop\n\
         \x20   ip6 saddr @blocked6 {b} drop\n\
         \x20   ip saddr != @known4 ip saddr != @seen4 add @seen4 {{ ip saddr }} log group {group}\n\
         \x20   ip saddr != @known4 {u} drop\n\
         \x20   ip6 saddr != @known6 ip6 saddr != @seen6 add @seen6 {{ ip6 saddr }} log group {group}\n\
         \x20   ip6 saddr != @known6 {u} drop\n",
        b = c(Verdict::Blocked),
        u = c(Verdict::Unknown),
        nd = ND,
    );
    if let Some(op) = bound {
        let (own4, own6, s) = (own_set(op, false), own_set(op, true), c(Verdict::Spoofed));
        let log = format!("log group {group} prefix \"spoofed\"");
        let _ = write!(
            body,
            "\x20   ip saddr != @{own4} ip saddr != @spoofseen4 add @spoofseen4 {{ ip saddr }} {log}\n\
             \x20   ip saddr != @{own4} {s} drop\n\
             \x20   ip6 saddr != @{own6} ip6 saddr != @spoofseen6 add @spoofseen6 {{ ip6 saddr }} {log}\n\
             \x20   ip6 saddr != @{own6} {s} drop\n"
        );
    }
    let _ = write!(
        body,
        "\x20   tcp dport {{ 80, 443 }} {p} accept\n\
         \x20   ip saddr . meta l4proto . th dport . ip daddr @grant4 {g} accept\n\
         \x20   ip6 saddr . meta l4proto . th dport . ip6 daddr @grant6 {g} accept\n\
         \x20   udp dport {{ 80, 443 }} {q} jump quic\n\
         \x20   udp dport != {{ 80, 443 }} {quic_elsewhere} {q} drop\n\
         \x20   meta l4proto . th dport . ip daddr @allow4 {p} accept\n\
         \x20   meta l4proto . th dport . ip6 daddr @allow6 {p} accept\n\
         \x20   meta l4proto icmp ip daddr @allowicmp4 {p} accept\n\
         \x20   meta l4proto ipv6-icmp ip6 daddr @allowicmp6 {p} accept\n\
         \x20   fib daddr type local {p} accept\n\
         \x20   ip saddr . meta l4proto != @noted4 add @noted4 {{ ip saddr . meta l4proto }} {log}\n\
         \x20   ip6 saddr . meta l4proto != @noted6 add @noted6 {{ ip6 saddr . meta l4proto }} {log}\n\
         \x20   {ug} drop\n\
         \x20 }}\n",
        p = c(Verdict::Pass),
        g = c(Verdict::Granted),
        q = c(Verdict::Quic),
        ug = c(Verdict::Ungranted),
        quic_elsewhere = QUIC_LONG_HEADER,
        log = format!("log group {group} prefix \"ungranted\""),
    );
}

/// The counting set of one verdict.
fn count_set(v: Verdict) -> String {
    format!("count_{}", v.name())
}

/// One transaction bringing the content sets from `held` to `next` (empty when nothing
/// changes): a set that only grows gets its additions declared, one that loses any
/// element is flushed and declared whole.
pub fn changes(held: &Sets, next: &Sets, now: i64) -> String {
    let (mut flushes, mut declared) = (String::new(), String::new());
    for (name, set) in next {
        let old = held.get(name).map_or(&[][..], |s| s.elems.as_slice());
        if old == set.elems.as_slice() {
            continue;
        }
        let kept: std::collections::BTreeSet<_> = set.elems.iter().collect();
        if old.iter().all(|e| kept.contains(e)) {
            let have: std::collections::BTreeSet<_> = old.iter().collect();
            let added: Vec<_> = set.elems.iter().filter(|e| !have.contains(e)).cloned().collect();
            declare(&mut declared, name, set, &added, now);
        } else {
            let _ = writeln!(flushes, "flush set inet {TABLE} {name}");
            declare(&mut declared, name, set, &set.elems, now);
        }
    }
    match declared.is_empty() {
        true => String::new(),
        false => format!("{flushes}table inet {TABLE} {{\n{declared}}}\n"),
    }
}

/// One transaction replacing the elements of every content set with `content`.
pub fn refill(content: &Sets, now: i64) -> String {
    let mut out = String::new();
    for name in content.keys() {
        let _ = writeln!(out, "flush set inet {TABLE} {name}");
    }
    out.push_str(&format!("table inet {TABLE} {{\n"));
    for (name, set) in content {
        declare(&mut out, name, set, &set.elems, now);
    }
    out.push_str("}\n");
    out
}

/// Reads the counting sets with `nft -j list set` (one run per verdict).
pub struct NftCounters {
    names: Vec<String>,
}

impl CounterSource for NftCounters {
    fn read(&self) -> Result<Vec<Counts>, GateError> {
        let mut out = vec![Counts::default(); self.names.len()];
        for v in Verdict::ALL {
            let json = nft_json(&["list", "set", "inet", TABLE, &count_set(v)])?;
            for (name, packets) in set_counts(&json) {
                if let Some(i) = self.names.iter().position(|n| *n == name) {
                    out[i].set(v, packets);
                }
            }
        }
        Ok(out)
    }
}

/// (element, packets) of a counting set as `nft -j list set` prints it.
fn set_counts(json: &serde_json::Value) -> Vec<(String, u64)> {
    let items = json.get("nftables").and_then(|v| v.as_array()).map(Vec::as_slice).unwrap_or_default();
    let elems = items.iter().filter_map(|i| i.pointer("/set/elem")?.as_array()).flatten();
    elems
        .filter_map(|e| {
            let name = e.pointer("/elem/val")?.as_str()?.to_owned();
            Some((name, e.pointer("/elem/counter/packets")?.as_u64()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tables::{Opening, Owner};
    use super::*;

    fn options() -> NftOptions {
        NftOptions {
            ifaces: vec![
                Iface { name: "eth1".into(), link: "kt-1".into(), ifindex: 4, slot: 1 },
                Iface { name: "eth2".into(), link: "lab".into(), ifindex: 5, slot: 2 },
            ],
            sample_interval: Duration::from_secs(60),
            nflog_group: 7411,
            quic_reject: true,
            quic_reject_rate: 100,
        }
    }

    fn tables() -> Tables {
        let owner = Owner { organisation: 3, operator: 1 };
        Tables {
            generation: 1,
            known4: vec![((0xc633_6400, 24), owner)],
            known6: vec![((0x2001_0db8_0001u128 << 80, 64), owner)],
            blocked4: vec![(0xc633_6409, 32)],
            blocked6: vec![],
            openings: vec![(
                Opening { organisation: 3, proto: 6, port: 8443, dst: 0, len: 0 },
                super::super::tables::NEVER,
            )],
            bound: vec![Some(1), None],
        }
    }

    #[test]
    fn ruleset_holds_sets_counters_and_the_interface_chains() {
        let t = tables();
        let text = ruleset(&options(), &t, &sets(&t), 0);
        for needle in [
            "delete table inet perimeter\n",
            "set known4 { type ipv4_addr; flags interval; elements = { 198.51.100.0/24 }; }",
            "set known6 { type ipv6_addr; flags interval; elements = { 2001:db8:1::/64 }; }",
            "set blocked4 { type ipv4_addr; flags interval; elements = { 198.51.100.9/32 }; }",
            "set blocked6 { type ipv6_addr; flags interval; }",
            "set own4_1 { type ipv4_addr; flags interval; elements = { 198.51.100.0/24 }; }",
            "198.51.100.0/24 . 6 . 8443 . 0.0.0.0/0",
            "timeout 60000ms",
            "iifname \"eth1\" jump i1\n",
            "set count_quic { type ifname; size 64; flags dynamic; counter; }",
            "udp dport { 80, 443 } update @count_quic { iifname } jump quic",
            "udp dport != { 80, 443 } @th,64,8 & 0xc0 == 0xc0 @th,72,32 { 0x00000001, 0x6b3343cf, 0xff000000-0xff0000ff } update @count_quic { iifname } drop",
            "log group 7411",
            "log group 7411 prefix \"ungranted\"",
            "limit rate 100/second reject",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let i1 = &text[text.find("chain i1 {").expect("chain i1")..text.find("chain i2 {").expect("chain i2")];
        let order = [
            "@blocked4 update",
            "!= @known4 update",
            "!= @own4_1 update @count_spoofed",
            "tcp dport { 80, 443 }",
            "@grant4 update @count_granted",
            "jump quic",
            "@allow4 update @count_pass",
            "fib daddr type local update @count_pass",
            "update @count_ungranted { iifname } drop",
        ];
        let at: Vec<usize> = order.iter().map(|n| i1.find(n).unwrap_or_else(|| panic!("{n} in {i1}"))).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "the XDP program's order: {order:?}\n{i1}");
        let i2 = &text[text.find("chain i2 {").expect("chain i2")..];
        assert!(!i2.contains("spoofed"), "a link of no operator binds no sources: {i2}");
    }

    #[test]
    fn a_later_whole_generation_refills_the_sets_in_one_transaction() {
        let text = refill(&sets(&tables()), 0);
        assert!(text.starts_with("flush set inet perimeter allow4\n"), "{text}");
        assert!(
            text.contains("flush set inet perimeter known4\n") && text.contains("flush set inet perimeter grant4\n")
        );
        assert!(
            text.contains("set known4 { type ipv4_addr; flags interval; elements = { 198.51.100.0/24 }; }"),
            "{text}"
        );
        assert!(!text.contains("delete table") && !text.contains("count_"), "the counts stay: {text}");
    }

    #[test]
    fn counting_sets_are_read_per_interface() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {}}, {"set": {"name": "count_pass", "elem": [{"elem": {"val": "eth1", "counter": {"packets": 10, "bytes": 430}}}, {"elem": {"val": "eth2", "counter": {"packets": 3, "bytes": 9}}}]}}]}"#,
        )
        .expect("json");
        assert_eq!(set_counts(&json), vec![("eth1".to_owned(), 10), ("eth2".to_owned(), 3)]);
        let empty: serde_json::Value =
            serde_json::from_str(r#"{"nftables": [{"set": {"name": "count_pass"}}]}"#).expect("json");
        assert!(set_counts(&empty).is_empty());
    }

    #[test]
    fn growing_sets_are_declared_and_shrinking_ones_flushed_and_redeclared() {
        let old = tables();
        let mut next = old.clone();
        next.known4.push(((0xcb00_7100, 24), Owner { organisation: 3, operator: 1 }));
        next.blocked4.push((0xc633_640a, 32));
        let text = changes(&sets(&old), &sets(&next), 0);
        assert!(!text.contains("flush set inet perimeter known4"), "{text}");
        assert!(
            text.contains("set known4 { type ipv4_addr; flags interval; elements = { 203.0.113.0/24 }; }"),
            "{text}"
        );
        assert!(text.contains("set blocked4 { type ipv4_addr; flags interval; elements = { 198.51.100.10/32 }; }"));
        // The grant set changes too (a new source range of organisation 3), and is
        // declared with the new elements only.
        assert!(text.contains("203.0.113.0/24 . 6 . 8443 . 0.0.0.0/0"), "{text}");
        let mut revoked = next.clone();
        revoked.openings.clear();
        revoked.blocked4.pop();
        let text = changes(&sets(&next), &sets(&revoked), 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "flush set inet perimeter blocked4",
                "flush set inet perimeter grant4",
                "flush set inet perimeter grant6",
                "table inet perimeter {",
                "  set blocked4 { type ipv4_addr; flags interval; elements = { 198.51.100.9/32 }; }",
                "  set grant4 { type ipv4_addr . inet_proto . inet_service . ipv4_addr; flags interval,timeout; }",
                "  set grant6 { type ipv6_addr . inet_proto . inet_service . ipv6_addr; flags interval,timeout; }",
                "}",
            ]
        );
        assert!(changes(&sets(&revoked), &sets(&revoked), 0).is_empty());
    }
}
