//! The XDP program's verdicts, run in the kernel through BPF_PROG_TEST_RUN on frames
//! crafted with pnet: precedence (blocked, unknown, QUIC, pass), both families, one VLAN
//! tag, what is never decided (ARP, neighbour discovery, link-local), sampling of unknown
//! sources into the ring buffer, counters, and both ways of changing the tables. Needs
//! root (CAP_BPF); outside CI it is skipped without.

use std::net::IpAddr;

use aya::programs::{TestRun, TestRunOptions};

use super::*;
use crate::loadgen::udp_frame;
use crate::sample::from_ring;

const PASS: u32 = 2;
const DROP: u32 = 1;
/// test_run delivers frames as if received on the loopback device.
const LO: u32 = 1;

fn privileged() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")));
    if !root && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the XDP program test needs root (CAP_BPF)");
    }
    if !root {
        eprintln!("SKIPPED: the XDP program test needs root");
    }
    root && !OBJECT.is_empty()
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

fn tables(generation: i64, blocked4: Vec<(u32, u8)>) -> Tables {
    Tables {
        generation,
        known4: vec![(0xc633_6400, 25)],
        known6: vec![((0x2001_0db8_0001u128) << 80, 64)],
        blocked4,
        blocked6: vec![],
    }
}

fn run(xdp: &mut XdpBackend, frame: &[u8]) -> u32 {
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    program(&mut xdp.ebpf).expect("program").test_run(opts).expect("test run").return_value
}

fn udp(src: &str, dst: &str, port: u16) -> Vec<u8> {
    udp_frame(ip(src), ip(dst), port, b"x")
}

/// `frame` with an 802.1Q tag after the MAC addresses.
fn tagged(frame: &[u8]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    out.extend_from_slice(&frame[12..]);
    out
}

/// An ICMPv6 message of `kind` from `src` (the checksum is not checked by the gate).
fn icmp6(src: &str, kind: u8) -> Vec<u8> {
    let mut frame = udp(src, "2001:db8:2::10", 9);
    frame[14 + 6] = 58;
    frame[14 + 40] = kind;
    frame
}

#[test]
fn verdicts_follow_the_catalog_in_the_kernel() {
    if !privileged() {
        return;
    }
    let ifaces = [Iface { name: "lo".into(), link: "test".into(), ifindex: LO, slot: 1 }];
    let mut xdp = XdpBackend::open(
        &ifaces,
        (XdpModeChoice::Auto, std::path::Path::new("/nonexistent-no-pins")),
        Duration::from_secs(60),
        false,
    )
    .expect("loads");
    xdp.load(&tables(1, vec![(0xc633_6409, 32)])).expect("first generation");
    let counters = xdp.take_counters().expect("counters");
    let mut ring = xdp.take_samples().expect("ring");
    let cases = [
        ("catalogued", udp("198.51.100.2", "203.0.113.10", 9), PASS),
        ("QUIC from a catalogued source", udp("198.51.100.2", "203.0.113.10", 443), DROP),
        ("UDP 80", udp("198.51.100.2", "203.0.113.10", 80), DROP),
        ("blocked inside a catalogued prefix", udp("198.51.100.9", "203.0.113.10", 9), DROP),
        ("unknown", udp("198.51.100.200", "203.0.113.10", 9), DROP),
        ("catalogued IPv6", udp("2001:db8:1::2", "2001:db8:2::10", 9), PASS),
        ("QUIC over IPv6", udp("2001:db8:1::2", "2001:db8:2::10", 443), DROP),
        ("unknown IPv6", udp("2001:db8:9::2", "2001:db8:2::10", 9), DROP),
        ("neighbour solicitation from an unknown global source", icmp6("2001:db8:9::2", 135), PASS),
        ("an echo request from the same source", icmp6("2001:db8:9::2", 128), DROP),
        ("link-local source", udp("fe80::1", "2001:db8:2::10", 9), PASS),
        ("tagged catalogued", tagged(&udp("198.51.100.2", "203.0.113.10", 9)), PASS),
        ("tagged unknown", tagged(&udp("198.51.100.200", "203.0.113.10", 9)), DROP),
    ];
    for (what, frame, verdict) in &cases {
        assert_eq!(run(&mut xdp, frame), *verdict, "{what}");
    }
    let mut arp = udp("198.51.100.200", "203.0.113.10", 9);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&mut xdp, &arp), PASS, "ARP is never decided");

    let counts = counters.read().expect("counts")[0];
    assert_eq!(
        (counts.pass, counts.quic, counts.blocked, counts.unknown),
        (3, 3, 1, 4),
        "undecided frames are not counted: {counts:?}"
    );
    let mut sampled = Vec::new();
    while let Some(record) = ring.next() {
        sampled.push(from_ring(&record).expect("a sample").ip);
    }
    // Once per source per interval: the tagged repeat of 198.51.100.200 is not reported again.
    assert_eq!(sampled, [ip("198.51.100.200"), ip("2001:db8:9::2")]);

    // In place: block a catalogued source, lift the old block.
    let next = tables(2, vec![(0xc633_6402, 32)]);
    let diff = tables(1, vec![(0xc633_6409, 32)]).diff(&next);
    assert_eq!(xdp.apply(&diff, &next).expect("in place"), Applied::Done);
    assert_eq!(run(&mut xdp, &udp("198.51.100.2", "203.0.113.10", 9)), DROP, "blocked in place");
    assert_eq!(run(&mut xdp, &udp("198.51.100.9", "203.0.113.10", 9)), PASS, "lifted in place");

    // Whole: a new generation in the other slot, made live at once.
    let mut whole = tables(3, vec![]);
    whole.known4.push((0xc633_64c8, 32));
    xdp.load(&whole).expect("whole generation");
    assert_eq!(run(&mut xdp, &udp("198.51.100.2", "203.0.113.10", 9)), PASS);
    assert_eq!(run(&mut xdp, &udp("198.51.100.200", "203.0.113.10", 9)), PASS, "catalogued in the new generation");
}
