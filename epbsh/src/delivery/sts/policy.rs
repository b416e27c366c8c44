//! The MTA-STS texts (RFC 8461), read by our own parsers: the `_mta-sts` TXT record
//! (`v=STSv1; id=…`) and the policy file (`version`, `mode`, `mx`, `max_age`), and how a
//! policy's `mx` patterns match an MX host name. Pure: no I/O.
//!
//! Must not: accept a policy without its version, mode and max_age, or an `enforce` or
//! `testing` one without an `mx` line (RFC 8461 §3.2).

use std::time::Duration;

/// The largest policy file read (RFC 8461 §3.3: 64 KiB).
pub const MAX_POLICY: usize = 64 * 1024;
/// The longest `max_age` honoured (RFC 8461 §3.2: about a year).
const MAX_AGE: u64 = 31_557_600;

/// What a policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to a matching MX over TLS with a valid certificate for its name.
    Enforce,
    /// Report failures, deliver anyway.
    Testing,
    /// No policy.
    None,
}

/// A policy file as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// The `mx` patterns, lower-case (`mail.example.com`, `*.example.net`).
    pub mx: Vec<String>,
    pub max_age: Duration,
}

/// The `id` of an `_mta-sts` TXT record, or `None` when the text is not one.
pub fn record_id(text: &str) -> Option<&str> {
    let mut fields = text.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next()? != "v=STSv1" {
        return None;
    }
    let id = fields.find_map(|f| f.strip_prefix("id="))?.trim();
    let ok = !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(id)
}

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy larger than {MAX_POLICY} bytes")]
    TooLarge,
    #[error("policy is not UTF-8")]
    NotText,
    #[error("line {0}: not `key: value`")]
    Line(usize),
    #[error("version is not STSv1")]
    Version,
    #[error("mode {0:?} is not enforce, testing or none")]
    Mode(String),
    #[error("max_age {0:?} is not a number of seconds")]
    MaxAge(String),
    #[error("no {0} line")]
    Missing(&'static str),
    #[error("mx pattern {0:?} is not a host name or *.domain")]
    Mx(String),
}

/// Reads a policy file.
pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
    if bytes.len() > MAX_POLICY {
        return Err(PolicyError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PolicyError::NotText)?;
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or(PolicyError::Line(i + 1))?;
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value == "STSv1"),
            "mode" => mode = Some(value.to_string()),
            "max_age" => max_age = Some(value.to_string()),
            "mx" => mx.push(mx_pattern(value)?),
            _ => {}
        }
    }
    match version {
        Some(true) => {}
        Some(false) => return Err(PolicyError::Version),
        None => return Err(PolicyError::Missing("version")),
    }
    let mode = match mode.as_deref() {
        Some("enforce") => Mode::Enforce,
        Some("testing") => Mode::Testing,
        Some("none") => Mode::None,
        Some(other) => return Err(PolicyError::Mode(other.to_string())),
        None => return Err(PolicyError::Missing("mode")),
    };
    let age = max_age.ok_or(PolicyError::Missing("max_age"))?;
    let secs: u64 = match age.len() <= 10 && age.bytes().all(|b| b.is_ascii_digit()) {
        true => age.parse().map_err(|_| PolicyError::MaxAge(age.clone()))?,
        false => return Err(PolicyError::MaxAge(age)),
    };
    if mode != Mode::None && mx.is_empty() {
        return Err(PolicyError::Missing("mx"));
    }
    Ok(Policy { mode, mx, max_age: Duration::from_secs(secs.min(MAX_AGE)) })
}

fn mx_pattern(value: &str) -> Result<String, PolicyError> {
    let v = value.trim_end_matches('.').to_ascii_lowercase();
    let host = v.strip_prefix("*.").unwrap_or(&v);
    match crate::smtp::is_domain(host) {
        true => Ok(v),
        false => Err(PolicyError::Mx(value.to_string())),
    }
}

impl Policy {
    /// True when `host` (an MX name) matches one of the patterns: exactly, or `*.d` for a
    /// name of one more label than `d` (RFC 8461 §4.1).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_policies() {
        assert_eq!(record_id("v=STSv1; id=20160831085700Z;"), Some("20160831085700Z"));
        assert_eq!(record_id(" v=STSv1 ;id=abc"), Some("abc"));
        assert_eq!(record_id("v=STSv2; id=1"), None);
        assert_eq!(record_id("v=STSv1; id=not-alnum"), None);
        let p = parse(
            b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.net\r\nmax_age: 86400\r\n",
        )
        .unwrap();
        assert_eq!((p.mode, p.max_age.as_secs()), (Mode::Enforce, 86_400));
        assert!(p.allows("MAIL.example.com.") && p.allows("mx1.example.net"));
        assert!(!p.allows("a.b.example.net") && !p.allows("example.net") && !p.allows("mail.example.org"));
        let p = parse(b"version: STSv1\nmode: none\nmax_age: 99999999999\n").unwrap_err();
        assert_eq!(p, PolicyError::MaxAge("99999999999".into()));
        assert_eq!(parse(b"version: STSv1\nmode: none\nmax_age: 99999999\n").unwrap().max_age.as_secs(), MAX_AGE);
    }

    #[test]
    fn refuses_what_is_incomplete_or_malformed() {
        let cases: [(&[u8], PolicyError); 6] = [
            (b"mode: enforce\nmx: a.example\nmax_age: 1\n", PolicyError::Missing("version")),
            (b"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", PolicyError::Version),
            (b"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", PolicyError::Mode("strict".into())),
            (b"version: STSv1\nmode: enforce\nmax_age: 1\n", PolicyError::Missing("mx")),
            (b"version: STSv1\nmode: enforce\nmx: bad host\nmax_age: 1\n", PolicyError::Mx("bad host".into())),
            (b"version: STSv1\ngarbage\n", PolicyError::Line(2)),
        ];
        for (text, err) in cases {
            assert_eq!(parse(text).unwrap_err(), err, "{}", String::from_utf8_lossy(text));
        }
        assert_eq!(parse(&vec![b'a'; MAX_POLICY + 1]).unwrap_err(), PolicyError::TooLarge);
    }
}
