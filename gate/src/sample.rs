//! Unknown sources sampled by the kernel (the XDP program's ring buffer, or NFLOG for the
//! nftables backend), turned into catalog observations with the link of the interface
//! they arrived on and reported to the observation sink, at a bounded rate; and the
//! catalogued sources' packets the kernel dropped by policy (no grant opens them, or
//! spoofed on another operator's link), noted in the log the same way.
//!
//! Must not: wait on the sink (reporting never blocks) or keep per-source state (the
//! kernel already reports each source at most once per interval).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aya::maps::{MapData, RingBuf};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use snapshot::{Observation, ObservationSink};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::nflog::Nflog;

/// Most observations reported per second; the kernel's per-source interval keeps the
/// real rate far lower, this bounds a flood of forged sources.
pub const MAX_REPORTS_PER_SEC: u32 = 10_000;

/// One sampled packet's source, the interface it came in on, and why it was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub ip: IpAddr,
    pub ifindex: u32,
    pub what: Noted,
}

/// Why the kernel sampled a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    /// A source the catalog lacks: reported to the catalog.
    Unknown,
    /// A catalogued source's packet no grant opens (protocol number, destination port or
    /// 0): noted in the log.
    Ungranted { dst: IpAddr, proto: u8, port: u16 },
    /// A catalogued source of another operator than the interface's link: noted in the log.
    Spoofed { dst: IpAddr },
}

/// The source address of an IPv4 or IPv6 packet (network header first).
pub fn source_of(l3: &[u8]) -> Option<IpAddr> {
    match l3.first()? >> 4 {
        4 => Ipv4Packet::new(l3).map(|p| IpAddr::V4(p.get_source())),
        6 => Ipv6Packet::new(l3).map(|p| IpAddr::V6(p.get_source())),
        _ => None,
    }
}

/// What an NFLOG message with `prefix` says about the packet `l3` (network header
/// first): an unknown source when it has no prefix.
pub fn noted_of(prefix: &str, l3: &[u8]) -> Option<Noted> {
    let (dst, proto, l4) = match l3.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new(l3)?;
            let header = usize::from(p.get_header_length()) * 4;
            (IpAddr::V4(p.get_destination()), p.get_next_level_protocol().0, l3.get(header..).unwrap_or(&[]))
        }
        6 => {
            let p = Ipv6Packet::new(l3)?;
            (IpAddr::V6(p.get_destination()), p.get_next_header().0, l3.get(40..).unwrap_or(&[]))
        }
        _ => return None,
    };
    let port = match (proto, l4.get(2..4)) {
        (6 | 17, Some(b)) => u16::from_be_bytes([b[0], b[1]]),
        _ => 0,
    };
    Some(match prefix {
        "ungranted" => Noted::Ungranted { dst, proto, port },
        "spoofed" => Noted::Spoofed { dst },
        _ => Noted::Unknown,
    })
}

fn unmapped(addr: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// A record of the XDP program's ring buffer: `struct sample` in `bpf/gate.c`.
pub fn from_ring(record: &[u8]) -> Option<Sample> {
    let ip = unmapped(record.get(..16)?.try_into().ok()?);
    let ifindex = u32::from_ne_bytes(record.get(16..20)?.try_into().ok()?);
    let dst = record.get(24..40).and_then(|d| d.try_into().ok()).map(unmapped);
    let (kind, proto) = (record.get(40).copied().unwrap_or(0), record.get(41).copied().unwrap_or(0));
    let port = record.get(42..44).map_or(0, |p| u16::from_ne_bytes([p[0], p[1]]));
    let what = match (kind, dst) {
        (1, Some(dst)) => Noted::Ungranted { dst, proto, port },
        (2, Some(dst)) => Noted::Spoofed { dst },
        _ => Noted::Unknown,
    };
    Some(Sample { ip, ifindex, what })
}

fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        n => n.to_string(),
    }
}

/// What the reporter has done since the gate started.
#[derive(Debug, Default)]
pub struct SampleCounters {
    pub reported: AtomicU64,
    /// Ungranted and spoofed packets noted in the log.
    pub noted: AtomicU64,
    /// Over the per-second bound, or on an interface the gate does not guard.
    pub discarded: AtomicU64,
    /// Times the kernel dropped NFLOG messages for a full socket buffer (the XDP
    /// program counts its own losses per interface).
    pub overflows: AtomicU64,
}

/// Turns samples into observations for the sink.
pub struct Reporter {
    links: HashMap<u32, String>,
    sink: ObservationSink,
    counters: Arc<SampleCounters>,
    window: Instant,
    in_window: u32,
}

impl Reporter {
    pub fn new(links: HashMap<u32, String>, sink: ObservationSink, counters: Arc<SampleCounters>) -> Reporter {
        Reporter { links, sink, counters, window: Instant::now(), in_window: 0 }
    }

    pub fn report(&mut self, sample: Sample) {
        if self.window.elapsed().as_secs() >= 1 {
            self.window = Instant::now();
            self.in_window = 0;
        }
        let Some(link) = self.links.get(&sample.ifindex) else {
            self.counters.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.in_window >= MAX_REPORTS_PER_SEC {
            self.counters.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.in_window += 1;
        match sample.what {
            Noted::Unknown => {
                self.sink.report(Observation::now(sample.ip, link));
                self.counters.reported.fetch_add(1, Ordering::Relaxed);
            }
            Noted::Ungranted { dst, proto, port } => {
                self.counters.noted.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    source = %sample.ip, destination = %dst, protocol = proto_name(proto), port, link = %link,
                    "packet gate: dropped, no grant opens it to this organisation (noted once per source and \
                     protocol per sample interval)"
                );
            }
            Noted::Spoofed { dst } => {
                self.counters.noted.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    source = %sample.ip, destination = %dst, link = %link,
                    "packet gate: dropped as spoofed, the catalog gives this source to another operator than the \
                     link's (noted once per source per sample interval)"
                );
            }
        }
    }
}

/// Reads the XDP program's ring buffer until `stop` turns true.
pub async fn read_ring(ring: RingBuf<MapData>, mut reporter: Reporter, mut stop: watch::Receiver<bool>) {
    // `AsyncFd::new` is deprecated because a caller could close a borrowed descriptor
    // while it is registered; here the AsyncFd owns the ring, so the descriptor lives
    // exactly as long as the registration (the unsafe `register` buys nothing).
    #[allow(deprecated)]
    let ring = AsyncFd::new(ring);
    let mut ring = match ring {
        Ok(r) => r,
        Err(e) => return tracing::error!(error = %e, "cannot poll the gate's sample ring"),
    };
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            ready = ring.readable_mut() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => return tracing::error!(error = %e, "the gate's sample ring failed"),
                };
                let ring = guard.get_inner_mut();
                while let Some(record) = ring.next() {
                    if let Some(sample) = from_ring(&record) {
                        reporter.report(sample);
                    }
                }
                guard.clear_ready();
            }
        }
    }
}

/// Reads NFLOG samples until `stop` turns true.
pub async fn read_nflog(mut nflog: Nflog, mut reporter: Reporter, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            batch = nflog.next() => match batch {
                Ok(Some(samples)) => samples.into_iter().for_each(|s| reporter.report(s)),
                Ok(None) => {
                    reporter.counters.overflows.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return tracing::error!(error = %e, "the gate's NFLOG reader failed"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use pnet_packet::ipv4::MutableIpv4Packet;
    use pnet_packet::ipv6::MutableIpv6Packet;

    use super::*;

    #[test]
    fn sources_of_crafted_packets() {
        let mut v4 = [0u8; 20];
        let mut p = MutableIpv4Packet::new(&mut v4).expect("fits");
        p.set_version(4);
        p.set_header_length(5);
        p.set_source("198.51.100.7".parse().expect("ip"));
        assert_eq!(source_of(&v4), Some("198.51.100.7".parse().expect("ip")));
        let mut v6 = [0u8; 40];
        let mut p = MutableIpv6Packet::new(&mut v6).expect("fits");
        p.set_version(6);
        p.set_source("2001:db8:1::7".parse().expect("ip"));
        assert_eq!(source_of(&v6), Some("2001:db8:1::7".parse().expect("ip")));
        assert_eq!(source_of(&[0x45, 0]), None, "truncated");
        assert_eq!(source_of(&[]), None);
    }

    #[test]
    fn ring_records_unmap_ipv4() {
        let mut rec = [0u8; 48];
        rec[10] = 0xff;
        rec[11] = 0xff;
        rec[12..16].copy_from_slice(&[198, 51, 100, 7]);
        rec[16..20].copy_from_slice(&5u32.to_ne_bytes());
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        assert_eq!(from_ring(&rec), Some(Sample { ip, ifindex: 5, what: Noted::Unknown }));
        let v6: Ipv6Addr = "2001:db8:1::7".parse().expect("ip");
        rec[..16].copy_from_slice(&v6.octets());
        assert_eq!(from_ring(&rec).map(|s| s.ip), Some(IpAddr::V6(v6)));
        assert_eq!(from_ring(&rec[..10]), None);
        let dst: Ipv6Addr = "2001:db8:2::10".parse().expect("ip");
        rec[24..40].copy_from_slice(&dst.octets());
        rec[40] = 1;
        rec[41] = 6;
        rec[42..44].copy_from_slice(&8443u16.to_ne_bytes());
        let noted = Noted::Ungranted { dst: IpAddr::V6(dst), proto: 6, port: 8443 };
        assert_eq!(from_ring(&rec).map(|s| s.what), Some(noted));
        rec[40] = 2;
        assert_eq!(from_ring(&rec).map(|s| s.what), Some(Noted::Spoofed { dst: IpAddr::V6(dst) }));
    }

    #[tokio::test]
    async fn reports_carry_the_link_and_stop_at_the_bound() {
        let (sink, mut rx) = ObservationSink::channel(MAX_REPORTS_PER_SEC as usize + 10);
        let counters = Arc::new(SampleCounters::default());
        let mut r = Reporter::new(HashMap::from([(5, "kt-astana-1".to_owned())]), sink, counters.clone());
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        r.report(Sample { ip, ifindex: 9, what: Noted::Unknown });
        for _ in 0..MAX_REPORTS_PER_SEC + 5 {
            r.report(Sample { ip, ifindex: 5, what: Noted::Unknown });
        }
        let first = rx.recv().await.expect("one observation");
        assert_eq!((first.ip, first.link.as_str()), (ip, "kt-astana-1"));
        assert_eq!(counters.reported.load(Ordering::Relaxed), u64::from(MAX_REPORTS_PER_SEC));
        assert_eq!(counters.discarded.load(Ordering::Relaxed), 6, "one unguarded interface, five over the bound");
    }
}
