//! Collects what the engine logs during one transaction: each matched rule (read by
//! `logline`), bounded in number, and the anomaly scores of the project's score rule.
//!
//! Must not: grow without bound (at most `MAX_MATCHES` matches are kept); keep the raw
//! lines.

use super::compile::SCORE_RULE;
use super::logline::{self, Expect};
use super::{MAX_DATA, MAX_MATCHES, RuleMatch};

/// The log sink of one transaction (owned by it, written by the log callback).
pub(crate) struct Collector {
    tx_id: String,
    client: String,
    server: String,
    uri: Vec<u8>,
    pub(crate) matches: Vec<RuleMatch>,
    /// Matches past `MAX_MATCHES`, counted, not kept.
    pub(crate) dropped: usize,
    pub(crate) scores: Option<(u32, u32)>,
}

impl Collector {
    pub(crate) fn new(tx_id: String, client: String, server: String) -> Collector {
        Collector { tx_id, client, server, uri: Vec::new(), matches: Vec::new(), dropped: 0, scores: None }
    }

    /// The URI given to the engine, which its lines repeat.
    pub(crate) fn set_uri(&mut self, uri: &[u8]) {
        self.uri = uri.to_vec();
    }

    pub(crate) fn line(&mut self, line: &[u8]) {
        let expect = Expect { tx_id: &self.tx_id, client: &self.client, server: &self.server, uri: &self.uri };
        let parsed = logline::parse(line, &expect).or_else(|_| logline::parse(line, &Expect { uri: b"", ..expect }));
        let found = match parsed {
            Ok(found) if found.id == SCORE_RULE => {
                self.scores = Some(read_scores(&found.data));
                return;
            }
            Ok(found) => {
                RuleMatch { id: found.id, message: found.message, data: found.data, severity: Some(found.severity) }
            }
            Err(problem) => RuleMatch {
                id: 0,
                message: format!("unreadable engine log line: {problem}"),
                data: logline::shorten(&String::from_utf8_lossy(line), MAX_DATA),
                severity: None,
            },
        };
        if self.matches.len() < MAX_MATCHES {
            self.matches.push(found);
        } else {
            self.dropped += 1;
        }
    }
}

/// `inbound=N outbound=M` (an unset score is empty: 0).
fn read_scores(data: &str) -> (u32, u32) {
    let mut scores = (0, 0);
    for pair in data.split_whitespace() {
        let value = |v: &str| v.parse::<u32>().unwrap_or(0);
        match pair.split_once('=') {
            Some(("inbound", v)) => scores.0 = value(v),
            Some(("outbound", v)) => scores.1 = value(v),
            _ => {}
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_read_and_unset_ones_are_zero() {
        assert_eq!(read_scores("inbound=10 outbound=4"), (10, 4));
        assert_eq!(read_scores("inbound= outbound="), (0, 0));
    }

    #[test]
    fn matches_are_bounded() {
        let mut c = Collector::new("t".into(), "198.51.100.7".into(), "192.0.2.1".into());
        for _ in 0..MAX_MATCHES + 5 {
            c.line(b"garbage");
        }
        assert_eq!(c.matches.len(), MAX_MATCHES);
        assert_eq!(c.dropped, 5);
        assert_eq!(c.matches[0].id, 0);
    }
}
