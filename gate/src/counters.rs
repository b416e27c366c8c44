//! The gate's verdicts and the packet counts per interface and verdict that both
//! backends report, in one shape for `perimeter gate status`, its JSON and `/metrics`.
//!
//! Must not: read the kernel; the backends fill these in.

use serde::{Deserialize, Serialize};

/// What the gate did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A catalogued source: passed.
    Pass,
    /// A source the catalog lacks: dropped and sampled.
    Unknown,
    /// A blocked source: dropped.
    Blocked,
    /// UDP to port 443 or 80 from a catalogued source: dropped (or refused), so the
    /// browser falls back to TCP, which the proxy inspects; and QUIC (a long header of a
    /// known version) to any other UDP port: dropped.
    Quic,
    /// A packet the gate cannot read whole (an IPv6 header chain past the parser's
    /// bound or cut short, a truncated header, a frame neither IP, ARP nor LLDP): dropped.
    Malformed,
    /// A catalogued source's packet to a service its organisation has a grant for:
    /// passed.
    Granted,
    /// A catalogued source's packet that neither the web proxy, a grant, the gateway's
    /// `allow` nor the gateway itself takes: dropped, noted in the log.
    Ungranted,
    /// A catalogued source of another operator than the one whose link it arrived on:
    /// dropped, noted in the log.
    Spoofed,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::Pass,
        Verdict::Unknown,
        Verdict::Blocked,
        Verdict::Quic,
        Verdict::Malformed,
        Verdict::Granted,
        Verdict::Ungranted,
        Verdict::Spoofed,
    ];

    /// The index the XDP program counts this verdict under (see `bpf/gate.c`).
    pub fn index(self) -> u32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Unknown => 1,
            Verdict::Blocked => 2,
            Verdict::Quic => 3,
            Verdict::Malformed => 5,
            Verdict::Ungranted => 6,
            Verdict::Spoofed => 7,
            Verdict::Granted => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Unknown => "unknown",
            Verdict::Blocked => "blocked",
            Verdict::Quic => "quic",
            Verdict::Malformed => "malformed",
            Verdict::Granted => "granted",
            Verdict::Ungranted => "ungranted",
            Verdict::Spoofed => "spoofed",
        }
    }
}

/// Packets counted on one interface since the gate started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: u64,
    pub unknown: u64,
    pub blocked: u64,
    pub quic: u64,
    #[serde(default)]
    pub malformed: u64,
    #[serde(default)]
    pub granted: u64,
    #[serde(default)]
    pub ungranted: u64,
    #[serde(default)]
    pub spoofed: u64,
    /// Samples of unknown sources the kernel could not hand over (its buffer was full).
    #[serde(default)]
    pub samples_lost: u64,
}

impl Counts {
    pub fn get(&self, verdict: Verdict) -> u64 {
        match verdict {
            Verdict::Pass => self.pass,
            Verdict::Unknown => self.unknown,
            Verdict::Blocked => self.blocked,
            Verdict::Quic => self.quic,
            Verdict::Malformed => self.malformed,
            Verdict::Granted => self.granted,
            Verdict::Ungranted => self.ungranted,
            Verdict::Spoofed => self.spoofed,
        }
    }

    pub fn set(&mut self, verdict: Verdict, value: u64) {
        match verdict {
            Verdict::Pass => self.pass = value,
            Verdict::Unknown => self.unknown = value,
            Verdict::Blocked => self.blocked = value,
            Verdict::Quic => self.quic = value,
            Verdict::Malformed => self.malformed = value,
            Verdict::Granted => self.granted = value,
            Verdict::Ungranted => self.ungranted = value,
            Verdict::Spoofed => self.spoofed = value,
        }
    }
}

/// Lines in the Prometheus text format for the counts of each interface (name, link).
pub fn prometheus(rows: &[(String, String, Counts)]) -> String {
    let mut out = String::from(
        "# HELP perimeter_gate_packets_total Packets the packet gate decided, by interface and verdict.\n\
         # TYPE perimeter_gate_packets_total counter\n",
    );
    for (name, link, counts) in rows {
        for v in Verdict::ALL {
            out.push_str(&format!(
                "perimeter_gate_packets_total{{interface=\"{name}\",link=\"{}\",verdict=\"{}\"}} {}\n",
                link.replace('\\', "\\\\").replace('"', "\\\""),
                v.name(),
                counts.get(v)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_lines_name_interface_link_and_verdict() {
        let mut c = Counts::default();
        c.set(Verdict::Quic, 7);
        let text = prometheus(&[("eth1".into(), "kt \"a\"".into(), c)]);
        assert!(
            text.contains(
                "perimeter_gate_packets_total{interface=\"eth1\",link=\"kt \\\"a\\\"\",verdict=\"quic\"} 7\n"
            )
        );
        assert!(text.contains("verdict=\"pass\"} 0\n"));
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), Verdict::ALL.len());
    }
}
