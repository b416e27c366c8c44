//! The store on its real backends (SQLite file, or PostgreSQL when the test run gives
//! one): imports are atomic and serialised, the snapshot follows the store.

use std::net::IpAddr;

use catalog::format::{Format, read};
use catalog::{ImportError, ImportOutcome};
use policies::Bin;
use snapshot::{Class, Observation, SnapshotHandle};
use store::testing::fresh_database;
use store::{NewOperator, Store};

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(&fresh_database(dir.path()).await).await.expect("store opens")
}

fn bin(first11: &str) -> Bin {
    Bin::with_check_digit(first11).unwrap()
}

async fn setup(store: &Store) -> (Bin, Bin) {
    let (a, b) = (bin("98014000001"), bin("98014000002"));
    for name in ["alpha", "beta"] {
        store.add_operator("test", NewOperator { name: name.into(), ..Default::default() }).await.unwrap();
    }
    store.add_organisation("test", &a, "A", &["alpha".into()]).await.unwrap();
    store.add_organisation("test", &b, "B", &["beta".into()]).await.unwrap();
    (a, b)
}

async fn import(store: &Store, op: &str, csv: &str) -> Result<ImportOutcome, ImportError> {
    let (rows, problems) = read(Format::Csv, csv.as_bytes());
    let request =
        catalog::ImportRequest { actor: "test", operator: op, dry_run: false, disclosure: catalog::Disclosure::Full };
    catalog::import(store, &request, rows, problems, &|_, _| {}).await
}

#[tokio::test]
async fn concurrent_overlapping_imports_cannot_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (a, b) = setup(&store).await;
    for round in 0..5 {
        let net = format!("198.51.{round}.0/24");
        let (list_a, list_b) = (format!("{net},{a}\n"), format!("{net},{b}\n"));
        let (one, two) = tokio::join!(import(&store, "alpha", &list_a), import(&store, "beta", &list_b));
        let landed = [&one, &two].iter().filter(|r| r.is_ok()).count();
        assert_eq!(landed, 1, "round {round}: exactly one import of {net} lands: {one:?} / {two:?}");
        let refused = if one.is_err() { one } else { two };
        match refused {
            Err(ImportError::Rejected(p)) => assert!(p.shown[0].message.contains("which operator"), "{p:?}"),
            other => panic!("expected a refusal naming the other operator, got {other:?}"),
        }
        // Clear both lists for the next round.
        import(&store, "alpha", "").await.unwrap();
        import(&store, "beta", "").await.unwrap();
    }
}

#[tokio::test]
async fn the_snapshot_follows_the_store_and_keeps_the_old_one_until_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (a, _) = setup(&store).await;
    let handle = SnapshotHandle::new(catalog::publish::load(&store).await.unwrap());
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let before = handle.current();
    assert_eq!(before.classify(ip), Class::Unknown);
    import(&store, "alpha", &format!("203.0.113.0/24,{a}\n203.0.113.0/28,{a}\n")).await.unwrap();
    assert!(catalog::publish::refresh(&handle, &store).await.unwrap().is_some(), "a new generation is swapped in");
    assert_eq!(before.classify(ip), Class::Unknown, "a reader holding the old snapshot keeps its view");
    match handle.current().classify(ip) {
        Class::Known { prefix, operator, organisation } => {
            assert_eq!(prefix.to_string(), "203.0.113.0/28");
            assert_eq!(operator, "alpha");
            assert_eq!(organisation.bin, a.to_string());
        }
        other => panic!("expected known, got {other:?}"),
    }
    assert_eq!(catalog::publish::refresh(&handle, &store).await.unwrap(), None, "no change, no rebuild");
}

#[tokio::test]
async fn a_large_list_imports_and_replaces_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (a, _) = setup(&store).await;
    let mut csv = String::new();
    for i in 0..20_000u32 {
        csv.push_str(&format!("{}.{}.{}.0/24,{a}\n", 11 + i / 65536, (i / 256) % 256, i % 256));
    }
    let out = import(&store, "alpha", &csv).await.unwrap();
    assert_eq!(out.diff.counts.added, 20_000);
    assert_eq!(out.diff.added.len(), 10_000, "the answer lists at most 10,000 prefixes of a kind");
    assert_eq!(store.list("alpha").await.unwrap().len(), 20_000);
    csv.push_str("not-a-prefix,x\n");
    assert!(matches!(import(&store, "alpha", &csv).await, Err(ImportError::Rejected(p)) if p.total() == 2));
    let out = import(&store, "alpha", &format!("11.0.0.0/24,{a}\n")).await.unwrap();
    assert_eq!((out.diff.counts.removed, out.diff.unchanged), (19_999, 1));
    assert_eq!(store.list("alpha").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_in_process_sink_merges_and_never_blocks() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    store
        .add_operator("test", NewOperator { name: "gamma".into(), links: vec!["gamma-1".into()], ..Default::default() })
        .await
        .unwrap();
    let sink = catalog::ingest::spawn_sink(store.clone(), 10_000, std::time::Duration::from_millis(50), Vec::new());
    let t0 = 1_764_000_000_000i64;
    for i in 0..3000u32 {
        let ip: IpAddr = format!("198.51.100.{}", i % 100).parse().unwrap();
        sink.report(Observation {
            ip,
            link: "gamma-1".into(),
            first_seen: t0 + i64::from(i),
            last_seen: t0 + i64::from(i),
            count: 1,
        });
    }
    // The writer flushes in batches; wait (bounded) until every sighting is in the store.
    let mut unknown = Vec::new();
    for _ in 0..200 {
        unknown = store.unknown_addresses(Some("gamma")).await.unwrap();
        if unknown.iter().map(|u| u.seen).sum::<i64>() >= 3000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(sink.counters().written.load(Ordering::Relaxed) >= 100);
    assert_eq!(unknown.len(), 100, "one record per address");
    assert_eq!(unknown.iter().map(|u| u.seen).sum::<i64>(), 3000, "every sighting counted");
    assert_eq!(unknown[0].first_seen, t0);

    let tiny = catalog::ingest::spawn_sink(store.clone(), 1, std::time::Duration::from_secs(60), Vec::new());
    for _ in 0..1000 {
        tiny.report(Observation {
            ip: "198.51.100.1".parse().unwrap(),
            link: "gamma-1".into(),
            first_seen: t0,
            last_seen: t0,
            count: 1,
        });
    }
    let c = tiny.counters();
    assert_eq!(c.reported.load(Ordering::Relaxed), 1000);
    assert!(c.dropped.load(Ordering::Relaxed) > 0, "a full buffer drops and counts instead of waiting");
}

#[tokio::test]
async fn a_batch_is_classified_as_one_address_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (a, b) = setup(&store).await;
    let list = format!("203.0.113.0/24,{a}\n203.0.113.128/25,{a}\n2001:db8::/32,{a}\n10.20.0.0/16,{a}\n");
    import(&store, "alpha", &list).await.unwrap();
    import(&store, "beta", &format!("198.51.100.0/24,{b}\n198.51.100.77/32,{b}\n")).await.unwrap();
    store.block("test", "198.51.100.64/26".parse().unwrap(), "left unregistered").await.unwrap();
    store.block("test", "2001:db8:bad::/48".parse().unwrap(), "left unregistered").await.unwrap();
    let snapshot = catalog::publish::load(&store).await.unwrap();
    let ips: Vec<IpAddr> = [
        "203.0.113.7",
        "203.0.113.200",
        "::ffff:203.0.113.9",
        "192.0.2.1",
        "198.51.100.77",
        "198.51.100.5",
        "2001:db8::1",
        "2001:db8:bad::5",
        "2001:db9::1",
        "10.20.30.40",
        "10.21.0.1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let one_by_one: Vec<Class<'_>> = ips.iter().map(|ip| snapshot.classify(*ip)).collect();
    assert_eq!(snapshot.classify_many(&ips), one_by_one);
    let names = |c: &Class<'_>| match c {
        Class::Known { prefix, .. } => format!("known {prefix}"),
        Class::Blocked { prefix, .. } => format!("blocked {prefix}"),
        Class::Unknown => "unknown".into(),
    };
    let expected = [
        "known 203.0.113.0/24",
        "known 203.0.113.128/25",
        "known 203.0.113.0/24",
        "unknown",
        "blocked 198.51.100.64/26",
        "known 198.51.100.0/24",
        "known 2001:db8::/32",
        "blocked 2001:db8:bad::/48",
        "unknown",
        "known 10.20.0.0/16",
        "unknown",
    ];
    assert_eq!(one_by_one.iter().map(names).collect::<Vec<_>>(), expected);
    assert!(snapshot.classify_many(&[]).is_empty());
}

#[tokio::test]
async fn an_operator_keeps_a_bounded_number_of_unknown_addresses_and_those_it_has_stay_current() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    for (name, link) in [("gamma", "gamma-1"), ("delta", "delta-1")] {
        let op = NewOperator { name: name.into(), links: vec![link.into()], ..Default::default() };
        store.add_operator("test", op).await.unwrap();
    }
    let capped = store.clone().keeping_unknown(300);
    let t0 = 1_764_000_000_000i64;
    let seen = |ip: String, link: &str, at: i64| Observation {
        ip: ip.parse().unwrap(),
        link: link.into(),
        first_seen: at,
        last_seen: at,
        count: 1,
    };
    // Documentation addresses by number: 203.0.113.0/24, then 198.51.100.0/24.
    let addr = |i: u32| match i {
        0..256 => format!("203.0.113.{i}"),
        _ => format!("198.51.100.{}", i - 256),
    };
    // A spoofing link: 300 sources (seen twice each in one batch), with room for 300.
    let first: Vec<_> = (0..600).map(|i| seen(addr(i % 300), "gamma-1", t0)).collect();
    let report = capped.record_observations(first).await.unwrap();
    assert_eq!((report.accepted, report.over_limit), (600, 0), "under the limit a batch is kept whole");
    let more: Vec<_> = (300..400).map(|i| seen(addr(i), "gamma-1", t0 + 1)).collect();
    let report = capped.record_observations(more).await.unwrap();
    assert_eq!(report.over_limit, 100, "new addresses past the limit are not kept");
    // An address it already has is still counted; another operator is not limited by it.
    let again = vec![seen(addr(7), "gamma-1", t0 + 9), seen("192.0.2.1".into(), "delta-1", t0 + 9)];
    let report = capped.record_observations(again).await.unwrap();
    assert_eq!(report.over_limit, 0);
    let gamma = store.unknown_addresses(Some("gamma")).await.unwrap();
    assert_eq!(gamma.len(), 300);
    let seven = gamma.iter().find(|u| u.ip == addr(7)).unwrap();
    assert_eq!((seven.seen, seven.last_seen), (3, t0 + 9));
    assert_eq!(store.unknown_addresses(Some("delta")).await.unwrap().len(), 1);
}
