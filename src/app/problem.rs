//! The one type of a configuration problem: where it is (`section.key`) and what is
//! wrong, and every problem of a configuration collected before anything is refused.
//! Each room checks its own section into [`ConfigProblems`]; `Config::validate` runs
//! them all at start, for `perimeter config check` and before a reload is applied.

use std::fmt;

/// One problem of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `section.key`, e.g. `notices.send_at` or `proxy.transparent.link`.
    pub at: String,
    pub message: String,
}

/// Every problem found, in the order found.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblems(pub Vec<ConfigProblem>);

impl ConfigProblems {
    /// Records that `at` is wrong, and why.
    pub fn add(&mut self, at: impl Into<String>, message: impl fmt::Display) {
        self.0.push(ConfigProblem { at: at.into(), message: message.to_string() });
    }

    /// `Ok` when nothing was found, else every problem.
    pub fn into_result(self) -> Result<(), ConfigProblems> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the configuration has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  {}: {}", p.at, p.message)?;
        }
        Ok(())
    }
}
