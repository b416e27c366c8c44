//! What the proxy's tests share: the engine (required in CI, skipped elsewhere when
//! missing), a test CA that issues site certificates (rcgen), an origin that records
//! every byte it receives and answers each request with what it saw, the WAF started on
//! a runtime of its own (optionally inside a network namespace), curl, and the audit log.

#![allow(dead_code)]

pub mod netns;
pub mod origin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use waf::engine::{Engine, EnginePaths, Mode, RuleSettings};
use waf::{Site, SitesHandle, WafConfig, WafHandle};

/// The engine, once per test binary; `None` (skip) when libmodsecurity or the CRS is
/// missing outside CI.
pub fn engine() -> Option<std::sync::Arc<Engine>> {
    static ENGINE: OnceLock<Option<std::sync::Arc<Engine>>> = OnceLock::new();
    ENGINE
        .get_or_init(|| match Engine::load(&EnginePaths::default()) {
            Ok(engine) => Some(std::sync::Arc::new(engine)),
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("the proxy tests need libmodsecurity3 and modsecurity-crs: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: {why}");
                None
            }
        })
        .clone()
}

/// A test CA issuing site certificates.
pub struct TestCa {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("ca key");
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, "WAF Test CA");
        let cert = params.self_signed(&key).expect("ca");
        TestCa { pem: cert.pem(), issuer: rcgen::Issuer::new(params, key) }
    }

    /// A certificate for `names` and its key, PEM.
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert.pem(), key.serialize_pem())
    }
}

/// A site for `domain` in front of `origins`, with its certificate from `ca`.
pub fn site(ca: &TestCa, domain: &str, origins: &[SocketAddr], mode: Mode) -> Site {
    let (certificate_pem, key_pem) = ca.leaf(&[domain]);
    Site {
        domain: domain.into(),
        aliases: Vec::new(),
        origins: origins.to_vec(),
        origin_tls: None,
        certificate_pem,
        key_pem,
        rules: RuleSettings { mode, ..RuleSettings::default() },
        rate_limit: None,
        allow: Vec::new(),
        deny: Vec::new(),
    }
}

/// A running WAF on a runtime of its own.
pub struct Waf {
    pub handle: Option<WafHandle>,
    pub sites: SitesHandle,
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub audit: PathBuf,
    pub runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Waf {
    /// Starts the WAF on `listen` (port 0 for any) with `sites`; `adjust` changes the
    /// configuration first. Call it on the thread (and so in the network namespace)
    /// the WAF is to run in.
    pub fn start(
        engine: std::sync::Arc<Engine>,
        listen: &str,
        sites: Vec<Site>,
        adjust: impl FnOnce(&mut WafConfig),
    ) -> Waf {
        let dir = tempfile::tempdir().expect("temp dir");
        let audit = dir.path().join("audit.jsonl");
        let mut config = WafConfig {
            https_listen: format!("{listen}:0").parse().expect("addr"),
            http_listen: Some(format!("{listen}:0").parse().expect("addr")),
            audit_log: Some(audit.clone()),
            ..WafConfig::default()
        };
        config.engine.threads = 2;
        config.timeouts.drain = Duration::from_secs(2);
        adjust(&mut config);
        let handle = SitesHandle::new(engine);
        handle.apply(sites).expect("the sites apply");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let waf = runtime.block_on(waf::serve(config, handle.clone())).expect("the WAF starts");
        Waf {
            https: waf.https_addr(),
            http: waf.http_addr(),
            handle: Some(waf),
            sites: handle,
            audit,
            runtime,
            _dir: dir,
        }
    }

    /// Every audit line written so far.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        if let Some(handle) = &self.handle {
            self.runtime.block_on(handle.flush_audit());
        }
        let text = std::fs::read_to_string(&self.audit).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("an audit line is JSON")).collect()
    }

    /// The audit line of transaction `id`.
    pub fn audit_of(&self, id: &str) -> serde_json::Value {
        let lines = self.audit_lines();
        lines.into_iter().find(|l| l["transaction"] == id).unwrap_or_else(|| panic!("no audit line for {id}"))
    }

    pub fn metrics(&self) -> String {
        self.handle.as_ref().expect("running").render_metrics()
    }

    /// Applies a new list of sites (off the WAF's runtime, as the binary does).
    pub fn apply(&self, sites: Vec<Site>) -> Result<(), waf::SitesError> {
        self.sites.apply(sites).map(drop)
    }

    pub fn shutdown(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.runtime.block_on(handle.shutdown());
        }
    }
}

impl Drop for Waf {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// curl, trusting `ca` and sending `domain` to `addr`; returns its output.
pub fn curl(ca_file: &std::path::Path, domain: &str, addr: SocketAddr, args: &[&str]) -> Output {
    let resolve = format!("{domain}:{}:{}", addr.port(), addr.ip());
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca_file)
        .args(["--resolve", &resolve])
        .args(args)
        .output()
        .expect("curl runs")
}

/// The transaction id a block page names (`X-Waf-Transaction`), from `curl -i` output.
pub fn transaction_of(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-waf-transaction: ").map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no transaction id in {output}"))
}

/// Waits (at most 10 s) until `check` holds.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within 10 s");
}

/// A TLS connection to the WAF as `domain`, trusting `ca_pem`, for raw bytes.
pub async fn tls_connect(
    ca_pem: &str,
    domain: &str,
    addr: SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("ca")).expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let name = rustls::pki_types::ServerName::try_from(domain.to_owned()).expect("name");
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.expect("TLS")
}

/// Sends `bytes` on a new TLS connection and reads until the WAF closes it or `quiet`
/// passes without a byte; returns what came back.
pub async fn exchange(ca_pem: &str, domain: &str, addr: SocketAddr, bytes: &[u8], quiet: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = tls_connect(ca_pem, domain, addr).await;
    tls.write_all(bytes).await.expect("sent");
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(quiet, tls.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}
