//! Operator IP-list files: reading CSV and JSON into raw rows that keep their line
//! numbers, and writing a list back out so an operator can round-trip it. Reading only
//! splits the file; what each field means is checked by `import`.

use serde::{Deserialize, Serialize};

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

/// A problem found at a line of the file (line 0: the file as a whole).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub line: usize,
    /// The field concerned: `prefix`, `bin`, `comment`, or absent for the row or file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(line: usize, field: Option<&str>, message: impl Into<String>) -> Problem {
        Problem { line, field: field.map(str::to_string), message: message.into() }
    }
}

impl Problem {
    /// `SOURCE:LINE: field: message`, the form editors and compilers use.
    pub fn located(&self, source: &str) -> String {
        match (self.line, &self.field) {
            (0, _) => format!("{source}: {}", self.message),
            (l, Some(field)) => format!("{source}:{l}: {field}: {}", self.message),
            (l, None) => format!("{source}:{l}: {}", self.message),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, &self.field) {
            (0, _) => write!(f, "{}", self.message),
            (l, Some(field)) => write!(f, "line {l}: {field}: {}", self.message),
            (l, None) => write!(f, "line {l}: {}", self.message),
        }
    }
}

/// Splits a file into rows, collecting every problem instead of stopping at the first.
pub fn read(format: Format, bytes: &[u8]) -> (Vec<RawRow>, Vec<Problem>) {
    let text = match decode(bytes) {
        Ok(text) => text,
        Err(problem) => return (Vec::new(), vec![problem]),
    };
    match format {
        Format::Csv => read_csv(text),
        Format::Json => read_json(text),
    }
}

/// UTF-8 text without a byte-order mark, or a problem saying where decoding failed.
fn decode(bytes: &[u8]) -> Result<&str, Problem> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(Problem::new(0, None, "the file is UTF-16; save it as UTF-8"));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count();
        Problem::new(line, None, "not valid UTF-8 text; save the file as UTF-8")
    })
}

/// Semicolon when the first data line uses it and no comma (spreadsheet exports in
/// many locales), comma otherwise.
fn delimiter(text: &str) -> char {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(l) if l.contains(';') && !l.contains(',') => ';',
        _ => ',',
    }
}

fn read_csv(text: &str) -> (Vec<RawRow>, Vec<Problem>) {
    let delim = delimiter(text);
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let (line, trimmed) = (i + 1, raw.trim());
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = match split_fields(trimmed, delim) {
            Ok(f) => f,
            Err(m) => {
                problems.push(Problem::new(line, None, m));
                continue;
            }
        };
        let is_header = first && fields[0].eq_ignore_ascii_case("prefix");
        first = false;
        if is_header {
            continue;
        }
        match csv_row(line, fields) {
            Ok(row) => rows.push(row),
            Err(p) => problems.push(p),
        }
    }
    (rows, problems)
}

/// Splits one CSV line: fields separated by `delim`, optionally in double quotes with
/// `""` for a quote inside; surrounding white space is dropped.
fn split_fields(line: &str, delim: char) -> Result<Vec<String>, String> {
    let mut fields = Vec::with_capacity(3);
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed (fields cannot span lines)".into()),
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            if chars.peek().is_some_and(|c| *c != delim) {
                return Err("unexpected text after a closing quote".into());
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != delim) {
                field.push(c);
            }
            field.truncate(field.trim_end().len());
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

fn csv_row(line: usize, mut fields: Vec<String>) -> Result<RawRow, Problem> {
    match fields.len() {
        2 | 3 => {
            let comment = if fields.len() == 3 { fields.pop().unwrap_or_default() } else { String::new() };
            let bin = fields.pop().unwrap_or_default();
            let prefix = fields.pop().unwrap_or_default();
            Ok(RawRow { line, prefix, bin, comment })
        }
        1 => Err(Problem::new(line, None, "expected prefix,bin[,comment]; found one field")),
        n => Err(Problem::new(
            line,
            None,
            format!("expected prefix,bin[,comment]; found {n} fields (quote a comment that contains the delimiter)"),
        )),
    }
}

/// The shape of one JSON list entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    prefix: String,
    bin: String,
    #[serde(default)]
    comment: Option<String>,
}

fn read_json(text: &str) -> (Vec<RawRow>, Vec<Problem>) {
    let values: Vec<serde_json::Value> = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("not a JSON array of {{\"prefix\", \"bin\", \"comment\"}} entries: {e}");
            return (Vec::new(), vec![Problem::new(e.line(), None, msg)]);
        }
    };
    let lines = element_lines(text);
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (i, value) in values.into_iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or(0);
        match serde_json::from_value::<JsonRow>(value) {
            Ok(r) => rows.push(RawRow { line, prefix: r.prefix, bin: r.bin, comment: r.comment.unwrap_or_default() }),
            Err(e) => problems.push(Problem::new(line, None, format!("entry {}: {e}", i + 1))),
        }
    }
    (rows, problems)
}

/// The line on which each element of a top-level JSON array starts.
fn element_lines(text: &str) -> Vec<usize> {
    let (mut lines, mut line, mut depth) = (Vec::new(), 1, 0usize);
    let (mut in_string, mut escaped, mut expecting) = (false, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if expecting && !c.is_whitespace() && c != ']' {
            lines.push(line);
            expecting = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                expecting = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    lines
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
            let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
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
        read(Format::Csv, text.as_bytes())
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
        let (_, p) = read(Format::Csv, &[0xff, 0xfe, b'a', 0]);
        assert!(p[0].message.contains("UTF-16"));
        let (_, p) = read(Format::Csv, b"a,b\nc,\xff\n");
        assert_eq!(p[0].line, 2);
    }

    #[test]
    fn csv_quotes_and_errors() {
        assert_eq!(split_fields(r#"a, "b ""x"", c" ,d"#, ',').unwrap(), vec!["a", "b \"x\", c", "d"]);
        assert_eq!(split_fields("a,,", ',').unwrap(), vec!["a", "", ""]);
        assert!(split_fields(r#"a,"open"#, ',').is_err());
        assert!(split_fields(r#"a,"x"y"#, ',').is_err());
    }

    #[test]
    fn json_rows_carry_their_lines() {
        let text = "[\n  {\"prefix\": \"192.0.2.0/24\", \"bin\": \"980140000016\"},\n\n  {\"prefix\": \"198.51.100.0/24\",\n   \"bin\": \"980140000016\", \"comment\": \"a [b] {c}\"},\n  {\"prefix\": 5, \"bin\": \"x\"}\n]";
        let (rows, problems) = read(Format::Json, text.as_bytes());
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(rows[1].comment, "a [b] {c}");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 6);
    }

    #[test]
    fn json_syntax_errors_name_the_line() {
        let (_, problems) = read(Format::Json, b"[\n{\"prefix\": \"x\",\n}\n]");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 3);
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
            let (back, problems) = read(format, &write(format, &rows));
            assert!(problems.is_empty(), "{format:?}: {problems:?}");
            let back: Vec<ExportRow> =
                back.into_iter().map(|r| ExportRow { prefix: r.prefix, bin: r.bin, comment: r.comment }).collect();
            assert_eq!(back, rows, "{format:?}");
        }
    }
}
