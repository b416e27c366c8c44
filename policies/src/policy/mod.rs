//! Per-organisation access policies (rule 4): which resource categories an organisation
//! may reach, explicit grants for risky services, and the validity of one calendar year
//! from the day the policy was granted. [`PolicyBook::evaluate`] is a pure function of
//! (organisation, host, categories, date) to allow or deny with a reason.

mod book;
mod eval;
mod export;
#[cfg(test)]
mod tests;

pub use book::{Grant, GrantTarget, OrgPolicy, PolicyBook, PolicyError};
pub use eval::{Decision, Rule};

use crate::calendar::Date;

/// The last day a policy granted on `granted` is valid: one calendar year later, minus a
/// day (granted 2026-03-15 → valid through 2027-03-14). A policy granted on 29 February
/// runs through 28 February of the next year.
pub fn valid_through(granted: Date) -> Date {
    let next_year = granted.year() + 1;
    let anniversary = Date::new(next_year, granted.month(), granted.day())
        .unwrap_or_else(|| Date::new(next_year, 3, 1).expect("1 March exists"));
    anniversary.add_days(-1)
}

/// Working days within which a received request must be applied (rule 4).
pub const APPLY_WITHIN_WORKING_DAYS: u32 = 10;
