//! What catalogued sources may reach besides the web proxy, as the data plane reads it:
//! a network [`Service`] (protocol, ports, optionally destination prefixes), the
//! per-organisation [`Grant`]s that open one (the duty team's grants, and applied
//! risky-service applications, which name a category the gate turns into services),
//! with their expiry. Parsing of the written forms (`tcp`, `1194,51820`, `6881-6889`)
//! lives here too, so the CLI, the API, the store and `[gate] allow` read them alike.
//!
//! Must not: decide whether a packet passes (the gate does, in the kernel) or read the
//! store.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::net::Net;

/// Most ports one service may name once its ranges are counted out: each becomes a
/// kernel table entry per destination.
pub const MAX_PORTS: usize = 1024;
/// Most destination prefixes one service may name.
pub const MAX_DESTINATIONS: usize = 64;

/// The transport protocol a service is reached over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    /// ICMP and ICMPv6 (no ports).
    Icmp,
}

impl Proto {
    /// The IP protocol numbers the service covers (ICMP: both families').
    pub fn numbers(self) -> &'static [u8] {
        match self {
            Proto::Tcp => &[6],
            Proto::Udp => &[17],
            Proto::Icmp => &[1, 58],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

impl std::str::FromStr for Proto {
    type Err = String;

    fn from_str(text: &str) -> Result<Proto, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "icmp" => Ok(Proto::Icmp),
            _ => Err(format!("'{text}' is not a protocol: use tcp, udp or icmp")),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port or an inclusive range of ports, written `1194` or `6881-6889`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ports {
    pub first: u16,
    pub last: u16,
}

impl Ports {
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl std::str::FromStr for Ports {
    type Err = String;

    fn from_str(text: &str) -> Result<Ports, String> {
        let port = |t: &str| match t.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("'{}' is not a port (1-65535)", t.trim())),
            Ok(p) => Ok(p),
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(text)?, port(text)?),
        };
        if first > last {
            return Err(format!("'{text}': the range runs backwards"));
        }
        Ok(Ports { first, last })
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.first == self.last {
            true => write!(f, "{}", self.first),
            false => write!(f, "{}-{}", self.first, self.last),
        }
    }
}

impl Serialize for Ports {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ports, D::Error> {
        /// A port as a number (`53`) or text (`"53"`, `"6881-6889"`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Text(String),
        }
        let text = match Written::deserialize(d)? {
            Written::Number(n) => n.to_string(),
            Written::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A network service: a protocol, its ports (none for ICMP) and, optionally, the only
/// destinations it may be reached at (none: anywhere).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub proto: Proto,
    #[serde(default)]
    pub ports: Vec<Ports>,
    #[serde(default)]
    pub to: Vec<Net>,
}

impl Service {
    /// A checked service: ports for TCP and UDP (none for ICMP), at most [`MAX_PORTS`]
    /// ports and [`MAX_DESTINATIONS`] destinations.
    pub fn new(proto: Proto, ports: Vec<Ports>, to: Vec<Net>) -> Result<Service, String> {
        let service = Service { proto, ports, to };
        service.check()?;
        Ok(service)
    }

    /// Reads `1194,51820,6881-6889`.
    pub fn parse_ports(text: &str) -> Result<Vec<Ports>, String> {
        text.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect()
    }

    /// Why this service cannot be enforced, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        match (self.proto, self.ports.is_empty()) {
            (Proto::Icmp, false) => return Err("ICMP has no ports: name none".into()),
            (Proto::Tcp | Proto::Udp, true) => return Err(format!("name the {} ports (e.g. 1194,51820)", self.proto)),
            _ => {}
        }
        let count: usize = self.ports.iter().map(Ports::len).sum();
        if count > MAX_PORTS {
            return Err(format!("{count} ports; one service names at most {MAX_PORTS}"));
        }
        if self.to.len() > MAX_DESTINATIONS {
            return Err(format!("{} destinations; one service names at most {MAX_DESTINATIONS}", self.to.len()));
        }
        Ok(())
    }

    /// Every port the service names, each once, ascending (none for ICMP).
    pub fn each_port(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.ports.iter().flat_map(|p| p.first..=p.last).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proto.as_str())?;
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(ToString::to_string).collect();
            write!(f, " {}", ports.join(","))?;
        }
        match self.to.is_empty() {
            true => f.write_str(" to anywhere"),
            false => {
                let to: Vec<String> = self.to.iter().map(ToString::to_string).collect();
                write!(f, " to {}", to.join(", "))
            }
        }
    }
}

/// What a grant opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Opens {
    /// The duty team's grant: this service.
    Service(Service),
    /// An applied risky-service application: the services the gateway names for this
    /// category (`[gate] risky`).
    Category(String),
}

/// One organisation's grant as the gate enforces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Where it comes from, as people name it: `grant 7` (the duty team's) or
    /// `request 12` (an applied risky-service application).
    pub source: String,
    /// The organisation's id in the store (what the catalog's prefixes carry).
    pub organisation: u32,
    pub bin: String,
    pub opens: Opens,
    /// Unix milliseconds from which it no longer opens anything; None: until revoked.
    pub until: Option<i64>,
    /// Why it was given (the duty team's reason, the application's purpose).
    pub reason: String,
}

impl Grant {
    /// Whether it still opens anything at `now` (unix milliseconds).
    pub fn live(&self, now: i64) -> bool {
        self.until.is_none_or(|u| u > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges_parse_and_print() {
        let ports = Service::parse_ports("1194, 51820,6881-6889").expect("ports");
        assert_eq!(ports.iter().map(ToString::to_string).collect::<Vec<_>>(), ["1194", "51820", "6881-6889"]);
        assert_eq!(ports[2].len(), 9);
        for bad in ["0", "70000", "x", "9-1", "1-", "-3"] {
            assert!(Service::parse_ports(bad).is_err(), "{bad:?}");
        }
        assert_eq!("UDP".parse::<Proto>(), Ok(Proto::Udp));
        assert!("gre".parse::<Proto>().is_err());
    }

    #[test]
    fn services_are_checked() {
        let p = |t: &str| Service::parse_ports(t).expect("ports");
        assert!(Service::new(Proto::Tcp, vec![], vec![]).is_err(), "TCP needs ports");
        assert!(Service::new(Proto::Icmp, p("1"), vec![]).is_err(), "ICMP has none");
        assert!(Service::new(Proto::Udp, p("1-2000"), vec![]).is_err(), "too many ports");
        let s = Service::new(Proto::Udp, p("53,51820,53"), vec!["192.0.2.0/24".parse().expect("net")]).expect("ok");
        assert_eq!(s.each_port(), [53, 51820]);
        assert_eq!(s.to_string(), "udp 53,51820,53 to 192.0.2.0/24");
        let toml: Service = serde_json::from_str(r#"{"proto": "udp", "ports": [123, "500-501"]}"#).expect("json");
        assert_eq!(toml.each_port(), [123, 500, 501]);
    }

    #[test]
    fn grants_end_at_their_expiry() {
        let g = Grant {
            source: "grant 1".into(),
            organisation: 1,
            bin: "980140000015".into(),
            opens: Opens::Category("vpn".into()),
            until: Some(1_000),
            reason: "staff VPN".into(),
        };
        assert!(g.live(999) && !g.live(1_000));
        assert!(Grant { until: None, ..g }.live(i64::MAX));
    }
}
