//! Unknown sources sampled by the kernel (the XDP program's ring buffer, or NFLOG for the
//! nftables backend), turned into catalog observations with the link of the interface
//! they arrived on and reported to the observation sink, at a bounded rate.
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

/// One sampled packet's source and the interface it came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub ip: IpAddr,
    pub ifindex: u32,
}

/// The source address of an IPv4 or IPv6 packet (network header first).
pub fn source_of(l3: &[u8]) -> Option<IpAddr> {
    match l3.first()? >> 4 {
        4 => Ipv4Packet::new(l3).map(|p| IpAddr::V4(p.get_source())),
        6 => Ipv6Packet::new(l3).map(|p| IpAddr::V6(p.get_source())),
        _ => None,
    }
}

/// A record of the XDP program's ring buffer: `struct sample` in `bpf/gate.c`.
pub fn from_ring(record: &[u8]) -> Option<Sample> {
    let addr: [u8; 16] = record.get(..16)?.try_into().ok()?;
    let ifindex = u32::from_ne_bytes(record.get(16..20)?.try_into().ok()?);
    let v6 = Ipv6Addr::from(addr);
    let ip = match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    };
    Some(Sample { ip, ifindex })
}

/// What the reporter has done since the gate started.
#[derive(Debug, Default)]
pub struct SampleCounters {
    pub reported: AtomicU64,
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
        self.sink.report(Observation::now(sample.ip, link));
        self.counters.reported.fetch_add(1, Ordering::Relaxed);
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
        let mut rec = [0u8; 24];
        rec[10] = 0xff;
        rec[11] = 0xff;
        rec[12..16].copy_from_slice(&[198, 51, 100, 7]);
        rec[16..20].copy_from_slice(&5u32.to_ne_bytes());
        assert_eq!(from_ring(&rec), Some(Sample { ip: "198.51.100.7".parse().expect("ip"), ifindex: 5 }));
        let v6: Ipv6Addr = "2001:db8:1::7".parse().expect("ip");
        rec[..16].copy_from_slice(&v6.octets());
        assert_eq!(from_ring(&rec).map(|s| s.ip), Some(IpAddr::V6(v6)));
        assert_eq!(from_ring(&rec[..10]), None);
    }

    #[tokio::test]
    async fn reports_carry_the_link_and_stop_at_the_bound() {
        let (sink, mut rx) = ObservationSink::channel(MAX_REPORTS_PER_SEC as usize + 10);
        let counters = Arc::new(SampleCounters::default());
        let mut r = Reporter::new(HashMap::from([(5, "kt-astana-1".to_owned())]), sink, counters.clone());
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        r.report(Sample { ip, ifindex: 9 });
        for _ in 0..MAX_REPORTS_PER_SEC + 5 {
            r.report(Sample { ip, ifindex: 5 });
        }
        let first = rx.recv().await.expect("one observation");
        assert_eq!((first.ip, first.link.as_str()), (ip, "kt-astana-1"));
        assert_eq!(counters.reported.load(Ordering::Relaxed), u64::from(MAX_REPORTS_PER_SEC));
        assert_eq!(counters.discarded.load(Ordering::Relaxed), 6, "one unguarded interface, five over the bound");
    }
}
