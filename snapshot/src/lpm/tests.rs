//! The LPM tables against a naive reference on random, heavily nested sets.

use super::*;

/// A small deterministic generator (xorshift), so the tests need no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn naive(prefixes: &[(u128, u8, u32)], bits: u8, addr: u128) -> Option<Match> {
    prefixes
        .iter()
        .filter(|(net, len, _)| *len == 0 || (addr >> (bits - len)) == (net >> (bits - len)))
        .max_by_key(|(_, len, _)| *len)
        .map(|(_, len, value)| Match { value: *value, len: *len })
}

fn random_v4(rng: &mut Rng, n: usize) -> Vec<(u32, u8, u32)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let len = [0, 8, 12, 16, 20, 22, 24, 24, 25, 28, 30, 32][(rng.next() % 12) as usize];
        // Concentrate in a few /8s so prefixes nest.
        let addr = ((rng.next() % 3) as u32 + 10) << 24 | (rng.next() as u32 & 0x00ff_ffff);
        let net = if len == 0 { 0 } else { addr & (u32::MAX << (32 - len)) };
        if seen.insert((net, len)) {
            out.push((net, len, out.len() as u32));
        }
    }
    out
}

#[test]
fn v4_matches_the_reference_on_nested_random_sets() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20 {
        let prefixes = random_v4(&mut rng, 1 + round * 40);
        let table = LpmV4::build(prefixes.clone()).unwrap();
        let wide: Vec<_> = prefixes.iter().map(|(n, l, v)| (u128::from(*n), *l, *v)).collect();
        let mut probes: Vec<u32> = vec![0, u32::MAX, 0x0a00_0000, 0x0cff_ffff];
        for (net, len, _) in &prefixes {
            let last = net | (u32::MAX.checked_shr(u32::from(*len)).unwrap_or(0));
            probes.extend([*net, last, last.wrapping_add(1), net.wrapping_sub(1)]);
        }
        probes.extend((0..500).map(|_| ((rng.next() % 4) as u32 + 10) << 24 | (rng.next() as u32 & 0x00ff_ffff)));
        let mut many = vec![None; probes.len()];
        table.lookup_into(&probes, &mut many);
        for (addr, got) in probes.iter().zip(many) {
            assert_eq!(table.lookup(*addr), naive(&wide, 32, u128::from(*addr)), "round {round}, {addr:#x}");
            assert_eq!(got, table.lookup(*addr), "batched lookup agrees, {addr:#x}");
        }
    }
}

#[test]
fn v4_wide_values_and_deep_nodes_at_every_edge() {
    // Values beyond 3-byte answers, prefixes longer than /24 at the first and last
    // address of /24s, /18 quarters and /16s, nested under shorter ones.
    let mut prefixes = vec![(0x0a00_0000u32, 8u8, MAX_VALUE), (0x0a0a_0000, 16, 300_000)];
    for (i, net) in [0x0a0a_0000u32, 0x0a0a_3fff, 0x0a0a_4000, 0x0a0a_ff80, 0x0a0b_0000, 0x0a0a_1280].iter().enumerate()
    {
        for len in [25u8, 30, 32] {
            let n = net & (u32::MAX << (32 - len));
            if !prefixes.iter().any(|p| p.0 == n && p.1 == len) {
                prefixes.push((n, len, 1_000_000 + i as u32 * 100 + u32::from(len)));
            }
        }
    }
    let table = LpmV4::build(prefixes.clone()).unwrap();
    let wide: Vec<_> = prefixes.iter().map(|(n, l, v)| (u128::from(*n), *l, *v)).collect();
    let probes: Vec<u32> = (0x09ff_ff00u32..0x0a0c_0100).step_by(3).chain(0x0a0a_1200..0x0a0a_1300).collect();
    let mut many = vec![None; probes.len()];
    table.lookup_into(&probes, &mut many);
    for (addr, got) in probes.iter().zip(many) {
        assert_eq!(table.lookup(*addr), naive(&wide, 32, u128::from(*addr)), "{addr:#x}");
        assert_eq!(got, table.lookup(*addr), "batched lookup agrees, {addr:#x}");
    }
    let mut none = [];
    table.lookup_into(&[], &mut none);
}

#[test]
fn v4_dense_buckets_answer_correctly() {
    let prefixes: Vec<(u32, u8, u32)> =
        (0..4096u32).map(|i| (0x0a0a_0000 | i << 4, 28, i)).chain([(0x0a0a_0000, 16, 9999)]).collect();
    let table = LpmV4::build(prefixes.clone()).unwrap();
    let wide: Vec<_> = prefixes.iter().map(|(n, l, v)| (u128::from(*n), *l, *v)).collect();
    for addr in (0x0a09_fff0u32..0x0a0b_0010).step_by(7) {
        assert_eq!(table.lookup(addr), naive(&wide, 32, u128::from(addr)), "{addr:#x}");
    }
}

#[test]
fn v6_matches_the_reference() {
    let mut rng = Rng(42);
    let mut prefixes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while prefixes.len() < 600 {
        let len = [0u8, 16, 32, 48, 56, 64, 127, 128][(rng.next() % 8) as usize];
        let addr = (0x2001_0db8u128 << 96) | (u128::from(rng.next() % 4) << 88) | u128::from(rng.next());
        let net = if len == 0 { 0 } else { addr & (u128::MAX << (128 - len)) };
        if seen.insert((net, len)) {
            prefixes.push((net, len, prefixes.len() as u32));
        }
    }
    let table = LpmV6::build(prefixes.clone()).unwrap();
    for (net, len, _) in prefixes.clone() {
        let last = net | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        for addr in [net, last, last.wrapping_add(1), net.wrapping_sub(1)] {
            assert_eq!(table.lookup(addr), naive(&prefixes, 128, addr), "{addr:#x}");
        }
    }
    assert_eq!(table.lookup(u128::MAX), naive(&prefixes, 128, u128::MAX));
}

#[test]
fn v6_second_levels_match_the_reference() {
    // Prefixes over a few top-16 buckets, dense enough that each gets a second level,
    // plus nested ones and host routes; probes at random and at every edge.
    let mut rng = Rng(11);
    let mut prefixes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let random = |rng: &mut Rng| {
        let top = [0x2001u128, 0x2a00, 0x2a01, 0x3fff][(rng.next() % 4) as usize];
        top << 112 | u128::from(rng.next()) << 48 | u128::from(rng.next()) >> 16
    };
    while prefixes.len() < 4000 {
        let len = [16u8, 20, 29, 32, 36, 48, 56, 64, 128][(rng.next() % 9) as usize];
        let net = random(&mut rng) & (u128::MAX << (128 - len));
        if seen.insert((net, len)) {
            prefixes.push((net, len, prefixes.len() as u32));
        }
    }
    let table = LpmV6::build(prefixes.clone()).unwrap();
    assert!(!table.sub.is_empty(), "dense buckets get a second level");
    let mut probes: Vec<u128> = (0..4000).map(|_| random(&mut rng)).collect();
    for (net, len, _) in &prefixes {
        let last = net | u128::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
        probes.extend([*net, last, last.wrapping_add(1), net.wrapping_sub(1)]);
    }
    let mut many = vec![None; probes.len()];
    table.lookup_into(&probes, &mut many);
    for (addr, got) in probes.iter().zip(many) {
        assert_eq!(got, naive(&prefixes, 128, *addr), "{addr:#x}");
        assert_eq!(table.lookup(*addr), got, "single lookup agrees, {addr:#x}");
    }
}

#[test]
fn edges_empty_full_and_errors() {
    let empty = LpmV4::build(vec![]).unwrap();
    assert_eq!(empty.lookup(0), None);
    assert_eq!(empty.lookup(u32::MAX), None);
    let all = LpmV4::build(vec![(0, 0, 7), (u32::MAX, 32, 8)]).unwrap();
    assert_eq!(all.lookup(12345), Some(Match { value: 7, len: 0 }));
    assert_eq!(all.lookup(u32::MAX), Some(Match { value: 8, len: 32 }));
    assert_eq!(
        LpmV4::build(vec![(0x0a00_0000, 8, 1), (0x0a00_0000, 8, 2)]).err(),
        Some(BuildError::Duplicate { network: 0x0a00_0000, len: 8 })
    );
    assert_eq!(LpmV4::build(vec![(0, 33, 1)]).err(), Some(BuildError::Length(33)));
    assert_eq!(LpmV4::build(vec![(0, 8, MAX_VALUE + 1)]).err(), Some(BuildError::Value(MAX_VALUE + 1)));
    let v6 = LpmV6::build(vec![(u128::MAX, 128, 1)]).unwrap();
    assert_eq!(v6.lookup(u128::MAX), Some(Match { value: 1, len: 128 }));
    assert_eq!(v6.lookup(u128::MAX - 1), None);
}

#[test]
fn v4_sparse_prefixes_over_the_whole_space() {
    // Few prefixes far apart: long stretches of quarters share one answer.
    let mut rng = Rng(7);
    let mut prefixes: Vec<(u32, u8, u32)> = Vec::new();
    while prefixes.len() < 3000 {
        let len = [9u8, 14, 17, 18, 19, 23, 24, 26, 32][(rng.next() % 9) as usize];
        let net = rng.next() as u32 & (u32::MAX << (32 - len));
        if !prefixes.iter().any(|p| p.0 == net && p.1 == len) {
            prefixes.push((net, len, prefixes.len() as u32 * 997 % 5000));
        }
    }
    let table = LpmV4::build(prefixes.clone()).unwrap();
    let wide: Vec<_> = prefixes.iter().map(|(n, l, v)| (u128::from(*n), *l, *v)).collect();
    let mut probes: Vec<u32> = (0..3000).map(|_| rng.next() as u32).collect();
    for (net, len, _) in prefixes.iter().take(500) {
        let last = net | u32::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
        probes.extend([*net, last, last.wrapping_add(1), net.wrapping_sub(1)]);
    }
    let mut many = vec![None; probes.len()];
    table.lookup_into(&probes, &mut many);
    for (addr, got) in probes.iter().zip(many) {
        assert_eq!(got, naive(&wide, 32, u128::from(*addr)), "{addr:#x}");
        assert_eq!(table.lookup(*addr), got, "single lookup agrees, {addr:#x}");
    }
}
