//! The checks of the operator-list targets (`list_csv`, `list_json`): what
//! `catalog::format::read` returns is bounded and located within the input, does not
//! depend on how the stream is cut into reads, and a list read without problems is
//! written out (in its own format, and as CSV) and read back to the same rows.

use std::io::BufReader;

use catalog::format::{ExportRow, Format, MAX_PROBLEMS, RawRow, read, write};

/// Longest problem message: 300 characters and the `…` that marks a cut.
const MAX_MESSAGE_CHARS: usize = 301;

pub fn check(format: Format, data: &[u8]) {
    let (first, _) = crate::byte(data);
    let (rows, problems) = read(format, data);
    let lines = crate::max_line(data);
    for r in &rows {
        assert!(r.line >= 1 && r.line <= lines, "row line {} of {lines}", r.line);
    }
    assert!(rows.windows(2).all(|w| w[0].line <= w[1].line), "rows out of order");
    if format == Format::Csv {
        assert!(rows.windows(2).all(|w| w[0].line < w[1].line), "two CSV rows on one line");
    }
    let total = problems.total();
    let shown = problems.into_sorted();
    assert!(shown.shown.len() <= MAX_PROBLEMS, "more problems kept than the bound");
    assert_eq!(shown.total(), total);
    for p in &shown.shown {
        assert!(p.line <= lines, "problem line {} of {lines}: {}", p.line, p.message);
        assert!(p.message.chars().count() <= MAX_MESSAGE_CHARS, "an unbounded message");
    }
    // The same bytes through a small read buffer (first byte picks its size).
    let small = BufReader::with_capacity(1 + usize::from(first % 16), data);
    let (rows_again, problems_again) = read(format, small);
    assert_eq!(rows, rows_again, "rows depend on how the input is read");
    assert_eq!(shown, problems_again.into_sorted(), "problems depend on how the input is read");
    if shown.total() == 0 {
        round_trip(format, &rows);
        // Whatever format a list came in, the CSV export carries every row the import
        // keeps: no field with a control character other than tab (a JSON string can
        // hold a line break; the import refuses it in a prefix, a BIN and a comment
        // alike, so no export ever has to write one).
        let plain = |f: &str| !f.chars().any(|c| c.is_control() && c != '\t');
        let one_line = |r: &RawRow| plain(&r.prefix) && plain(&r.bin) && plain(&r.comment);
        let kept: Vec<RawRow> = rows.iter().filter(|r| one_line(r)).cloned().collect();
        round_trip(Format::Csv, &kept);
    }
}

/// Rows written out by `write` and read back are the same rows.
fn round_trip(format: Format, rows: &[RawRow]) {
    let export: Vec<ExportRow> = rows
        .iter()
        .map(|r| ExportRow { prefix: r.prefix.clone(), bin: r.bin.clone(), comment: r.comment.clone() })
        .collect();
    let written = write(format, &export);
    let (back, problems) = read(format, written.as_slice());
    let problems = problems.into_sorted();
    assert!(problems.shown.is_empty(), "an exported list has problems: {:?}", problems.shown);
    let back: Vec<ExportRow> =
        back.into_iter().map(|r| ExportRow { prefix: r.prefix, bin: r.bin, comment: r.comment }).collect();
    assert_eq!(back, export, "export and import do not round-trip");
}
