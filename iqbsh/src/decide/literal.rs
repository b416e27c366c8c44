//! Address literals in hosts, in every textual form a client or a URL parser
//! accepts: bracketed IPv6 (IPv4-mapped included), dotted IPv4, and the
//! forms the WHATWG URL standard and `inet_aton` read as IPv4 (`3232235777`,
//! `0x7f.1`, `0177.0.0.1`, `127.1`). A literal is resolved to itself and
//! falls in the `ip-literal` category, never "uncategorised"; a host that
//! ends in a number but is no valid address is refused rather than looked up.
//!
//! Must not: resolve or decide; a pure parser over the host text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a host's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// An address literal, in whatever form it was written.
    Literal(IpAddr),
    /// Ends in a number but is no address (`1.2.3.4.5`, `256.1.1.1.1`): refused.
    Malformed,
    /// A name to resolve.
    Name,
}

/// The address `host` names literally, if it does.
#[cfg(test)]
pub(crate) fn parse(host: &str) -> Option<IpAddr> {
    match kind(host) {
        HostKind::Literal(ip) => Some(ip),
        HostKind::Malformed | HostKind::Name => None,
    }
}

/// Classifies the text of a host.
pub(crate) fn kind(host: &str) -> HostKind {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().map_or(HostKind::Malformed, |v6| HostKind::Literal(IpAddr::V6(v6)));
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return HostKind::Literal(IpAddr::V6(v6));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    let Some(last) = parts.last() else { return HostKind::Name };
    let digits = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    if number(last).is_none() && !digits {
        return HostKind::Name;
    }
    ipv4(&parts).map_or(HostKind::Malformed, |v4| HostKind::Literal(IpAddr::V4(v4)))
}

/// One part of an IPv4 literal: decimal, `0x` hexadecimal or `0` octal.
fn number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    if digits.len() > 20 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// One to four parts; the last fills the bytes the others leave.
fn ipv4(parts: &[&str]) -> Option<Ipv4Addr> {
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| number(p)).collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|n| *n > 255) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let high = leading.iter().enumerate().fold(0u64, |acc, (i, n)| acc | (n << (24 - 8 * i as u32)));
    Some(Ipv4Addr::from(u32::try_from(high | last).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_textual_form_of_an_address_is_a_literal() {
        let loopback = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
        for text in ["127.0.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "127.0.0.1."]
        {
            assert_eq!(parse(text), Some(loopback), "{text}");
        }
        assert_eq!(parse("3232235777"), Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1))));
        assert_eq!(parse("[::1]"), Some("::1".parse().expect("ip")));
        assert_eq!(parse("[::ffff:127.0.0.1]"), Some("::ffff:127.0.0.1".parse().expect("ip")));
        assert_eq!(parse("::ffff:7f00:1"), Some("::ffff:127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn names_stay_names_and_numeric_junk_is_malformed() {
        for name in ["news.test", "1.2.3.com", "0x.test", "example"] {
            assert_eq!(kind(name), HostKind::Name, "{name}");
        }
        for junk in ["1.2.3.4.5", "256.1.1.1", "4294967296", "1.2.3.256", "09", "[news.test]", "1..1"] {
            assert_eq!(kind(junk), HostKind::Malformed, "{junk}");
        }
    }
}
