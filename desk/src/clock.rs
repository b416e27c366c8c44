//! Periods and the regulation's deadlines. Every period counts from the day after the
//! event that starts it (the calendar rule of `policies`): N working days after a
//! receipt on Friday end on the N-th working day from the next Monday; N calendar days
//! after day D end on D + N.

use policies::calendar::{Calendar, Date};
use serde::{Deserialize, Serialize};

/// A period the regulation sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Working days of the Kazakhstan calendar.
    WorkingDays(u32),
    /// Calendar days.
    CalendarDays(u32),
    /// The same day: an incident is acted on at once.
    SameDay,
}

impl Period {
    /// The last day of the period that starts the day after `event`.
    pub fn ends(self, event: Date, calendar: &Calendar) -> Date {
        match self {
            Period::WorkingDays(n) => calendar.add_working_days(event, n),
            Period::CalendarDays(n) => calendar_days(event, n),
            Period::SameDay => event,
        }
    }
}

/// The last day of a period of `n` calendar days after `event`.
fn calendar_days(event: Date, n: u32) -> Date {
    event.add_days(i64::from(n))
}

/// Technical conditions or a refusal for an operator link (IQBSH rule 7).
pub const LINK_ANSWER: Period = Period::WorkingDays(10);
/// The operator's readiness after technical conditions (IQBSH rule 8).
pub const LINK_READINESS: Period = Period::WorkingDays(7);
/// Non-conformities removed by the operator (IQBSH rule 9).
pub const NON_CONFORMITIES: Period = Period::WorkingDays(5);
/// An extension must be asked for at least this many days before the conditions expire
/// (IQBSH appendix 2, item 2.10).
pub const EXTEND_AHEAD_DAYS: i64 = 10;
/// Yearly lists and risky services applied (IQBSH rules 16 and 15-2), WAF and
/// defacement protection connected or refused (IQBSH rules 17 and 18).
pub const APPLY_OR_CONNECT: Period = Period::WorkingDays(10);
/// A change to a resource reported after it happened (IQBSH rule 19).
pub const CHANGE_REPORTED: Period = Period::WorkingDays(5);
/// A mail system checked and connected or refused (EPBSH rule 10).
pub const MAIL_ANSWER: Period = Period::WorkingDays(5);
/// The wait (calendar days) after a refusal of a WAF, defacement-protection or
/// mail-connection application before the same resource may be applied for again
/// (IQBSH rules 17 and 18, EPBSH rule 10).
pub const RESUBMIT_WAIT_DAYS: u32 = 30;
/// How long technical conditions are valid, in calendar days (IQBSH appendix 2, item 2.9).
pub const CONDITIONS_VALID_DAYS: u32 = 60;

/// The first day a new application is accepted after a refusal received on `refused`:
/// the day after the 30-day wait ends (refused 1 March → the wait is 2–31 March →
/// accepted from 1 April).
pub fn resubmit_from(refused: Date) -> Date {
    calendar_days(refused, RESUBMIT_WAIT_DAYS).next()
}

/// The last day technical conditions issued on `issued` are valid.
pub fn conditions_expire(issued: Date) -> Date {
    calendar_days(issued, CONDITIONS_VALID_DAYS)
}

/// The last day on which conditions expiring on `expires` may still be extended.
pub fn extend_by(expires: Date) -> Date {
    expires.add_days(-EXTEND_AHEAD_DAYS)
}
