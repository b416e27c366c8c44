//! `[gate]`: which client-facing interfaces the packet gate guards (each with the operator
//! link it carries), which kernel backend enforces the catalog there, how unknown
//! sources and QUIC are handled, the services every catalogued source may reach besides
//! the web proxy (`allow`) and what each risky category's application opens (`risky`). Plain data with named defaults and a validation that
//! reports every problem with its field.
//!
//! Must not: touch the kernel or the network; the gate's runner does that.

use std::collections::BTreeMap;
use std::time::Duration;

use policies::category::Category;
use policies::duration;
use serde::{Deserialize, Serialize};
use snapshot::{Proto, Service};

/// The packet gate's settings. Without `interfaces` the gate does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Client-facing interfaces and the operator link each carries. Default none.
    pub interfaces: Vec<GateInterface>,
    /// `auto` (XDP where it can load, else nftables), `xdp` or `nftables`. Default `auto`.
    pub backend: BackendChoice,
    /// XDP attach mode: `auto` (native where the driver has it, else generic), `native`
    /// or `generic`. Default `auto`.
    pub xdp_mode: XdpModeChoice,
    /// An unknown source is reported at most once per interval (per gate). Default `"1m"`.
    #[serde(with = "duration::one")]
    pub sample_interval: Duration,
    /// Answer dropped QUIC (UDP to 443/80) from catalogued sources with ICMP port
    /// unreachable so browsers fall back to TCP at once. Default true.
    pub quic_reject: bool,
    /// At most this many such answers per second (the rest are dropped silently).
    /// Default 100.
    pub quic_reject_rate: u32,
    /// Install the rules that send catalogued sources' TCP 443 to the proxy's transparent
    /// listener (`[proxy.transparent]`). Off for operators who manage their own firewall
    /// (`perimeter gate rules` prints them). Default true.
    pub redirect: bool,
    /// NFLOG group through which the nftables backend samples unknown sources.
    /// Default 7411.
    pub nflog_group: u16,
    /// A directory on bpffs where the XDP gate pins its links, so that a gate killed
    /// without stopping keeps enforcing its last catalog and the next one takes over.
    /// Default `/sys/fs/bpf/perimeter` (bpffs is mounted at `/sys/fs/bpf` if it is not).
    /// The bpffs must outlive the process: in a mount namespace of its own (`ip netns
    /// exec`) the gate pins through PID 1's, and refuses XDP where no bpffs would.
    pub pin_dir: std::path::PathBuf,
    /// Services every catalogued source may reach besides the web proxy (TCP 443 and
    /// 80), e.g. `[{ proto = "udp", ports = [53], to = ["192.0.2.53/32"] }, { proto =
    /// "udp", ports = [123] }]`; anything else only by an organisation's grant. QUIC
    /// stays dropped on these ports (only a grant lets it through). Default none.
    pub allow: Vec<Service>,
    /// What an applied risky-service application opens, by category. Default: `vpn`
    /// UDP 500, 1194, 4500, 51820 and TCP 1194; `remote-access` TCP 22, 3389, 5900 and
    /// UDP 3389; `anonymizers` TCP 9001, 9030; `p2p` TCP and UDP 6881-6889.
    #[serde(default = "default_risky")]
    pub risky: BTreeMap<String, Vec<Service>>,
}

/// The services each risky category's application opens unless `[gate] risky` says
/// otherwise.
pub fn default_risky() -> BTreeMap<String, Vec<Service>> {
    let service =
        |proto, ports: &str| Service { proto, ports: Service::parse_ports(ports).expect("valid"), to: vec![] };
    BTreeMap::from([
        ("vpn".to_owned(), vec![service(Proto::Udp, "500,1194,4500,51820"), service(Proto::Tcp, "1194")]),
        ("remote-access".to_owned(), vec![service(Proto::Tcp, "22,3389,5900"), service(Proto::Udp, "3389")]),
        ("anonymizers".to_owned(), vec![service(Proto::Tcp, "9001,9030")]),
        ("p2p".to_owned(), vec![service(Proto::Tcp, "6881-6889"), service(Proto::Udp, "6881-6889")]),
    ])
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            backend: BackendChoice::Auto,
            xdp_mode: XdpModeChoice::Auto,
            sample_interval: Duration::from_secs(60),
            quic_reject: true,
            quic_reject_rate: 100,
            redirect: true,
            nflog_group: 7411,
            pin_dir: std::path::PathBuf::from(super::pin::DEFAULT_DIR),
            allow: Vec::new(),
            risky: default_risky(),
        }
    }
}

/// One guarded interface: `{ name = "eth1", link = "kt-astana-1" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateInterface {
    pub name: String,
    /// The catalog link reported with unknown sources seen on this interface.
    pub link: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Auto,
    Xdp,
    Nftables,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpModeChoice {
    Auto,
    Native,
    Generic,
}

/// Most interfaces one gate guards (counter slots in the XDP program).
pub const MAX_INTERFACES: usize = 63;

impl GateConfig {
    /// Whether `perimeter up` runs the gate at all.
    pub fn enabled(&self) -> bool {
        !self.interfaces.is_empty()
    }

    /// Every problem, as (field, message); empty when the settings are usable.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |field: String, msg: &str| out.push((field, msg.to_owned()));
        if self.interfaces.len() > MAX_INTERFACES {
            bad("gate.interfaces".into(), "at most 63 interfaces");
        }
        for (i, iface) in self.interfaces.iter().enumerate() {
            if !valid_ifname(&iface.name) {
                bad(
                    format!("gate.interfaces[{i}].name"),
                    "must be an interface name (1-15 characters, no '/', blanks or quotes)",
                );
            }
            if iface.link.trim().is_empty() {
                bad(format!("gate.interfaces[{i}].link"), "must name a catalog link");
            }
            if self.interfaces[..i].iter().any(|o| o.name == iface.name) {
                bad(format!("gate.interfaces[{i}].name"), "is listed twice");
            }
        }
        if self.sample_interval < Duration::from_millis(100) {
            bad("gate.sample_interval".into(), "must be at least 100ms");
        }
        if self.quic_reject && self.quic_reject_rate == 0 {
            bad("gate.quic_reject_rate".into(), "must be at least 1 when quic_reject is on");
        }
        for (i, service) in self.allow.iter().enumerate() {
            if let Err(e) = service.check() {
                bad(format!("gate.allow[{i}]"), &e);
            }
        }
        for (category, services) in &self.risky {
            match Category::new(category) {
                Ok(c) if c.is_risky() => {}
                _ => bad(
                    format!("gate.risky.{category}"),
                    "is not a risky category (vpn, anonymizers, remote-access, p2p)",
                ),
            }
            for (i, service) in services.iter().enumerate() {
                if let Err(e) = service.check() {
                    bad(format!("gate.risky.{category}[{i}]"), &e);
                }
            }
        }
        out
    }
}

/// Linux interface names: up to 15 bytes, and nothing that would need quoting in nft.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GateConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_leave_the_gate_off() {
        let cfg = parse("").expect("empty parses");
        assert!(!cfg.enabled());
        assert_eq!(cfg, GateConfig::default());
        assert!(cfg.problems().is_empty());
    }

    #[test]
    fn interfaces_and_durations_parse() {
        let cfg = parse(
            "interfaces = [{ name = \"eth1\", link = \"kt-astana-1\" }]\nbackend = \"nftables\"\nsample_interval = \"5m\"\n",
        )
        .expect("parses");
        assert!(cfg.enabled());
        assert_eq!(cfg.interfaces[0].link, "kt-astana-1");
        assert_eq!(cfg.backend, BackendChoice::Nftables);
        assert_eq!(cfg.sample_interval, Duration::from_secs(300));
    }

    #[test]
    fn junk_and_bad_values_are_refused() {
        for text in [
            "junk = 1",
            "backend = \"ebpf\"",
            "sample_interval = \"5 minutes\"",
            "sample_interval = 5",
            "interfaces = [{ name = \"eth1\" }]",
            "interfaces = [{ name = \"eth1\", link = \"a\", vlan = 3 }]",
            "allow = [{ proto = \"gre\" }]",
            "allow = [{ proto = \"udp\", ports = [0] }]",
            "allow = [{ proto = \"udp\", ports = [53], to = [\"192.0.2.1/24\"] }]",
            "allow = [{ proto = \"udp\", port = 53 }]",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn services_and_risky_categories_parse_and_are_checked() {
        let cfg = parse(
            "allow = [{ proto = \"udp\", ports = [53], to = [\"192.0.2.53/32\"] }, { proto = \"icmp\" }]\n\
             [risky]\nvpn = [{ proto = \"udp\", ports = [\"51820\"] }]\n",
        )
        .expect("parses");
        assert_eq!(cfg.allow[0].to_string(), "udp 53 to 192.0.2.53/32");
        assert_eq!(cfg.risky.len(), 1, "a [risky] table replaces the defaults");
        assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
        assert!(GateConfig::default().risky.contains_key("vpn"));
        let bad = parse(
            "allow = [{ proto = \"tcp\" }, { proto = \"icmp\", ports = [1] }]\n[risky]\nnews = []\nvpn = [{ proto = \"udp\" }]",
        )
        .expect("parses");
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["gate.allow[0]", "gate.allow[1]", "gate.risky.news", "gate.risky.vpn[0]"]);
    }

    #[test]
    fn problems_name_their_field() {
        let cfg = parse(
            "interfaces = [{ name = \"eth 1\", link = \"a\" }, { name = \"eth2\", link = \" \" }, { name = \"eth2\", link = \"b\" }]\nsample_interval = \"10ms\"",
        )
        .expect("parses");
        let fields: Vec<String> = cfg.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["gate.interfaces[0].name", "gate.interfaces[1].link", "gate.interfaces[2].name", "gate.sample_interval"]
        );
    }
}
