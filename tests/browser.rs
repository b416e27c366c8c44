//! The web gateway with the reference browser: headless Chromium in a workstation's
//! network namespace, trusting the exported gateway root (and the test origins' CA) in
//! its own NSS database, opens an exempt and an inspected site through the explicit
//! proxy. Chromium sends an Encrypted Client Hello extension (GREASE) and GREASE values
//! in every ClientHello; the test origin records each ClientHello it receives, so it
//! tells the browser's own hello (spliced) from the gateway's (bumped). With content
//! scanning on (c-icap with ClamAV) and a phishing feed: a test virus on an inspected
//! site gets the block page naming it, and a phishing host in an exempt category is
//! refused before any byte of the browser's reaches it.
//!
//! Needs root (namespaces), chromium and certutil (libnss3-tools), c-icap and clamd; the
//! test script installs them. Outside CI a missing one skips the test with a message.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::icap::{EICAR, EICAR_NAME, Scanner};
use common::netns::{HOST_SIDE, Netns, WORKSTATION};
use common::{Env, eventually};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the origin saw of one connection: the ClientHello's server name and extension types.
#[derive(Clone, Debug)]
struct Seen {
    sni: Option<String>,
    extensions: Vec<u16>,
}

impl Seen {
    /// A browser's hello: an ECH extension or GREASE types (0x?a?a), which rustls never sends.
    fn is_the_browsers_own(&self) -> bool {
        self.extensions.iter().any(|&e| e == 0xfe0d || (e & 0x0f0f == 0x0a0a && e >> 8 == e & 0xff))
    }
}

/// A test CA and an HTTPS origin on loopback for `names` that records every ClientHello.
struct Origin {
    addr: SocketAddr,
    ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Origin {
    fn start(names: &[&str]) -> Origin {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Browser Test Origin CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf_params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
        let leaf = leaf_params.signed_by(&key, &issuer).expect("leaf");
        let chain = vec![leaf.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, acceptor.clone(), Arc::clone(&record)));
            }
        });
        Origin { addr, ca_pem: ca.pem(), seen, _runtime: runtime }
    }

    fn seen_for(&self, name: &str) -> Vec<Seen> {
        self.seen.lock().expect("seen").iter().filter(|s| s.sni.as_deref() == Some(name)).cloned().collect()
    }
}

/// Records the ClientHello, then completes TLS on the replayed bytes and answers one page.
async fn serve(mut tcp: tokio::net::TcpStream, acceptor: tokio_rustls::TlsAcceptor, seen: Arc<Mutex<Vec<Seen>>>) {
    let Ok(hello) = iqbsh::hello::read(&mut tcp, 64 * 1024).await else { return };
    let host = hello.sni.clone().unwrap_or_default();
    seen.lock().expect("seen").push(Seen { sni: hello.sni, extensions: hello.extensions });
    let (read, write) = tcp.into_split();
    let replayed = tokio::io::join(std::io::Cursor::new(hello.raw).chain(read), write);
    let Ok(mut tls) = acceptor.accept(replayed).await else { return };
    let mut request = vec![0u8; 8192];
    let n = tls.read(&mut request).await.unwrap_or(0);
    let (kind, body) = if request[..n].starts_with(b"GET /eicar") {
        ("text/plain", EICAR.to_vec())
    } else {
        ("text/html", format!("<html><body><p id=\"origin\">origin page for {host}</p></body></html>").into_bytes())
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tls.write_all(&[head.as_bytes(), &body].concat()).await;
    let _ = tls.shutdown().await;
}

/// Headless Chromium inside the namespace, with its own profile and NSS database.
struct Browser<'a> {
    ns: &'a Netns,
    home: std::path::PathBuf,
    proxy: String,
}

impl<'a> Browser<'a> {
    /// A browser whose NSS database trusts each of `roots` (PEM files).
    fn new(ns: &'a Netns, env: &Env, proxy: &str, roots: &[&std::path::Path]) -> Browser<'a> {
        let home = env.path("browser-home");
        let nssdb = home.join(".pki/nssdb");
        std::fs::create_dir_all(&nssdb).expect("nss dir");
        let db = format!("sql:{}", nssdb.display());
        run(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
        for (i, root) in roots.iter().enumerate() {
            let name = format!("root{i}");
            run(Command::new("certutil").args(["-A", "-d", &db, "-t", "C,,", "-n", &name, "-i"]).arg(root));
        }
        Browser { ns, home, proxy: proxy.to_owned() }
    }

    /// The page's DOM as Chromium rendered it (empty when the load failed).
    fn dump_dom(&self, url: &str) -> String {
        let profile = tempfile::tempdir().expect("profile dir");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns.name, "timeout", "60", "chromium"])
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync", "--disable-quic"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--proxy-server={}", self.proxy))
            .args(["--dump-dom", url])
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .output()
            .expect("chromium runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn chromium_gets_exempt_sites_spliced_others_inspected_and_threats_refused() {
    assert!(common::netns::is_root(), "this test needs root to create a network namespace");
    if !(have("chromium") && have("certutil")) {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "chromium and certutil are needed in CI");
        eprintln!("skipped: chromium or certutil (libnss3-tools) is not installed");
        return;
    }
    let Some(scanner) = Scanner::start() else { return };
    let mut env = Env::new();
    let cast = env.cast();
    let origin = Origin::start(&["bank.test", "news.test", "login.bank.test"]);
    env.write("origin-ca.pem", &origin.ca_pem);
    let port = origin.addr.port();
    std::fs::create_dir_all(env.path("categories")).unwrap();
    env.write("categories/test.csv", "bank.test,finance\nnews.test,news\n");
    std::fs::create_dir_all(env.path("threats/phishing")).unwrap();
    env.write("threats/phishing/test.domains", "login.bank.test\n");
    let today = time::OffsetDateTime::now_utc().date();
    env.write(
        "policies.toml",
        &format!(
            "[[organisation]]\nbin = \"{}\"\nname = \"Ministry A\"\nreceived = {today}\ngranted = {today}\ncategories = [\"news\"]\n",
            cast.a
        ),
    );
    let dir = env.dir.path().display().to_string();
    env.configure(&format!(
        r#"
[catalog]
refresh = "200ms"
[services]
mail = false
[policies]
categories_dir = "{dir}/categories"
file = "{dir}/policies.toml"
[proxy]
[proxy.explicit]
link = "alpha-1"
[proxy.upstream]
extra_anchors = ["{dir}/origin-ca.pem"]
[proxy.destinations]
ports = [{port}]
deny = []
[proxy.dns]
[proxy.dns.hosts]
"bank.test" = ["127.0.0.1"]
"news.test" = ["127.0.0.1"]
"login.bank.test" = ["127.0.0.1"]
[proxy.access_log]
json = "{dir}/access.json"
[proxy.icap.services.antivirus]
url = "{av}"
methods = ["respmod", "reqmod"]
[threats]
dir = "{dir}/threats"
"#,
        av = scanner.url()
    ));
    env.write("list.csv", &format!("{WORKSTATION}/32,{}\n", cast.a));
    env.ok(&["catalog", "import", "--operator", "alpha", env.path("list.csv").to_str().unwrap()]);
    env.ok(&["ca", "init"]);
    env.ok(&["ca", "export", "-o", env.path("gateway-root.pem").to_str().unwrap()]);
    let ns = Netns::new("pmtbrw");
    let server = env.up_with("warn", Stdio::inherit(), &[("PERIMETER_PROXY_LISTEN", &format!("{HOST_SIDE}:0"))]);
    let proxy = format!("http://{}", server.proxy.as_deref().expect("the web proxy runs"));
    let browser = Browser::new(&ns, &env, &proxy, &[&env.path("gateway-root.pem"), &env.path("origin-ca.pem")]);

    // Exempt (finance): the origin receives the browser's own ClientHello, ECH included.
    let dom = browser.dump_dom(&format!("https://bank.test:{port}/"));
    assert!(dom.contains("origin page for bank.test"), "the exempt page loads in Chromium:\n{dom}");
    let bank = origin.seen_for("bank.test");
    assert!(
        !bank.is_empty() && bank.iter().all(Seen::is_the_browsers_own),
        "spliced: the browser's own hellos: {bank:?}"
    );
    assert!(bank.iter().any(|s| s.extensions.contains(&0xfe0d)), "Chromium offered ECH to the exempt site: {bank:?}");

    // Not exempt: inspected; the origin sees only the gateway's hello, the browser trusts
    // the forged certificate through the gateway root.
    let dom = browser.dump_dom(&format!("https://news.test:{port}/"));
    assert!(dom.contains("origin page for news.test"), "the inspected page loads in Chromium:\n{dom}");
    let news = origin.seen_for("news.test");
    assert!(
        !news.is_empty() && !news.iter().any(Seen::is_the_browsers_own),
        "bumped: only the gateway's hellos: {news:?}"
    );

    // A test virus on the inspected site: the antivirus finds it, the browser shows the
    // block page naming it.
    let dom = browser.dump_dom(&format!("https://news.test:{port}/eicar"));
    assert!(dom.contains(EICAR_NAME), "the block page names the threat in Chromium:\n{dom}");
    assert!(!dom.contains("EICAR-STANDARD-ANTIVIRUS-TEST-FILE"), "the virus reached the browser:\n{dom}");

    // A phishing host in an exempt category (finance): refused at CONNECT, never spliced.
    let dom = browser.dump_dom(&format!("https://login.bank.test:{port}/"));
    assert!(!dom.contains("origin page"), "the phishing page loaded:\n{dom}");
    assert!(origin.seen_for("login.bank.test").is_empty(), "the phishing host got a ClientHello");

    eventually("every decision is logged", || {
        let log = std::fs::read_to_string(env.path("access.json")).unwrap_or_default();
        let records: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let has = |host: &str, action: &str| records.iter().any(|r| r["host"] == host && r["action"] == action);
        let denied = |host: &str, why: &str| records.iter().any(|r| r["host"] == host && r["deny"] == why);
        has("bank.test", "splice")
            && has("news.test", "bump")
            && denied("news.test", "threat")
            && denied("login.bank.test", "threat_feed")
    });
    drop(server);
    drop(scanner);
}
