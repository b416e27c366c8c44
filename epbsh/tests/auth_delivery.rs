//! Delivery under the recipient's TLS policy: MTA-STS with the policy served over HTTPS by
//! `openssl s_server -WWW`, the MX records by dnsmasq, the MX host a private Postfix with
//! STARTTLS, every certificate from a test CA the relay trusts (`delivery.ca_file`).

mod auth_peers;
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auth_peers::txt;
use common::peers::{Dns, Postfix, Sink};
use common::*;

const WAIT: Duration = Duration::from_secs(30);

/// A test CA: its issuer and PEM.
fn ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().expect("ca key");
    let mut params = rcgen::CertificateParams::default();
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "MTA-STS Test CA");
    let pem = params.self_signed(&key).expect("ca").pem();
    (rcgen::Issuer::new(params, key), pem)
}

/// A leaf for `names`: (certificate PEM, key PEM).
fn leaf(issuer: &rcgen::Issuer<'static, rcgen::KeyPair>, names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
    (params.signed_by(&key, issuer).expect("leaf").pem(), key.serialize_pem())
}

/// `openssl s_server -WWW` serving `policy` as `/.well-known/mta-sts.txt` on 127.0.0.1.
struct PolicyHost {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PolicyHost {
    fn start(cert: &str, key: &str, policy: &str) -> PolicyHost {
        let dir = tempfile::tempdir().expect("web dir");
        std::fs::create_dir(dir.path().join(".well-known")).expect("mkdir");
        std::fs::write(dir.path().join(".well-known/mta-sts.txt"), policy).expect("policy");
        std::fs::write(dir.path().join("cert.pem"), cert).expect("cert");
        std::fs::write(dir.path().join("key.pem"), key).expect("key");
        let port = free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-cert", "cert.pem", "-key", "key.pem", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(loopback(port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "openssl s_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        PolicyHost { child, port, _dir: dir }
    }
}

impl Drop for PolicyHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mta_sts_enforce_with_a_certificate_mismatch_defers_and_a_match_delivers() {
    auth_peers::ensure();
    let (issuer, ca_pem) = ca();
    let (mx_cert, mx_key) = leaf(&issuer, &["mx.good.test"]);
    let postfix = Postfix::start("good.test, bad.test", Some((&mx_cert, &mx_key)));
    let (web_cert, web_key) = leaf(&issuer, &["mta-sts.good.test", "mta-sts.bad.test"]);
    let policy = "version: STSv1\nmode: enforce\nmx: mx.good.test\nmx: mx.bad.test\nmax_age: 86400\n";
    let host = PolicyHost::start(&web_cert, &web_key, policy);
    let mut records = Vec::new();
    for d in ["good.test", "bad.test"] {
        records.push(format!("--mx-host={d},mx.{d},10"));
        records.push(format!("--host-record=mx.{d},127.0.0.1"));
        records.push(format!("--host-record=mta-sts.{d},127.0.0.1"));
        records.push(txt(&format!("_mta-sts.{d}"), "v=STSv1; id=20261207"));
    }
    let args: Vec<&str> = records.iter().map(String::as_str).collect();
    let dns = Dns::start(&args);
    let ca_file = tempfile::NamedTempFile::new().expect("ca file");
    std::fs::write(ca_file.path(), &ca_pem).expect("write ca");
    let inbox = Sink::start(&[]);
    let (ca_path, dns_addr, mx_port, sts_port) =
        (ca_file.path().to_path_buf(), dns.addr, postfix.addr.port(), host.port);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[], |c| {
        c.delivery.ca_file = Some(ca_path);
        c.delivery.dns_servers = vec![dns_addr];
        c.delivery.mx_port = mx_port;
        c.delivery.mta_sts_port = sts_port;
    })
    .await;
    let addr = r.relay.local_addr();
    for to in ["u@good.test", "u@bad.test"] {
        let (ok, t) = swaks(
            addr,
            SERVER_A,
            &["--from", "clerk@a.gov.test", "--to", to, "--header", &format!("Subject: to {to}")],
        )
        .await;
        assert!(ok, "{t}");
    }
    let got = postfix.wait_delivered(1, WAIT).await;
    assert!(got[0].contains("Subject: to u@good.test"), "{}", got[0]);
    let mismatch = ("certificate-host-mismatch".to_string(), "mx.bad.test".to_string());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !r.relay.tls_counts().iter().any(|(d, c)| d == "bad.test" && c.failures.contains_key(&mismatch)) {
        let now = (r.relay.tls_counts(), r.relay.queue_summary(), postfix.delivered().len());
        assert!(tokio::time::Instant::now() < deadline, "no mismatch counted for bad.test: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Retries (every 200 ms) keep finding the mismatch: the message waits, never sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(postfix.delivered().len(), 1, "nothing was delivered to the mismatching MX:\n{}", postfix.log());
    let deferred: usize = r.relay.queue_summary().iter().map(|q| q.deferred).sum();
    assert_eq!(deferred, 1, "the bad.test message waits in the queue");
    let counts: std::collections::BTreeMap<_, _> = r.relay.tls_counts().into_iter().collect();
    assert!(counts["good.test"].successes >= 1 && counts["good.test"].failures.is_empty(), "{counts:?}");
    let t0 = time::OffsetDateTime::now_utc();
    let report = r.relay.tls_report("bad.test", "tlsrpt@relay.test", t0, t0 + time::Duration::days(1)).expect("report");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["policies"][0]["policy"]["policy-domain"], "bad.test");
    assert!(json["policies"][0]["summary"]["total-failure-session-count"].as_u64().unwrap() >= 1);
    r.relay.shutdown().await.expect("shutdown");
}
