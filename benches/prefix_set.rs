//! The catalog benchmarks' prefix set: 1,000,000 IPv4 prefixes with a realistic length
//! mix (mostly /20-/24) and 200,000 IPv6 prefixes (mostly /32-/48), drawn from one
//! seeded generator so the lookup and packet gate benchmarks measure the same catalog.

use rand::Rng;
use rand::rngs::StdRng;

/// The generator's seed.
pub const SEED: u64 = 20261123;
const V4_PREFIXES: usize = 1_000_000;
const V6_PREFIXES: usize = 200_000;

fn v4_len(rng: &mut StdRng) -> u8 {
    match rng.random_range(0..100) {
        0..55 => 24,
        55..75 => rng.random_range(22..=23),
        75..87 => rng.random_range(20..=21),
        87..95 => rng.random_range(16..=19),
        95..97 => rng.random_range(8..=15),
        _ => rng.random_range(25..=32),
    }
}

fn v6_len(rng: &mut StdRng) -> u8 {
    match rng.random_range(0..100) {
        0..30 => 32,
        30..75 => 48,
        75..85 => rng.random_range(33..=47),
        85..93 => 56,
        93..99 => 64,
        _ => 128,
    }
}

pub fn v4_set(rng: &mut StdRng) -> Vec<(u32, u8, u32)> {
    let mut seen = std::collections::HashSet::with_capacity(V4_PREFIXES);
    let mut out = Vec::with_capacity(V4_PREFIXES);
    while out.len() < V4_PREFIXES {
        let len = v4_len(rng);
        let net = rng.random::<u32>() & (u32::MAX << (32 - len));
        if seen.insert((net, len)) {
            out.push((net, len, (out.len() % 50_000) as u32));
        }
    }
    out
}

pub fn v6_set(rng: &mut StdRng) -> Vec<(u128, u8, u32)> {
    let mut seen = std::collections::HashSet::with_capacity(V6_PREFIXES);
    let mut out = Vec::with_capacity(V6_PREFIXES);
    while out.len() < V6_PREFIXES {
        let len = v6_len(rng);
        let addr = (0x2000u128 << 112) | (rng.random::<u128>() >> 3);
        let net = addr & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        if seen.insert((net, len)) {
            out.push((net, len, (out.len() % 50_000) as u32));
        }
    }
    out
}
