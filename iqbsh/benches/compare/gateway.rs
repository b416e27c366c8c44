//! The IQBSH side of the comparison: the proxy on its own runtime, with a
//! catalog snapshot that knows 127.0.0.1, an allow-all rule set in which
//! `bank.test` is exempt (spliced) and every other host is bumped, and the test
//! CA as extra trust anchor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use certs::{CaConfig, ForgeConfig, LeafForge, RootCa};
use iqbsh::{Categorized, Decision, ProxyConfig, ProxyDeps, ProxyHandle, Rules, RulesHandle};
use snapshot::{ObservationSink, OrgRef, Snapshot, SnapshotHandle};

struct AllowAll;

impl Rules for AllowAll {
    fn categorize(&self, host: &str) -> Categorized {
        match host {
            super::SPLICED => Categorized { categories: vec!["banking".into()], exempt: true },
            _ => Categorized { categories: vec!["news".into()], exempt: false },
        }
    }
    fn decide(&self, _: &str, _: &str, _: &str, _: &[String]) -> Decision {
        Decision::allow("benchmark")
    }
}

/// A running gateway and the PEM of its root.
pub struct Gateway {
    pub handle: ProxyHandle,
    pub root_pem: String,
}

/// Starts the proxy; `dir` holds the logs and the anchors file.
/// `names` are the host names the static resolver maps to 127.0.0.1; with
/// `icap`, downloads are scanned (RESPMOD) by that service.
pub async fn start(
    dir: &Path,
    test_ca_pem: &Path,
    origin_ports: &[u16],
    names: &[String],
    icap: Option<&str>,
) -> Gateway {
    let net = "127.0.0.1/32".parse().expect("net");
    let orgs = HashMap::from([(1, OrgRef { bin: "980140000010".into(), name: "bench".into() })]);
    let ops = HashMap::from([(1, "bench".to_owned())]);
    let snapshot = Snapshot::build(vec![(net, 1, 1)], orgs, ops, Vec::new(), 1).expect("snapshot");
    let root = Arc::new(RootCa::generate(&CaConfig::default(), time::OffsetDateTime::now_utc()).expect("root"));
    let root_pem = root.cert_pem();
    let mut cfg = ProxyConfig::default();
    cfg.explicit.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.destinations.ports = origin_ports.to_vec();
    cfg.upstream.extra_anchors = vec![test_ca_pem.to_path_buf()];
    cfg.destinations.deny = Vec::new();
    for name in names {
        cfg.dns.hosts.insert(name.clone(), vec!["127.0.0.1".parse().expect("ip")]);
    }
    cfg.rate_limit.per_second = 1_000_000;
    cfg.rate_limit.burst = 1_000_000;
    cfg.rate_limit.per_source_per_second = 1_000_000;
    cfg.rate_limit.per_source_burst = 1_000_000;
    cfg.access_log.squid = Some(dir.join("iqbsh-access.log"));
    cfg.access_log.json = Some(dir.join("iqbsh-access.jsonl"));
    if let Some(url) = icap {
        let service = format!("url = \"{url}\"\nmethods = [\"respmod\"]\n");
        cfg.icap.services.insert("av".into(), toml::from_str(&service).expect("ICAP service"));
        cfg.icap.hold.dir = dir.join("scan-hold");
    }
    let deps = ProxyDeps {
        snapshot: SnapshotHandle::new(snapshot),
        // Every source is known: nothing is reported, so the receiving half is not needed.
        observations: ObservationSink::channel(1000).0,
        forge: Arc::new(LeafForge::new(root, ForgeConfig::default()).expect("forge")),
        rules: RulesHandle::new(Arc::new(AllowAll)),
        threats: iqbsh::ThreatsHandle::default(),
    };
    Gateway { handle: iqbsh::serve(cfg, deps).await.expect("proxy starts"), root_pem }
}
