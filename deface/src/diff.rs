//! Readable evidence: a unified diff of two texts (a file's reference and what was found,
//! a page's visible text before and after), bounded in time and length.
//!
//! Must not: diff bytes that are not text (callers say "binary" instead).

use std::time::Duration;

use similar::TextDiff;

/// The longest diff kept, in bytes; longer ones are cut with a note.
pub const MAX_DIFF: usize = 64 * 1024;

/// A unified diff of `before` and `after` under the name `name`; empty when equal.
pub fn lines(name: &str, before: &str, after: &str) -> String {
    let diff = TextDiff::configure().timeout(Duration::from_secs(1)).diff_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("{name} (reference)"), &format!("{name} (found)"))
        .to_string();
    cut(text)
}

/// A diff of two files' bytes: text when both are UTF-8, else a line saying so.
pub fn bytes(name: &str, before: &[u8], after: &[u8]) -> String {
    match (std::str::from_utf8(before), std::str::from_utf8(after)) {
        (Ok(b), Ok(a)) => lines(name, b, a),
        _ => format!("{name}: binary content, {} bytes in the reference, {} found\n", before.len(), after.len()),
    }
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_DIFF {
        let mut end = MAX_DIFF;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("\n[diff cut at 64 KiB]\n");
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn diffs_show_lines_removed_and_added() {
        let d = super::lines("index.html", "<h1>Welcome</h1>\n<p>a</p>\n", "<h1>Hacked</h1>\n<p>a</p>\n");
        assert!(d.contains("-<h1>Welcome</h1>") && d.contains("+<h1>Hacked</h1>"), "{d}");
        assert_eq!(super::lines("x", "same\n", "same\n"), "");
        assert!(super::bytes("a.png", &[0xff, 0], b"x").contains("binary"));
        assert!(super::lines("big", "", &"x\n".repeat(100_000)).ends_with("[diff cut at 64 KiB]\n"));
    }
}
