//! JSON lists, read as a stream: an array of `{"prefix", "bin", "comment"}` entries,
//! each judged on its own (a bad entry is a problem at the line where it starts, the
//! rest still read), none larger than [`MAX_ENTRY`](super::MAX_ENTRY).
//!
//! Must not: build the whole document in memory; only kept rows stay.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{MAX_ENTRY, Problem, Problems, RawRow, utf16};

/// The shape of one list entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    prefix: String,
    bin: String,
    #[serde(default)]
    comment: Option<String>,
}

/// Where the reader is: lines consumed, the last byte, bytes since the current entry began.
#[derive(Default)]
struct Position {
    lines: Cell<usize>,
    last: Cell<u8>,
    entry_bytes: Cell<usize>,
}

/// A reader that counts lines and refuses an entry larger than [`MAX_ENTRY`].
struct Counting<R> {
    input: R,
    at: Rc<Position>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(out)?;
        let read = &out[..n];
        let at = &self.at;
        at.lines.set(at.lines.get() + read.iter().filter(|b| **b == b'\n').count());
        if let Some(last) = read.last() {
            at.last.set(*last);
        }
        at.entry_bytes.set(at.entry_bytes.get() + n);
        if at.entry_bytes.get() > MAX_ENTRY + 16 {
            return Err(io::Error::other(format!("an entry is larger than {} KiB", MAX_ENTRY / 1024)));
        }
        Ok(n)
    }
}

/// Reads JSON entries from `input` into `rows`, problems into `problems`.
pub(super) fn read(mut input: impl BufRead, rows: &mut Vec<RawRow>, problems: &mut Problems) -> io::Result<()> {
    let head = input.fill_buf()?;
    if utf16(head) {
        problems.push(Problem::new(0, None, "the file is UTF-16; save it as UTF-8"));
        return Ok(());
    }
    if head.starts_with(b"\xef\xbb\xbf") {
        input.consume(3);
    }
    let at = Rc::new(Position::default());
    let mut de = serde_json::Deserializer::from_reader(Counting { input, at: Rc::clone(&at) });
    let entries = Entries { rows, problems, at: Rc::clone(&at), index: 0 };
    let read = de::Deserializer::deserialize_seq(&mut de, entries).and_then(|()| de.end());
    if let Err(e) = read {
        let (line, message) = match e.io_error_kind() {
            Some(_) => (1 + at.lines.get(), format!("{e}; reading stopped here")),
            None => (e.line(), format!("not a JSON array of {{\"prefix\", \"bin\", \"comment\"}} entries: {e}")),
        };
        problems.push(Problem::new(line, None, message));
    }
    Ok(())
}

/// Visits the top-level array, judging each entry as it comes.
struct Entries<'a> {
    rows: &'a mut Vec<RawRow>,
    problems: &'a mut Problems,
    at: Rc<Position>,
    index: usize,
}

impl Entries<'_> {
    /// The line an entry starts on: the lines read so far, less those inside the entry,
    /// less the line end read past a scalar entry to find where it ends.
    fn start_line(&self, raw: &str) -> usize {
        let peeked = usize::from(self.at.last.get() == b'\n' && !raw.ends_with('\n'));
        1 + self.at.lines.get() - raw.matches('\n').count() - peeked
    }

    fn judge(&mut self, raw: &RawValue) {
        self.index += 1;
        let line = self.start_line(raw.get());
        match serde_json::from_str::<Entry>(raw.get()) {
            Ok(e) => {
                self.rows.push(RawRow { line, prefix: e.prefix, bin: e.bin, comment: e.comment.unwrap_or_default() })
            }
            Err(e) => self.problems.push(Problem::new(line, None, format!("entry {}: {e}", self.index))),
        }
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        loop {
            self.at.entry_bytes.set(0);
            match seq.next_element::<Box<RawValue>>()? {
                Some(raw) => self.judge(&raw),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, read as read_list};

    #[test]
    fn scalar_entries_followed_by_a_line_end_keep_their_own_line() {
        let text = "[\n1,\n2\n,\n{\"prefix\": \"192.0.2.0/24\", \"bin\": \"x\"}\n]";
        let (rows, problems) = read_list(Format::Json, text.as_bytes());
        let lines: Vec<usize> = problems.into_sorted().shown.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3]);
        assert_eq!(rows[0].line, 5);
    }

    #[test]
    fn an_oversized_entry_stops_the_reading_with_its_line() {
        let big = format!(
            "[\n{{\"prefix\": \"192.0.2.0/24\", \"bin\": \"x\"}},\n{{\"comment\": \"{}\"}}]",
            "a".repeat(200_000)
        );
        let (rows, problems) = read_list(Format::Json, big.as_bytes());
        assert_eq!(rows.len(), 1);
        let shown = problems.into_sorted().shown;
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].line, 3);
        assert!(shown[0].message.contains("larger than 64 KiB"), "{}", shown[0].message);
    }
}
