//! The gate benchmark's packet source and the frames it sends: UDP frames crafted with
//! pnet (valid IP and UDP checksums, so the kernel stack accepts what the gate passes),
//! pushed into a veth at line rate by `bpf/loadgen.c` run through BPF_PROG_TEST_RUN with
//! live frames (this kernel has no pktgen module); and two stand-in receivers (`pass`
//! for a veth without the gate, `drop` for the sender's own ceiling).
//!
//! Must not: be used by the gate itself; it exists for benches and tests.

use std::net::IpAddr;
use std::time::Duration;

use aya::Ebpf;
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use pnet_packet::MutablePacket;
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::udp::{self, MutableUdpPacket};

use super::GateError;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/loadgen.o"));

/// Frames per live batch handed to the kernel at once.
const BATCH: u32 = 256;

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> GateError {
    move |e| GateError::Xdp(format!("load generator, {what}: {e}"))
}

/// The loaded load-generator programs.
pub struct LoadGen {
    ebpf: Ebpf,
}

impl LoadGen {
    pub fn open() -> Result<LoadGen, GateError> {
        if OBJECT.is_empty() {
            return Err(GateError::XdpUnavailable("built without clang: install clang, llvm, libbpf-dev".into()));
        }
        let mut ebpf = Ebpf::load(OBJECT).map_err(err("loading"))?;
        for name in ["tx", "pass", "drop"] {
            prog(&mut ebpf, name)?.load().map_err(err("verifying"))?;
        }
        Ok(LoadGen { ebpf })
    }

    /// Sends `count` copies of `frame` out of interface `ifindex` (in this process's
    /// network namespace); returns how long the kernel took.
    pub fn send(&mut self, ifindex: u32, frame: &[u8], count: u32) -> Result<Duration, GateError> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.ctx_in = Some(&ctx);
        opts.repeat = count;
        opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
        let run = prog(&mut self.ebpf, "tx")?.test_run(opts).map_err(err("sending"))?;
        Ok(run.duration)
    }

    /// Attaches the `pass` or `drop` stand-in receiver to `interface` (native mode);
    /// detached when the LoadGen is dropped.
    pub fn attach(&mut self, program: &str, interface: &str) -> Result<(), GateError> {
        prog(&mut self.ebpf, program)?.attach(interface, XdpMode::Driver).map_err(err("attaching"))?;
        Ok(())
    }
}

fn prog<'e>(ebpf: &'e mut Ebpf, name: &str) -> Result<&'e mut Xdp, GateError> {
    let p = ebpf.program_mut(name).ok_or_else(|| GateError::Xdp(format!("load generator has no {name}")))?;
    p.try_into().map_err(err("program type"))
}

/// An Ethernet frame holding a UDP datagram from `src` to `dst` (same family) with a
/// small payload, checksums filled in.
pub fn udp_frame(src: IpAddr, dst: IpAddr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (ip_len, ethertype) = match src {
        IpAddr::V4(_) => (20, EtherTypes::Ipv4),
        IpAddr::V6(_) => (40, EtherTypes::Ipv6),
    };
    let udp_len = 8 + payload.len();
    let mut frame = vec![0u8; 14 + ip_len + udp_len];
    let mut eth = MutableEthernetPacket::new(&mut frame).expect("sized above");
    eth.set_destination([0x02, 0, 0, 0, 0, 2].into());
    eth.set_source([0x02, 0, 0, 0, 0, 1].into());
    eth.set_ethertype(ethertype);
    let l3 = eth.payload_mut();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = MutableIpv4Packet::new(l3).expect("sized above");
            ip.set_version(4);
            ip.set_header_length(5);
            ip.set_total_length((ip_len + udp_len) as u16);
            ip.set_ttl(64);
            ip.set_next_level_protocol(IpNextHeaderProtocols::Udp);
            ip.set_source(s);
            ip.set_destination(d);
            ip.set_checksum(ipv4::checksum(&ip.to_immutable()));
            let mut u = MutableUdpPacket::new(ip.payload_mut()).expect("sized above");
            fill_udp(&mut u, dport, payload);
            u.set_checksum(udp::ipv4_checksum(&u.to_immutable(), &s, &d));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = MutableIpv6Packet::new(l3).expect("sized above");
            ip.set_version(6);
            ip.set_payload_length(udp_len as u16);
            ip.set_hop_limit(64);
            ip.set_next_header(IpNextHeaderProtocols::Udp);
            ip.set_source(s);
            ip.set_destination(d);
            let mut u = MutableUdpPacket::new(ip.payload_mut()).expect("sized above");
            fill_udp(&mut u, dport, payload);
            u.set_checksum(udp::ipv6_checksum(&u.to_immutable(), &s, &d));
        }
        _ => panic!("udp_frame: {src} and {dst} are of different families"),
    }
    frame
}

fn fill_udp(u: &mut MutableUdpPacket<'_>, dport: u16, payload: &[u8]) {
    u.set_source(40000);
    u.set_destination(dport);
    u.set_length((8 + payload.len()) as u16);
    u.set_payload(payload);
}

#[cfg(test)]
mod tests {
    use pnet_packet::Packet;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::udp::UdpPacket;

    use super::*;

    #[test]
    fn frames_carry_valid_checksums() {
        let (s, d) = ("198.51.100.2".parse().expect("ip"), "203.0.113.10".parse().expect("ip"));
        let frame = udp_frame(IpAddr::V4(s), IpAddr::V4(d), 443, b"seq");
        let eth = EthernetPacket::new(&frame).expect("frame");
        let ip = Ipv4Packet::new(eth.payload()).expect("ip");
        assert_eq!((ip.get_source(), ip.get_destination()), (s, d));
        assert_eq!(ipv4::checksum(&ip), ip.get_checksum());
        let u = UdpPacket::new(ip.payload()).expect("udp");
        assert_eq!((u.get_destination(), u.payload()), (443, &b"seq"[..]));
        assert_eq!(udp::ipv4_checksum(&u, &s, &d), u.get_checksum());
        let v6 = udp_frame("2001:db8:1::2".parse().expect("ip"), "2001:db8:2::10".parse().expect("ip"), 80, b"");
        assert_eq!(v6.len(), 14 + 40 + 8);
        assert_eq!(crate::sample::source_of(&v6[14..]), Some("2001:db8:1::2".parse().expect("ip")));
    }
}
