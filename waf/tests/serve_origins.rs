//! Origins: nginx (Debian) as a TLS origin with a certificate from the test CA. Verified
//! against a site's own CA it serves; against the system roots its certificate is refused
//! (502, nothing sent); with `verify = false` it serves. An address that does not answer
//! beside it is marked down and every request fails over to nginx.
//!
//! Needs nginx; the test script installs it. Outside CI a missing one skips the test.

mod serve_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serve_support::{TestCa, Waf, curl, engine, eventually, site, transaction_of};
use waf::OriginTls;
use waf::engine::Mode;

/// nginx serving one page over TLS on loopback, stopped on drop.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(ca: &TestCa) -> Option<Nginx> {
        if !Path::new("/usr/sbin/nginx").exists() {
            let why = "nginx is not installed; scripts/test installs it";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().display().to_string();
        let (cert, key) = ca.leaf(&["origin.example.kz"]);
        std::fs::write(dir.path().join("cert.pem"), cert).expect("cert");
        std::fs::write(dir.path().join("key.pem"), key).expect("key");
        std::fs::create_dir(dir.path().join("www")).expect("www");
        std::fs::write(dir.path().join("www/index.html"), "nginx origin\n").expect("page");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let conf = format!(
            "daemon off; user root; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log {d}/access.log; client_body_temp_path {d}/b; proxy_temp_path {d}/p;\n\
               fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
               server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;\n\
                 root {d}/www; location / {{ }} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("conf");
        let child = Command::new("/usr/sbin/nginx")
            .args(["-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        eventually("nginx listens", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        Some(Nginx { child, port, _dir: dir })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_origins_are_verified_unless_the_site_says_not_and_a_dead_one_is_passed_over() {
    let Some(engine) = engine() else { return };
    let ca = TestCa::new();
    let Some(nginx) = Nginx::start(&ca) else { return };
    let nginx_addr = format!("127.0.0.1:{}", nginx.port).parse().expect("addr");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a closed port");
    let tls = |ca_pem: Option<String>, verify: bool| OriginTls {
        verify,
        ca_pem,
        server_name: Some("origin.example.kz".into()),
    };
    let mut own_ca = site(&ca, "own-ca.example.kz", &[nginx_addr], Mode::Block);
    own_ca.origin_tls = Some(tls(Some(ca.pem.clone()), true));
    let mut system_roots = site(&ca, "system.example.kz", &[nginx_addr], Mode::Block);
    system_roots.origin_tls = Some(tls(None, true));
    let mut unverified = site(&ca, "unverified.example.kz", &[dead, nginx_addr], Mode::Block);
    unverified.origin_tls = Some(tls(None, false));
    let waf = Waf::start(engine, "127.0.0.1", vec![own_ca, system_roots, unverified], |_| {});
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("ca");
    let get = |domain: &str| {
        let out =
            curl(&ca_file, domain, waf.https, &["-i", "--http1.1", &format!("https://{domain}:{}/", waf.https.port())]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let answer = get("own-ca.example.kz");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("nginx origin\n"), "{answer}");

    let refused = get("system.example.kz");
    assert!(refused.starts_with("HTTP/1.1 502"), "{refused}");
    let line = waf.audit_of(&transaction_of(&refused));
    assert!(line["reason"].as_str().unwrap_or("").contains("certificate"), "{line}");

    for _ in 0..4 {
        let answer = get("unverified.example.kz");
        assert!(answer.ends_with("nginx origin\n"), "{answer}");
    }
    let health = waf.sites.load().origin_health("unverified.example.kz");
    assert_eq!(health, vec![(dead, false), (nginx_addr, true)]);
}
