//! A test world: a catalog snapshot with an operator, an organisation and a
//! block, built from plain lists as the control plane builds it (the proxy's
//! crate has no store; the binary's tests cover the path through the store);
//! the observation sink with what it received; the gateway root and leaf
//! forge; test rules; and a running proxy.
//!
//! Source addresses: 127.0.0.1 and 127.0.0.4 belong to organisation A,
//! 127.0.0.2 is unknown, 127.0.0.3 is blocked.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certs::{CaConfig, ForgeConfig, LeafForge, RootCa};
use iqbsh::{Categorized, Decision, ProxyConfig, ProxyDeps, ProxyHandle, Rules, RulesHandle, ThreatsHandle};
use snapshot::{BlockRef, Net, Observation, ObservationSink, OrgRef, Snapshot, SnapshotHandle};

use super::origin::{TestCa, TlsOrigin, plain_origin, tls_origin};

pub const OPERATOR: &str = "alpha";
pub const EXPLICIT_LINK: &str = "alpha-explicit";
pub const TRANSPARENT_LINK: &str = "alpha-transparent";
pub const BLOCK_REASON: &str = "manual block: abuse report 42";
pub const KNOWN: &str = "127.0.0.1";
pub const UNKNOWN: &str = "127.0.0.2";
pub const BLOCKED: &str = "127.0.0.3";
/// A second workstation of organisation A.
pub const COLLEAGUE: &str = "127.0.0.4";
/// Organisation A's BIN.
pub const BIN: &str = "980140000015";

/// Categories by host; `denied` categories are refused to every organisation.
pub struct TestRules {
    pub categories: HashMap<&'static str, &'static str>,
    pub exempt: HashSet<&'static str>,
    pub denied: HashSet<&'static str>,
}

impl TestRules {
    pub fn standard() -> Self {
        Self {
            categories: HashMap::from([
                ("bank.test", "finance"),
                ("doctor.test", "health"),
                ("news.test", "news"),
                ("casino.test", "gambling"),
            ]),
            exempt: HashSet::from(["finance", "health"]),
            denied: HashSet::from(["gambling", "health"]),
        }
    }
}

impl Rules for TestRules {
    fn categorize(&self, host: &str) -> Categorized {
        let category = self.categories.get(host).copied().unwrap_or("uncategorised");
        Categorized { categories: vec![category.to_owned()], exempt: self.exempt.contains(category) }
    }

    fn decide(&self, org_bin: &str, _host: &str, _url: &str, categories: &[String]) -> Decision {
        match categories.iter().find(|c| self.denied.contains(c.as_str())) {
            Some(c) => Decision::deny(format!("category {c} is not in the policy of organisation {org_bin}")),
            None => Decision::allow(format!("allowed for organisation {org_bin}")),
        }
    }
}

/// The catalog side of the world.
pub struct Catalog {
    pub snapshot: SnapshotHandle,
    pub sink: ObservationSink,
    /// Every sighting the sink received, in order.
    pub sightings: Arc<Mutex<Vec<Observation>>>,
}

impl Catalog {
    /// Waits (bounded) until the sink has received sightings that satisfy `pred`, and
    /// returns them all.
    pub async fn wait_sightings(&self, what: &str, pred: impl Fn(&[Observation]) -> bool) -> Vec<Observation> {
        for _ in 0..100 {
            let seen = self.sightings.lock().expect("sightings").clone();
            if pred(&seen) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sink never received {what}; have {:?}", self.sightings.lock().expect("sightings"));
    }
}

/// The snapshot: operator `alpha` delivers 127.0.0.1/32 of organisation A; 127.0.0.3/32
/// is blocked. Tests can only source traffic from loopback, which the catalog's import
/// refuses (reserved), so the snapshot is built from lists as the control plane does.
pub fn catalog() -> Catalog {
    let snapshot = snapshot(1, &[]);
    let (sink, mut rx) = ObservationSink::channel(1000);
    let sightings = Arc::new(Mutex::new(Vec::new()));
    let collected = Arc::clone(&sightings);
    tokio::spawn(async move {
        while let Some(o) = rx.recv().await {
            collected.lock().expect("sightings").push(o);
        }
    });
    Catalog { snapshot: SnapshotHandle::new(snapshot), sink, sightings }
}

/// The world's snapshot as of `generation`, with the sources in `blocked` blocked
/// besides the standard one (a later generation the control plane would publish).
pub fn snapshot(generation: i64, blocked: &[&str]) -> Snapshot {
    let orgs = HashMap::from([(1, OrgRef { bin: BIN.into(), name: "Organisation A".into() })]);
    let ops = HashMap::from([(1, OPERATOR.to_owned())]);
    let known: Net = format!("{KNOWN}/32").parse().expect("net");
    let colleague: Net = format!("{COLLEAGUE}/32").parse().expect("net");
    let mut blocks = Vec::new();
    for ip in [BLOCKED].iter().chain(blocked) {
        let prefix: Net = format!("{ip}/32").parse().expect("net");
        blocks.push(BlockRef { prefix, reason: BLOCK_REASON.into(), since: generation });
    }
    Snapshot::build(vec![(known, 1, 1), (colleague, 1, 1)], orgs, ops, blocks, generation).expect("snapshot")
}

/// A running test world.
pub struct World {
    pub dir: tempfile::TempDir,
    pub catalog: Catalog,
    pub origin: TlsOrigin,
    pub plain: TlsOrigin,
    pub proxy: ProxyHandle,
    pub rules: RulesHandle,
    pub threats: ThreatsHandle,
    pub gateway_pem: PathBuf,
    pub test_ca_pem: PathBuf,
    pub squid_log: PathBuf,
    pub json_log: PathBuf,
}

/// The standard configuration for the world's origins, with `edit` applied.
pub fn config(w: &Paths, origin: &TlsOrigin, plain: &TlsOrigin, edit: impl FnOnce(&mut ProxyConfig)) -> ProxyConfig {
    let mut cfg = ProxyConfig::default();
    cfg.explicit.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.explicit.link = EXPLICIT_LINK.into();
    cfg.destinations.ports = vec![origin.addr.port(), plain.addr.port()];
    cfg.upstream.extra_anchors = vec![w.test_ca_pem.clone()];
    cfg.destinations.deny = Vec::new();
    let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
    for name in ["bank.test", "news.test", "casino.test", "doctor.test", "expired.test", "wrongname.test"] {
        cfg.dns.hosts.insert(name.into(), vec![loopback]);
    }
    cfg.dns.hosts.insert("selfsigned.test".into(), vec![loopback]);
    cfg.access_log.squid = Some(w.squid_log.clone());
    cfg.access_log.json = Some(w.json_log.clone());
    cfg.icap.hold.dir = w.json_log.with_file_name("scan-hold");
    edit(&mut cfg);
    // Redirected plain HTTP goes to the plain origin, as port 80 would in production.
    if let Some(t) = cfg.transparent.as_mut() {
        t.http_upstream_port = plain.addr.port();
    }
    cfg
}

/// File locations of a world.
pub struct Paths {
    pub test_ca_pem: PathBuf,
    pub gateway_pem: PathBuf,
    pub squid_log: PathBuf,
    pub json_log: PathBuf,
}

impl World {
    /// Starts origins, catalog, forge and a proxy configured by `edit`.
    pub async fn start(edit: impl FnOnce(&mut ProxyConfig, &TlsOrigin)) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new();
        let root = Arc::new(RootCa::generate(&CaConfig::default(), time::OffsetDateTime::now_utc()).expect("root"));
        let paths = Paths {
            test_ca_pem: ca.write_pem(dir.path()),
            gateway_pem: dir.path().join("gateway-root.pem"),
            squid_log: dir.path().join("access.log"),
            json_log: dir.path().join("access.jsonl"),
        };
        std::fs::write(&paths.gateway_pem, root.cert_pem()).expect("write gateway root");
        let (origin, plain) = (tls_origin(&ca).await, plain_origin().await);
        let catalog = catalog();
        let forge = Arc::new(LeafForge::new(root, ForgeConfig::default()).expect("forge"));
        let rules = RulesHandle::new(Arc::new(TestRules::standard()));
        let threats = ThreatsHandle::default();
        let cfg = config(&paths, &origin, &plain, |cfg| edit(cfg, &origin));
        let deps = ProxyDeps {
            snapshot: catalog.snapshot.clone(),
            observations: catalog.sink.clone(),
            forge,
            rules: rules.clone(),
            threats: threats.clone(),
        };
        let proxy = iqbsh::serve(cfg, deps).await.expect("proxy starts");
        let Paths { test_ca_pem, gateway_pem, squid_log, json_log } = paths;
        World { dir, catalog, origin, plain, proxy, rules, threats, gateway_pem, test_ca_pem, squid_log, json_log }
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.proxy.explicit_addr())
    }

    /// The JSON access-log records so far (flushed first).
    pub async fn json_records(&self) -> Vec<serde_json::Value> {
        self.proxy.flush_access_log().await;
        let text = std::fs::read_to_string(&self.json_log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
    }

    /// Waits (bounded) for a JSON record matching `pred`; records are written when a response ends.
    pub async fn wait_record(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        for _ in 0..100 {
            if let Some(r) = self.json_records().await.into_iter().find(|r| pred(r)) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no access-log record {what}; have:\n{:#?}", self.json_records().await);
    }

    /// The Squid-format lines so far (flushed first).
    pub async fn squid_lines(&self) -> Vec<String> {
        self.proxy.flush_access_log().await;
        std::fs::read_to_string(&self.squid_log).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}
