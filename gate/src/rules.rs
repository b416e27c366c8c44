//! nftables text the gate installs beside its enforcement, and the `nft` runner both
//! backends use: the redirect of catalogued sources' TCP 443 and 80 to the proxy's
//! transparent listeners (`inet perimeter_redirect`), and for the XDP backend the rate-limited ICMP
//! answer to dropped QUIC (`inet perimeter_quic`; the XDP program hands those packets
//! to the stack instead of dropping them). `perimeter gate rules` prints the same text.
//!
//! Must not: decide which sources are admitted (the gate's tables do that; these rules
//! only see packets the gate passed).

use std::io::Write;
use std::process::{Command, Stdio};

use super::GateError;

/// The table holding the redirect to the transparent listener.
pub const REDIRECT_TABLE: &str = "perimeter_redirect";
/// The table answering QUIC for the XDP backend.
pub const QUIC_TABLE: &str = "perimeter_quic";

/// `{ "eth1", "eth2" }`
pub fn ifname_set(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("{{ {} }}", quoted.join(", "))
}

/// Replaces `table inet NAME` with `body` in one transaction (creating it if absent).
pub fn replace_table(name: &str, body: &str) -> String {
    format!("add table inet {name}\ndelete table inet {name}\ntable inet {name} {{\n{body}}}\n")
}

/// Removes `table inet NAME` if present.
pub fn delete_table(name: &str) -> String {
    format!("add table inet {name}\ndelete table inet {name}\n")
}

/// The gateway's ports catalogued sources' web traffic is redirected to: the proxy's
/// transparent TLS listener, and its plain-HTTP one when it runs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Redirect {
    /// Where TCP 443 goes.
    pub https: u16,
    /// Where TCP 80 goes; routed, not redirected, when `None`.
    pub http: Option<u16>,
}

/// Catalogued sources' HTTPS (and HTTP, when `to.http` is set) on the guarded interfaces
/// goes to the transparent listeners on those ports of the gateway (the listeners must
/// accept on the interfaces' addresses, e.g. `listen = "[::]:3130"`).
pub fn redirect(names: &[String], to: Redirect) -> String {
    let set = ifname_set(names);
    let mut rules = format!("    iifname {set} tcp dport 443 redirect to :{}\n", to.https);
    if let Some(http) = to.http {
        rules.push_str(&format!("    iifname {set} tcp dport 80 redirect to :{http}\n"));
    }
    replace_table(
        REDIRECT_TABLE,
        &format!("  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{rules}  }}\n"),
    )
}

/// The rule lines that answer QUIC with ICMP port unreachable at `rate` per second and
/// drop the rest; `guard` is put before each (an interface match, or nothing).
pub fn quic_answer(guard: &str, rate: u32, reject: bool) -> String {
    let mut out = String::new();
    if reject {
        out.push_str(&format!(
            "    {guard}udp dport {{ 80, 443 }} limit rate {rate}/second reject with icmpx type port-unreachable\n"
        ));
    }
    out.push_str(&format!("    {guard}udp dport {{ 80, 443 }} drop\n"));
    out
}

/// The XDP backend's companion table: it sees only the QUIC packets of catalogued
/// sources (the program passes those to the stack when answering is on).
pub fn quic_table(names: &[String], rate: u32) -> String {
    let guard = format!("iifname {} ", ifname_set(names));
    replace_table(
        QUIC_TABLE,
        &format!(
            "  chain prerouting {{\n    type filter hook prerouting priority -300; policy accept;\n{}  }}\n",
            quic_answer(&guard, rate, true)
        ),
    )
}

/// Whether `nft` can be run, and its version line.
pub fn nft_version() -> Result<String, GateError> {
    let out = Command::new("nft")
        .arg("--version")
        .output()
        .map_err(|e| GateError::NftUnavailable(format!("cannot run nft ({e}); install the nftables package")))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `nft -f -` with `script` as one transaction.
pub fn run_nft(script: &str) -> Result<(), GateError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| GateError::NftUnavailable(format!("cannot run nft ({e}); install the nftables package")))?;
    let written = child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(|e| GateError::Nft(format!("nft did not finish: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first: Vec<&str> = err.lines().filter(|l| l.contains("Error")).take(3).collect();
        return Err(GateError::Nft(if first.is_empty() { err.trim().to_owned() } else { first.join("; ") }));
    }
    if let Some(Err(e)) = written {
        return Err(GateError::Nft(format!("writing to nft: {e}")));
    }
    Ok(())
}

/// Runs `nft -j ARGS` and returns its JSON.
pub fn nft_json(args: &[&str]) -> Result<serde_json::Value, GateError> {
    let out = Command::new("nft")
        .arg("-j")
        .args(args)
        .output()
        .map_err(|e| GateError::NftUnavailable(format!("cannot run nft ({e})")))?;
    if !out.status.success() {
        return Err(GateError::Nft(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| GateError::Nft(format!("nft -j printed no JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_names_interfaces_and_ports() {
        let text = redirect(&["eth1".into(), "eth2".into()], Redirect { https: 3130, http: None });
        assert!(text.starts_with("add table inet perimeter_redirect\ndelete table inet perimeter_redirect\n"));
        assert!(text.contains("iifname { \"eth1\", \"eth2\" } tcp dport 443 redirect to :3130\n"));
        assert!(text.contains("type nat hook prerouting priority dstnat"));
        assert!(!text.contains("dport 80"), "{text}");
        let text = redirect(&["eth1".into()], Redirect { https: 3130, http: Some(3129) });
        assert!(text.contains("iifname { \"eth1\" } tcp dport 80 redirect to :3129\n"), "{text}");
    }

    #[test]
    fn quic_answers_are_rate_limited_then_dropped() {
        let text = quic_table(&["eth1".into()], 50);
        let limit = text.find("limit rate 50/second reject with icmpx type port-unreachable").expect("reject rule");
        let drop = text.find("udp dport { 80, 443 } drop").expect("drop rule");
        assert!(limit < drop);
        assert!(!quic_answer("", 10, false).contains("reject"));
    }
}
