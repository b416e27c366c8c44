//! A test world: a real catalog store (SQLite, or PostgreSQL when the test
//! run gives one) with an operator, its links, an organisation and a block;
//! a snapshot that also maps loopback addresses (see `snapshot`); the
//! gateway root and leaf forge; test rules; and a running proxy.
//!
//! Source addresses: 127.0.0.1 belongs to organisation A, 127.0.0.2 is
//! unknown, 127.0.0.3 is blocked in the store.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use catalog::ingest::ObservationSink;
use catalog::snapshot::{BlockRef, OrgRef, Snapshot, SnapshotHandle};
use catalog::store::NewOperator;
use catalog::store::testing::fresh_database;
use catalog::{Bin, Net, Store};
use certs::{CaConfig, ForgeConfig, LeafForge, RootCa};
use iqbsh::{Categorized, Decision, ProxyConfig, ProxyDeps, ProxyHandle, Rules, RulesHandle};

use super::origin::{TestCa, TlsOrigin, plain_origin, tls_origin};

pub const OPERATOR: &str = "alpha";
pub const EXPLICIT_LINK: &str = "alpha-explicit";
pub const TRANSPARENT_LINK: &str = "alpha-transparent";
pub const BLOCK_REASON: &str = "manual block: abuse report 42";
pub const KNOWN: &str = "127.0.0.1";
pub const UNKNOWN: &str = "127.0.0.2";
pub const BLOCKED: &str = "127.0.0.3";

/// A valid BIN from 11 digits.
pub fn bin(first11: &str) -> Bin {
    let d: Vec<u32> = first11.chars().map(|c| c.to_digit(10).expect("digit")).collect();
    format!("{first11}{}", Bin::check_digit(&d).expect("check digit")).parse().expect("bin")
}

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
    pub store: Store,
    pub snapshot: SnapshotHandle,
    pub sink: ObservationSink,
    pub bin: Bin,
}

/// Sets up the store: operator with both links, organisation A, a block on 127.0.0.3.
pub async fn catalog(dir: &std::path::Path) -> Catalog {
    let store = Store::open(&fresh_database(dir).await).await.expect("store opens");
    let links = vec![EXPLICIT_LINK.to_owned(), TRANSPARENT_LINK.to_owned()];
    store.add_operator("test", NewOperator { name: OPERATOR.into(), links, ..Default::default() }).await.expect("op");
    let bin = bin("98014000001");
    store.add_organisation("test", &bin, "Organisation A", &[OPERATOR.into()]).await.expect("org");
    let blocked: Net = format!("{BLOCKED}/32").parse().expect("net");
    store.block("test", blocked, BLOCK_REASON).await.expect("block");
    let snapshot = SnapshotHandle::new(snapshot(&store).await);
    let sink = ObservationSink::spawn(store.clone(), 1000, Duration::from_millis(50));
    Catalog { store, snapshot, sink, bin }
}

/// Everything the store holds, plus 127.0.0.1/32 for organisation A.
///
/// The catalog's import refuses loopback prefixes (reserved), and tests can
/// only source traffic from loopback; so the test assigns the loopback
/// address through `Snapshot::build`, the same constructor `Snapshot::load`
/// uses, with the store's own organisation, operator and blocks.
async fn snapshot(store: &Store) -> Snapshot {
    let orgs = store.organisations(None).await.expect("orgs");
    let ops = store.operators().await.expect("operators");
    let org = orgs.iter().find(|o| o.operators.iter().any(|op| op == OPERATOR)).expect("org A");
    let op = ops.iter().find(|o| o.name == OPERATOR).expect("operator");
    let mut assignments = store.current_assignments().await.expect("assignments");
    assignments.push((format!("{KNOWN}/32").parse().expect("net"), org.id, op.id));
    let org_refs = orgs.iter().map(|o| (o.id, OrgRef { bin: o.bin.to_string(), name: o.name.clone() })).collect();
    let op_names = ops.iter().map(|o| (o.id, o.name.clone())).collect();
    let blocks = store.blocks(&Default::default()).await.expect("blocks");
    let blocks = blocks.into_iter().map(|b| BlockRef { prefix: b.prefix, reason: b.reason, since: b.since }).collect();
    Snapshot::build(assignments, org_refs, op_names, blocks, store.generation().await.expect("generation"))
        .expect("snapshot")
}

/// A running test world.
pub struct World {
    pub dir: tempfile::TempDir,
    pub catalog: Catalog,
    pub origin: TlsOrigin,
    pub plain: TlsOrigin,
    pub proxy: ProxyHandle,
    pub rules: RulesHandle,
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
    cfg.connect_ports = vec![origin.addr.port(), plain.addr.port()];
    cfg.upstream.extra_anchors = vec![w.test_ca_pem.clone()];
    cfg.dns.deny_destinations = Vec::new();
    let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
    for name in ["bank.test", "news.test", "casino.test", "doctor.test", "expired.test", "wrongname.test"] {
        cfg.dns.hosts.insert(name.into(), vec![loopback]);
    }
    cfg.dns.hosts.insert("selfsigned.test".into(), vec![loopback]);
    cfg.access_log.squid = Some(w.squid_log.clone());
    cfg.access_log.json = Some(w.json_log.clone());
    edit(&mut cfg);
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
        let catalog = catalog(dir.path()).await;
        let forge = Arc::new(LeafForge::new(root, ForgeConfig::default()).expect("forge"));
        let rules = RulesHandle::new(Arc::new(TestRules::standard()));
        let cfg = config(&paths, &origin, &plain, |cfg| edit(cfg, &origin));
        let deps = ProxyDeps {
            snapshot: catalog.snapshot.clone(),
            observations: catalog.sink.clone(),
            forge,
            rules: rules.clone(),
        };
        let proxy = iqbsh::serve(cfg, deps).await.expect("proxy starts");
        let Paths { test_ca_pem, gateway_pem, squid_log, json_log } = paths;
        World { dir, catalog, origin, plain, proxy, rules, gateway_pem, test_ca_pem, squid_log, json_log }
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
