//! The two line formats of the access log.
//!
//! Squid native: the ten fields Squid writes
//! (`time elapsed client code/status bytes method url user hierarchy/peer type`,
//! with the organisation's BIN as the user), followed by the gateway's own
//! fields as `key=value` tokens: `ref=`, `action=`, `category=`, `reason="..."`,
//! when an origin certificate was refused `cert_error="..."`, and per content
//! scan `respmod=` / `reqmod=` with the outcome and service (`threat:av`),
//! `threat="..."`, `scan_detail="..."` and, for a transfer only partly scanned
//! when bytes of it went on, `scan_partial=N` (the bytes passed before the
//! verdict), and `sni=` when a `CONNECT`
//! tunnel's server name differs from its host. Tools that read Squid logs by
//! position see the usual ten fields first. JSON: one object per line with
//! every field of the record.
//!
//! Nothing a client sends can forge a field: positional fields and tokens are
//! percent-encoded outside printable ASCII (spaces, quotes, backslashes,
//! control bytes, `%` itself, and every non-ASCII byte), and quoted values
//! escape quotes, backslashes, `=`, control and invisible characters.
//! Must not: do I/O.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Action, Record};
use crate::decide::denial::DenyKind;

/// Squid's result code for a record.
fn squid_code(r: &Record) -> &'static str {
    match (r.action, r.deny_kind) {
        (Action::Splice, _) => "TCP_TUNNEL",
        (Action::Bump, _) => "NONE_NONE",
        (Action::Allow, _) => "TCP_MISS",
        (Action::Deny, Some(DenyKind::Upstream | DenyKind::UpstreamCert)) => "NONE_NONE",
        (Action::Deny, _) => "TCP_DENIED",
    }
}

/// Characters that would let a value pose as a separator, a line or text it is not:
/// controls, line and paragraph separators, and the invisible format characters
/// (zero-width and bidirectional overrides).
fn unsafe_in_quotes(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')
        || matches!(c, '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `value` quoted, with `"` and `\\` escaped, and `=` and unsafe characters as `\u{...}`.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
            out.push(c);
        } else if c == '=' || unsafe_in_quotes(c) {
            // `=` too: a reader that looks for ` key=` tokens cannot be fooled by quoted text.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A token for a positional field: printable ASCII stays, every other byte (space,
/// control, non-ASCII) and `%`, `"`, `'`, `\\` are percent-encoded; `-` when empty.
fn token(value: &str) -> String {
    if value.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'%' | b'"' | b'\'' | b'\\') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn categories(r: &Record) -> String {
    if r.categories.is_empty() { "-".to_owned() } else { token(&r.categories.join(",")) }
}

/// One line in Squid's native format plus the gateway's fields (no newline).
pub fn squid_line(r: &Record) -> String {
    let since = r.started.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (hier, peer) = match r.upstream {
        Some(addr) => ("HIER_DIRECT", addr.ip().to_string()),
        None => ("HIER_NONE", "-".to_owned()),
    };
    let mut line = format!(
        "{}.{:03} {:>6} {} {}/{:03} {} {} {} {} {}/{} {}",
        since.as_secs(),
        since.subsec_millis(),
        r.duration_ms,
        r.client,
        squid_code(r),
        r.status,
        r.bytes_to_client,
        token(&r.method),
        token(&r.url),
        token(r.org.as_deref().unwrap_or_default()),
        hier,
        peer,
        token(r.content_type.as_deref().unwrap_or_default()),
    );
    let _ = write!(line, " ref={} action={} category={}", r.reference, r.action.label(), categories(r));
    if let Some(sni) = &r.sni {
        let _ = write!(line, " sni={}", token(sni));
    }
    if let Some(kind) = r.deny_kind {
        let _ = write!(line, " deny={}", kind.label());
    }
    if let Some(err) = &r.cert_error {
        let _ = write!(line, " cert_error={}", quoted(err));
    }
    for scan in &r.scans {
        let _ = write!(line, " {}={}:{}", scan.method.label(), scan.outcome.label(), token(&scan.service));
        if let Some(threat) = &scan.threat {
            let _ = write!(line, " threat={}", quoted(threat));
        }
        if !scan.detail.is_empty() {
            let _ = write!(line, " scan_detail={}", quoted(&scan.detail));
        }
        if scan.passed > 0 {
            let _ = write!(line, " scan_partial={}", scan.passed);
        }
    }
    let _ = write!(line, " reason={}", quoted(&r.reason));
    line
}

fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t).format(&Rfc3339).unwrap_or_default()
}

/// One JSON object with every field of the record (no newline).
pub fn json_line(r: &Record) -> String {
    json!({
        "time": rfc3339(r.started),
        "duration_ms": r.duration_ms,
        "client": r.client,
        "org": r.org,
        "listener": r.listener,
        "method": r.method,
        "host": r.host,
        "url": r.url,
        "sni": r.sni,
        "categories": r.categories,
        "action": r.action.label(),
        "deny": r.deny_kind.map(DenyKind::label),
        "status": r.status,
        "reason": r.reason,
        "cert_error": r.cert_error,
        "bytes_to_client": r.bytes_to_client,
        "bytes_from_client": r.bytes_from_client,
        "upstream": r.upstream.map(|a| a.to_string()),
        "content_type": r.content_type,
        "reference": r.reference,
        "scans": r.scans.iter().map(|s| json!({
            "method": s.method.label(),
            "outcome": s.outcome.label(),
            "service": s.service,
            "threat": s.threat,
            "detail": s.detail,
            "passed_before_verdict": s.passed,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record() -> Record {
        Record {
            started: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            duration_ms: 45,
            client: "127.0.0.1".parse().expect("ip"),
            org: Some("980140000010".into()),
            listener: "explicit",
            method: "GET".into(),
            host: "news.test".into(),
            url: "https://news.test/a b".into(),
            sni: None,
            categories: vec!["news".into(), "media".into()],
            action: Action::Deny,
            deny_kind: Some(DenyKind::Policy),
            status: 403,
            reason: "category \"news\" is not allowed".into(),
            cert_error: None,
            bytes_to_client: 512,
            bytes_from_client: 80,
            upstream: None,
            content_type: Some("text/html".into()),
            reference: "00000000deadbeef".into(),
            scans: Vec::new(),
        }
    }

    #[test]
    fn squid_line_has_the_ten_native_fields_first() {
        let line = squid_line(&record());
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            &fields[..10],
            [
                "1700000000.123",
                "45",
                "127.0.0.1",
                "TCP_DENIED/403",
                "512",
                "GET",
                "https://news.test/a%20b",
                "980140000010",
                "HIER_NONE/-",
                "text/html"
            ]
        );
        assert!(line.contains(" ref=00000000deadbeef action=deny category=news,media deny=policy "), "{line}");
        assert!(line.ends_with(r#"reason="category \"news\" is not allowed""#), "{line}");
    }

    #[test]
    fn nothing_a_client_sends_forges_a_field() {
        let mut r = record();
        r.url = "https://news.test\" x/a b\r\n1700000000.000 0 10.0.0.1 TCP_MISS/200 \u{202e}%41".into();
        r.method = "G\"ET".into();
        r.reason = "host news.test\" action=allow \u{202e}\n".into();
        r.sni = Some("a\" b".into());
        let line = squid_line(&r);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let url = "https://news.test%22%20x/a%20b%0D%0A1700000000.000%200%2010.0.0.1%20TCP_MISS/200%20%E2%80%AE%2541";
        assert_eq!(fields[6], url);
        assert_eq!(fields[5], "G%22ET");
        assert!(fields[..10].iter().all(|f| !f.contains('"')), "{line}");
        assert!(line.contains(" sni=a%22%20b "), "{line}");
        assert!(line.ends_with(r#"reason="host news.test\" action\u{3d}allow \u{202e}\u{a}""#), "{line}");
        assert_eq!(line.matches(" action=").count(), 1, "{line}");
    }

    #[test]
    fn json_line_holds_every_field() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&record())).expect("valid JSON");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["org"], "980140000010");
        assert_eq!(v["action"], "deny");
        assert_eq!(v["deny"], "policy");
        assert_eq!(v["categories"][1], "media");
        assert_eq!(v["reference"], "00000000deadbeef");
        assert!(v["cert_error"].is_null());
    }
}
