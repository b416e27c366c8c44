//! `perimeter gate explain IP`: what the gate does with packets from one source and why,
//! worked out from the catalog's answer for it, its organisation's grants, the links'
//! operators and the gate's settings, with the same precedence as the kernel program
//! (link control to the gateway, blocked, unknown, spoofed, the web proxy, grants, QUIC,
//! the gateway's `allow`, the gateway itself, the rest dropped).
//!
//! Must not: read the kernel or the store; the caller passes the catalog's answer.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use snapshot::{Class, Grant, Opens, Snapshot};

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

/// Explains `ip` as `snapshot` and `config` have it at `now` (unix ms).
pub fn explain(
    ip: IpAddr,
    snapshot: &Snapshot,
    config: &GateConfig,
    redirect: Option<Redirect>,
    now: i64,
) -> Explanation {
    let class = snapshot.classify(ip);
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
    let (verdict, why) = match &class {
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
        _ => {
            let Class::Known { organisation, operator, .. } = &class else { unreachable!("a pass is known") };
            let mut traffic = spoofing(snapshot, config, operator);
            let grants: Vec<&Grant> = snapshot.grants().iter().filter(|g| g.bin == organisation.bin).collect();
            traffic.extend(known_traffic(config, redirect, &grants, now));
            traffic
        }
    };
    Explanation { ip, verdict: Some(verdict), why, traffic }
}

/// Where the source would be spoofed: interfaces whose link belongs to another operator.
fn spoofing(snapshot: &Snapshot, config: &GateConfig, operator: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for iface in &config.interfaces {
        match snapshot.link_operator(&iface.link) {
            Some((_, op)) if op != operator => out.push((
                format!("arriving on {} (link {} of operator {op})", iface.name, iface.link),
                format!("dropped as spoofed: the catalog gives it to {operator}; noted in the log"),
            )),
            None => out.push((
                format!("arriving on {} (link {}, of no operator in the registry)", iface.name, iface.link),
                "not bound to an operator: decided as below".into(),
            )),
            Some(_) => {}
        }
    }
    out
}

/// What one grant opens, in words, or why it opens nothing.
fn grant_words(grant: &Grant, config: &GateConfig, now: i64) -> (String, String) {
    let until = match grant.until {
        Some(at) => format!("until {}", rfc3339(at)),
        None => "until revoked".into(),
    };
    let what = match &grant.opens {
        Opens::Service(s) => s.to_string(),
        Opens::Category(c) => format!("risky category {c}"),
    };
    let name = format!("{} ({what}, {until}; {})", grant.source, grant.reason);
    let services = super::tables::services(&grant.opens, config);
    let action = match (grant.live(now), services.is_empty()) {
        (false, _) => "expired: opens nothing".to_owned(),
        (true, true) => "opens nothing: [gate] risky names no services for this category".to_owned(),
        (true, false) => {
            let list: Vec<String> = services.iter().map(ToString::to_string).collect();
            format!("passed (counted as granted, QUIC too): {}", list.join("; "))
        }
    };
    (name, action)
}

/// A unix-millisecond time as RFC 3339 (UTC).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (h, m, s) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60, secs.rem_euclid(60));
    let date = policies::calendar::Date::from_days(days);
    format!("{date}T{h:02}:{m:02}:{s:02}Z")
}

fn known_traffic(
    config: &GateConfig,
    redirect: Option<Redirect>,
    grants: &[&Grant],
    now: i64,
) -> Vec<(String, String)> {
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
    let mut out = vec![
        (
            "neighbour discovery (ICMPv6 133-137, hop limit 255)".into(),
            "passed to the gateway itself; to anything else decided like the rest".into(),
        ),
        ("TCP to port 443".into(), to(redirect.map(|r| r.https))),
        ("TCP to port 80".into(), to(redirect.and_then(|r| r.http))),
    ];
    out.extend(grants.iter().map(|g| grant_words(g, config, now)));
    out.push(("UDP to port 443 or 80 (QUIC), unless granted".into(), quic));
    out.push((
        "QUIC to any other UDP port (a long header of version 1, 2 or a draft), unless granted".into(),
        "dropped".into(),
    ));
    for service in &config.allow {
        out.push((format!("{service} ([gate] allow)"), "passed".into()));
    }
    out.push(("to the gateway itself".into(), "passed".into()));
    out.push((
        "everything else".into(),
        "dropped (counted as ungranted; noted in the log): reached only by a grant to the organisation".into(),
    ));
    out
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
    use std::collections::HashMap;

    use snapshot::{BlockRef, OrgRef, Proto, Service};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn snapshot() -> Snapshot {
        let orgs = HashMap::from([(1, OrgRef { bin: "980140000015".into(), name: "Ministry A".into() })]);
        let ops = HashMap::from([(1, "alpha".to_owned()), (2, "beta".to_owned())]);
        let assignments = vec![("198.51.100.0/24".parse().expect("net"), 1, 1)];
        let blocks =
            vec![BlockRef { prefix: "198.51.100.9/32".parse().expect("net"), reason: "abuse".into(), since: 0 }];
        let ports = Service::parse_ports("8443").expect("ports");
        let grants = vec![
            Grant {
                source: "grant 4".into(),
                organisation: 1,
                bin: "980140000015".into(),
                opens: Opens::Service(Service::new(Proto::Tcp, ports, vec![]).expect("service")),
                until: Some(86_400_000),
                reason: "ticket 7".into(),
            },
            Grant {
                source: "request 9".into(),
                organisation: 1,
                bin: "980140000015".into(),
                opens: Opens::Category("vpn".into()),
                until: None,
                reason: "staff".into(),
            },
        ];
        Snapshot::build(assignments, orgs, ops, blocks, 1)
            .expect("builds")
            .with_links(HashMap::from([("alpha-1".to_owned(), 1), ("beta-1".to_owned(), 2)]))
            .with_grants(grants)
    }

    fn config() -> GateConfig {
        toml::from_str(
            "interfaces = [{ name = \"eth1\", link = \"alpha-1\" }, { name = \"eth2\", link = \"beta-1\" }, \
             { name = \"eth3\", link = \"lab\" }]\nallow = [{ proto = \"udp\", ports = [53], to = [\"192.0.2.53/32\"] }]",
        )
        .expect("config")
    }

    #[test]
    fn known_sources_get_the_proxy_their_grants_and_nothing_else() {
        let to = Some(Redirect { https: 3130, http: Some(3129) });
        let e = explain(ip("198.51.100.2"), &snapshot(), &config(), to, 0);
        assert_eq!(e.verdict, Some(Verdict::Pass));
        let text = e.to_string();
        for needle in [
            "Ministry A",
            "443: passed and redirected to the proxy's transparent listener on port 3130",
            "grant 4 (tcp 8443 to anywhere, until 1970-01-02T00:00:00Z; ticket 7): passed (counted as granted, QUIC too): tcp 8443 to anywhere",
            "request 9 (risky category vpn, until revoked; staff): passed",
            "udp 500,1194,4500,51820 to anywhere",
            "QUIC), unless granted: dropped, answered with ICMP port unreachable (at most 100/s)",
            "udp 53 to 192.0.2.53/32 ([gate] allow): passed",
            "arriving on eth2 (link beta-1 of operator beta): dropped as spoofed",
            "arriving on eth3 (link lab, of no operator in the registry): not bound",
            "everything else: dropped (counted as ungranted",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("arriving on eth1"), "its own operator's link: {text}");
        let later = explain(ip("198.51.100.2"), &snapshot(), &config(), to, 86_400_000).to_string();
        assert!(later.contains("ticket 7): expired: opens nothing"), "{later}");
    }

    #[test]
    fn unknown_and_blocked_sources_are_dropped_whole() {
        let e = explain(ip("192.0.2.9"), &snapshot(), &GateConfig::default(), None, 0);
        assert_eq!(e.verdict, Some(Verdict::Unknown));
        assert!(e.to_string().contains("reported to the catalog"));
        let e = explain(ip("198.51.100.9"), &snapshot(), &GateConfig::default(), None, 0);
        assert_eq!(e.verdict, Some(Verdict::Blocked));
        assert_eq!(e.traffic.len(), 1);
        assert!(e.why.contains("abuse"));
    }

    #[test]
    fn link_local_sources_pass_only_to_the_gateway() {
        for text in ["fe80::1", "febf::1", "::", "0.0.0.0"] {
            let e = explain(ip(text), &snapshot(), &GateConfig::default(), None, 0);
            assert_eq!(e.verdict, None, "{text}");
            assert!(e.to_string().contains("to anything else: dropped"), "{e}");
        }
        assert!(explain(ip("fec0::1"), &snapshot(), &GateConfig::default(), None, 0).verdict.is_some());
    }
}
