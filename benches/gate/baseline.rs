//! The named baseline: the same catalog as plain nftables interval sets (auto-merge, as
//! an operator would write them for overlapping prefixes) in a prerouting chain at
//! priority -300, unknown sources dropped, each rule counted.

use std::fmt::Write;

use gate::rules::nft_json;
use snapshot::{Family, Snapshot};

fn elements(snap: &Snapshot, family: Family) -> Vec<String> {
    match family {
        Family::V4 => {
            snap.known_v4().iter().map(|o| format!("{}/{}", std::net::Ipv4Addr::from(o.addr), o.len)).collect()
        }
        Family::V6 => {
            snap.known_v6().iter().map(|o| format!("{}/{}", std::net::Ipv6Addr::from(o.addr), o.len)).collect()
        }
    }
}

/// The whole baseline table for `snap`, replacing any previous one.
pub fn ruleset(snap: &Snapshot) -> String {
    let mut t = String::from("add table inet baseline\ndelete table inet baseline\ntable inet baseline {\n");
    for (name, kind, family) in [("known4", "ipv4_addr", Family::V4), ("known6", "ipv6_addr", Family::V6)] {
        let elements = elements(snap, family);
        let _ = write!(t, "  set {name} {{ type {kind}; flags interval; auto-merge;");
        if !elements.is_empty() {
            let _ = write!(t, " elements = {{ {} }}", elements.join(", "));
        }
        t.push_str(" }\n");
    }
    t.push_str(
        "  chain pre {\n    type filter hook prerouting priority -300; policy accept;\n    iifname != \"gbr0\" accept\n    \
         ip saddr != @known4 counter drop\n    ip6 saddr != @known6 counter drop\n    counter accept\n  }\n}\n",
    );
    t
}

/// The elements `next` adds to `current` as one `nft -f` transaction, declared in a
/// table block: nft's fast form (`add element` reads the whole set first: seconds).
pub fn added(current: &Snapshot, next: &Snapshot) -> String {
    let have: std::collections::HashSet<(u32, u8)> = current.known_v4().iter().map(|o| (o.addr, o.len)).collect();
    let new: Vec<String> = next
        .known_v4()
        .iter()
        .filter(|o| !have.contains(&(o.addr, o.len)))
        .map(|o| format!("{}/{}", std::net::Ipv4Addr::from(o.addr), o.len))
        .collect();
    format!(
        "table inet baseline {{\n  set known4 {{ type ipv4_addr; flags interval; auto-merge; elements = {{ {} }} }}\n}}\n",
        new.join(", ")
    )
}

/// (accepted, dropped) packets so far.
pub fn counts() -> (u64, u64) {
    let json = nft_json(&["list", "chain", "inet", "baseline", "pre"]).expect("nft lists the chain");
    let rules = json["nftables"].as_array().cloned().unwrap_or_default();
    let (mut pass, mut dropped) = (0, 0);
    for rule in rules.iter().filter_map(|r| r.get("rule")) {
        let exprs = rule["expr"].as_array().cloned().unwrap_or_default();
        let packets: u64 = exprs.iter().filter_map(|e| e.pointer("/counter/packets")?.as_u64()).sum();
        if exprs.iter().any(|e| e.get("drop").is_some()) {
            dropped += packets;
        } else if exprs.iter().any(|e| e.get("accept").is_some()) {
            pass += packets;
        }
    }
    (pass, dropped)
}
