//! URLs as Safe Browsing compares them: one canonical form for a feed's entries and a
//! request's URL, and the host-suffix and path-prefix expressions a request is looked
//! up under, so that `/malware.exe?x`, `/%2e/malware%2Eexe`, `//malware.exe`,
//! `/./malware.exe`, `MALWARE.test.` and `http://host:80/` all meet the listed
//! `malware.test/malware.exe`.
//!
//! The canonical form: tabs, CR and LF removed; the fragment removed; percent-escapes
//! undone until none is left; the scheme, user information and port dropped; the host in
//! lower case without leading, trailing or repeated dots, an IPv4 address in any of its
//! textual forms (`3221225985`, `0xc0.0.2.1`, `0300.0.2.1`, `192.0.513`) as four decimal
//! numbers; `.` and `..` segments and repeated slashes removed from the path (not from
//! the query); then every byte at or below a space, at or above DEL, `#` and `%` escaped
//! again in upper case. It is its own canonical form.
//!
//! Must not: decide anything; it only spells URLs.

use std::net::Ipv4Addr;

/// A URL in canonical form: host, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalUrl {
    host: String,
    path: String,
    query: Option<String>,
}

/// Bounds of the expressions of one URL, as Safe Browsing sets them.
const HOST_SUFFIXES: usize = 5;
const PATH_PREFIXES: usize = 4;

impl CanonicalUrl {
    /// The canonical form of `url` (with or without a scheme); `None` without a host.
    pub fn parse(url: &str) -> Option<CanonicalUrl> {
        let cleaned: Vec<u8> = url.trim().bytes().filter(|b| !matches!(b, b'\t' | b'\r' | b'\n')).collect();
        let without_fragment = cleaned.split(|&b| b == b'#').next().unwrap_or_default();
        let bytes = unescape(without_fragment);
        let rest = strip_scheme(&bytes);
        let end = rest.iter().position(|b| matches!(b, b'/' | b'?')).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let host = canonical_host(authority)?;
        let (path, query) = match tail.iter().position(|&b| b == b'?') {
            Some(q) => (&tail[..q], Some(&tail[q + 1..])),
            None => (tail, None),
        };
        Some(CanonicalUrl { host, path: escape(&canonical_path(path)), query: query.map(escape) })
    }

    /// The host: a lower-case name, four decimal numbers, or a bracketed IPv6 address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The canonical form as one string: `host/path[?query]`.
    pub fn as_key(&self) -> String {
        match &self.query {
            Some(q) => format!("{}{}?{q}", self.host, self.path),
            None => format!("{}{}", self.host, self.path),
        }
    }

    /// Every key a listed URL covering this one may have, most specific first: the host
    /// and up to four of its suffixes (the last five labels, then fewer, never the bare
    /// top-level label), each with the path and query, the path alone, and up to four
    /// directory prefixes from the root (`/`, `/a/`, `/a/b/`, …).
    pub fn expressions(&self) -> Vec<String> {
        let paths = self.path_prefixes();
        let mut keys = Vec::with_capacity(paths.len() * HOST_SUFFIXES);
        for host in self.host_suffixes() {
            keys.extend(paths.iter().map(|p| format!("{host}{p}")));
        }
        keys
    }

    fn host_suffixes(&self) -> Vec<&str> {
        let mut hosts = vec![self.host.as_str()];
        if self.host.starts_with('[') || self.host.parse::<Ipv4Addr>().is_ok() {
            return hosts;
        }
        let dots: Vec<usize> = self.host.match_indices('.').map(|(i, _)| i).collect();
        // The suffix of the last k labels starts after the k-th dot from the end.
        for k in (2..=HOST_SUFFIXES.min(dots.len())).rev() {
            hosts.push(&self.host[dots[dots.len() - k] + 1..]);
        }
        hosts
    }

    fn path_prefixes(&self) -> Vec<String> {
        let mut paths = Vec::with_capacity(PATH_PREFIXES + 2);
        if let Some(q) = &self.query {
            paths.push(format!("{}?{q}", self.path));
        }
        paths.push(self.path.clone());
        let mut prefix = String::from("/");
        let segments: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        for (i, segment) in segments.iter().enumerate() {
            if i >= PATH_PREFIXES {
                break;
            }
            if !paths.contains(&prefix) {
                paths.push(prefix.clone());
            }
            if i + 1 == segments.len() {
                break;
            }
            prefix.push_str(segment);
            prefix.push('/');
        }
        paths
    }
}

/// Undoes percent-escapes until none is left, in one pass: a decoded byte that completes
/// an escape with what precedes it is decoded in turn (`%2541` → `%41` → `A`).
fn unescape(input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    for &b in input {
        out.push(b);
        while let [.., b'%', hi, lo] = out[..] {
            let (Some(hi), Some(lo)) = (hex(hi), hex(lo)) else { break };
            out.truncate(out.len() - 3);
            out.push(hi << 4 | lo);
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Escapes what the canonical form escapes: bytes at or below a space, at or above DEL,
/// `#` and `%`.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b <= b' ' || b >= 0x7f || b == b'#' || b == b'%' {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// What follows a leading scheme's `://`, or the whole when there is none.
fn strip_scheme(bytes: &[u8]) -> &[u8] {
    let Some(at) = bytes.windows(3).position(|w| w == b"://") else { return bytes };
    let scheme = &bytes[..at];
    let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b));
    if valid { &bytes[at + 3..] } else { bytes }
}

/// The host of an authority (user information and port dropped), canonical; `None` when
/// it is empty.
fn canonical_host(authority: &[u8]) -> Option<String> {
    let host = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let host = match host.iter().rposition(|&b| b == b':') {
        Some(colon) if !host.starts_with(b"[") || host[..colon].ends_with(b"]") => &host[..colon],
        _ => host,
    };
    let lower = host.to_ascii_lowercase();
    if lower.starts_with(b"[") {
        return Some(escape(&lower));
    }
    let labels: Vec<&[u8]> = lower.split(|&b| b == b'.').filter(|l| !l.is_empty()).collect();
    if labels.is_empty() {
        return None;
    }
    if let Some(v4) = ipv4_any_form(&labels) {
        return Some(v4.to_string());
    }
    Some(escape(&labels.join(&b'.')))
}

/// An IPv4 address written as inet_aton reads it: one to four numbers, each decimal,
/// octal (leading `0`) or hexadecimal (`0x`), the last filling the remaining bytes.
fn ipv4_any_form(parts: &[&[u8]]) -> Option<Ipv4Addr> {
    if parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| number(p)).collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let high = leading.iter().enumerate().fold(0u64, |acc, (i, &n)| acc | n << (24 - 8 * i as u32));
    u32::try_from(high | last).ok().map(Ipv4Addr::from)
}

fn number(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None if text.len() > 1 && text.starts_with('0') => (&text[1..], 8),
        None => (text, 10),
    };
    if digits.is_empty() && radix == 16 {
        return Some(0);
    }
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The path without `.` and `..` segments and without repeated slashes; `/` when empty.
fn canonical_path(path: &[u8]) -> Vec<u8> {
    let mut segments: Vec<&[u8]> = Vec::new();
    let ends_in_dir = path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..");
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = vec![b'/'];
    out.extend_from_slice(&segments.join(&b'/'));
    if ends_in_dir && !segments.is_empty() {
        out.push(b'/');
    }
    out
}
