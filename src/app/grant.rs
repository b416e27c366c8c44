//! A grant's words as the duty team writes them, for the CLI and the API alike: the
//! protocol, ports and destinations of a service (checked: TCP or UDP, the ports, at most
//! the bounds the gate can hold) and its expiry (the last day in force, or an instant).
//!
//! Must not: record anything; the store does.

use snapshot::{Net, Proto, Service};

use super::output::{parse_day, parse_instant};

/// A checked TCP or UDP service from its words; each problem names its field.
pub fn service(proto: &str, ports: &str, to: &[String]) -> anyhow::Result<Service> {
    let proto: Proto = proto.parse().map_err(|e| anyhow::anyhow!("proto: {e}"))?;
    anyhow::ensure!(proto != Proto::Icmp, "proto: grants open tcp or udp; ICMP is opened by [gate] allow");
    let ports = Service::parse_ports(ports).map_err(|e| anyhow::anyhow!("ports: {e}"))?;
    let to: Vec<Net> = to
        .iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().map_err(|e| anyhow::anyhow!("to: {e}")))
        .collect::<anyhow::Result<_>>()?;
    Service::new(proto, ports, to).map_err(|e| anyhow::anyhow!("{e}"))
}

/// An expiry (`--until`, `until`): the end of a Kazakhstan day, or an RFC 3339 instant, in unix ms.
pub fn expiry(text: &str) -> anyhow::Result<i64> {
    match parse_day(text) {
        Ok((_, end)) => Ok(end),
        Err(_) => parse_instant(text).map_err(|e| anyhow::anyhow!("until: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::output::when;

    #[test]
    fn services_and_expiries_are_read_with_their_field_named() {
        let s = service("udp", "1194,51820", &["203.0.113.0/24,2001:db8::/32".into()]).expect("service");
        assert_eq!(s.to_string(), "udp 1194,51820 to 203.0.113.0/24, 2001:db8::/32");
        for (proto, ports, to, field) in [
            ("gre", "1", "", "proto"),
            ("icmp", "", "", "ICMP"),
            ("tcp", "0", "", "ports"),
            ("tcp", "22", "203.0.113.1/24", "to: "),
            ("tcp", "1-2000", "", "1024"),
        ] {
            let to: Vec<String> = if to.is_empty() { vec![] } else { vec![to.into()] };
            let e = service(proto, ports, &to).expect_err(proto).to_string();
            assert!(e.contains(field), "{e}");
        }
        assert_eq!(when(expiry("2026-03-01").expect("day")), "2026-03-02T00:00:00+05:00");
        assert_eq!(when(expiry("2026-03-01T12:00:00+05:00").expect("instant")), "2026-03-01T12:00:00+05:00");
        assert!(expiry("tomorrow").expect_err("bad").to_string().contains("until"));
    }
}
