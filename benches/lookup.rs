//! Catalog lookups: our LPM tables against prefix-trie 0.10 and ip_network_table 0.2,
//! in the same run, on the same prefixes and addresses. 1,000,000 IPv4 prefixes with a
//! realistic length mix (mostly /20–/24) and 200,000 IPv6 prefixes (mostly /32–/48),
//! random lookup addresses. Also the build time of the 1M set and bytes per prefix.
//!
//! Run: `cargo bench --bench lookup` (see BENCHMARKS.md).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use snapshot::lpm::{LpmV4, LpmV6, Match};

#[path = "prefix_set.rs"]
mod prefix_set;
use prefix_set::{v4_set, v6_set};

const PROBES: usize = 1_000_000;
/// Addresses per batched lookup.
const BATCH: usize = 1024;

/// The sum of the values found for `probes`, looked up in batches as a packet gate would
/// hold them: a ring's worth, its answers consumed before the next.
fn batched<A>(probes: &[A], answers: &mut [Option<Match>], lookup_into: impl Fn(&[A], &mut [Option<Match>])) -> u32 {
    probes.chunks(BATCH).fold(0u32, |sum, chunk| {
        let out = &mut answers[..chunk.len()];
        lookup_into(chunk, out);
        out.iter().map(|m| m.map_or(0, |m| m.value)).fold(sum, u32::wrapping_add)
    })
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(prefix_set::SEED);
    let v4 = v4_set(&mut rng);
    let v6 = v6_set(&mut rng);
    let probes4: Vec<u32> = (0..PROBES).map(|_| rng.random()).collect();
    let probes6: Vec<u128> = (0..PROBES).map(|_| (0x2000u128 << 112) | (rng.random::<u128>() >> 3)).collect();

    let started = Instant::now();
    let ours4 = LpmV4::build(v4.clone()).expect("builds");
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let ours6 = LpmV6::build(v6.clone()).expect("builds");
    let mut trie4 = prefix_trie::PrefixMap::<ipnet::Ipv4Net, u32>::new();
    let mut table4 = ip_network_table::IpNetworkTable::<u32>::new();
    for (net, len, v) in &v4 {
        trie4.insert(ipnet::Ipv4Net::new(Ipv4Addr::from(*net), *len).expect("valid"), *v);
        table4.insert(ip_network::Ipv4Network::new(Ipv4Addr::from(*net), *len).expect("valid"), *v);
    }
    let mut trie6 = prefix_trie::PrefixMap::<ipnet::Ipv6Net, u32>::new();
    let mut table6 = ip_network_table::IpNetworkTable::<u32>::new();
    for (net, len, v) in &v6 {
        trie6.insert(ipnet::Ipv6Net::new(Ipv6Addr::from(*net), *len).expect("valid"), *v);
        table6.insert(ip_network::Ipv6Network::new(Ipv6Addr::from(*net), *len).expect("valid"), *v);
    }
    eprintln!(
        "perimeter lpm: IPv4 {} prefixes built in {build_ms:.0} ms, {:.2} bytes/prefix; IPv6 {} prefixes, {:.2} bytes/prefix",
        ours4.len(),
        ours4.heap_bytes() as f64 / ours4.len() as f64,
        ours6.len(),
        ours6.heap_bytes() as f64 / ours6.len() as f64
    );
    // The three must agree before they are timed.
    for a in probes4.iter().take(20_000) {
        let ours = ours4.lookup(*a).map(|m| m.len);
        let theirs =
            trie4.get_lpm(&ipnet::Ipv4Net::new(Ipv4Addr::from(*a), 32).expect("valid")).map(|(p, _)| p.prefix_len());
        assert_eq!(ours, theirs, "disagreement at {}", Ipv4Addr::from(*a));
    }
    for a in probes6.iter().take(20_000) {
        let ours = ours6.lookup(*a).map(|m| m.len);
        let theirs =
            trie6.get_lpm(&ipnet::Ipv6Net::new(Ipv6Addr::from(*a), 128).expect("valid")).map(|(p, _)| p.prefix_len());
        assert_eq!(ours, theirs, "disagreement at {}", Ipv6Addr::from(*a));
    }

    let mut g = c.benchmark_group("lookup_v4");
    g.throughput(Throughput::Elements(PROBES as u64)).sample_size(10);
    g.bench_function("perimeter", |b| {
        b.iter(|| probes4.iter().map(|a| ours4.lookup(*a).map_or(0, |m| m.value)).fold(0u32, u32::wrapping_add))
    });
    let mut answers = vec![None; BATCH];
    g.bench_function("perimeter_batch", |b| {
        b.iter(|| batched(&probes4, &mut answers, |chunk, out| ours4.lookup_into(chunk, out)))
    });
    g.bench_function("prefix_trie", |b| {
        b.iter(|| {
            probes4
                .iter()
                .map(|a| {
                    trie4.get_lpm(&ipnet::Ipv4Net::new(Ipv4Addr::from(*a), 32).expect("valid")).map_or(0, |(_, v)| *v)
                })
                .fold(0u32, u32::wrapping_add)
        })
    });
    g.bench_function("ip_network_table", |b| {
        b.iter(|| {
            probes4
                .iter()
                .map(|a| table4.longest_match_ipv4(Ipv4Addr::from(*a)).map_or(0, |(_, v)| *v))
                .fold(0u32, u32::wrapping_add)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lookup_v6");
    g.throughput(Throughput::Elements(PROBES as u64)).sample_size(10);
    g.bench_function("perimeter", |b| {
        b.iter(|| probes6.iter().map(|a| ours6.lookup(*a).map_or(0, |m| m.value)).fold(0u32, u32::wrapping_add))
    });
    g.bench_function("perimeter_batch", |b| {
        b.iter(|| batched(&probes6, &mut answers, |chunk, out| ours6.lookup_into(chunk, out)))
    });
    g.bench_function("prefix_trie", |b| {
        b.iter(|| {
            probes6
                .iter()
                .map(|a| {
                    trie6.get_lpm(&ipnet::Ipv6Net::new(Ipv6Addr::from(*a), 128).expect("valid")).map_or(0, |(_, v)| *v)
                })
                .fold(0u32, u32::wrapping_add)
        })
    });
    g.bench_function("ip_network_table", |b| {
        b.iter(|| {
            probes6
                .iter()
                .map(|a| table6.longest_match_ipv6(Ipv6Addr::from(*a)).map_or(0, |(_, v)| *v))
                .fold(0u32, u32::wrapping_add)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build_v4_1m");
    g.sample_size(10);
    g.bench_function("perimeter", |b| b.iter(|| black_box(LpmV4::build(v4.clone()).expect("builds").len())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
