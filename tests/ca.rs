//! The gateway root CA from the command line: created once with its key private,
//! exported for operators (checked with openssl), rotated with every operator told.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Env, SmtpSink};

fn openssl_fingerprint(pem_or_der: &std::path::Path, der: bool) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(pem_or_der);
    if der {
        cmd.args(["-inform", "DER"]);
    }
    let out = cmd.output().expect("openssl is required by this test (the test script installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().rsplit('=').next().unwrap().to_string()
}

#[test]
fn the_root_ca_is_created_private_exported_and_rotated_with_operators_told() {
    let sink = SmtpSink::start(&[]);
    let mut env = Env::new();
    env.configure(&format!(
        "[notices]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"duty@gateway.example\"\n",
        sink.port
    ));
    env.cast();

    let init = env.ok(&["ca", "init"]);
    assert!(init.contains("fingerprint (SHA-256)"), "{init}");
    assert!(env.fails(&["ca", "init"]).contains("already"), "init refuses to overwrite");
    let ca_dir = env.path("data").join("ca");
    let keys: Vec<_> = std::fs::read_dir(&ca_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
        .collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].metadata().unwrap().permissions().mode() & 0o777, 0o600, "key file is 0600");

    let show: serde_json::Value = serde_json::from_str(&env.ok(&["ca", "show", "--json"])).unwrap();
    let fingerprint = show["fingerprint"].as_str().unwrap().to_string();
    let pem = env.path("root.pem");
    env.ok(&["ca", "export", "-o", pem.to_str().unwrap()]);
    let der = env.path("root.der");
    env.ok(&["ca", "export", "--der", "-o", der.to_str().unwrap()]);
    assert_eq!(openssl_fingerprint(&pem, false), fingerprint);
    assert_eq!(openssl_fingerprint(&der, true), fingerprint);
    let exported = std::fs::read_to_string(&pem).unwrap();
    assert!(
        exported.contains("BEGIN CERTIFICATE") && !exported.contains("PRIVATE KEY"),
        "only the certificate is exported"
    );

    let rotated = env.run(&["ca", "rotate"]);
    let stdout = String::from_utf8_lossy(&rotated.stdout);
    assert_eq!(rotated.status.code(), Some(2), "beta has no contact and is reported: {stdout}");
    assert!(stdout.contains("notified 1 operator(s); 1 not notified"), "{stdout}");
    let after: serde_json::Value = serde_json::from_str(&env.ok(&["ca", "show", "--json"])).unwrap();
    let new = after["fingerprint"].as_str().unwrap().to_string();
    assert_ne!(new, fingerprint);
    assert_eq!(after["previous"]["fingerprint"], fingerprint.as_str(), "the old root stays trusted during the overlap");
    let bundle = env.ok(&["ca", "export", "--bundle"]);
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);

    common::eventually("the operator is told", || sink.messages().len() == 1);
    let mail = &sink.readable()[0];
    assert!(mail.contains("noc@alpha.example") && mail.contains(&new), "fingerprint in the mail: {mail}");
    assert!(mail.contains("BEGIN CERTIFICATE"), "certificate attached: {mail}");
    assert!(!mail.contains("PRIVATE KEY"));
    let audit = env.ok(&["audit", "--subject", "ca"]);
    assert!(audit.contains("ca.rotate"), "{audit}");
}

#[test]
fn up_creates_the_root_ca_on_first_start_and_never_logs_the_key() {
    let env = Env::new();
    let duty = env.token("duty", &["--duty"]);
    let log_path = env.path("up.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = env.up_logging("trace", log.into());
    assert_eq!(server.get("/api/v1/whoami", &duty).status, 200);
    drop(server);
    let show: serde_json::Value = serde_json::from_str(&env.ok(&["ca", "show", "--json"])).unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("root CA created") && log.contains(show["fingerprint"].as_str().unwrap()), "{log}");
    assert!(!log.contains("PRIVATE KEY") && !log.contains("BEGIN"), "no key material in the log");
    let key = std::fs::read_dir(env.path("data").join("ca"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "key"))
        .unwrap();
    let key_text = std::fs::read_to_string(key.path()).unwrap();
    let body: String = key_text.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!log.contains(&body[..40]), "no key bytes in the log");
}
