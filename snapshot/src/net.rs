//! IP networks (CIDR prefixes) as the catalog understands them: strict parsing with
//! errors a person can act on, canonical text, containment and the reserved ranges
//! that can never be a user's network.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Address family of a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Number of address bits in this family.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// A CIDR prefix with no host bits set. Ordered by family, then address, then length,
/// so a sorted list puts containing prefixes before the prefixes they contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    family: Family,
    addr: u128,
    len: u8,
}

/// Why a text is not a usable prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("'{0}' is not a CIDR prefix (expected address/length, e.g. 203.0.113.0/24 or 2001:db8::/32)")]
    Syntax(String),
    #[error("'{text}': prefix length {len} is out of range for {family} (0..={max})")]
    Length { text: String, len: String, family: &'static str, max: u8 },
    #[error("'{text}' has host bits set; the network is {meant}")]
    HostBits { text: String, meant: Net },
    #[error("'{text}' is an IPv4-mapped IPv6 prefix; write it as IPv4 ({v4})")]
    Mapped { text: String, v4: String },
}

impl Net {
    /// Builds a prefix, rejecting host bits.
    pub fn new(ip: IpAddr, len: u8) -> Option<Net> {
        let (family, addr) = split(ip);
        if len > family.bits() {
            return None;
        }
        let net = Net { family, addr, len };
        (net.addr & !net.mask() == 0).then_some(net)
    }

    /// The single-address prefix (/32 or /128) of `ip`.
    pub fn host(ip: IpAddr) -> Net {
        let (family, addr) = split(ip);
        Net { family, addr, len: family.bits() }
    }

    /// The prefix of length `len` that contains `ip` (host bits cleared).
    pub fn containing(ip: IpAddr, len: u8) -> Net {
        let (family, addr) = split(ip);
        let len = len.min(family.bits());
        let mut net = Net { family, addr, len };
        net.addr &= net.mask();
        net
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// The prefix length (bits of network part), not a count.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Network address as an integer: u32 range for IPv4, full u128 for IPv6.
    pub fn bits(&self) -> u128 {
        self.addr
    }

    /// Last address of the prefix, as an integer in the same space as [`Net::bits`].
    pub fn last(&self) -> u128 {
        self.addr | (!self.mask() & self.space())
    }

    pub fn network(&self) -> IpAddr {
        join(self.family, self.addr)
    }

    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        let (family, addr) = split(ip);
        family == self.family && addr & self.mask() == self.addr
    }

    /// True when the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Net) -> bool {
        self.family == other.family && self.addr <= other.last() && other.addr <= self.last()
    }

    /// Fixed-width hexadecimal key of an address in this prefix's family; sorts like
    /// the address and is what the store indexes (`start_key`, `end_key`).
    pub fn key(family: Family, value: u128) -> String {
        match family {
            Family::V4 => format!("{value:08x}"),
            Family::V6 => format!("{value:032x}"),
        }
    }

    fn space(&self) -> u128 {
        match self.family {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }

    fn mask(&self) -> u128 {
        if self.len == 0 { 0 } else { (u128::MAX << (self.family.bits() - self.len)) & self.space() }
    }

    /// The reserved range this prefix overlaps, if any: such a prefix is never a user's
    /// network. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are valid.
    pub fn reserved_overlap(&self) -> Option<&'static Reserved> {
        RESERVED.iter().find(|r| r.net().overlaps(self))
    }
}

/// A reserved range and its name.
pub struct Reserved {
    pub cidr: &'static str,
    pub name: &'static str,
}

impl Reserved {
    pub fn net(&self) -> Net {
        self.cidr.parse().expect("reserved table holds valid prefixes")
    }
}

/// Ranges that cannot hold a user's network.
pub static RESERVED: &[Reserved] = &[
    Reserved { cidr: "0.0.0.0/8", name: "unspecified (\"this network\")" },
    Reserved { cidr: "127.0.0.0/8", name: "loopback" },
    Reserved { cidr: "169.254.0.0/16", name: "link-local" },
    Reserved { cidr: "224.0.0.0/4", name: "multicast" },
    Reserved { cidr: "240.0.0.0/4", name: "reserved for future use and broadcast" },
    Reserved { cidr: "::/128", name: "unspecified" },
    Reserved { cidr: "::1/128", name: "loopback" },
    Reserved { cidr: "fe80::/10", name: "link-local" },
    Reserved { cidr: "ff00::/8", name: "multicast" },
];

fn split(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u32::from(a) as u128),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

fn join(family: Family, addr: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(addr as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(addr)),
    }
}

impl FromStr for Net {
    type Err = NetError;

    fn from_str(text: &str) -> Result<Net, NetError> {
        let syntax = || NetError::Syntax(text.to_string());
        let (addr, len) = text.trim().split_once('/').ok_or_else(syntax)?;
        let ip: IpAddr = addr.parse().map_err(|_| syntax())?;
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            let v4len = len.parse::<u8>().ok().and_then(|l| l.checked_sub(96));
            let v4 = v4len.map_or(v4.to_string(), |l| format!("{v4}/{l}"));
            return Err(NetError::Mapped { text: text.to_string(), v4 });
        }
        let family = split(ip).0;
        let parsed = len.parse::<u8>().ok().filter(|l| *l <= family.bits() && !len.starts_with('+'));
        let Some(len_bits) = parsed else {
            let family_name = if family == Family::V4 { "IPv4" } else { "IPv6" };
            return Err(NetError::Length {
                text: text.to_string(),
                len: len.to_string(),
                family: family_name,
                max: family.bits(),
            });
        };
        Net::new(ip, len_bits)
            .ok_or_else(|| NetError::HostBits { text: text.to_string(), meant: Net::containing(ip, len_bits) })
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

impl serde::Serialize for Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Net, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_canonical_forms() {
        assert_eq!(net("203.0.113.0/24").to_string(), "203.0.113.0/24");
        assert_eq!(net("2001:0DB8:0000::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("0.0.0.0/0").len(), 0);
        assert_eq!(net("2001:db8::1/128").to_string(), "2001:db8::1/128");
    }

    #[test]
    fn host_bits_name_the_intended_network() {
        let err = "203.0.113.7/24".parse::<Net>().unwrap_err();
        assert_eq!(err.to_string(), "'203.0.113.7/24' has host bits set; the network is 203.0.113.0/24");
        let err = "2001:db8::1/32".parse::<Net>().unwrap_err();
        assert!(err.to_string().ends_with("the network is 2001:db8::/32"), "{err}");
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "203.0.113.0",
            "203.0.113.0/",
            "203.0.113/24",
            "foo/8",
            "1.2.3.4/33",
            "::/129",
            "1.2.3.0/+24",
            "1.2.3.0/-1",
        ] {
            assert!(bad.parse::<Net>().is_err(), "{bad} accepted");
        }
        let err = "::ffff:192.0.2.0/120".parse::<Net>().unwrap_err();
        assert!(err.to_string().contains("192.0.2.0/24"), "{err}");
    }

    #[test]
    fn containment_and_overlap() {
        let a = net("198.51.100.0/24");
        assert!(a.contains_ip("198.51.100.255".parse().unwrap()));
        assert!(!a.contains_ip("198.51.101.0".parse().unwrap()));
        assert!(!a.contains_ip("2001:db8::".parse().unwrap()));
        assert!(a.overlaps(&net("198.51.0.0/16")));
        assert!(net("198.51.0.0/16").overlaps(&a));
        assert!(!a.overlaps(&net("198.51.101.0/24")));
        assert_eq!(a.last(), u32::from("198.51.100.255".parse::<Ipv4Addr>().unwrap()) as u128);
        assert_eq!(net("::/0").last(), u128::MAX);
    }

    #[test]
    fn reserved_ranges_are_found_private_ones_are_not() {
        assert_eq!(net("127.0.0.0/24").reserved_overlap().unwrap().name, "loopback");
        assert_eq!(net("0.0.0.0/0").reserved_overlap().unwrap().cidr, "0.0.0.0/8");
        assert_eq!(net("fe80::/64").reserved_overlap().unwrap().name, "link-local");
        assert_eq!(net("ff02::/16").reserved_overlap().unwrap().name, "multicast");
        assert_eq!(net("::1/128").reserved_overlap().unwrap().name, "loopback");
        for ok in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8", "192.0.2.0/24", "2001:db8::/32"] {
            assert!(net(ok).reserved_overlap().is_none(), "{ok}");
        }
    }

    #[test]
    fn keys_sort_like_addresses() {
        let a = Net::key(Family::V4, net("9.0.0.0/8").bits());
        let b = Net::key(Family::V4, net("10.0.0.0/8").bits());
        assert!(a < b);
        assert_eq!(b.len(), 8);
    }
}
