//! DKIM keys as the duty team manages them, end to end: `perimeter mail dkim keygen`
//! refuses a domain no connected system has, makes a key for one that is, and the relay
//! already running under `perimeter up` signs with it without a restart; dkimpy (an
//! independent implementation) verifies the signature against the TXT record the CLI
//! printed; `mail dkim list` and `mail explain` tell the same story; `rotate` announces
//! the new key and retires the old one.

mod common;

use common::swaks::accepted;
use common::{Env, SmtpSink, eventually};

const SYSTEM_SERVER: &str = "127.0.0.2";
const DKIMPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/epbsh/tests/auth_peers/dkimpy.py");

/// `NAME IN TXT "RECORD"` from the CLI's output, as a DNS answer dkimpy is given.
fn published(out: &str) -> String {
    let line = out.lines().find(|l| l.contains(" IN TXT ")).unwrap_or_else(|| panic!("no TXT record in {out}"));
    let (name, record) = line.split_once(" IN TXT ").expect("record");
    format!("{name}={}", record.trim().trim_matches('"'))
}

/// dkimpy's verdict on `message` (as smtp-sink wrote it, lines made CRLF) with `records`.
fn dkimpy_verify(message: &str, records: &[String]) -> String {
    use std::io::Write;
    let crlf = message.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut child = std::process::Command::new("/usr/bin/python3")
        .arg(DKIMPY)
        .arg("verify")
        .args(records)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with dkimpy (Debian python3-dkim) is required: the test script installs it");
    child.stdin.take().expect("stdin").write_all(crlf.as_bytes()).expect("write the message");
    let out = child.wait_with_output().expect("dkimpy runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn signature_of(message: &str) -> Option<&str> {
    message.lines().find(|l| l.to_ascii_lowercase().starts_with("dkim-signature:"))
}

#[test]
fn a_key_made_from_the_cli_signs_on_the_running_relay_and_verifies_elsewhere() {
    let mut env = Env::new();
    let cast = env.cast();
    let outside_port = common::free_port();
    env.configure(&format!(
        "[catalog]\nrefresh = \"200ms\"\n[relay]\nspool_dir = \"spool\"\nhostname = \"relay.test\"\n\
         [relay.delivery]\nretry = [\"1s\"]\n[relay.delivery.transport]\n\"outside.example\" = \"127.0.0.1:{outside_port}\"\n"
    ));
    let refused = env.fails(&["mail", "dkim", "keygen", "minex.gov.kz"]);
    assert!(refused.contains("is not a domain of a connected mail system"), "{refused}");
    env.ok(&["mail", "connect", "minex", "--owner", &cast.a, "--domain", "minex.gov.kz"]
        .into_iter()
        .chain(["--server", SYSTEM_SERVER, "--deliver-to", "127.0.0.1:9", "--contact", "postmaster@minex.gov.kz"])
        .collect::<Vec<_>>());
    let listed = env.ok(&["mail", "dkim", "list"]);
    assert!(listed.contains("minex.gov.kz") && listed.contains("not signed"), "{listed}");

    let outside = SmtpSink::start_on(outside_port, &[]);
    let server = env.up();
    let relay = server.relay.clone().expect("the mail relay runs");
    let send = |subject: &str| {
        let headers = [format!("Subject: {subject}")];
        let t = common::swaks::send(
            &relay,
            SYSTEM_SERVER,
            "clerk@minex.gov.kz",
            "friend@outside.example",
            &[headers[0].as_str()],
            "signed through the gateway",
        );
        assert!(accepted(&t), "{t}");
    };
    send("before any key");
    eventually("the first message arrives", || outside.messages().len() == 1);
    assert!(signature_of(&outside.messages()[0]).is_none(), "no key yet, no signature");

    // A key made while the relay runs: the next message is signed with it.
    let made = env.ok(&["mail", "dkim", "keygen", "minex.gov.kz", "--selector", "s1", "--algorithm", "rsa2048"]);
    let record = published(&made);
    assert!(record.starts_with("s1._domainkey.minex.gov.kz=v=DKIM1; k=rsa; p="), "{record}");
    assert!(!made.contains("PRIVATE KEY"), "the private key is never printed: {made}");
    let mut n = 1;
    eventually("the running relay signs with the new key", || {
        send("after the key");
        n += 1;
        eventually("the message arrives", || outside.messages().len() == n);
        signature_of(&outside.messages()[n - 1]).is_some()
    });
    let signed = outside.messages()[n - 1].clone();
    let sig = signature_of(&signed).expect("signed");
    assert!(sig.contains("d=minex.gov.kz") && sig.contains("s=s1"), "{sig}");
    assert_eq!(dkimpy_verify(&signed, std::slice::from_ref(&record)), "pass", "{signed}");
    assert_eq!(dkimpy_verify(&signed, &["s1._domainkey.minex.gov.kz=v=DKIM1; k=rsa; p=AAAA".into()]), "fail");

    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["mail", "dkim", "list", "--json"])).expect("list --json");
    let minex = listed["domains"].as_array().unwrap().iter().find(|d| d["domain"] == "minex.gov.kz").unwrap();
    assert_eq!(minex["signed"], true, "{listed}");
    let explained: serde_json::Value = serde_json::from_str(&env.ok(&[
        "mail",
        "explain",
        "--from",
        "clerk@minex.gov.kz",
        "--ip",
        SYSTEM_SERVER,
        "--json",
    ]))
    .expect("explain --json");
    assert_eq!(explained["system"], "minex", "{explained}");
    assert_eq!(explained["signing"]["selector"], "s1", "{explained}");
    let foreign = env.ok(&["mail", "explain", "--from", "clerk@elsewhere.kz", "--ip", SYSTEM_SERVER]);
    assert!(foreign.contains("refused") && foreign.contains("not a domain of system minex"), "{foreign}");

    // Rotation: a new key announced for later, the old one retiring then; both audited.
    let rotated = env.ok(&["mail", "dkim", "rotate", "minex.gov.kz", "--selector", "s2", "--signs-in", "1h"]);
    assert!(
        rotated.contains("s2._domainkey.minex.gov.kz IN TXT") && rotated.contains("key s1 stops signing"),
        "{rotated}"
    );
    let shown = env.ok(&["mail", "dkim", "list"]);
    assert!(shown.contains("s2") && shown.contains("pending"), "{shown}");
    let history = env.ok(&["audit", "--json"]);
    assert!(history.contains("mail.dkim.keygen") && history.contains("mail.dkim.rotate"), "{history}");
}
