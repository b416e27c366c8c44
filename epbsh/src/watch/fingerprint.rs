//! The content fingerprint of a message: subject and body text (parsed with
//! mail-parser), lower-cased, digits dropped, whitespace collapsed, hashed with 64-bit
//! FNV-1a (stable across restarts, so saved counters keep meaning the same). Mail that
//! differs only in numbers, case or spacing (a mass mailing with ticket numbers, the
//! same phishing text to everyone) shares one fingerprint.

use mail_parser::MessageParser;

pub use crate::hooks::Digest;

/// Only this much of a message is parsed: the subject and the start of the text
/// identify a mailing (this covers the header section and the first text part of
/// ordinary mail; a longer message costs no more to fingerprint).
const PARSE_LIMIT: usize = 32 << 10;
/// Normalised body characters hashed.
const BODY_LIMIT: usize = 4096;

/// The digest of a raw message (headers and body); `None` when it cannot be parsed.
pub fn digest(data: &[u8]) -> Option<Digest> {
    let message = MessageParser::default().parse(&data[..data.len().min(PARSE_LIMIT)])?;
    let subject = message.subject().unwrap_or_default().trim().to_string();
    let body = message.body_text(0).unwrap_or_default();
    let mut text = normalise(&subject, usize::MAX);
    text.push('\n');
    text.push_str(&normalise(&body, BODY_LIMIT));
    let message_id = message.message_id().map(str::to_string);
    Some(Digest { fingerprint: fnv1a(text.as_bytes()), subject, message_id })
}

/// Lower-case, no digits, runs of whitespace as one space, at most `limit` bytes. ASCII
/// (most mail) takes a byte-wise path; other characters go through Unicode case mapping.
fn normalise(text: &str, limit: usize) -> String {
    if text.is_ascii() {
        return normalise_ascii(text.as_bytes(), limit);
    }
    let mut out = String::with_capacity(text.len().min(limit));
    let mut space = false;
    for c in text.chars() {
        if out.len() >= limit {
            break;
        }
        if c.is_numeric() {
            continue;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// [`normalise`] for ASCII text, byte by byte (the same result).
fn normalise_ascii(text: &[u8], limit: usize) -> String {
    let mut out = Vec::with_capacity(text.len().min(limit));
    let mut space = false;
    for &b in text {
        if out.len() >= limit {
            break;
        }
        if b.is_ascii_digit() {
            continue;
        }
        if char::from(b).is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b.to_ascii_lowercase());
    }
    String::from_utf8(out).unwrap_or_default()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: &str, body: &str) -> Vec<u8> {
        format!("From: a@a.gov.test\r\nTo: b@x.example\r\nSubject: {subject}\r\nMessage-ID: <m1@a.gov.test>\r\n\r\n{body}\r\n")
            .into_bytes()
    }

    #[test]
    fn the_same_text_with_other_numbers_and_spacing_shares_a_fingerprint() {
        let a = digest(&mail("Your invoice 1234", "Dear customer,\r\n  pay   invoice 1234 today")).unwrap();
        let b = digest(&mail("your INVOICE 98", "Dear customer,\r\npay invoice 98 today")).unwrap();
        let c = digest(&mail("Your invoice 1234", "Minutes of the meeting")).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.subject, "Your invoice 1234");
        assert_eq!(a.message_id.as_deref(), Some("m1@a.gov.test"));
    }

    #[test]
    fn mime_bodies_are_read_as_text() {
        let raw = "Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\nMIME-Version: 1.0\r\n\
                   Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   0J/RgNC40LLQtdGCLCDQvNC40YA=\r\n";
        let d = digest(raw.as_bytes()).unwrap();
        assert_eq!(d.subject, "Привет");
        assert_eq!(normalise("Привет,  мир 2", 100), "привет, мир");
        let ascii = " Dear\tCustomer,\r\n\x0b pay 12 NOW \x0c";
        assert_eq!(normalise(ascii, 100), "dear customer, pay now");
        assert_eq!(normalise(&format!("{ascii}é"), 100), "dear customer, pay now é", "both paths agree");
    }
}
