//! `perimeter gate explain IP`: what the gate does with packets from one source and why,
//! worked out from the catalog's answer for it and the gate's settings, with the same
//! precedence as the kernel program (link control to the gateway, blocked, unknown,
//! QUIC, pass).
//!
//! Must not: read the kernel or the store; the caller passes the catalog's answer.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use snapshot::Class;

use super::config::GateConfig;
use super::counters::Verdict;
use super::rules::Redirect;

/// The gate's decision for one source.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Explanation {
    pub ip: IpAddr,
    /// None for sources the gate never decides (IPv6 link-local and unspecified).
    pub verdict: Option<Verdict>,
    /// The catalog's answer in words.
    pub why: String,
    /// (traffic, what happens to it), in the order the gate checks.
    pub traffic: Vec<(String, String)>,
}

/// Explains `ip` given the catalog's `class` for it.
pub fn explain(ip: IpAddr, class: &Class<'_>, config: &GateConfig, redirect: Option<Redirect>) -> Explanation {
    if link_source(ip) {
        return Explanation {
            ip,
            verdict: None,
            why: "an IPv6 link-local or unspecified source, or IPv4 0.0.0.0: never in the catalog; neighbour \
                  discovery, DHCP, DHCPv6 and MLD need it on the link"
                .into(),
            traffic: vec![
                (
                    "to the gateway itself (link-local or link-scope multicast, broadcast, its own addresses)".into(),
                    "passed without a decision".into(),
                ),
                ("to anything else".into(), "dropped (counted as unknown, not reported)".into()),
            ],
        };
    }
    let (verdict, why) = match class {
        Class::Blocked { reason, prefix, .. } => (Verdict::Blocked, format!("blocked ({prefix}): {reason}")),
        Class::Known { organisation, operator, prefix } => (
            Verdict::Pass,
            format!("catalogued: {prefix} of {} ({}) through {operator}", organisation.name, organisation.bin),
        ),
        Class::Unknown => (Verdict::Unknown, "not in the catalog".into()),
    };
    let traffic = match verdict {
        Verdict::Blocked => vec![("all".into(), "dropped (blocked)".into())],
        Verdict::Unknown => vec![(
            "all".into(),
            format!(
                "dropped; the source is reported to the catalog with its interface's link at most once per {}",
                policies::duration::format(config.sample_interval)
            ),
        )],
        _ => known_traffic(config, redirect),
    };
    Explanation { ip, verdict: Some(verdict), why, traffic }
}

fn known_traffic(config: &GateConfig, redirect: Option<Redirect>) -> Vec<(String, String)> {
    let quic = match config.quic_reject {
        true => format!(
            "dropped, answered with ICMP port unreachable (at most {}/s) so the browser falls back to TCP",
            config.quic_reject_rate
        ),
        false => "dropped so the browser falls back to TCP".into(),
    };
    let to = |port: Option<u16>| match (config.redirect, port) {
        (true, Some(port)) => format!("passed and redirected to the proxy's transparent listener on port {port}"),
        _ => "passed (routed; no redirect installed by the gate)".into(),
    };
    vec![
        (
            "neighbour discovery (ICMPv6 133-137, hop limit 255)".into(),
            "passed to the gateway itself; to anything else decided like the rest".into(),
        ),
        ("UDP to port 443 or 80 (QUIC)".into(), quic),
        ("QUIC to any other UDP port (a long header of version 1, 2 or a draft)".into(), "dropped".into()),
        ("TCP to port 443".into(), to(redirect.map(|r| r.https))),
        ("TCP to port 80".into(), to(redirect.and_then(|r| r.http))),
        ("everything else".into(), "passed".into()),
    ]
}

/// Sources that are never in the catalog and pass only to the gateway itself.
fn link_source(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(a) => a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(a) => a.is_unspecified(),
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = self.verdict.map_or("not decided", |v| v.name());
        writeln!(f, "{}: {verdict} — {}", self.ip, self.why)?;
        for (what, action) in &self.traffic {
            writeln!(f, "  {what}: {action}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use snapshot::OrgRef;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn known_sources_lose_quic_and_get_redirected() {
        let org = OrgRef { bin: "980140000015".into(), name: "Ministry A".into() };
        let class =
            Class::Known { organisation: &org, operator: "alpha", prefix: "198.51.100.0/24".parse().expect("net") };
        let to = Some(Redirect { https: 3130, http: Some(3129) });
        let e = explain(ip("198.51.100.2"), &class, &GateConfig::default(), to);
        assert_eq!(e.verdict, Some(Verdict::Pass));
        assert!(e.to_string().contains("neighbour discovery"), "{e}");
        let text = e.to_string();
        assert!(text.contains("Ministry A"), "{text}");
        assert!(text.contains("QUIC): dropped, answered with ICMP port unreachable (at most 100/s)"), "{text}");
        assert!(text.contains("443: passed and redirected to the proxy's transparent listener on port 3130"), "{text}");
        assert!(text.contains("80: passed and redirected to the proxy's transparent listener on port 3129"), "{text}");
        let quiet = GateConfig { quic_reject: false, redirect: false, ..GateConfig::default() };
        let text = explain(ip("198.51.100.2"), &class, &quiet, to).to_string();
        assert!(text.contains("QUIC): dropped so the browser") && text.contains("no redirect"), "{text}");
    }

    #[test]
    fn unknown_and_blocked_sources_are_dropped_whole() {
        let e = explain(ip("192.0.2.9"), &Class::Unknown, &GateConfig::default(), None);
        assert_eq!(e.verdict, Some(Verdict::Unknown));
        assert!(e.to_string().contains("reported to the catalog"));
        let blocked = Class::Blocked { reason: "unregistered", since: 0, prefix: "192.0.2.9/32".parse().expect("net") };
        let e = explain(ip("192.0.2.9"), &blocked, &GateConfig::default(), None);
        assert_eq!(e.verdict, Some(Verdict::Blocked));
        assert_eq!(e.traffic.len(), 1);
        assert!(e.why.contains("unregistered"));
    }

    #[test]
    fn link_local_sources_pass_only_to_the_gateway() {
        for text in ["fe80::1", "febf::1", "::", "0.0.0.0"] {
            let e = explain(ip(text), &Class::Unknown, &GateConfig::default(), None);
            assert_eq!(e.verdict, None, "{text}");
            assert!(e.to_string().contains("to anything else: dropped"), "{e}");
        }
        assert!(explain(ip("fec0::1"), &Class::Unknown, &GateConfig::default(), None).verdict.is_some());
    }
}
