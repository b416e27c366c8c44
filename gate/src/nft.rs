//! The nftables backend, for hosts where XDP cannot be used: one `inet perimeter` table
//! with interval sets (known4/known6/blocked4/blocked6), a prerouting chain at priority
//! -300 (before connection tracking) jumping to one chain per guarded interface with the
//! same verdicts as the XDP program, packet counts per interface and verdict (one
//! counting set per verdict keyed by interface name: `nft` lists one set without
//! fetching the catalog's elements, while listing named counters fetches them all, ten
//! seconds with a million prefixes), and sampling of unknown sources through a timeout set and `log group N` (read by
//! [`super::nflog`]).
//!
//! The first generation creates the table; each later whole generation flushes and
//! refills the four catalog sets in one `nft -f` transaction. A small change is
//! one transaction too: a set that only grows gets its new elements declared (nft adds
//! declared elements without reading the table: 0.07 s for 1,000 elements beside 200k,
//! where `add element` reads every element first, 20 s); a set that loses any element is
//! flushed and declared whole (blocks are few, so lifting one is as fast). The sets hold
//! disjoint prefixes (the tables are normalised), so no interval needs merging.
//!
//! Must not: leave the table behind on a clean stop (it is deleted on drop).

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::counters::{Counts, Verdict};
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
    loaded: bool,
}

impl NftBackend {
    pub fn open(options: NftOptions) -> Result<NftBackend, GateError> {
        super::rules::nft_version()?;
        Ok(NftBackend { options, loaded: false })
    }

    pub fn counters(&self) -> NftCounters {
        NftCounters { names: self.options.ifaces.iter().map(|i| i.name.clone()).collect() }
    }
}

impl Drop for NftBackend {
    fn drop(&mut self) {
        if self.loaded
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
        // Once the table stands, a new generation refills its four catalog sets (one
        // transaction) so the counts and the sampling sets carry on.
        let script = match self.loaded {
            false => ruleset(&self.options, tables),
            true => refill(tables),
        };
        run_nft(&script)?;
        self.loaded = true;
        Ok(())
    }

    fn apply(&mut self, diff: &Diff, next: &Tables) -> Result<Applied, GateError> {
        let script = changes(diff, next);
        if !script.is_empty() {
            run_nft(&script)?;
        }
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
            "keeps enforcing the last catalog it loaded: the table inet {TABLE} stays in the kernel, and the next \
             start replaces it in one transaction"
        )
    }
}

/// The whole `inet perimeter` table for `tables`, replacing any previous one.
pub fn ruleset(o: &NftOptions, tables: &Tables) -> String {
    let mut body = String::new();
    for v in Verdict::ALL {
        let _ = writeln!(body, "  set {} {{ type ifname; size 64; flags dynamic; counter; }}", count_set(v));
    }
    set(&mut body, "known4", "ipv4_addr", tables.known4.iter().map(|&(a, l)| text4(a, l)));
    set(&mut body, "known6", "ipv6_addr", tables.known6.iter().map(|&(a, l)| text6(a, l)));
    set(&mut body, "blocked4", "ipv4_addr", tables.blocked4.iter().map(|&(a, l)| text4(a, l)));
    set(&mut body, "blocked6", "ipv6_addr", tables.blocked6.iter().map(|&(a, l)| text6(a, l)));
    let timeout = o.sample_interval.as_millis().max(1);
    for (name, kind) in [("seen4", "ipv4_addr"), ("seen6", "ipv6_addr")] {
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
    for iface in &o.ifaces {
        interface_chain(&mut body, iface.slot, o.nflog_group);
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
/// IPv4 broadcast, or an address of the gateway), then blocked, unknown, QUIC, pass.
fn interface_chain(body: &mut String, slot: u32, group: u16) {
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
         \x20   ip6 saddr != @known6 {u} drop\n\
         \x20   udp dport {{ 80, 443 }} {q} jump quic\n\
         \x20   udp dport != {{ 80, 443 }} {quic_elsewhere} {q} drop\n\
         \x20   {p} accept\n\
         \x20 }}\n",
        b = c(Verdict::Blocked),
        u = c(Verdict::Unknown),
        q = c(Verdict::Quic),
        p = c(Verdict::Pass),
        nd = ND,
        quic_elsewhere = QUIC_LONG_HEADER,
    );
}

/// The counting set of one verdict.
fn count_set(v: Verdict) -> String {
    format!("count_{}", v.name())
}

fn set(body: &mut String, name: &str, kind: &str, elements: impl Iterator<Item = String>) {
    let elements: Vec<String> = elements.collect();
    let _ = write!(body, "  set {name} {{ type {kind}; flags interval;");
    if !elements.is_empty() {
        let _ = write!(body, " elements = {{ {} }};", elements.join(", "));
    }
    body.push_str(" }\n");
}

fn text4(a: u32, len: u8) -> String {
    format!("{}/{len}", Ipv4Addr::from(a))
}

fn text6(a: u128, len: u8) -> String {
    format!("{}/{len}", Ipv6Addr::from(a))
}

/// One transaction bringing the sets from what `diff` starts at to `next` (empty when
/// nothing changes).
pub fn changes(diff: &Diff, next: &Tables) -> String {
    let (mut flushes, mut declared) = (String::new(), String::new());
    let mut one = |name: &str, kind: &str, added: Vec<String>, shrinks: bool, whole: Vec<String>| {
        if shrinks {
            let _ = writeln!(flushes, "flush set inet {TABLE} {name}");
            set(&mut declared, name, kind, whole.into_iter());
        } else if !added.is_empty() {
            set(&mut declared, name, kind, added.into_iter());
        }
    };
    let v4 = |l: &[(u32, u8)]| l.iter().map(|&(a, n)| text4(a, n)).collect::<Vec<_>>();
    let v6 = |l: &[(u128, u8)]| l.iter().map(|&(a, n)| text6(a, n)).collect::<Vec<_>>();
    one("blocked4", "ipv4_addr", v4(&diff.blocked4.add), !diff.blocked4.remove.is_empty(), v4(&next.blocked4));
    one("blocked6", "ipv6_addr", v6(&diff.blocked6.add), !diff.blocked6.remove.is_empty(), v6(&next.blocked6));
    one("known4", "ipv4_addr", v4(&diff.known4.add), !diff.known4.remove.is_empty(), v4(&next.known4));
    one("known6", "ipv6_addr", v6(&diff.known6.add), !diff.known6.remove.is_empty(), v6(&next.known6));
    match declared.is_empty() && flushes.is_empty() {
        true => String::new(),
        false => format!("{flushes}table inet {TABLE} {{\n{declared}}}\n"),
    }
}

/// One transaction replacing the elements of the four catalog sets with `tables`.
pub fn refill(tables: &Tables) -> String {
    let mut out = String::new();
    for name in ["known4", "known6", "blocked4", "blocked6"] {
        let _ = writeln!(out, "flush set inet {TABLE} {name}");
    }
    out.push_str(&format!("table inet {TABLE} {{\n"));
    set(&mut out, "known4", "ipv4_addr", tables.known4.iter().map(|&(a, l)| text4(a, l)));
    set(&mut out, "known6", "ipv6_addr", tables.known6.iter().map(|&(a, l)| text6(a, l)));
    set(&mut out, "blocked4", "ipv4_addr", tables.blocked4.iter().map(|&(a, l)| text4(a, l)));
    set(&mut out, "blocked6", "ipv6_addr", tables.blocked6.iter().map(|&(a, l)| text6(a, l)));
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
    use super::*;

    fn options() -> NftOptions {
        NftOptions {
            ifaces: vec![Iface { name: "eth1".into(), link: "kt-1".into(), ifindex: 4, slot: 1 }],
            sample_interval: Duration::from_secs(60),
            nflog_group: 7411,
            quic_reject: true,
            quic_reject_rate: 100,
        }
    }

    #[test]
    fn ruleset_holds_sets_counters_and_the_interface_chain() {
        let tables = Tables {
            generation: 1,
            known4: vec![(0xc633_6400, 24)],
            known6: vec![(0x2001_0db8_0001u128 << 80, 64)],
            blocked4: vec![(0xc633_6409, 32)],
            blocked6: vec![],
        };
        let text = ruleset(&options(), &tables);
        for needle in [
            "delete table inet perimeter\n",
            "set known4 { type ipv4_addr; flags interval; elements = { 198.51.100.0/24 }; }",
            "set known6 { type ipv6_addr; flags interval; elements = { 2001:db8:1::/64 }; }",
            "set blocked4 { type ipv4_addr; flags interval; elements = { 198.51.100.9/32 }; }",
            "set blocked6 { type ipv6_addr; flags interval; }",
            "timeout 60000ms",
            "iifname \"eth1\" jump i1\n",
            "set count_quic { type ifname; size 64; flags dynamic; counter; }",
            "udp dport { 80, 443 } update @count_quic { iifname } jump quic",
            "udp dport != { 80, 443 } @th,64,8 & 0xc0 == 0xc0 @th,72,32 { 0x00000001, 0x6b3343cf, 0xff000000-0xff0000ff } update @count_quic { iifname } drop",
            "log group 7411",
            "limit rate 100/second reject",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let blocked = text.find("@blocked4 update").expect("blocked rule");
        let unknown = text.find("!= @known4 update").expect("unknown rule");
        let quic = text.find("jump quic").expect("quic rule");
        assert!(blocked < unknown && unknown < quic, "blocked, then unknown, then QUIC");
    }

    #[test]
    fn a_later_whole_generation_refills_the_sets_in_one_transaction() {
        let tables = Tables { generation: 2, known4: vec![(0xc633_6400, 24)], ..Tables::default() };
        let text = refill(&tables);
        assert!(text.starts_with("flush set inet perimeter known4\nflush set inet perimeter known6\n"), "{text}");
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
        let old = Tables { generation: 1, known4: vec![(0xc633_6400, 24)], ..Tables::default() };
        let next = Tables {
            generation: 2,
            known4: vec![(0xc633_6400, 24), (0xcb00_7100, 24)],
            blocked4: vec![(0xc633_6409, 32)],
            ..Tables::default()
        };
        let text = changes(&old.diff(&next), &next);
        assert!(!text.contains("flush"), "{text}");
        assert!(
            text.contains("set blocked4 { type ipv4_addr; flags interval; elements = { 198.51.100.9/32 }; }"),
            "{text}"
        );
        assert!(
            text.contains("set known4 { type ipv4_addr; flags interval; elements = { 203.0.113.0/24 }; }"),
            "{text}"
        );
        let lifted = Tables { generation: 3, known4: vec![(0xcb00_7100, 24)], ..Tables::default() };
        let text = changes(&next.diff(&lifted), &lifted);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "flush set inet perimeter blocked4",
                "flush set inet perimeter known4",
                "table inet perimeter {",
                "  set blocked4 { type ipv4_addr; flags interval; }",
                "  set known4 { type ipv4_addr; flags interval; elements = { 203.0.113.0/24 }; }",
                "}",
            ]
        );
        assert!(changes(&lifted.diff(&lifted), &lifted).is_empty());
    }
}
