//! Mail authentication between real peers: swaks as the connected system's server and as
//! outside servers, smtp-sink as the receivers, dnsmasq serving the SPF, DKIM and DMARC
//! records on a loopback port of its own, dkimpy (python3-dkim) and OpenDKIM's
//! `opendkim-testmsg` as the other DKIM implementations, both ways.

mod auth_peers;
mod common;

use std::path::Path;
use std::time::Duration;

use auth_peers::*;
use common::peers::{Dns, Sink};
use common::*;
use epbsh::auth::keys::{self, Algorithm};
use time::OffsetDateTime;

const WAIT: Duration = Duration::from_secs(30);

/// Sends the message in `data` with swaks; returns the transcript.
async fn send(relay: std::net::SocketAddr, from_ip: &str, from: &str, to: &str, data: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("data file");
    std::fs::write(file.path(), data).expect("write data");
    let path = file.path().to_str().expect("path").to_string();
    let (_, t) = swaks(relay, from_ip, &["--from", from, "--to", to, "--data", &path]).await;
    t
}

/// A key for `domain` made by the relay's own keygen; returns (selector, DNS name, record).
fn relay_key(dir: &Path, domain: &str, selector: &str, alg: Algorithm) -> (String, String) {
    let now = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let k = keys::keygen(dir, domain, selector, alg, now, now).expect("keygen");
    (k.record_name, k.record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ministrys_mail_leaves_signed_and_verifies_with_dkimpy() {
    auth_peers::ensure();
    let keys_dir = tempfile::tempdir().expect("keys");
    let (ed_name, ed_record) = relay_key(keys_dir.path(), "a.gov.test", "ed1", Algorithm::Ed25519);
    let (rsa_name, rsa_record) = relay_key(keys_dir.path(), "b.gov.test", "rsa1", Algorithm::Rsa2048);
    let outside = Sink::start(&[]);
    let inbox = Sink::start(&[]);
    let systems = vec![
        system(1, "a.gov.test", SERVER_A, inbox.addr),
        system(2, "b.gov.test", SERVER_B, inbox.addr),
        system(3, "c.gov.test", "127.0.0.4", inbox.addr),
    ];
    let dir = keys_dir.path().to_path_buf();
    let r = start(systems, &[("ext.test", outside.addr)], |c| c.auth.keys_dir = dir).await;
    let addr = r.relay.local_addr();

    let t =
        send(addr, SERVER_A, "clerk@a.gov.test", "x@ext.test", &message("clerk@a.gov.test", "x@ext.test", "m1")).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    let t =
        send(addr, SERVER_B, "clerk@b.gov.test", "x@ext.test", &message("clerk@b.gov.test", "x@ext.test", "m2")).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    let t = send(addr, "127.0.0.4", "clerk@c.gov.test", "x@ext.test", &message("clerk@c.gov.test", "x@ext.test", "m3"))
        .await;
    has(&t, "<-  250 2.0.0 OK: queued as");

    let dumps = outside.wait_messages(3, WAIT).await;
    let find = |subject: &str| {
        let d = dumps.iter().find(|d| d.contains(&format!("Subject: {subject}\n"))).expect("delivered");
        delivered(d)
    };
    let records = [(ed_name.as_str(), ed_record.as_str()), (rsa_name.as_str(), rsa_record.as_str())];
    let m1 = find("m1");
    let text = String::from_utf8_lossy(&m1).into_owned();
    assert!(
        text.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; s=ed1; d=a.gov.test; c=relaxed/relaxed;"),
        "{text}"
    );
    assert_eq!(dkimpy_verify(&m1, &records), "pass", "Ed25519 signature verifies with dkimpy:\n{text}");
    let m2 = find("m2");
    assert_eq!(dkimpy_verify(&m2, &records), "pass", "RSA-2048 signature verifies with dkimpy");
    let m3 = find("m3");
    assert!(!String::from_utf8_lossy(&m3).contains("DKIM-Signature"), "a domain without a key is signed by nobody");
    let mut tampered = m1.clone();
    let at = tampered.len() - 4;
    tampered[at] = b'X';
    assert_eq!(dkimpy_verify(&tampered, &records), "fail", "a changed body fails: the check can fail");

    let counts: std::collections::BTreeMap<_, _> = r.relay.auth().counters().into_iter().collect();
    assert_eq!((counts["a.gov.test"].signed, counts["b.gov.test"].signed), (1, 1));
    assert_eq!((counts["c.gov.test"].signed, counts["c.gov.test"].unsigned), (0, 1));
    let (listing, problems) = keys::list(keys_dir.path(), &["c.gov.test".into()], OffsetDateTime::now_utc());
    assert!(problems.is_empty());
    let c = listing.iter().find(|l| l.domain == "c.gov.test").expect("listed");
    assert!(!c.signed && c.keys.is_empty(), "the key listing says c.gov.test is not signed");
    r.relay.shutdown().await.expect("shutdown");
}

/// The DNS of the anti-spoofing and DMARC tests: our a.gov.test (SPF for its server,
/// DMARC reject, the relay's key) and outside domains with each policy.
struct World {
    _dns: Dns,
    _keys: tempfile::TempDir,
    _peer_keys: tempfile::TempDir,
    inbox: Sink,
    relay: Running,
    rsa_key: std::path::PathBuf,
    ed_seed: std::path::PathBuf,
    records: Vec<(String, String)>,
}

async fn world() -> World {
    auth_peers::ensure();
    let keys_dir = tempfile::tempdir().expect("keys");
    let peer_keys = tempfile::tempdir().expect("peer keys");
    let (a_name, a_record) = relay_key(keys_dir.path(), "a.gov.test", "sel", Algorithm::Ed25519);
    let (rsa_key, rsa_record) = opendkim_key(peer_keys.path(), "partner.test", "od");
    let (seed, ed_record) = dkimpy_ed25519_key();
    let ed_seed = peer_keys.path().join("ed.seed");
    std::fs::write(&ed_seed, seed).expect("seed");
    let records: Vec<(String, String)> = vec![
        ("a.gov.test".into(), "v=spf1 ip4:127.0.0.2 -all".into()),
        ("_dmarc.a.gov.test".into(), "v=DMARC1; p=reject; rua=mailto:dmarc-reports@a.gov.test".into()),
        (a_name, a_record),
        ("partner.test".into(), "v=spf1 ip4:127.0.0.9 -all".into()),
        ("_dmarc.partner.test".into(), "v=DMARC1; p=reject".into()),
        ("od._domainkey.partner.test".into(), rsa_record),
        ("py._domainkey.partner.test".into(), ed_record),
        ("strict.test".into(), "v=spf1 -all".into()),
        ("_dmarc.strict.test".into(), "v=DMARC1; p=reject".into()),
        ("held.test".into(), "v=spf1 -all".into()),
        ("_dmarc.held.test".into(), "v=DMARC1; p=quarantine".into()),
        ("lax.test".into(), "v=spf1 -all".into()),
        ("_dmarc.lax.test".into(), "v=DMARC1; p=none".into()),
        ("loop.test".into(), "v=spf1 include:loop.test -all".into()),
        ("void.test".into(), "v=spf1 a:v1.void.test a:v2.void.test a:v3.void.test ip4:127.0.0.9 -all".into()),
        ("_dmarc.void.test".into(), "v=DMARC1; p=none".into()),
    ];
    let args: Vec<String> = records.iter().map(|(n, r)| txt(n, r)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dns = Dns::start(&args);
    let inbox = Sink::start(&[]);
    let systems = vec![system(1, "a.gov.test", SERVER_A, inbox.addr), system(2, "b.gov.test", SERVER_B, inbox.addr)];
    let (dir, resolver) = (keys_dir.path().to_path_buf(), dns.addr);
    let relay = start(systems, &[("ext.test", inbox.addr)], |c| {
        c.auth.keys_dir = dir;
        c.auth.resolvers = vec![resolver];
        c.auth.dns_timeout = Duration::from_secs(2);
        c.verify.mode = epbsh::relay::VerifyMode::Off;
    })
    .await;
    World { _dns: dns, _keys: keys_dir, _peer_keys: peer_keys, inbox, relay, rsa_key, ed_seed, records }
}

impl World {
    fn records(&self) -> Vec<(&str, &str)> {
        self.records.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_ministry_from_outside_is_refused_and_the_real_system_gets_through_signed() {
    let w = world().await;
    let addr = w.relay.relay.local_addr();
    let forged = message("minister@a.gov.test", "staff@b.gov.test", "forged");
    let t = send(addr, STRANGER, "minister@a.gov.test", "staff@b.gov.test", &forged).await;
    has(&t, "<** 550 5.7.1 From a.gov.test is a domain of a connected system");
    let t = send(addr, STRANGER, "billing@outside.test", "staff@b.gov.test", &forged).await;
    has(&t, "<** 550 5.7.1");
    let sub = message("it@mail.a.gov.test", "staff@b.gov.test", "forged-sub");
    let t = send(addr, STRANGER, "x@outside.test", "staff@b.gov.test", &sub).await;
    has(&t, "<** 550 5.7.1");
    let envelope_only = message("news@outside.test", "staff@b.gov.test", "forged-envelope");
    let t = send(addr, STRANGER, "bounce@a.gov.test", "staff@b.gov.test", &envelope_only).await;
    has(&t, "<** 550 5.7.1 envelope sender domain a.gov.test");

    let real = message("minister@a.gov.test", "staff@b.gov.test", "real");
    let t = send(addr, SERVER_A, "minister@a.gov.test", "staff@b.gov.test", &real).await;
    has(&t, "<-  250 2.0.0 OK: queued as");
    let got = w.inbox.wait_messages(1, WAIT).await;
    let m = delivered(&got[0]);
    assert!(String::from_utf8_lossy(&m).contains("Subject: real"));
    assert_eq!(dkimpy_verify(&m, &w.records()), "pass", "the real system's mail is signed");
    assert_eq!(w.inbox.messages().len(), 1, "no forgery reached anyone");

    let counts: std::collections::BTreeMap<_, _> = w.relay.relay.auth().counters().into_iter().collect();
    let a = counts["a.gov.test"];
    assert_eq!((a.refused, a.signed), (4, 1), "{counts:?}");

    // The DMARC aggregate report for a.gov.test: the forgeries whose From was ours, refused.
    let report = w.relay.relay.auth().dmarc_report("a.gov.test", "dmarc@relay.test").expect("a report");
    assert_eq!(report.rua, ["dmarc-reports@a.gov.test"]);
    let xml = report.report.to_xml();
    let rows: u32 = report.report.records().iter().map(|r| r.count()).sum();
    assert_eq!(rows, 3, "three forged From a.gov.test or a subdomain:\n{xml}");
    assert!(
        xml.contains("<source_ip>127.0.0.9</source_ip>") && xml.contains("<disposition>reject</disposition>"),
        "{xml}"
    );
    let mail = report.message("relay.test", "dmarc@relay.test").expect("report e-mail");
    assert!(mail.contains("To: <dmarc-reports@a.gov.test>") && mail.contains("Report Domain: a.gov.test"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_signatures_verify_and_outside_dmarc_policies_are_honoured() {
    let w = world().await;
    let addr = w.relay.relay.local_addr();
    let to = "staff@a.gov.test";
    // Signed by OpenDKIM and by dkimpy: both verify at the relay, DMARC passes.
    let od = opendkim_sign("partner.test", "od", &w.rsa_key, &message("ann@partner.test", to, "od-signed"));
    has(&send(addr, "127.0.0.10", "ann@partner.test", to, &od).await, "<-  250 2.0.0");
    let py = dkimpy_sign("ed25519", "partner.test", "py", &w.ed_seed, &message("ann@partner.test", to, "py-signed"));
    has(&send(addr, "127.0.0.10", "ann@partner.test", to, &py).await, "<-  250 2.0.0");
    // p=reject with a signature that does not verify (body changed after signing).
    let mut bad = dkimpy_sign("ed25519", "partner.test", "py", &w.ed_seed, &message("ann@partner.test", to, "bad-sig"));
    let n = bad.len();
    bad[n - 3] = b'!';
    has(
        &send(addr, "127.0.0.10", "ann@partner.test", to, &bad).await,
        "<** 550 5.7.1 DMARC fail for partner.test, whose policy is reject",
    );
    has(&send(addr, STRANGER, "x@strict.test", to, &message("x@strict.test", to, "strict")).await, "<** 550 5.7.1");
    // p=quarantine: held, delivered only when released.
    has(&send(addr, STRANGER, "x@held.test", to, &message("x@held.test", to, "quarantined")).await, "<-  250 2.0.0");
    // p=none: delivered, the results header says why.
    has(&send(addr, STRANGER, "x@lax.test", to, &message("x@lax.test", to, "lax")).await, "<-  250 2.0.0");

    let got = w.inbox.wait_messages(3, WAIT).await;
    let by_subject = |s: &str| got.iter().find(|m| m.contains(&format!("Subject: {s}\n"))).cloned();
    for s in ["od-signed", "py-signed"] {
        let m = by_subject(s).unwrap_or_else(|| panic!("{s} delivered"));
        assert!(m.contains("Authentication-Results: relay.test;"), "{m}");
        assert!(m.contains("dkim=pass") && m.contains("dmarc=pass"), "{s}: {m}");
    }
    let lax = by_subject("lax").expect("lax delivered");
    assert!(lax.contains("spf=fail") && lax.contains("dmarc=fail") && lax.contains("policy.dmarc=none"), "{lax}");
    assert!(by_subject("quarantined").is_none(), "held, not delivered");
    let summary = w.relay.relay.queue_summary();
    assert_eq!(summary.iter().map(|q| q.held).sum::<usize>(), 1, "{summary:?}");
    let released = w.relay.relay.release_quarantined(epbsh::SystemId(1)).await.expect("release");
    assert_eq!(released, 1);
    let got = w.inbox.wait_messages(4, WAIT).await;
    assert!(got.iter().any(|m| m.contains("Subject: quarantined\n") && m.contains("policy.dmarc=quarantine")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_results_and_nothing_is_lost() {
    let w = world().await;
    let addr = w.relay.relay.local_addr();
    let to = "staff@a.gov.test";
    // A broken DKIM-Signature, and a results header from outside claiming our name.
    let mut broken = b"DKIM-Signature: v=1; a=rsa-sha256; d=lax.test; s=; b=!!!; bh=\r\n\
                       Authentication-Results: relay.test; dkim=pass; dmarc=pass\r\n"
        .to_vec();
    broken.extend(message("x@lax.test", to, "broken-dkim"));
    has(&send(addr, STRANGER, "x@lax.test", to, &broken).await, "<-  250 2.0.0");
    // An SPF record that includes itself, and one with three void lookups.
    has(&send(addr, STRANGER, "x@loop.test", to, &message("x@loop.test", to, "spf-loop")).await, "<-  250 2.0.0");
    has(&send(addr, STRANGER, "x@void.test", to, &message("x@void.test", to, "spf-void")).await, "<-  250 2.0.0");
    // A malformed ARC set.
    let mut arc = b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=lax.test; s=x; b=AAAA\r\n\
                    ARC-Message-Signature: i=1; garbage\r\nARC-Authentication-Results: i=1; x; none\r\n"
        .to_vec();
    arc.extend(message("x@lax.test", to, "bad-arc"));
    has(&send(addr, STRANGER, "x@lax.test", to, &arc).await, "<-  250 2.0.0");

    let got = w.inbox.wait_messages(4, WAIT).await;
    let by_subject = |s: &str| got.iter().find(|m| m.contains(&format!("Subject: {s}\n"))).cloned().expect(s);
    let broken = by_subject("broken-dkim");
    assert_eq!(broken.matches("Authentication-Results: relay.test").count(), 1, "the forged claim is gone:\n{broken}");
    assert!(!broken.contains("dkim=pass"), "{broken}");
    assert!(broken.contains("dkim=neutral") || broken.contains("dkim=permerror"), "{broken}");
    assert!(by_subject("spf-loop").contains("spf=permerror"), "a looping SPF record is a permerror");
    assert!(by_subject("spf-void").contains("spf=permerror"), "three void lookups are a permerror");
    let arc = by_subject("bad-arc");
    assert!(arc.contains("arc=fail") || arc.contains("arc=permerror") || arc.contains("arc=neutral"), "{arc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_timeout_is_a_temporary_failure_never_a_pass() {
    auth_peers::ensure();
    // A resolver that takes queries and never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let silent_addr = silent.local_addr().expect("addr");
    let inbox = Sink::start(&[]);
    let r = start(vec![system(1, "a.gov.test", SERVER_A, inbox.addr)], &[], |c| {
        c.auth.resolvers = vec![silent_addr];
        c.auth.dns_timeout = Duration::from_millis(500);
        c.auth.check_timeout = Duration::from_secs(5);
        c.verify.mode = epbsh::relay::VerifyMode::Off;
    })
    .await;
    let addr = r.relay.local_addr();
    let to = "staff@a.gov.test";
    let t = send(addr, STRANGER, "x@partner.test", to, &message("x@partner.test", to, "dns-down")).await;
    has(&t, "<** 451 4.4.3");
    let t = send(addr, STRANGER, "x@a.gov.test", to, &message("x@a.gov.test", to, "dns-down-ours")).await;
    assert!(t.contains("<** 451 4.4.3") || t.contains("<** 550 5.7.1"), "never a pass:\n{t}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(inbox.messages().is_empty());
    let counts: std::collections::BTreeMap<_, _> = r.relay.auth().counters().into_iter().collect();
    assert_eq!(counts["partner.test"].deferred, 1, "{counts:?}");
    drop(silent);
    r.relay.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_what_the_relay_would_do_and_new_keys_sign_after_a_reload() {
    let w = world().await;
    let auth = w.relay.relay.auth();
    let registry = w.relay.registry.load();
    let probe = |from: &'static str, ip: &'static str| epbsh::auth::Probe {
        from,
        ip: ip.parse().expect("ip"),
        helo: "mail.client.test",
        message: None,
    };
    let forged = auth.explain(&registry, &probe("minister@a.gov.test", STRANGER)).await;
    assert!(forged.summary.starts_with("refused 550 5.7.1"), "{forged:?}");
    assert!(forged.authentication_results.as_deref().is_some_and(|h| h.contains("dmarc=fail")), "{forged:?}");
    let strict = auth.explain(&registry, &probe("x@strict.test", STRANGER)).await;
    assert!(strict.summary.contains("policy is reject"), "{strict:?}");
    let lax = auth.explain(&registry, &probe("x@lax.test", STRANGER)).await;
    assert!(lax.summary.starts_with("delivered"), "{lax:?}");
    let ours = auth.explain(&registry, &probe("minister@a.gov.test", SERVER_A)).await;
    assert_eq!(ours.signing.as_ref().and_then(|s| s.selector.as_deref()), Some("sel"), "{ours:?}");
    let unsigned = auth.explain(&registry, &probe("clerk@b.gov.test", SERVER_B)).await;
    assert!(
        unsigned.summary.contains("sent unsigned") && unsigned.summary.contains("keygen b.gov.test"),
        "{unsigned:?}"
    );
    let refused = auth.explain(&registry, &probe("clerk@elsewhere.example", SERVER_B)).await;
    assert!(refused.summary.starts_with("refused"), "{refused:?}");
    assert!(auth.counters().is_empty(), "explaining counts nothing");

    // A key made while the relay runs signs once the keys are read again.
    let now = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    keys::keygen(auth.keys_dir(), "b.gov.test", "new", Algorithm::Ed25519, now, now).expect("keygen");
    assert!(!auth.has_key("b.gov.test"));
    assert!(auth.reload_keys().is_empty());
    assert!(auth.has_key("b.gov.test"));
    let m = message("clerk@b.gov.test", "x@ext.test", "after-reload");
    has(&send(w.relay.relay.local_addr(), SERVER_B, "clerk@b.gov.test", "x@ext.test", &m).await, "<-  250 2.0.0");
    let got = w.inbox.wait_messages(1, WAIT).await;
    assert!(got[0].contains("DKIM-Signature: v=1; a=ed25519-sha256; s=new; d=b.gov.test"), "{}", got[0]);
}
