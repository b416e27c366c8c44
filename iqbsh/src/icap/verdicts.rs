//! From the services' verdicts to one outcome ([`judge`]), and the
//! [`ScanNote`] the access log keeps of it.
//!
//! Precedence: a named threat, then a refusal, then a failure of a service
//! that fails closed, then a replacement message, then a failure of a service
//! that fails open, then clean. Must not: do I/O.

use super::config::OnFailure;
use super::exchange::Verdict;
use super::options::Method;

/// What the access log records of one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanNote {
    /// RESPMOD (download) or REQMOD (upload).
    pub method: Method,
    /// What came of it.
    pub outcome: ScanOutcome,
    /// The service that decided (or every service consulted, comma-separated, when clean).
    pub service: String,
    /// The threat the service named.
    pub threat: Option<String>,
    /// Why, in words (failures, skips).
    pub detail: String,
    /// Bytes passed on to the receiver before the verdict (a body scanned while it
    /// streams, `over_limit = "stream"`, or piece by piece): the transfer was only
    /// partly scanned when they went. 0 when nothing went before the verdict.
    pub passed: u64,
}

/// What came of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Every service found nothing.
    Clean,
    /// A service named a threat: blocked.
    Threat,
    /// A service refused the content without naming a threat: blocked.
    Refused,
    /// A service replaced the message; the replacement was delivered.
    Adapted,
    /// A service failed and fails closed: blocked.
    FailedBlocked,
    /// A service failed and fails open: passed unscanned.
    FailedPassed,
    /// Not scanned (over the scan limit and passed, the service ignores the type, the client went away).
    Skipped,
    /// Larger than the scan limit and refused for it.
    TooLarge,
}

impl ScanOutcome {
    /// Label in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Threat => "threat",
            Self::Refused => "refused",
            Self::Adapted => "adapted",
            Self::FailedBlocked => "failed-blocked",
            Self::FailedPassed => "failed-passed",
            Self::Skipped => "skipped",
            Self::TooLarge => "too-large",
        }
    }

    /// Whether the message was stopped.
    pub fn blocks(self) -> bool {
        matches!(self, Self::Threat | Self::Refused | Self::FailedBlocked | Self::TooLarge)
    }
}

/// The outcome of several verdicts: which one decides, and the note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judgement {
    /// Index of the adapted verdict to deliver, for [`ScanOutcome::Adapted`].
    pub adapted: Option<usize>,
    pub note: ScanNote,
}

/// One service's verdict as `judge` sees it: name, failure policy, verdict.
pub(crate) type Judged<'a> = (&'a str, OnFailure, &'a Verdict);

/// Combines the verdicts of every service consulted on one message.
pub(crate) fn judge(method: Method, verdicts: &[Judged<'_>]) -> Judgement {
    let rank = |(_, on_failure, v): &Judged<'_>| match v {
        Verdict::Threat(_) => 6,
        Verdict::Refused(_) => 5,
        Verdict::Failed(_) if *on_failure == OnFailure::Block => 4,
        Verdict::Adapted(_) => 3,
        Verdict::Failed(_) => 2,
        Verdict::Aborted => 1,
        Verdict::Clean => 0,
    };
    let worst = verdicts.iter().enumerate().max_by_key(|(i, v)| (rank(v), usize::MAX - i));
    let note = |outcome, service: &str, threat: Option<String>, detail: String| ScanNote {
        method,
        outcome,
        service: service.to_owned(),
        threat,
        detail,
        passed: 0,
    };
    let Some((i, (name, _, verdict))) = worst else {
        return Judgement { adapted: None, note: note(ScanOutcome::Skipped, "-", None, "no service".into()) };
    };
    let (outcome, threat, detail) = match verdict {
        Verdict::Threat(t) => (ScanOutcome::Threat, Some(t.clone()), String::new()),
        Verdict::Refused(why) => (ScanOutcome::Refused, None, why.clone()),
        Verdict::Failed(e) if rank(&verdicts[i]) == 4 => (ScanOutcome::FailedBlocked, None, e.to_string()),
        Verdict::Failed(e) => (ScanOutcome::FailedPassed, None, e.to_string()),
        Verdict::Adapted(_) => (ScanOutcome::Adapted, None, String::new()),
        Verdict::Aborted => (ScanOutcome::Skipped, None, "the scan was abandoned".to_owned()),
        Verdict::Clean => {
            let all: Vec<&str> = verdicts.iter().map(|(n, _, _)| *n).collect();
            return Judgement { adapted: None, note: note(ScanOutcome::Clean, &all.join(","), None, String::new()) };
        }
    };
    let adapted = (outcome == ScanOutcome::Adapted).then_some(i);
    Judgement { adapted, note: note(outcome, name, threat, detail) }
}
