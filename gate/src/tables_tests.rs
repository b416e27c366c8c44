use std::collections::HashMap;

use snapshot::{BlockRef, Grant, Net, OrgRef, Proto};

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

fn tables(s: &Snapshot) -> Tables {
    Tables::from_snapshot(s, &GateConfig::default(), 0)
}

fn keys<A: Copy>(list: &[((A, u8), Owner)]) -> Vec<(A, u8)> {
    list.iter().map(|e| e.0).collect()
}

fn service(proto: Proto, ports: &str, to: &[&str]) -> Service {
    Service::new(proto, Service::parse_ports(ports).expect("ports"), to.iter().map(|t| net(t)).collect())
        .expect("service")
}

fn grant(organisation: u32, opens: Opens, until: Option<i64>) -> Grant {
    Grant { source: "grant 1".into(), organisation, bin: "980140000015".into(), opens, until, reason: "test".into() }
}

#[test]
fn tables_split_families_and_sort_blocks() {
    let s = snapshot(
        &["198.51.100.0/24", "2001:db8:1::/64"],
        &["2001:db8:1::9/128", "198.51.100.9/32", "198.51.100.7/32"],
        3,
    );
    let t = tables(&s);
    assert_eq!(t.generation, 3);
    assert_eq!(t.known4, vec![((0xc633_6400, 24), Owner { organisation: 1, operator: 1 })]);
    assert_eq!(keys(&t.known6), vec![(net("2001:db8:1::/64").bits(), 64)]);
    assert_eq!(t.blocked4, vec![(0xc633_6407, 32), (0xc633_6409, 32)]);
    assert_eq!(t.blocked6.len(), 1);
    assert_eq!(t.len(), 5);
}

#[test]
fn nested_prefixes_keep_their_owner_and_covered_blocks_are_left_out() {
    let s = snapshot(&["10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/24"], &["198.51.100.0/24", "198.51.100.9/32"], 1);
    let t = tables(&s);
    assert_eq!(keys(&t.known4), vec![(0x0a00_0000, 8), (0x0a01_0000, 16), (0x0b00_0000, 24)]);
    assert_eq!(t.blocked4, vec![(0xc633_6400, 24)]);
    assert_eq!(outermost(&[(0u32, 0), (5, 32)], 96), vec![(0, 0)], "the default route covers all");
    assert_eq!(outermost(&[(5u32, 32), (5, 32)], 96), vec![(5, 32)]);
}

#[test]
fn flattening_gives_each_address_its_most_specific_prefix() {
    // 0-255 of A, 16-31 of B inside it, 20-23 of C inside B, 100-103 of D; 300-309 of E.
    let nested = [(0, 255, 'A'), (16, 31, 'B'), (20, 23, 'C'), (100, 103, 'D'), (300, 309, 'E')];
    assert_eq!(
        flatten(&nested),
        [
            (0, 15, 'A'),
            (16, 19, 'B'),
            (20, 23, 'C'),
            (24, 31, 'B'),
            (32, 99, 'A'),
            (100, 103, 'D'),
            (104, 255, 'A'),
            (300, 309, 'E')
        ]
    );
    assert_eq!(
        flatten(&[(0, u128::MAX, 1), (u128::MAX, u128::MAX, 2)]),
        [(0, u128::MAX - 1, 1), (u128::MAX, u128::MAX, 2)]
    );
    assert_eq!(flatten(&[(5, 9, 1), (5, 9, 2)]), [(5, 9, 2)], "the later of two equal prefixes");
    assert!(flatten::<u8>(&[]).is_empty());
}

#[test]
fn openings_come_from_allow_and_live_grants_only() {
    let config = GateConfig {
        allow: vec![service(Proto::Udp, "53", &["192.0.2.53/32"]), service(Proto::Icmp, "", &[])],
        ..GateConfig::default()
    };
    let grants = vec![
        grant(7, Opens::Service(service(Proto::Tcp, "8443,8080", &[])), Some(5_000)),
        grant(7, Opens::Category("vpn".into()), None),
        grant(8, Opens::Service(service(Proto::Udp, "1194", &[])), Some(1_000)),
        grant(9, Opens::Category("news".into()), None),
    ];
    let s = snapshot(&["198.51.100.0/24"], &[], 1).with_grants(grants);
    let t = Tables::from_snapshot(&s, &config, 2_000);
    let of = |org: u32| t.openings.iter().filter(|(o, _)| o.organisation == org).collect::<Vec<_>>();
    let everyone = of(EVERYONE);
    assert_eq!(everyone.len(), 3, "DNS to one resolver, ICMP and ICMPv6 anywhere: {everyone:?}");
    assert_eq!(everyone[1].0.destination(), Some(net("192.0.2.53/32")));
    assert_eq!((everyone[1].0.proto, everyone[1].0.port, everyone[1].1), (17, 53, NEVER));
    let seven = of(7);
    let tcp: Vec<(u16, i64)> = seven.iter().filter(|(o, _)| o.proto == 6).map(|(o, u)| (o.port, *u)).collect();
    assert_eq!(tcp, [(1194, NEVER), (8080, 5_000), (8443, 5_000)], "the duty grant and the vpn category's TCP");
    assert_eq!(seven.iter().filter(|(o, _)| o.proto == 17).count(), 4, "the vpn category's UDP ports");
    assert!(of(8).is_empty(), "an expired grant opens nothing");
    assert!(of(9).is_empty(), "a category the gateway does not name opens nothing");
    assert_eq!(next_expiry(&s, 2_000), Some(5_000));
    assert_eq!(next_expiry(&s, 5_000), None);
}

#[test]
fn a_nested_destination_lasts_as_long_as_what_covers_it() {
    let config = GateConfig::default();
    let grants = vec![
        grant(7, Opens::Service(service(Proto::Udp, "1194", &[])), Some(9_000)),
        grant(7, Opens::Service(service(Proto::Udp, "1194", &["203.0.113.0/24"])), Some(3_000)),
        grant(7, Opens::Service(service(Proto::Udp, "1194", &["203.0.113.0/24"])), Some(4_000)),
        grant(7, Opens::Service(service(Proto::Udp, "1195", &["203.0.113.0/24"])), Some(3_000)),
    ];
    let s = snapshot(&["198.51.100.0/24"], &[], 1).with_grants(grants);
    let t = Tables::from_snapshot(&s, &config, 0);
    let found: Vec<(u16, Option<Net>, i64)> = t.openings.iter().map(|(o, u)| (o.port, o.destination(), *u)).collect();
    assert_eq!(
        found,
        [(1194, None, 9_000), (1194, Some(net("203.0.113.0/24")), 9_000), (1195, Some(net("203.0.113.0/24")), 3_000)]
    );
}

#[test]
fn interfaces_are_bound_to_the_operator_of_their_link() {
    let config: GateConfig =
        toml::from_str("interfaces = [{ name = \"eth1\", link = \"alpha-1\" }, { name = \"eth2\", link = \"lab\" }]")
            .expect("config");
    let s = snapshot(&["198.51.100.0/24"], &[], 1).with_links(HashMap::from([("alpha-1".to_owned(), 1)]));
    assert_eq!(Tables::from_snapshot(&s, &config, 0).bound, [Some(1), None]);
}

#[test]
fn diffs_set_changed_values_and_remove_missing_keys() {
    let old = [(1u32, 'a'), (2, 'b'), (5, 'c')];
    let new = [(0u32, 'z'), (2, 'B'), (5, 'c')];
    let d = MapDiff::between(&old, &new);
    assert_eq!(d.set, [(0, 'z'), (2, 'B')]);
    assert_eq!(d.remove, [1]);
    let d = SetDiff::between(&[(1u32, 24), (2, 24), (9, 8)], &[(0u32, 8), (2, 24), (10, 8)]);
    assert_eq!((d.add, d.remove), (vec![(0, 8), (10, 8)], vec![(1, 24), (9, 8)]));
}

#[test]
fn applying_a_diff_gives_the_new_lists() {
    // Property: old - remove + set == new, for many random pairs of keyed lists.
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
        v.sort_unstable_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        v
    };
    for _ in 0..200 {
        let (old, new) = (list(), list());
        let d = MapDiff::between(&old, &new);
        let mut applied: BTreeMap<u32, u8> = old.iter().copied().filter(|(k, _)| !d.remove.contains(k)).collect();
        applied.extend(d.set.iter().copied());
        assert_eq!(applied.into_iter().collect::<Vec<_>>(), new);
    }
}

#[test]
fn plan_is_whole_first_then_in_place_for_small_changes() {
    let a = tables(&snapshot(&["198.51.100.0/24"], &[], 1));
    let b = tables(&snapshot(&["198.51.100.0/24"], &["198.51.100.9/32"], 2));
    assert!(matches!(plan(None, &a), Plan::Whole));
    assert!(matches!(plan(Some(&a), &a), Plan::Nothing));
    match plan(Some(&a), &b) {
        Plan::InPlace(d) => {
            assert_eq!(d.blocked4.add, vec![(0xc633_6409, 32)]);
            assert_eq!((d.len(), d.generation), (1, 2));
        }
        other => panic!("expected an in-place change, got {other:?}"),
    }
    let rebound = Tables { bound: vec![Some(3)], ..a.clone() };
    assert!(matches!(plan(Some(&a), &rebound), Plan::Whole), "a link's operator changed");
}

#[test]
fn plan_is_whole_for_large_changes() {
    let owner = Owner::default();
    let mut big = Tables {
        known4: (0..(INCREMENTAL_LIMIT as u32 + 1)).map(|i| ((i << 8, 24), owner)).collect(),
        ..Tables::default()
    };
    assert!(matches!(plan(Some(&Tables::default()), &big), Plan::Whole));
    big.known4.pop();
    assert!(matches!(plan(Some(&Tables::default()), &big), Plan::InPlace(_)));
}
