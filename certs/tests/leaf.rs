//! Forged leaves: chain verification, mirrored names, validity caps, unique
//! serials, separate and rotating leaf keys, refusals; plus a timing print.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Instant;

use certs::{CaConfig, ForgeError, Forger, KeyAlgorithm, LeafPolicy, RootCa};
use common::{TestCa, TestClock, parse, t0, verify_chain};
use time::Duration;

fn root(alg: KeyAlgorithm) -> RootCa {
    let cfg = CaConfig { key_algorithm: alg, ..CaConfig::default() };
    RootCa::generate(&cfg, t0()).expect("root")
}

fn forger(clock: &TestClock, policy: LeafPolicy) -> Forger {
    Forger::new(policy, clock.clock())
}

#[test]
fn leaf_chain_verifies_for_sni_and_mirrors_upstream_names() {
    let (root, ca, clock) = (root(KeyAlgorithm::EcdsaP256), TestCa::new(), TestClock::at(t0()));
    let upstream = ca.upstream(
        &["example.org", "*.example.org", "static.example.net"],
        &["192.0.2.10", "2001:db8::1"],
        t0() - Duration::days(10),
        t0() + Duration::days(60),
    );
    let leaf = forger(&clock, LeafPolicy::default()).forge(&root, "www.example.org", &upstream).expect("forge");
    assert_eq!(leaf.cert.len(), 2);
    assert_eq!(leaf.cert[1], *root.cert_der());
    verify_chain(&[&root], &leaf.cert, "www.example.org", t0()).expect("chain verifies");
    verify_chain(&[&root], &leaf.cert, "static.example.net", t0()).expect("other SAN verifies");

    let got = parse(&leaf.cert[0]);
    let want = parse(&upstream);
    assert_eq!(got.dns[0], "www.example.org", "SNI covered by the wildcard comes first");
    assert_eq!(got.dns[1..], want.dns[..]);
    assert_eq!(got.ips, want.ips);
    assert!(!got.is_ca);
}

#[test]
fn leaf_validity_never_exceeds_upstream() {
    let (root, ca, clock) = (root(KeyAlgorithm::EcdsaP256), TestCa::new(), TestClock::at(t0()));
    let forger = forger(&clock, LeafPolicy::default());
    let short = ca.upstream(&["a.example"], &[], t0() - Duration::minutes(10), t0() + Duration::days(3));
    let leaf = parse(&forger.forge(&root, "a.example", &short).expect("forge").cert[0]);
    let up = parse(&short);
    assert_eq!(leaf.not_after, up.not_after);
    assert_eq!(leaf.not_before, up.not_before, "never before the upstream's start");

    let long = ca.upstream(&["a.example"], &[], t0() - Duration::days(5), t0() + Duration::days(365));
    let leaf = parse(&forger.forge(&root, "a.example", &long).expect("forge").cert[0]);
    assert_eq!(leaf.not_after, t0() + Duration::days(30));
    assert_eq!(leaf.not_before, t0() - Duration::hours(1));
}

#[test]
fn serials_are_unique_over_many_forges() {
    let (root, ca, clock) = (root(KeyAlgorithm::EcdsaP256), TestCa::new(), TestClock::at(t0()));
    let forger = forger(&clock, LeafPolicy::default());
    let upstream = ca.upstream_now(&["many.example"], t0());
    let mut serials = HashSet::new();
    for _ in 0..300 {
        let leaf = parse(&forger.forge(&root, "many.example", &upstream).expect("forge").cert[0]);
        assert!(leaf.serial.len() <= 16 && leaf.serial[0] & 0x80 == 0, "positive, at most 128 bits");
        assert!(serials.insert(leaf.serial), "serial reused");
    }
}

#[test]
fn leaf_key_is_not_the_ca_key_and_rotates_after_its_period_or_uses() {
    let (root, ca, clock) = (root(KeyAlgorithm::EcdsaP256), TestCa::new(), TestClock::at(t0()));
    let policy = LeafPolicy { key_max_age: Duration::hours(1), key_max_uses: 3, ..LeafPolicy::default() };
    let forger = forger(&clock, policy);
    let upstream = ca.upstream(&["k.example"], &[], t0() - Duration::days(1), t0() + Duration::days(90));
    let spki = |f: &Forger| parse(&f.forge(&root, "k.example", &upstream).expect("forge").cert[0]).spki;
    let root_spki = parse(root.cert_der()).spki;

    let first = spki(&forger);
    assert_ne!(first, root_spki, "leaf key differs from CA key");
    assert_eq!(spki(&forger), first, "key reused within its period");
    clock.advance(Duration::minutes(61));
    let second = spki(&forger);
    assert_ne!(second, first, "key replaced after its period");
    assert_eq!(forger.key_generations(), 2);
    assert_eq!(spki(&forger), second);
    assert_eq!(spki(&forger), second);
    assert_ne!(spki(&forger), second, "key replaced after max uses");
    assert_eq!(forger.key_generations(), 3);
}

#[test]
fn refuses_uncovered_hosts_and_expired_upstreams() {
    let (root, ca, clock) = (root(KeyAlgorithm::EcdsaP256), TestCa::new(), TestClock::at(t0()));
    let forger = forger(&clock, LeafPolicy::default());
    let upstream = ca.upstream_now(&["*.example.org"], t0());
    let err = forger.forge(&root, "a.b.example.org", &upstream).expect_err("not covered");
    assert_eq!(err, ForgeError::NameNotCovered { host: "a.b.example.org".into() });
    let err = forger.forge(&root, "example.org", &upstream).expect_err("apex not covered");
    assert!(matches!(err, ForgeError::NameNotCovered { .. }));
    assert!(matches!(forger.forge(&root, "x y", &upstream), Err(ForgeError::InvalidHost { .. })));
    assert!(matches!(forger.forge(&root, "a.example.org", b"junk"), Err(ForgeError::UpstreamParse { .. })));

    let expired = ca.upstream(&["old.example"], &[], t0() - Duration::days(90), t0() - Duration::days(1));
    let err = forger.forge(&root, "old.example", &expired).expect_err("expired");
    assert!(matches!(err, ForgeError::UpstreamExpired { .. }));
}

#[test]
fn ip_host_and_rsa_root_work() {
    let (root, ca, clock) = (root(KeyAlgorithm::Rsa3072), TestCa::new(), TestClock::at(t0()));
    let forger = forger(&clock, LeafPolicy::default());
    let upstream = ca.upstream(&["ip.example"], &["198.51.100.7"], t0() - Duration::days(1), t0() + Duration::days(9));
    let leaf = forger.forge(&root, "198.51.100.7", &upstream).expect("forge");
    verify_chain(&[&root], &leaf.cert, "198.51.100.7", t0()).expect("verifies under RSA root");
    let ip: IpAddr = "198.51.100.7".parse().expect("ip");
    assert_eq!(parse(&leaf.cert[0]).ips, vec![ip]);
}

fn time_forges(alg: KeyAlgorithm) -> std::time::Duration {
    let (root, ca, clock) = (root(alg), TestCa::new(), TestClock::at(t0()));
    let forger = forger(&clock, LeafPolicy::default());
    let upstream = ca.upstream_now(&["time.example", "*.time.example"], t0());
    forger.forge(&root, "time.example", &upstream).expect("warm up");
    let n = 100;
    let start = Instant::now();
    for _ in 0..n {
        forger.forge(&root, "www.time.example", &upstream).expect("forge");
    }
    start.elapsed() / n
}

#[test]
fn timing_of_one_forge() {
    let ecdsa = time_forges(KeyAlgorithm::EcdsaP256);
    let rsa = time_forges(KeyAlgorithm::Rsa3072);
    println!(
        "one forge (parse upstream, sign P-256 leaf; key reused): ECDSA P-256 root {ecdsa:?}, RSA 3072 root {rsa:?}"
    );
}
