//! Strict RFC 5321 path parser (`<local@domain>`, `<>`, `<postmaster>`).
//!
//! Deliberate refusals: source routes (`<@a:b@c>`) are rejected rather than
//! silently stripped, non-ASCII is rejected (SMTPUTF8 is not offered), and the
//! local part keeps its quotes so that a quoted `@` cannot turn into a second
//! domain downstream. Routing characters are judged by [`has_routing_chars`].

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::envelope::Mailbox;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;
const MAX_LABEL: usize = 63;

/// A parsed reverse- or forward-path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Path {
    /// `<>`.
    Null,
    /// `<postmaster>` without a domain (RFC 5321 §4.1.1.3).
    Postmaster,
    /// `<local@domain>`.
    Mailbox(Mailbox),
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not a valid path.
    Syntax,
    /// `<@relay:user@domain>`.
    SourceRoute,
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Parses a path at the start of `s`; returns it and the text after `>`.
pub(crate) fn parse_path(s: &str) -> Result<(Path, &str), PathError> {
    let inner = s.strip_prefix('<').ok_or(PathError::Syntax)?;
    if let Some(rest) = inner.strip_prefix('>') {
        return Ok((Path::Null, rest));
    }
    if inner.starts_with('@') {
        return Err(PathError::SourceRoute);
    }
    let (local, after_local) = local_part(inner)?;
    if let Some(rest) = after_local.strip_prefix('>') {
        return if local.eq_ignore_ascii_case("postmaster") {
            Ok((Path::Postmaster, rest))
        } else {
            Err(PathError::Syntax)
        };
    }
    let after_at = after_local.strip_prefix('@').ok_or(PathError::Syntax)?;
    let end = after_at.find('>').ok_or(PathError::Syntax)?;
    let domain = &after_at[..end];
    if !valid_domain(domain) && !valid_literal(domain) {
        return Err(PathError::Syntax);
    }
    Ok((Path::Mailbox(Mailbox::new(local, domain)), &after_at[end + 1..]))
}

/// Splits off a Dot-string or Quoted-string local part (quotes kept).
fn local_part(s: &str) -> Result<(&str, &str), PathError> {
    let b = s.as_bytes();
    let end = if b.first() == Some(&b'"') { quoted_end(b)? } else { dot_string_end(b)? };
    if end == 0 || end > MAX_LOCAL {
        return Err(PathError::Syntax);
    }
    Ok(s.split_at(end))
}

fn quoted_end(b: &[u8]) -> Result<usize, PathError> {
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' if b.get(i + 1).is_some_and(|c| (32..=126).contains(c)) => i += 2,
            32..=126 if b[i] != b'\\' => i += 1,
            _ => return Err(PathError::Syntax),
        }
    }
    Err(PathError::Syntax)
}

fn dot_string_end(b: &[u8]) -> Result<usize, PathError> {
    let end = b.iter().position(|&c| !(is_atext(c) || c == b'.')).unwrap_or(b.len());
    let word = &b[..end];
    if word.is_empty() || word[0] == b'.' || word[end - 1] == b'.' || word.windows(2).any(|w| w == b"..") {
        return Err(PathError::Syntax);
    }
    Ok(end)
}

/// RFC 5321 Domain: dot-separated LDH labels, no leading or trailing hyphen.
pub(crate) fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= MAX_DOMAIN
        && d.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= MAX_LABEL
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// `[IPv4]` or `[IPv6:addr]` address literal.
pub(crate) fn valid_literal(d: &str) -> bool {
    let Some(inner) = d.strip_prefix('[').and_then(|x| x.strip_suffix(']')) else {
        return false;
    };
    match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => inner[5..].parse::<Ipv6Addr>().is_ok(),
        _ => inner.parse::<Ipv4Addr>().is_ok(),
    }
}

/// True when a local part carries routing syntax that a downstream MTA might
/// honour: `%` (percent hack), `!` (bang path) or an `@` inside quotes.
pub(crate) fn has_routing_chars(local: &str) -> bool {
    local.contains(['%', '!', '@'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(s: &str) -> Mailbox {
        match parse_path(s) {
            Ok((Path::Mailbox(m), "")) => m,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn accepts_valid_paths() {
        assert_eq!(mb("<User.Name+tag@Example.ORG>"), Mailbox::new("User.Name+tag", "example.org"));
        assert_eq!(mb("<\"john doe\"@example.org>").local(), "\"john doe\"");
        assert_eq!(mb("<a@[192.0.2.1]>").domain(), "[192.0.2.1]");
        assert_eq!(mb("<a@[IPv6:2001:db8::1]>").domain(), "[ipv6:2001:db8::1]");
        assert_eq!(parse_path("<> SIZE=10"), Ok((Path::Null, " SIZE=10")));
        assert_eq!(parse_path("<PostMaster>"), Ok((Path::Postmaster, "")));
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "a@b",
            "<a@b",
            "<@>",
            "<a>",
            "<.a@b>",
            "<a.@b>",
            "<a..b@c>",
            "<a@-b.c>",
            "<a@b..c>",
            "<a@b.>",
            "<a b@c>",
            "<\"a@c>",
            "<a@[300.1.1.1]>",
            "<a@[IPv6:zz]>",
            "<é@b>",
            "<a@b\u{e9}>",
        ] {
            assert!(parse_path(bad).is_err(), "{bad} accepted");
        }
        let long = format!("<{}@b>", "a".repeat(65));
        assert!(parse_path(&long).is_err());
    }

    #[test]
    fn source_routes_and_routing_chars() {
        assert_eq!(parse_path("<@a:b@c>"), Err(PathError::SourceRoute));
        assert_eq!(parse_path("<@a,@x:b@c>"), Err(PathError::SourceRoute));
        assert!(has_routing_chars(mb("<user%other@registered.example>").local()));
        assert!(has_routing_chars(mb("<host!user@registered.example>").local()));
        assert!(has_routing_chars(mb("<\"user@outside\"@registered.example>").local()));
        assert!(!has_routing_chars(mb("<plain.user@registered.example>").local()));
    }
}
