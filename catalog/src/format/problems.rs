//! Problems found in a list, located by line and field, and the bounded collection of
//! them an import reports: the [`MAX_PROBLEMS`] earliest by line are kept, the rest only
//! counted, and every message is cut to a bounded length, so a file of junk costs a
//! bounded amount of memory and a bounded answer however large it is.
//!
//! Must not: grow with the input.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

/// Problems kept per list; further ones are counted in [`Problems::more`].
pub const MAX_PROBLEMS: usize = 1000;

/// Longest message kept, in characters (messages quote what the file says).
const MAX_MESSAGE: usize = 300;

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
    /// A problem; a message longer than 300 characters is cut and marked with `…`.
    pub fn new(line: usize, field: Option<&str>, message: impl Into<String>) -> Problem {
        let mut message = message.into();
        if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE) {
            message.truncate(cut);
            message.push('…');
        }
        Problem { line, field: field.map(str::to_string), message }
    }

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

/// A problem ordered by where it is, so the heap keeps the earliest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ByLine(Problem, u64);

impl Ord for ByLine {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.line, self.1).cmp(&(other.0.line, other.1))
    }
}

impl PartialOrd for ByLine {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The problems of one list: at most [`MAX_PROBLEMS`] kept (the earliest by line, in
/// the order found within a line), and how many more there were.
#[derive(Debug, Clone, Default)]
pub struct Problems {
    kept: BinaryHeap<ByLine>,
    found: u64,
}

impl Problems {
    pub fn push(&mut self, problem: Problem) {
        self.found += 1;
        let entry = ByLine(problem, self.found);
        if self.kept.len() < MAX_PROBLEMS {
            self.kept.push(entry);
        } else if self.kept.peek().is_some_and(|latest| entry < *latest) {
            self.kept.pop();
            self.kept.push(entry);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found == 0
    }

    /// Every problem found, kept or not.
    pub fn total(&self) -> u64 {
        self.found
    }

    /// Problems found but not kept.
    pub fn more(&self) -> u64 {
        self.found - self.kept.len() as u64
    }

    /// The kept problems, by line.
    pub fn into_sorted(self) -> ShownProblems {
        let more = self.more();
        let shown = self.kept.into_sorted_vec().into_iter().map(|p| p.0).collect();
        ShownProblems { shown, more }
    }
}

/// The problems of a refused list as reported: the earliest by line, and how many
/// more were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownProblems {
    pub shown: Vec<Problem>,
    pub more: u64,
}

impl ShownProblems {
    /// Every problem found.
    pub fn total(&self) -> u64 {
        self.shown.len() as u64 + self.more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_earliest_problems_and_counts_the_rest() {
        let mut problems = Problems::default();
        for line in (1..=MAX_PROBLEMS + 500).rev() {
            problems.push(Problem::new(line, None, "bad"));
        }
        problems.push(Problem::new(7, Some("bin"), "second on line 7"));
        let out = problems.into_sorted();
        assert_eq!(out.shown.len(), MAX_PROBLEMS);
        assert_eq!(out.more, 501);
        assert_eq!(out.shown[0].line, 1);
        let sevens: Vec<_> = out.shown.iter().filter(|p| p.line == 7).map(|p| p.message.as_str()).collect();
        assert_eq!(sevens, ["bad", "second on line 7"], "found order within a line");
        assert!(out.shown.windows(2).all(|w| w[0].line <= w[1].line));
    }

    #[test]
    fn long_messages_are_cut() {
        let p = Problem::new(1, None, "é".repeat(10_000));
        assert_eq!(p.message.chars().count(), MAX_MESSAGE + 1);
        assert!(p.message.ends_with('…'));
    }
}
