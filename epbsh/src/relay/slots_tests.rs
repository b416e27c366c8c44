//! The slots' rules on counts alone (the listener's tests run them over TCP).

use std::time::Duration;

use super::*;

fn outside(s: &str) -> Source {
    Source::Outside(Network::of(s.parse().unwrap()))
}

/// 12 slots, 4 kept for systems, 2 per system, 3 per network.
fn slots() -> Arc<Slots> {
    Slots::new(SlotLimits { max_sessions: 12, outside: 8, per_system: 2, per_network: 3, rate_per_network: 1000 })
}

#[test]
fn networks_are_a_v4_24_and_a_v6_64_mapped_addresses_included() {
    let n = |s: &str| Network::of(s.parse().unwrap()).to_string();
    assert_eq!(n("192.0.2.77"), "192.0.2.0/24");
    assert_eq!(n("::ffff:192.0.2.77"), "192.0.2.0/24", "IPv4-mapped is its IPv4 network");
    assert_eq!(n("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert_eq!(Network::of("::ffff:198.51.100.9".parse().unwrap()), Network::of("198.51.100.200".parse().unwrap()));
}

#[test]
fn one_network_takes_its_share_whatever_its_addresses() {
    let s = slots();
    let now = Instant::now();
    let held: Vec<_> = ["192.0.2.1", "192.0.2.2", "::ffff:192.0.2.3"].map(|a| s.take(outside(a), now).expect(a)).into();
    for a in ["192.0.2.4", "::ffff:192.0.2.250", "192.0.2.1"] {
        assert_eq!(s.take(outside(a), now).unwrap_err(), Refusal::NetworkBusy, "{a}");
    }
    assert!(s.take(outside("192.0.3.1"), now).is_ok(), "the next /24 is another network");
    drop(held);
    assert!(s.take(outside("192.0.2.9"), now).is_ok(), "places given back");
}

#[test]
fn outside_sources_never_take_the_slots_kept_for_systems() {
    let v4 = ["192.0.2.", "198.51.100.", "203.0.113."];
    let v6 = ["2001:db8:0:1::", "2001:db8:0:2::", "2001:db8:0:3::"];
    for networks in [v4, v6] {
        let s = slots();
        let now = Instant::now();
        let mut held = Vec::new();
        // Three networks take 3 + 3 + 2: the outside share (8) is full.
        for (i, net) in networks.iter().flat_map(|n| [n; 3]).enumerate() {
            let addr = format!("{net}{}", i + 1);
            match s.take(outside(&addr), now) {
                Ok(slot) => held.push(slot),
                Err(r) => assert_eq!((i, r), (8, Refusal::Full), "{addr}"),
            }
        }
        assert_eq!(held.len(), 8);
        assert_eq!(s.take(outside("2001:db8:ffff::1"), now).unwrap_err(), Refusal::Full, "a fresh network too");
        let a = [s.take(Source::System(SystemId(1)), now), s.take(Source::System(SystemId(1)), now)];
        assert!(a.iter().all(Result::is_ok), "a system gets the slots kept for it");
        assert_eq!(s.take(Source::System(SystemId(1)), now).unwrap_err(), Refusal::SystemBusy);
        let b = [s.take(Source::System(SystemId(2)), now), s.take(Source::System(SystemId(2)), now)];
        assert!(b.iter().all(Result::is_ok), "one busy system leaves the others theirs");
        assert_eq!(s.take(Source::System(SystemId(3)), now).unwrap_err(), Refusal::Full, "all 12 open");
    }
}

#[test]
fn systems_may_use_free_outside_slots_within_their_own_bound() {
    let s = slots();
    let now = Instant::now();
    let held: Vec<_> = (1..=6).flat_map(|id| [0, 1].map(|_| s.take(Source::System(SystemId(id)), now))).collect();
    assert!(held.iter().all(Result::is_ok), "12 sessions of 6 systems");
    assert_eq!(s.take(outside("192.0.2.1"), now).unwrap_err(), Refusal::Full);
}

#[test]
fn a_network_that_connects_too_fast_waits() {
    let s = Slots::new(SlotLimits { max_sessions: 10, outside: 5, per_system: 2, per_network: 3, rate_per_network: 2 });
    let now = Instant::now();
    for _ in 0..2 {
        drop(s.take(outside("192.0.2.1"), now).expect("within the rate"));
    }
    assert_eq!(s.take(outside("192.0.2.2"), now).unwrap_err(), Refusal::NetworkTooFast);
    assert!(s.take(outside("198.51.100.1"), now).is_ok(), "another network");
    assert!(s.take(Source::System(SystemId(1)), now).is_ok(), "systems have no rate");
    assert!(s.take(outside("192.0.2.3"), now + Duration::from_secs(30)).is_ok(), "half a minute later");
}

#[test]
fn too_many_networks_at_once_fail_closed() {
    let limits = SlotLimits { max_sessions: 10, outside: 5, per_system: 2, per_network: 3, rate_per_network: 60 };
    let s = Slots::with_networks(limits, 2);
    let now = Instant::now();
    drop(s.take(outside("2001:db8:0:1::1"), now).expect("first"));
    drop(s.take(outside("2001:db8:0:2::1"), now).expect("second"));
    assert_eq!(s.take(outside("2001:db8:0:3::1"), now).unwrap_err(), Refusal::TooManyNetworks);
    assert!(s.take(Source::System(SystemId(1)), now).is_ok(), "systems are not counted by network");
    assert!(s.take(outside("2001:db8:0:3::1"), now + Duration::from_secs(2)).is_ok(), "once quiet again");
}
