//! Operator IP-list files: reading CSV (`csv`) and JSON (`json`) into raw rows that keep
//! their line numbers, and writing a list back out so an operator can round-trip it.
//! Reading only splits the file; what each field means is checked by `import`.
//!
//! Must not: hold more than the rows it keeps: lists are read as streams, lines and
//! entries are bounded, and problems beyond [`MAX_PROBLEMS`] are only counted.

mod csv;
mod json;
mod problems;

use std::io::BufRead;

use serde::{Deserialize, Serialize};

pub use problems::{MAX_PROBLEMS, Problem, Problems, ShownProblems};

/// The list formats operators exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// Picks a format from a file name (`.csv`, `.json`).
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" | "txt" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// Picks a format from an HTTP content type.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let ct = ct.split(';').next()?.trim().to_ascii_lowercase();
        match ct.as_str() {
            "text/csv" | "text/plain" | "application/csv" => Some(Format::Csv),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One row as written in the file, not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    pub line: usize,
    pub prefix: String,
    pub bin: String,
    pub comment: String,
}

/// The longest line a CSV list may have, in bytes: a row is a prefix, a BIN and a
/// comment; longer lines are reported and skipped without being held.
pub const MAX_LINE: usize = 4096;

/// The largest JSON entry, in bytes; a larger one stops the reading there.
pub const MAX_ENTRY: usize = 64 * 1024;

/// Splits a list into rows, collecting its problems instead of stopping at the first.
/// Reads `input` as a stream: memory grows with the rows that are kept, never with
/// the junk (overlong lines, bad rows, problems beyond [`MAX_PROBLEMS`]).
pub fn read(format: Format, input: impl BufRead) -> (Vec<RawRow>, Problems) {
    let (mut rows, mut problems) = (Vec::new(), Problems::default());
    let result = match format {
        Format::Csv => csv::read(input, &mut rows, &mut problems),
        Format::Json => json::read(input, &mut rows, &mut problems),
    };
    if let Err(e) = result {
        problems.push(Problem::new(0, None, format!("reading the list failed: {e}")));
    }
    (rows, problems)
}

/// A byte-order mark of UTF-16, which lists must not be in.
fn utf16(start: &[u8]) -> bool {
    start.starts_with(&[0xff, 0xfe]) || start.starts_with(&[0xfe, 0xff])
}

/// One exported row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportRow {
    pub prefix: String,
    pub bin: String,
    pub comment: String,
}

/// Writes a list in the given format, in the same shape `read` accepts.
pub fn write(format: Format, rows: &[ExportRow]) -> Vec<u8> {
    match format {
        Format::Json => {
            let mut out = serde_json::to_vec_pretty(rows).unwrap_or_default();
            out.push(b'\n');
            out
        }
        Format::Csv => {
            let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
            let header = w.write_record(["prefix", "bin", "comment"]);
            let body = rows.iter().try_for_each(|r| w.write_record([&r.prefix, &r.bin, &r.comment]));
            debug_assert!(header.is_ok() && body.is_ok(), "writing to memory cannot fail");
            w.into_inner().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> (Vec<RawRow>, Vec<Problem>) {
        let (rows, problems) = read(Format::Csv, text.as_bytes());
        (rows, problems.into_sorted().shown)
    }

    fn json(text: &str) -> (Vec<RawRow>, Vec<Problem>) {
        let (rows, problems) = read(Format::Json, text.as_bytes());
        (rows, problems.into_sorted().shown)
    }

    #[test]
    fn csv_handles_bom_crlf_comments_blanks_and_header() {
        let text = "\u{feff}prefix,bin,comment\r\n# our users\r\n\r\n203.0.113.0/24, 980140000016 ,\"HQ, floor 2\"\r\n2001:db8::/48,980140000016\r\n";
        let (rows, problems) = csv(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            RawRow {
                line: 4,
                prefix: "203.0.113.0/24".into(),
                bin: "980140000016".into(),
                comment: "HQ, floor 2".into()
            }
        );
        assert_eq!(rows[1].line, 5);
        assert_eq!(rows[1].comment, "");
    }

    #[test]
    fn csv_semicolon_exports_are_understood() {
        let (rows, problems) = csv("198.51.100.0/24;980140000016;branch\n");
        assert!(problems.is_empty());
        assert_eq!(rows[0].bin, "980140000016");
    }

    #[test]
    fn csv_reports_bad_rows_by_line_and_keeps_going() {
        let (rows, problems) = csv("192.0.2.0/24\n192.0.2.0/25,1,2,3\n198.51.100.0/24,980140000016\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), vec![1, 2]);
        assert!(problems[1].message.contains("4 fields"));
    }

    #[test]
    fn utf16_and_bad_utf8_are_explained() {
        for format in [Format::Csv, Format::Json] {
            let (_, p) = read(format, &[0xff, 0xfe, b'a', 0][..]);
            assert!(p.into_sorted().shown[0].message.contains("UTF-16"), "{format:?}");
        }
        let (_, p) = csv_bytes(b"a,b\nc,\xff\n");
        assert_eq!(p[0].line, 2);
    }

    fn csv_bytes(bytes: &[u8]) -> (Vec<RawRow>, Vec<Problem>) {
        let (rows, problems) = read(Format::Csv, bytes);
        (rows, problems.into_sorted().shown)
    }

    #[test]
    fn junk_costs_bounded_problems_and_memory_however_large() {
        // Short junk lines: one problem each, only the first thousand kept.
        let junk = "x\n".repeat(200_000);
        let (rows, problems) = read(Format::Csv, junk.as_bytes());
        assert!(rows.is_empty());
        let shown = problems.into_sorted();
        assert_eq!((shown.shown.len(), shown.more), (MAX_PROBLEMS, 200_000 - MAX_PROBLEMS as u64));
        // One huge line with many delimiters: one problem, never split into fields.
        let (rows, problems) = csv(&",".repeat(10 << 20));
        assert!(rows.is_empty() && problems.len() == 1 && problems[0].message.contains("longer than"));
        // A JSON array of junk values: bounded the same way.
        let (rows, problems) = read(Format::Json, format!("[{}1]", "1,".repeat(100_000)).as_bytes());
        assert!(rows.is_empty());
        assert_eq!(problems.into_sorted().shown.len(), MAX_PROBLEMS);
    }

    #[test]
    fn json_rows_carry_their_lines() {
        let text = "[\n  {\"prefix\": \"192.0.2.0/24\", \"bin\": \"980140000016\"},\n\n  {\"prefix\": \"198.51.100.0/24\",\n   \"bin\": \"980140000016\", \"comment\": \"a [b] {c}\"},\n  {\"prefix\": 5, \"bin\": \"x\"}\n]";
        let (rows, problems) = json(text);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(rows[1].comment, "a [b] {c}");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 6);
    }

    #[test]
    fn json_syntax_errors_name_the_line() {
        let (_, problems) = json("[\n{\"prefix\": \"x\",\n}\n]");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 3);
        let (_, problems) = json("{\"prefix\": \"x\"}");
        assert!(problems[0].message.contains("JSON array"), "{problems:?}");
    }

    #[test]
    fn export_round_trips_in_both_formats() {
        let rows = vec![
            ExportRow {
                prefix: "192.0.2.0/24".into(),
                bin: "980140000016".into(),
                comment: "a, \"quoted\" one".into(),
            },
            ExportRow { prefix: "2001:db8::/32".into(), bin: "980140000016".into(), comment: String::new() },
        ];
        for format in [Format::Csv, Format::Json] {
            let written = write(format, &rows);
            let (back, problems) = read(format, written.as_slice());
            assert!(problems.is_empty(), "{format:?}: {problems:?}");
            let back: Vec<ExportRow> =
                back.into_iter().map(|r| ExportRow { prefix: r.prefix, bin: r.bin, comment: r.comment }).collect();
            assert_eq!(back, rows, "{format:?}");
        }
    }
}
