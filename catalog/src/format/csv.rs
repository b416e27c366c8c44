//! CSV lists, read as a stream of bounded lines: `prefix,bin[,comment]`, an optional
//! header, `#` comments, blank lines, UTF-8 with or without a byte-order mark, LF or
//! CRLF, `,` or `;` as delimiter (spreadsheet exports), fields in double quotes when
//! they contain the delimiter.
//!
//! Must not: hold a line longer than [`MAX_LINE`](super::MAX_LINE); such a line is
//! reported and skipped as it streams past.

use std::io::{self, BufRead};

use super::{MAX_LINE, Problem, Problems, RawRow, utf16};

/// One line of input as read.
enum Line {
    Text(String),
    TooLong,
    NotUtf8,
}

/// Lines of at most [`MAX_LINE`] bytes, numbered from 1, without their line end.
struct Lines<R> {
    input: R,
    number: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    fn next(&mut self) -> io::Result<Option<(usize, Line)>> {
        self.buf.clear();
        let (mut any, mut too_long) = (false, false);
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, used, end) = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            if self.buf.len() + take.len() > MAX_LINE {
                too_long = true;
            } else if !too_long {
                self.buf.extend_from_slice(take);
            }
            self.input.consume(used);
            if end {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if too_long {
            return Ok(Some((self.number, Line::TooLong)));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let line = match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(text) => Line::Text(text),
            Err(_) => Line::NotUtf8,
        };
        Ok(Some((self.number, line)))
    }
}

/// Reads CSV rows from `input` into `rows`, problems into `problems`.
pub(super) fn read(mut input: impl BufRead, rows: &mut Vec<RawRow>, problems: &mut Problems) -> io::Result<()> {
    if utf16(input.fill_buf()?) {
        problems.push(Problem::new(0, None, "the file is UTF-16; save it as UTF-8"));
        return Ok(());
    }
    let mut lines = Lines { input, number: 0, buf: Vec::with_capacity(256) };
    let (mut delim, mut first) = (None, true);
    while let Some((line, text)) = lines.next()? {
        let text = match text {
            Line::Text(t) => t,
            Line::TooLong => {
                problems.push(Problem::new(line, None, format!("longer than {MAX_LINE} bytes; not a list row")));
                continue;
            }
            Line::NotUtf8 => {
                problems.push(Problem::new(line, None, "not valid UTF-8 text; save the file as UTF-8"));
                continue;
            }
        };
        let text = if line == 1 { text.strip_prefix('\u{feff}').unwrap_or(&text) } else { &text };
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let delim = *delim.get_or_insert_with(|| delimiter(trimmed));
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
        match row(line, fields) {
            Ok(row) => rows.push(row),
            Err(p) => problems.push(p),
        }
    }
    Ok(())
}

/// Semicolon when the first data line uses it and no comma (spreadsheet exports in
/// many locales), comma otherwise.
fn delimiter(first_line: &str) -> char {
    if first_line.contains(';') && !first_line.contains(',') { ';' } else { ',' }
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

fn row(line: usize, mut fields: Vec<String>) -> Result<RawRow, Problem> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_errors() {
        assert_eq!(split_fields(r#"a, "b ""x"", c" ,d"#, ',').unwrap(), vec!["a", "b \"x\", c", "d"]);
        assert_eq!(split_fields("a,,", ',').unwrap(), vec!["a", "", ""]);
        assert!(split_fields(r#"a,"open"#, ',').is_err());
        assert!(split_fields(r#"a,"x"y"#, ',').is_err());
    }

    #[test]
    fn lines_are_bounded_and_numbered_across_small_reads() {
        let long = "x".repeat(MAX_LINE + 1);
        let mut text = format!("a\r\n{long}\nb\n").into_bytes();
        text.extend_from_slice(b"\xff\nlast");
        let input = io::BufReader::with_capacity(7, io::Cursor::new(text));
        let mut lines = Lines { input, number: 0, buf: Vec::new() };
        let mut seen = Vec::new();
        while let Some((n, line)) = lines.next().unwrap() {
            seen.push(match line {
                Line::Text(t) => format!("{n}:{t}"),
                Line::TooLong => format!("{n}:too long"),
                Line::NotUtf8 => format!("{n}:not utf-8"),
            });
        }
        assert_eq!(seen, ["1:a", "2:too long", "3:b", "4:not utf-8", "5:last"]);
        assert!(lines.buf.capacity() <= 2 * MAX_LINE, "the long line was never held whole");
    }
}
