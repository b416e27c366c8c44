//! Our `Authentication-Results` header on mail from outside: every such header already in
//! the message that claims our authserv-id is removed (RFC 8601 §5: a receiver must not
//! trust, and should delete, results that claim to be its own), then ours goes on top.
//! The header section is read here, by our own small parser ([`strip_claims`]): fields
//! and their folded lines up to the first empty line, the authserv-id after optional
//! comments.
//!
//! Must not: touch the body, or any other header field (ARC's `ARC-Authentication-Results`
//! included: they belong to signed sets).

use bytes::{Bytes, BytesMut};

/// The deepest comment nesting read before a value is taken as claiming nothing.
const MAX_COMMENT_DEPTH: usize = 8;

/// The authserv-id an `Authentication-Results` value starts with (after comments and
/// folding white space), or `None` when there is none.
pub fn authserv_id(value: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    let mut depth = 0usize;
    while i < value.len() {
        match value[i] {
            b'(' => {
                depth += 1;
                if depth > MAX_COMMENT_DEPTH {
                    return None;
                }
            }
            b')' if depth > 0 => depth -= 1,
            b'\\' if depth > 0 => i += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if depth > 0 => {}
            _ => break,
        }
        i += 1;
    }
    let rest = value.get(i..)?;
    let end = rest.iter().position(|b| matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b'(')).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// One header field: its bytes (all folded lines with their line ends) and where the
/// header section ends (`None` while it goes on).
fn next_field(message: &[u8], start: usize) -> Option<usize> {
    let mut end = start;
    loop {
        let line_end = message[end..].iter().position(|&b| b == b'\n').map_or(message.len(), |p| end + p + 1);
        end = line_end;
        // The empty line ends the header section even when the body's first line starts
        // with a space: it is never the start of a folded field.
        let blank = end - start <= 2 && is_blank_line(&message[start..end]);
        if blank || end >= message.len() || !matches!(message[end], b' ' | b'\t') {
            return Some(end);
        }
    }
}

fn is_blank_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// The message without the `Authentication-Results` fields that claim `id` (compared
/// without case); how many were removed. The message is returned as it was when none is.
pub fn strip_claims(message: &Bytes, id: &str) -> (Bytes, usize) {
    let mut keep: Vec<(usize, usize)> = Vec::new();
    let (mut pos, mut removed) = (0, 0);
    while pos < message.len() {
        let Some(end) = next_field(message, pos) else { break };
        let field = &message[pos..end];
        if is_blank_line(field) {
            break;
        }
        if claims(field, id) {
            removed += 1;
        } else {
            keep.push((pos, end));
        }
        pos = end;
    }
    if removed == 0 {
        return (message.clone(), 0);
    }
    let mut out = BytesMut::with_capacity(message.len());
    for (a, b) in keep {
        out.extend_from_slice(&message[a..b]);
    }
    out.extend_from_slice(&message[pos..]);
    (out.freeze(), removed)
}

fn claims(field: &[u8], id: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else { return false };
    let name = field[..colon].trim_ascii_end();
    name.eq_ignore_ascii_case(b"Authentication-Results")
        && authserv_id(&field[colon + 1..]).is_some_and(|got| got.eq_ignore_ascii_case(id.as_bytes()))
}

/// `header` (a whole field, CRLF-ended) on top of `message`.
pub fn prepend(header: &str, message: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(header.len() + message.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(message);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_authserv_id_after_comments() {
        assert_eq!(authserv_id(b" relay.test; spf=pass"), Some(&b"relay.test"[..]));
        assert_eq!(authserv_id(b" (a (nested) comment)\r\n\trelay.test 1; none"), Some(&b"relay.test"[..]));
        assert_eq!(authserv_id(b" ; none"), None);
        assert_eq!(authserv_id(b" ((((((((((deep))))))))))relay.test;"), None);
        assert_eq!(authserv_id(b"   "), None);
    }

    #[test]
    fn removes_only_claims_of_our_name_in_the_header_section() {
        let msg = Bytes::from_static(
            b"Received: from x\r\n\tby relay.test;\r\nAuthentication-Results: RELAY.test;\r\n\tdkim=pass\r\n\
              authentication-results : other.example; spf=pass\r\nARC-Authentication-Results: i=1; relay.test; none\r\n\
              Subject: hi\r\n\r\nAuthentication-Results: relay.test; body line\r\n",
        );
        let (out, n) = strip_claims(&msg, "relay.test");
        assert_eq!(n, 1);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(!text.contains("RELAY.test") && !text.contains("dkim=pass"), "{text}");
        assert!(text.contains("other.example") && text.contains("ARC-Authentication-Results"));
        assert!(text.ends_with("\r\n\r\nAuthentication-Results: relay.test; body line\r\n"), "the body is untouched");
        let (same, n) = strip_claims(&Bytes::from_static(b"Subject: x\r\n\r\nbody"), "relay.test");
        assert_eq!((same.as_ref(), n), (&b"Subject: x\r\n\r\nbody"[..], 0));
        let (_, n) = strip_claims(&Bytes::from_static(b"Authentication-Results: relay.test; x"), "relay.test");
        assert_eq!(n, 1, "a message of one unterminated field");
    }

    #[test]
    fn the_empty_line_ends_the_header_section_whatever_follows_it() {
        // A body whose first line starts with a space or a tab is not a folded field: the
        // claims after it are the body's, left alone; so are the empty line and the body
        // when every field is removed, or when the last kept line ends with a bare LF.
        for ws in [" ", "\t"] {
            let msg = format!(
                "Authentication-Results: relay.test; spf=pass\r\n\r\n{ws}x\r\nAuthentication-Results: relay.test; y\r\n"
            );
            let (out, n) = strip_claims(&Bytes::from(msg.clone()), "relay.test");
            assert_eq!(n, 1, "{msg:?}");
            assert_eq!(out.as_ref(), &msg.as_bytes()["Authentication-Results: relay.test; spf=pass\r\n".len()..]);
        }
        let msg = Bytes::from_static(b"X: a\nAuthentication-Results: relay.test; none\r\n\r\nbody");
        let (out, n) = strip_claims(&msg, "relay.test");
        assert_eq!((out.as_ref(), n), (&b"X: a\n\r\nbody"[..], 1));
    }
}
