//! The two line formats of the access log.
//!
//! Squid native: the ten fields Squid writes
//! (`time elapsed client code/status bytes method url user hierarchy/peer type`,
//! with the organisation's BIN as the user), followed by the gateway's own
//! fields as `key=value` tokens: `ref=`, `action=`, `category=`, `reason="..."`,
//! when an origin certificate was refused `cert_error="..."`, and per content
//! scan `respmod=` / `reqmod=` with the outcome and service (`threat:av`),
//! `threat="..."` and `scan_detail="..."`. Tools that read Squid logs by
//! position see the usual ten fields first. JSON: one object per line with
//! every field of the record. Must not: do I/O.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Action, Record};
use crate::denial::DenyKind;

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

/// `value` quoted, with `"` and `\` escaped and control characters dropped.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A token without spaces for a positional field; `-` when empty.
fn token(value: &str) -> String {
    if value.is_empty() {
        return "-".to_owned();
    }
    value.chars().map(|c| if c.is_whitespace() || c.is_control() { '_' } else { c }).collect()
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
                "https://news.test/a_b",
                "980140000010",
                "HIER_NONE/-",
                "text/html"
            ]
        );
        assert!(line.contains(" ref=00000000deadbeef action=deny category=news,media deny=policy "), "{line}");
        assert!(line.ends_with(r#"reason="category \"news\" is not allowed""#), "{line}");
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
