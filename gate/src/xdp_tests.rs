//! The XDP program's verdicts, run in the kernel through BPF_PROG_TEST_RUN on frames
//! crafted with pnet: precedence (blocked, unknown, spoofed, the proxy's ports, grants
//! (QUIC included), QUIC, the gateway's `allow`), both families, VLAN
//! tags, link control passed only to the gateway (neighbour discovery to link-scope
//! multicast with hop limit 255; ARP, LLDP), IPv6 extension header chains past the
//! parser's bound or cut short dropped (fail closed), sampling of unknown sources into
//! the ring buffer, counters, and both ways of changing the tables. Needs root (CAP_BPF);
//! outside CI it is skipped without.

use std::net::IpAddr;

use aya::programs::{TestRun, TestRunOptions};

use super::*;
use crate::loadgen::udp_frame;
use crate::sample::{Noted, from_ring};
use crate::tables::{MAPPED, Opening};

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

/// Organisation 1 of operator 1 holds 198.51.100.0/25 and 2001:db8:1::/64, organisation
/// 2 of operator 2 holds 198.51.100.128/26; the interface is bound to operator 1. UDP 9
/// is open to every source, UDP 8443 to 203.0.113.10 granted to organisation 1.
fn tables(generation: i64, blocked4: Vec<(u32, u8)>) -> Tables {
    let (one, two) = (Owner { organisation: 1, operator: 1 }, Owner { organisation: 2, operator: 2 });
    Tables {
        generation,
        known4: vec![((0xc633_6400, 25), one), ((0xc633_6480, 26), two)],
        known6: vec![(((0x2001_0db8_0001u128) << 80, 64), one)],
        blocked4,
        blocked6: vec![],
        openings: vec![
            (Opening { organisation: 0, proto: 17, port: 9, dst: 0, len: 0 }, NEVER),
            (Opening { organisation: 1, proto: 17, port: 8443, dst: MAPPED | 0xcb00_710a, len: 128 }, NEVER),
        ],
        bound: vec![Some(1)],
    }
}

/// `frame` (IPv4) as TCP.
fn tcp4(mut frame: Vec<u8>) -> Vec<u8> {
    frame[14 + 9] = 6;
    frame
}

fn run(xdp: &mut XdpBackend, frame: &[u8]) -> u32 {
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    program(&mut xdp.ebpf).expect("program").test_run(opts).expect("test run").return_value
}

fn udp(src: &str, dst: &str, port: u16) -> Vec<u8> {
    udp_frame(ip(src), ip(dst), port, b"x")
}

fn udp_with(src: &str, dst: &str, port: u16, payload: &[u8]) -> Vec<u8> {
    udp_frame(ip(src), ip(dst), port, payload)
}

/// The first bytes of QUIC Initial packets: long header, version 1 and version 2.
const QUIC_V1: [u8; 6] = [0xc3, 0, 0, 0, 1, 8];
const QUIC_V2: [u8; 6] = [0xd3, 0x6b, 0x33, 0x43, 0xcf, 8];

/// `frame` with an 802.1Q tag after the MAC addresses.
fn tagged(frame: &[u8]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    out.extend_from_slice(&frame[12..]);
    out
}

/// An ICMPv6 message of `kind` from `src` to `dst` with `hops` (the checksum is not
/// checked by the gate).
fn icmp6_to(src: &str, dst: &str, kind: u8, hops: u8) -> Vec<u8> {
    let mut frame = udp(src, dst, 9);
    frame[14 + 6] = 58;
    frame[14 + 7] = hops;
    frame[14 + 40] = kind;
    frame
}

fn icmp6(src: &str, kind: u8) -> Vec<u8> {
    icmp6_to(src, "2001:db8:2::10", kind, 64)
}

/// A UDP datagram from `src` behind `headers` (IPv6 extension headers, each given by its
/// protocol number and its 8 bytes).
fn behind(src: &str, headers: &[(u8, [u8; 8])]) -> Vec<u8> {
    let frame = udp(src, "2001:db8:2::10", 9);
    let (ip, rest) = frame.split_at(14 + 40);
    let mut out = ip.to_vec();
    let mut next = 17;
    for (proto, bytes) in headers.iter().rev() {
        let mut h = *bytes;
        h[0] = next;
        out.splice(14 + 40..14 + 40, h);
        next = *proto;
    }
    out[14 + 6] = next;
    let payload = (out.len() - 14 - 40 + rest.len()) as u16;
    out[14 + 4..14 + 6].copy_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(rest);
    out
}

/// A destination-options header holding one PadN option.
const DSTOPTS: (u8, [u8; 8]) = (60, [0, 0, 1, 4, 0, 0, 0, 0]);
/// A fragment header: the first fragment (offset 0, more to come), or a later one.
const FIRST_FRAGMENT: (u8, [u8; 8]) = (44, [0, 0, 0, 1, 0, 0, 0, 7]);
const LATER_FRAGMENT: (u8, [u8; 8]) = (44, [0, 0, 0, 8, 0, 0, 0, 7]);

/// The program loaded for the loopback interface (where test runs deliver frames), unpinned.
fn on_loopback() -> XdpBackend {
    let ifaces = [Iface { name: "lo".into(), link: "test".into(), ifindex: LO, slot: 1 }];
    let no_pins = std::path::Path::new("/nonexistent-no-pins");
    XdpBackend::open(&ifaces, (XdpModeChoice::Auto, no_pins), Duration::from_secs(60), false).expect("loads")
}

#[test]
fn verdicts_follow_the_catalog_in_the_kernel() {
    if !privileged() {
        return;
    }
    let mut xdp = on_loopback();
    xdp.load(&tables(1, vec![(0xc633_6409, 32)])).expect("first generation");
    let counters = xdp.take_counters().expect("counters");
    let mut ring = xdp.take_samples().expect("ring");
    let cases = [
        ("catalogued, to a port open to all", udp("198.51.100.2", "203.0.113.10", 9), PASS),
        ("QUIC from a catalogued source", udp("198.51.100.2", "203.0.113.10", 443), DROP),
        ("UDP 80", udp("198.51.100.2", "203.0.113.10", 80), DROP),
        ("QUIC v1 on port 8444", udp_with("198.51.100.2", "203.0.113.10", 8444, &QUIC_V1), DROP),
        ("QUIC v1 on a granted port", udp_with("198.51.100.2", "203.0.113.10", 8443, &QUIC_V1), PASS),
        ("QUIC v1, granted port, other destination", udp_with("198.51.100.2", "203.0.113.11", 8443, &QUIC_V1), DROP),
        ("QUIC v2 on port 4433 over IPv6", udp_with("2001:db8:1::2", "2001:db8:2::10", 4433, &QUIC_V2), DROP),
        ("not QUIC on a granted port", udp_with("198.51.100.2", "203.0.113.10", 8443, &[0xc3, 0, 0, 0, 7, 0]), PASS),
        ("TCP 443 (the proxy)", tcp4(udp("198.51.100.2", "203.0.113.10", 443)), PASS),
        ("another operator's source on this link", udp("198.51.100.130", "203.0.113.10", 9), DROP),
        ("blocked inside a catalogued prefix", udp("198.51.100.9", "203.0.113.10", 9), DROP),
        ("unknown", udp("198.51.100.200", "203.0.113.10", 9), DROP),
        ("catalogued IPv6", udp("2001:db8:1::2", "2001:db8:2::10", 9), PASS),
        ("QUIC over IPv6", udp("2001:db8:1::2", "2001:db8:2::10", 443), DROP),
        ("unknown IPv6", udp("2001:db8:9::2", "2001:db8:2::10", 9), DROP),
        (
            "neighbour solicitation from an unknown source to link-scope multicast",
            icmp6_to("2001:db8:9::2", "ff02::1:ff00:1", 135, 255),
            PASS,
        ),
        ("router solicitation to all routers", icmp6_to("2001:db8:9::2", "ff02::2", 133, 255), PASS),
        ("neighbour discovery with a hop limit below 255", icmp6_to("2001:db8:9::2", "ff02::1:ff00:1", 135, 64), DROP),
        ("an echo request from the same source", icmp6("2001:db8:9::2", 128), DROP),
        ("UDP behind two extension headers", behind("2001:db8:1::2", &[DSTOPTS, FIRST_FRAGMENT]), PASS),
        ("UDP behind six extension headers", behind("2001:db8:1::2", &[DSTOPTS; 6]), PASS),
        ("seven extension headers", behind("2001:db8:1::2", &[DSTOPTS; 7]), DROP),
        // That first fragment's header came after another: it is not remembered.
        ("a later fragment of that datagram", behind("2001:db8:1::2", &[LATER_FRAGMENT]), DROP),
        ("an extension header cut short", behind("2001:db8:1::2", &[DSTOPTS])[..14 + 40 + 4].to_vec(), DROP),
        ("link-local source", udp("fe80::1", "2001:db8:2::10", 9), PASS),
        ("tagged catalogued", tagged(&udp("198.51.100.2", "203.0.113.10", 9)), PASS),
        ("tagged unknown", tagged(&udp("198.51.100.200", "203.0.113.10", 9)), DROP),
    ];
    for (what, frame, verdict) in &cases {
        assert_eq!(run(&mut xdp, frame), *verdict, "{what}");
    }
    let mut other = udp("198.51.100.200", "203.0.113.10", 9);
    for (ethertype, verdict, what) in
        [([0x08, 0x06], PASS, "ARP"), ([0x88, 0xcc], PASS, "LLDP"), ([0x88, 0xb5], DROP, "other")]
    {
        other[12..14].copy_from_slice(&ethertype);
        assert_eq!(run(&mut xdp, &other), verdict, "{what} frames");
    }

    let counts = counters.read().expect("counts")[0];
    assert_eq!(
        (counts.pass, counts.quic, counts.blocked, counts.unknown, counts.malformed),
        (6, 6, 1, 5, 3),
        "link control to the gateway is not counted: {counts:?}"
    );
    assert_eq!((counts.granted, counts.spoofed), (2, 1), "{counts:?}");
    let mut sampled = Vec::new();
    while let Some(record) = ring.next() {
        let sample = from_ring(&record).expect("a sample");
        sampled.push((sample.ip, matches!(sample.what, Noted::Spoofed { .. })));
    }
    // Once per source per interval: the tagged repeat of 198.51.100.200 is not reported
    // again; the spoofed source is noted.
    assert_eq!(sampled, [(ip("198.51.100.130"), true), (ip("198.51.100.200"), false), (ip("2001:db8:9::2"), false)]);

    // In place: block a catalogued source, lift the old block.
    let next = tables(2, vec![(0xc633_6402, 32)]);
    let diff = tables(1, vec![(0xc633_6409, 32)]).diff(&next);
    assert_eq!(xdp.apply(&diff, &next).expect("in place"), Applied::Done);
    assert_eq!(run(&mut xdp, &udp("198.51.100.2", "203.0.113.10", 9)), DROP, "blocked in place");
    assert_eq!(run(&mut xdp, &udp("198.51.100.9", "203.0.113.10", 9)), PASS, "lifted in place");

    // A grant revoked in place: QUIC to its port is dropped again; one that has expired
    // (its entry ends in the kernel) lets nothing through either.
    let quic = udp_with("198.51.100.9", "203.0.113.10", 8443, &QUIC_V1);
    let mut revoked = next.clone();
    revoked.openings.truncate(1);
    assert_eq!(xdp.apply(&next.diff(&revoked), &revoked).expect("in place"), Applied::Done);
    assert_eq!(run(&mut xdp, &quic), DROP, "revoked in place");
    let mut expired = revoked.clone();
    expired.openings.push((Opening { organisation: 1, proto: 17, port: 8443, dst: 0, len: 0 }, snapshot::now_ms() - 1));
    assert_eq!(xdp.apply(&revoked.diff(&expired), &expired).expect("in place"), Applied::Done);
    assert_eq!(run(&mut xdp, &quic), DROP, "expired");
    let mut live = revoked.clone();
    live.openings
        .push((Opening { organisation: 1, proto: 17, port: 8443, dst: 0, len: 0 }, snapshot::now_ms() + 60_000));
    assert_eq!(xdp.apply(&expired.diff(&live), &live).expect("in place"), Applied::Done);
    assert_eq!(run(&mut xdp, &quic), PASS, "granted until a minute from now, to anywhere");

    // Whole: a new generation in the other slot, made live at once.
    let mut whole = tables(3, vec![]);
    whole.known4.insert(2, ((0xc633_64c8, 32), Owner { organisation: 1, operator: 1 }));
    xdp.load(&whole).expect("whole generation");
    assert_eq!(run(&mut xdp, &udp("198.51.100.2", "203.0.113.10", 9)), PASS);
    assert_eq!(run(&mut xdp, &udp("198.51.100.200", "203.0.113.10", 9)), PASS, "catalogued in the new generation");
}

/// `frame` (IPv4) as a fragment of datagram `id`: the first (offset 0, more to come)
/// or one at `offset` eight-byte units.
fn fragment4(mut frame: Vec<u8>, id: u16, offset: u16) -> Vec<u8> {
    frame[14 + 4..14 + 6].copy_from_slice(&id.to_be_bytes());
    let flags = if offset == 0 { 0x2000 } else { offset };
    frame[14 + 6..14 + 8].copy_from_slice(&u16::to_be_bytes(flags));
    frame
}

/// An IPv6 fragment header of datagram `id`: the first (offset 0, more to come) or a later one.
fn fragment6(id: u8, first: bool) -> (u8, [u8; 8]) {
    (44, [0, 0, 0, if first { 1 } else { 8 }, 0, 0, 0, id])
}

#[test]
fn later_fragments_pass_only_behind_a_first_fragment_that_passed() {
    if !privileged() {
        return;
    }
    let mut xdp = on_loopback();
    xdp.load(&tables(1, vec![])).expect("first generation");
    let open = || udp("198.51.100.2", "203.0.113.10", 9);
    // UDP 443 (QUIC) is dropped (a closed port would pass here as addressed to the gateway:
    // the test machine does not forward).
    let closed = || udp("198.51.100.2", "203.0.113.10", 443);
    let cases = [
        ("a later fragment before any first", fragment4(open(), 1, 185), DROP),
        ("the first fragment, to a port open to all", fragment4(open(), 1, 0), PASS),
        ("its later fragment", fragment4(open(), 1, 185), PASS),
        ("a later fragment of another datagram", fragment4(open(), 2, 185), DROP),
        ("the same id from another source", fragment4(udp("198.51.100.3", "203.0.113.10", 9), 1, 185), DROP),
        ("the same id to another destination", fragment4(udp("198.51.100.2", "203.0.113.11", 9), 1, 185), DROP),
        ("the first fragment of a datagram dropped", fragment4(closed(), 3, 0), DROP),
        ("the later fragment of that one", fragment4(closed(), 3, 185), DROP),
        ("a TCP fragment at offset 8, over the ports", fragment4(tcp4(open()), 1, 1), DROP),
        ("IPv6: a later fragment before any first", behind("2001:db8:1::2", &[fragment6(9, false)]), DROP),
        ("IPv6: the first fragment", behind("2001:db8:1::2", &[fragment6(9, true)]), PASS),
        ("IPv6: its later fragment", behind("2001:db8:1::2", &[fragment6(9, false)]), PASS),
        ("IPv6: another datagram's", behind("2001:db8:1::2", &[fragment6(10, false)]), DROP),
        (
            "IPv6: its later fragment behind another header",
            behind("2001:db8:1::2", &[DSTOPTS, fragment6(9, false)]),
            DROP,
        ),
    ];
    for (what, frame, verdict) in &cases {
        assert_eq!(run(&mut xdp, frame), *verdict, "{what}");
    }
}
