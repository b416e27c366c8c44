//! What an application may carry as attachments: a size limit and a short list of
//! content types, each checked against the first bytes of the content (a file named
//! `.pdf` that is not a PDF is refused), and how many and how much one application
//! holds in all (an applicant cannot fill the store through one application).

/// The largest attachment accepted, in bytes.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// The most attachments one application holds.
pub const MAX_PER_APPLICATION: i64 = 20;
/// The most bytes of attachments one application holds, all together.
pub const MAX_TOTAL_BYTES: i64 = 50 * 1024 * 1024;

/// Why attachment `name` of `size` bytes does not fit an application that holds
/// `count` attachments of `total` bytes.
pub fn room(count: i64, total: i64, name: &str, size: i64) -> Result<(), String> {
    if count >= MAX_PER_APPLICATION {
        return Err(format!(
            "attachment '{name}': the application already holds {count} attachments, the most it holds"
        ));
    }
    if total.saturating_add(size) > MAX_TOTAL_BYTES {
        return Err(format!(
            "attachment '{name}' is {size} bytes; the application holds {total} bytes of attachments and \
             {MAX_TOTAL_BYTES} in all"
        ));
    }
    Ok(())
}

/// The content types accepted, and how their content starts.
const ACCEPTED: &[(&str, &[&[u8]])] = &[
    ("application/pdf", &[b"%PDF-"]),
    ("image/png", &[b"\x89PNG\r\n\x1a\n"]),
    ("image/jpeg", &[b"\xff\xd8\xff"]),
    // CMS / PKCS#7 signed documents: DER (a SEQUENCE) or PEM.
    ("application/pkcs7-signature", &[b"\x30", b"-----BEGIN"]),
    ("application/pkcs7-mime", &[b"\x30", b"-----BEGIN"]),
    ("text/plain", &[]),
    ("text/csv", &[]),
];

/// Why an attachment is refused, or `Ok` with the content type as it is stored.
pub fn check(name: &str, content_type: &str, content: &[u8]) -> Result<String, String> {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if name.trim().is_empty() || name.contains(['/', '\\']) {
        return Err(format!("attachment name '{}': give a plain file name", name.escape_debug()));
    }
    if let Some(c) = name.chars().find(|&c| hidden(c)) {
        return Err(format!(
            "attachment name '{}' holds the character U+{:04X}, which hides or reorders what the name shows; \
             rename the file",
            name.escape_debug(),
            u32::from(c)
        ));
    }
    if content.is_empty() {
        return Err(format!("attachment '{name}' is empty"));
    }
    if content.len() > MAX_BYTES {
        return Err(format!("attachment '{name}' is {} bytes; the limit is {MAX_BYTES}", content.len()));
    }
    let Some((_, starts)) = ACCEPTED.iter().find(|(t, _)| *t == ct) else {
        let list: Vec<&str> = ACCEPTED.iter().map(|(t, _)| *t).collect();
        return Err(format!(
            "attachment '{name}': content type '{ct}' is not accepted; use one of {}",
            list.join(", ")
        ));
    };
    let text = starts.is_empty();
    let fits = if text { std::str::from_utf8(content).is_ok() } else { starts.iter().any(|s| content.starts_with(s)) };
    if !fits {
        return Err(format!("attachment '{name}' is not {ct}: its content does not match the type"));
    }
    Ok(ct)
}

/// Whether `c` is a control or a bidirectional formatting character, which would make
/// a name show other than it is (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_must_match_the_content_and_the_size_the_limit() {
        assert_eq!(check("a.pdf", "application/pdf", b"%PDF-1.7 ...").unwrap(), "application/pdf");
        assert!(check("a.pdf", "application/pdf", b"MZ\x90\x00").unwrap_err().contains("does not match"));
        assert!(check("a.exe", "application/x-msdownload", b"MZ").unwrap_err().contains("not accepted"));
        assert!(check("../a.txt", "text/plain", b"x").is_err());
        for hiding in ["invoice\u{202E}fdp.exe", "a\u{2066}b.txt", "a\u{200F}.txt", "a\u{200E}.txt", "a\u{202A}.txt"] {
            assert!(check(hiding, "text/plain", b"x").unwrap_err().contains("hides or reorders"), "{hiding:?}");
        }
        for control in ["a\nb.txt", "a\tb.txt", "a\u{0}.txt", "a\u{7F}.txt", "a\u{85}.txt", "a\rb.txt"] {
            assert!(check(control, "text/plain", b"x").is_err(), "{control:?}");
        }
        assert_eq!(check("отчёт 2026.txt", "text/plain", b"x").unwrap(), "text/plain", "letters of any script");
        assert!(check("a.txt", "text/plain; charset=utf-8", &vec![b'a'; MAX_BYTES + 1]).unwrap_err().contains("limit"));
        assert!(check("a.txt", "text/plain", b"\xff\xfe").is_err(), "text must be UTF-8");
    }

    #[test]
    fn an_application_holds_a_bounded_number_and_size_of_attachments() {
        assert!(room(0, 0, "a.pdf", 1).is_ok());
        assert!(room(MAX_PER_APPLICATION - 1, 0, "a.pdf", 1).is_ok());
        assert!(room(MAX_PER_APPLICATION, 0, "a.pdf", 1).unwrap_err().contains("20 attachments"));
        assert!(room(3, MAX_TOTAL_BYTES - 10, "a.pdf", 10).is_ok());
        assert!(room(3, MAX_TOTAL_BYTES - 10, "a.pdf", 11).unwrap_err().contains("in all"));
        assert!(room(3, i64::MAX, "a.pdf", i64::MAX).is_err(), "no overflow");
    }
}
