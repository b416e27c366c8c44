//! The async forge service: cache hits, eviction, single flight, root
//! switch after rotation, and error fan-out.

mod common;

use std::sync::Arc;

use certs::{CaConfig, ForgeConfig, ForgeError, ForgeStats, LeafForge, RootCa};
use common::{TestCa, TestClock, t0, verify_chain};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

fn service(capacity: usize, clock: &TestClock) -> (Arc<RootCa>, LeafForge) {
    service_with(capacity, 1, clock)
}

fn service_with(capacity: usize, threads: usize, clock: &TestClock) -> (Arc<RootCa>, LeafForge) {
    let root = Arc::new(RootCa::generate(&CaConfig::default(), t0()).expect("root"));
    let cfg = ForgeConfig { cache_capacity: capacity, threads, clock: clock.clock(), ..ForgeConfig::default() };
    let forge = LeafForge::new(Arc::clone(&root), cfg).expect("start forge");
    (root, forge)
}

#[tokio::test]
async fn second_call_is_a_cache_hit_without_forging() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (root, forge) = service(16, &clock);
    let upstream = ca.upstream_now(&["hit.example"], t0());
    let first = forge.certified_key("hit.example", &upstream).await.expect("first");
    let second = forge.certified_key("HIT.example.", &upstream).await.expect("second");
    assert!(Arc::ptr_eq(&first, &second));
    let stats = forge.stats();
    assert_eq!((stats.hits, stats.misses, stats.forged, stats.cached), (1, 1, 1, 1));
    verify_chain(&[&root], &first.cert, "hit.example", t0()).expect("verifies");

    let changed = ca.upstream_now(&["hit.example"], t0());
    let third = forge.certified_key("hit.example", &changed).await.expect("changed origin");
    assert!(!Arc::ptr_eq(&first, &third), "a new origin cert gets a new leaf");
    assert_eq!(forge.stats().forged, 2);
}

#[tokio::test]
async fn capacity_bound_evicts() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (_root, forge) = service(2, &clock);
    let upstream = ca.upstream_now(&["*.evict.example"], t0());
    for host in ["a.evict.example", "b.evict.example", "c.evict.example", "d.evict.example"] {
        forge.certified_key(host, &upstream).await.expect("forge");
    }
    let stats = forge.stats();
    assert_eq!((stats.forged, stats.evictions, stats.cached), (4, 2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_forge() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (_root, forge) = service_with(16, 2, &clock);
    let (forge, upstream) = (Arc::new(forge), Arc::new(ca.upstream_now(&["flight.example"], t0())));
    let callers = 32;
    let barrier = Arc::new(Barrier::new(callers));
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        let (forge, upstream, barrier) = (Arc::clone(&forge), Arc::clone(&upstream), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            forge.certified_key("flight.example", &upstream).await
        });
    }
    let leaves: Vec<_> = tasks.join_all().await.into_iter().map(|r| r.expect("leaf")).collect();
    assert!(leaves.iter().all(|l| Arc::ptr_eq(l, &leaves[0])));
    let ForgeStats { hits, misses, coalesced, forged, .. } = forge.stats();
    assert_eq!((forged, misses), (1, 1));
    assert_eq!(hits + coalesced, callers as u64 - 1);
}

#[tokio::test]
async fn failures_reach_every_caller_and_are_not_cached() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (_root, forge) = service(16, &clock);
    let upstream = ca.upstream_now(&["only.example"], t0());
    let (a, b) =
        tokio::join!(forge.certified_key("other.example", &upstream), forge.certified_key("other.example", &upstream));
    let want = ForgeError::NameNotCovered { host: "other.example".into() };
    assert_eq!((a.expect_err("a"), b.expect_err("b")), (want.clone(), want));
    assert!(forge.certified_key("other.example", &upstream).await.is_err());
    let stats = forge.stats();
    assert_eq!((stats.forged, stats.cached), (0, 0));
    assert!(stats.failures >= 2);
    let invalid = forge.certified_key("not a host", &upstream).await;
    assert!(matches!(invalid, Err(ForgeError::InvalidHost { .. })));
}

#[tokio::test]
async fn switching_root_signs_new_leaves_with_the_new_root() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (old_root, forge) = service(16, &clock);
    let upstream = ca.upstream_now(&["switch.example"], t0());
    let before = forge.certified_key("switch.example", &upstream).await.expect("before");
    let new_root = Arc::new(RootCa::generate(&CaConfig::default(), t0()).expect("new root"));
    forge.set_root(Arc::clone(&new_root));
    assert_eq!(forge.root_fingerprint(), new_root.fingerprint());
    let after = forge.certified_key("switch.example", &upstream).await.expect("after");
    verify_chain(&[&new_root], &after.cert, "switch.example", t0()).expect("new root");
    assert!(verify_chain(&[&new_root], &before.cert, "switch.example", t0()).is_err());
    verify_chain(&[&new_root, &old_root], &before.cert, "switch.example", t0()).expect("bundle");
}

#[tokio::test]
async fn expired_cache_entries_are_forged_again() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (_root, forge) = service(16, &clock);
    let upstream = ca.upstream_now(&["stale.example"], t0());
    forge.certified_key("stale.example", &upstream).await.expect("first");
    clock.advance(time::Duration::days(30));
    forge.certified_key("stale.example", &upstream).await.expect("second");
    assert_eq!(forge.stats().forged, 2);
}

#[tokio::test]
async fn timing_of_a_cache_hit() {
    let (clock, ca) = (TestClock::at(t0()), TestCa::new());
    let (_root, forge) = service(16, &clock);
    let upstream = ca.upstream_now(&["fast.example"], t0());
    let start = std::time::Instant::now();
    forge.certified_key("fast.example", &upstream).await.expect("miss");
    let miss = start.elapsed();
    let n = 1000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        forge.certified_key("fast.example", &upstream).await.expect("hit");
    }
    let hit = start.elapsed() / n;
    assert_eq!(forge.stats().forged, 1);
    println!("first call (forge on signing thread + hop): {miss:?}; cache hit: {hit:?}");
}

#[tokio::test]
async fn a_page_leaf_names_the_host_alone_for_an_hour_and_is_cached() {
    let clock = TestClock::at(t0());
    let (root, forge) = service(16, &clock);
    let first = forge.page_key("Casino.example.").await.expect("page leaf");
    verify_chain(&[&root], &first.cert, "casino.example", t0()).expect("verifies for the host");
    assert!(verify_chain(&[&root], &first.cert, "other.example", t0()).is_err(), "no other name");
    let later = t0() + time::Duration::minutes(59);
    verify_chain(&[&root], &first.cert, "casino.example", later).expect("valid within the hour");
    assert!(verify_chain(&[&root], &first.cert, "casino.example", t0() + time::Duration::minutes(61)).is_err());
    let second = forge.page_key("casino.example").await.expect("again");
    assert!(Arc::ptr_eq(&first, &second), "cached");
    let ip = forge.page_key("203.0.113.7").await.expect("an address");
    verify_chain(&[&root], &ip.cert, "203.0.113.7", t0()).expect("verifies for the address");
    assert!(matches!(forge.page_key("*.example").await, Err(ForgeError::InvalidHost { .. })));
}
