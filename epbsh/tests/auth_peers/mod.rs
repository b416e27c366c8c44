//! Peers of the mail-authentication tests: dkimpy (Debian `python3-dkim`) to verify and
//! sign, OpenDKIM's `opendkim-testmsg` and `opendkim-genkey` to sign, dnsmasq serving the
//! TXT records (SPF, DKIM keys, DMARC), and reading a message back out of smtp-sink's dump.
//! The tests fail, never skip, when a peer is missing.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const PYTHON: &str = "/usr/bin/python3";
const DKIMPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth_peers/dkimpy.py");

/// Makes sure dkimpy and OpenDKIM's tools are installed (as root when missing).
pub fn ensure() {
    super::common::peers::ensure();
    let have = Path::new("/usr/sbin/opendkim-testmsg").exists()
        && Command::new(PYTHON).args(["-c", "import dkim"]).status().is_ok_and(|s| s.success());
    if have {
        return;
    }
    let script = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                  --no-install-recommends opendkim-tools python3-dkim >/dev/null";
    let ok = Command::new("sh").args(["-c", script]).status().is_ok_and(|s| s.success());
    assert!(ok, "opendkim-tools and python3-dkim are needed: apt-get install opendkim-tools python3-dkim");
}

fn run(cmd: &mut Command, input: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn peer");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let out = child.wait_with_output().expect("peer output");
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// dkimpy's verdict on every signature of `message` (`"pass"`, `"pass fail"`, `"none"`),
/// with DNS answered from `records` (name, TXT text).
pub fn dkimpy_verify(message: &[u8], records: &[(&str, &str)]) -> String {
    ensure();
    let args: Vec<String> = records.iter().map(|(n, r)| format!("{n}={r}")).collect();
    let (_, out, err) = run(Command::new(PYTHON).arg(DKIMPY).arg("verify").args(&args), message);
    let out = String::from_utf8_lossy(&out).trim().to_string();
    assert!(!out.is_empty(), "dkimpy said nothing: {err}");
    out
}

/// An Ed25519 key for dkimpy: (seed file contents, DNS record).
pub fn dkimpy_ed25519_key() -> (String, String) {
    ensure();
    let (ok, out, err) = run(Command::new(PYTHON).arg(DKIMPY).arg("keygen-ed25519"), b"");
    assert!(ok, "{err}");
    let text = String::from_utf8(out).expect("utf-8");
    let (seed, public) = text.trim().split_once(' ').expect("two keys");
    (seed.to_string(), format!("v=DKIM1; k=ed25519; p={public}"))
}

/// `message` signed by dkimpy (`alg`: rsa or ed25519) with the key in `keyfile`.
pub fn dkimpy_sign(alg: &str, domain: &str, selector: &str, keyfile: &Path, message: &[u8]) -> Vec<u8> {
    ensure();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(DKIMPY).args(["sign", alg, domain, selector]).arg(keyfile);
    let (ok, out, err) = run(&mut cmd, message);
    assert!(ok, "dkimpy sign: {err}");
    out
}

/// An RSA key made by `opendkim-genkey` in `dir`: (private key path, DNS record text).
pub fn opendkim_key(dir: &Path, domain: &str, selector: &str) -> (std::path::PathBuf, String) {
    ensure();
    let ok = Command::new("/usr/sbin/opendkim-genkey")
        .args(["-b", "2048", "-d", domain, "-s", selector, "-D"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "opendkim-genkey failed");
    let txt = std::fs::read_to_string(dir.join(format!("{selector}.txt"))).expect("record file");
    // The BIND zone line: quoted strings between parentheses, joined.
    let record: String = txt.split('"').skip(1).step_by(2).collect();
    (dir.join(format!("{selector}.private")), record)
}

/// `message` signed by `opendkim-testmsg` (rsa-sha256).
pub fn opendkim_sign(domain: &str, selector: &str, key: &Path, message: &[u8]) -> Vec<u8> {
    ensure();
    let mut cmd = Command::new("/usr/sbin/opendkim-testmsg");
    cmd.args(["-C", "-d", domain, "-s", selector, "-k"]).arg(key);
    let (ok, out, err) = run(&mut cmd, message);
    assert!(ok, "opendkim-testmsg: {err}");
    out
}

/// dnsmasq arguments serving `text` as the TXT record of `name` (split into strings of at
/// most 250 bytes, which verifiers join).
pub fn txt(name: &str, text: &str) -> String {
    let chunks: Vec<&str> =
        text.as_bytes().chunks(250).map(|c| std::str::from_utf8(c).expect("ascii record")).collect();
    assert!(!text.contains(','), "a TXT text with a comma cannot be given to dnsmasq");
    format!("--txt-record={name},{}", chunks.join(","))
}

/// The message as the relay delivered it, out of an smtp-sink dump: without the sink's
/// `X-` lines and its own `Received:`, with CRLF line ends as on the wire.
pub fn delivered(dump: &str) -> Vec<u8> {
    let mut lines = dump.split('\n').peekable();
    while lines.peek().is_some_and(|l| l.starts_with("X-")) {
        lines.next();
    }
    if lines.peek().is_some_and(|l| l.starts_with("Received:")) {
        lines.next();
        while lines.peek().is_some_and(|l| l.starts_with('\t') || l.starts_with(' ')) {
            lines.next();
        }
    }
    let rest: Vec<&str> = lines.collect();
    let text = rest.join("\n");
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.replace('\n', "\r\n").into_bytes()
}

/// A plain message from `from` to `to`.
pub fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{subject}@test>\r\n\r\nHello,\r\n\r\nthe text of {subject}.\r\n"
    )
    .into_bytes()
}
