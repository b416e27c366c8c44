//! Configuration: the shipped example parses and junk keys are rejected;
//! `serve` refuses bad files and bad fields with errors naming them.

use std::sync::Arc;

use certs::{CaConfig, ForgeConfig, LeafForge, RootCa};
use iqbsh::{Categorized, Decision, ProxyConfig, ProxyDeps, Rules, RulesHandle, ServeError};
use snapshot::{ObservationSink, Snapshot, SnapshotHandle};

const EXAMPLE: &str = include_str!("../proxy.example.toml");

#[test]
fn the_example_parses_and_matches_the_defaults_where_it_says_so() {
    let cfg = ProxyConfig::from_toml(EXAMPLE).expect("example parses");
    cfg.check().expect("example is valid");
    let defaults = ProxyConfig::default();
    assert_eq!(cfg.explicit, defaults.explicit);
    assert_eq!((cfg.rate_limit, cfg.timeouts), (defaults.rate_limit, defaults.timeouts));
    assert_eq!(cfg.destinations, defaults.destinations);
    assert_eq!(cfg.ech_fronts, defaults.ech_fronts);
    assert_eq!(cfg.transparent.expect("transparent").upstream_port, 443);
    assert_eq!((cfg.icap.scan_limit, cfg.icap.over_limit), (defaults.icap.scan_limit, defaults.icap.over_limit));
    assert_eq!((&cfg.icap.hold, &cfg.icap.streaming), (&defaults.icap.hold, &defaults.icap.streaming));
    let av = &cfg.icap.services["antivirus"];
    assert_eq!((av.timeout, av.max_connections, av.on_failure), (std::time::Duration::from_secs(30), 64, None));
    assert_eq!(cfg.icap.content[0].over_limit, Some(iqbsh::OverLimit::Pass));
}

#[test]
fn junk_keys_anywhere_in_the_example_are_rejected() {
    let sections = [
        "",
        "[explicit]",
        "[transparent]",
        "[upstream]",
        "[dns]",
        "[destinations]",
        "[rate_limit]",
        "[access_log]",
        "[icap]",
        "[icap.services.antivirus]",
        "[[icap.content]]",
    ];
    for section in sections {
        let text = EXAMPLE.replacen(section, &format!("{section}\nno_such_key = 1"), 1);
        let text = if section.is_empty() { format!("no_such_key = 1\n{EXAMPLE}") } else { text };
        let err = ProxyConfig::from_toml(&text).expect_err(section).to_string();
        assert!(err.contains("no_such_key"), "{section}: {err}");
    }
}

struct AllowAll;

impl Rules for AllowAll {
    fn categorize(&self, _: &str) -> Categorized {
        Categorized::default()
    }
    fn decide(&self, _: &str, _: &str, _: &str, _: &[String]) -> Decision {
        Decision::allow("test")
    }
}

async fn serve(cfg: ProxyConfig) -> Result<iqbsh::ProxyHandle, ServeError> {
    let root = Arc::new(RootCa::generate(&CaConfig::default(), time::OffsetDateTime::now_utc()).expect("root"));
    let deps = ProxyDeps {
        snapshot: SnapshotHandle::new(Snapshot::empty()),
        observations: ObservationSink::channel(10).0,
        forge: Arc::new(LeafForge::new(root, ForgeConfig::default()).expect("forge")),
        rules: RulesHandle::new(Arc::new(AllowAll)),
        threats: iqbsh::ThreatsHandle::default(),
    };
    iqbsh::serve(cfg, deps).await
}

fn local() -> ProxyConfig {
    let mut cfg = ProxyConfig::default();
    cfg.explicit.listen = "127.0.0.1:0".parse().expect("addr");
    cfg
}

#[tokio::test]
async fn bad_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = local();
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").expect("write");
    cfg.upstream.extra_anchors = vec![missing.clone(), not_pem.clone()];
    let err = serve(cfg).await.err().expect("refused").to_string();
    assert!(err.contains(&missing.display().to_string()) && err.contains("cannot read"), "{err}");
    assert!(err.contains(&not_pem.display().to_string()) && err.contains("no CERTIFICATE"), "{err}");

    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 ok.test\n300.1.1.1 bad.test\n").expect("write");
    let mut cfg = local();
    cfg.dns.hosts_file = Some(hosts.clone());
    let err = serve(cfg).await.err().expect("refused").to_string();
    assert!(err.contains(&format!("{}:2", hosts.display())), "{err}");
}

#[tokio::test]
async fn bad_fields_and_busy_ports_are_named() {
    let mut cfg = local();
    cfg.rate_limit.burst = 0;
    cfg.explicit.link = " ".into();
    let av: iqbsh::IcapServiceConfig =
        toml::from_str("url = \"http://127.0.0.1/avscan\"\nmethods = []").expect("parses");
    cfg.icap.services.insert("av".into(), av);
    let err = serve(cfg).await.err().expect("refused").to_string();
    assert!(err.contains("rate_limit.burst") && err.contains("explicit.link"), "{err}");
    assert!(err.contains("icap.services.av.url") && err.contains("icap.services.av.methods"), "{err}");

    let running = serve(local()).await.expect("starts");
    let mut cfg = local();
    cfg.explicit.listen = running.explicit_addr();
    let err = serve(cfg).await.err().expect("port in use").to_string();
    assert!(err.contains("explicit.listen") && err.contains(&running.explicit_addr().to_string()), "{err}");
    running.shutdown().await;
}
