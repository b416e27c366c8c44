//! The reconciler: rule 1 end to end. On each tick it opens notices for operators with
//! new unknown addresses (once per scheduled period), sends due notices (recorded
//! first, retried with backoff, marked sent with their deadline: the fifth working day
//! of the `policies` calendar after the day it was sent), and applies passed deadlines:
//! the store offers each address whose deadline passed with whether a list covers it
//! now, and the reconciler decides ([`decide`]): still uncovered → blocked, with the
//! notice named as the reason; covered → resolved. The store records what it is told.
//! Every step reads and writes the store, so a restart loses nothing and repeats
//! nothing; deadlines that passed while the service was down are applied on the first
//! tick.

pub mod mail;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use policies::calendar::{ASTANA_OFFSET, Calendar, Date};
use serde::Serialize;
use time::{OffsetDateTime, Time};

use mail::Mailer;
use store::{DeadlineOutcome, DeadlineReport, DueDeadline, Leadership, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Kazakhstan time ([`ASTANA_OFFSET`]) as the `time` crate's offset, for formatting
/// instants.
pub const KZ: time::UtcOffset = match time::UtcOffset::from_whole_seconds(ASTANA_OFFSET as i32) {
    Ok(offset) => offset,
    Err(_) => panic!("the Astana offset is a valid UTC offset"),
};

/// Working days after a notice before its addresses are blocked.
pub const DEADLINE_WORKING_DAYS: u32 = 5;

/// The working-day calendar in force.
pub trait WorkingDays: Send + Sync {
    /// Asked at the start of every pass: a calendar backed by a file re-reads it first
    /// when the file changed.
    fn calendar(&self) -> Arc<Calendar>;
}

impl WorkingDays for Arc<Calendar> {
    fn calendar(&self) -> Arc<Calendar> {
        Arc::clone(self)
    }
}

/// How notices are sent.
#[derive(Clone, Debug)]
pub struct NoticeSettings {
    pub from: Mailbox,
    /// Local (UTC+5) time of day at which each day's notices go out.
    pub send_at: Time,
    /// First retry delay; doubles per attempt up to one hour.
    pub retry_base: Duration,
    /// How long a sender holds a notice it is sending (longer than any SMTP exchange):
    /// no other node sends it meanwhile, and a node that dies mid-send leaves it due
    /// again after this.
    pub claim: Duration,
}

/// What one tick did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TickReport {
    pub notices_created: Vec<i64>,
    pub operators_without_contacts: Vec<String>,
    pub sent: Vec<i64>,
    pub failed: Vec<(i64, String)>,
    pub deadlines: DeadlineReport,
}

/// Runs rule 1 over the store.
pub struct Reconciler {
    store: Store,
    calendar: Arc<dyn WorkingDays>,
    mailer: Arc<dyn Mailer>,
    settings: NoticeSettings,
}

impl Reconciler {
    pub fn new(
        store: Store,
        calendar: Arc<dyn WorkingDays>,
        mailer: Arc<dyn Mailer>,
        settings: NoticeSettings,
    ) -> Reconciler {
        Reconciler { store, calendar, mailer, settings }
    }

    /// One pass at time `now` (unix ms).
    pub async fn tick(&self, now: i64) -> Result<TickReport, StoreError> {
        let calendar = self.calendar.calendar();
        let mut report = TickReport::default();
        let period = period_start(now, self.settings.send_at);
        (report.notices_created, report.operators_without_contacts) = self.store.create_notices(now, period).await?;
        for notice in self.store.due_notices(now).await? {
            let until = now + i64::try_from(self.settings.claim.as_millis()).unwrap_or(i64::MAX / 2);
            if !self.store.claim_notice(notice.id, now, until).await? {
                continue;
            }
            let (day, deadline_at) = deadline(&calendar, now);
            let day = day.to_string();
            let sent = match mail::compose(&notice, &self.settings.from, &day) {
                Ok(message) => self.mailer.send(message).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => {
                    self.store.notice_sent(notice.id, now, &day, deadline_at).await?;
                    tracing::info!(notice = notice.id, operator = %notice.operator, deadline = %day, "notice sent");
                    report.sent.push(notice.id);
                }
                Err(e) => {
                    let delay = backoff(self.settings.retry_base, notice.attempts);
                    self.store.notice_failed(notice.id, &e, Some(now + delay)).await?;
                    tracing::warn!(notice = notice.id, operator = %notice.operator, error = %e, retry_in_ms = delay, "notice not sent");
                    report.failed.push((notice.id, e));
                }
            }
        }
        let passed = self.store.deadlines(now).await?;
        let outcomes = passed.due().iter().map(|due| (due.id, decide(due))).collect();
        report.deadlines = passed.record(outcomes).await?;
        Ok(report)
    }

    /// Ticks every `every` on the real clock while this node leads the reconciler
    /// (one node of a cluster does; the others wait to take over); returns at `stop`
    /// (after the pass under way).
    pub async fn run(self, every: Duration, mut lead: Leadership, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = lead.until_leader() => {}
                _ = stop.cancelled() => return,
            }
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while lead.is_leader() {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = lead.until_follower() => break,
                    _ = stop.cancelled() => return,
                }
                if let Err(e) = self.tick(store::now_ms()).await {
                    tracing::error!(error = %e, "reconciler pass failed; will retry");
                }
            }
        }
    }
}

/// The local date of an instant.
pub fn kz_date(ms: i64) -> Date {
    Date::from_unix(ms.div_euclid(1000), ASTANA_OFFSET)
}

/// An instant as RFC 3339 in Kazakhstan time.
pub fn rfc3339_kz(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.to_offset(KZ).format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Local midnight at the start of `date`, in unix ms.
pub fn kz_midnight(date: Date) -> i64 {
    date.midnight_unix(ASTANA_OFFSET) * 1000
}

/// The deadline of a notice sent at `sent`: the fifth working day counted from the
/// day after, and the instant it ends (the next local midnight).
pub fn deadline(calendar: &Calendar, sent: i64) -> (Date, i64) {
    let day = calendar.add_working_days(kz_date(sent), DEADLINE_WORKING_DAYS);
    (day, kz_midnight(day.next()))
}

/// Rule 1 at a passed deadline: an address a list covers by now is resolved; one still
/// uncovered is blocked, the notice that listed it named as the reason.
pub fn decide(due: &DueDeadline) -> DeadlineOutcome {
    match due.covered {
        true => DeadlineOutcome::Resolved,
        false => DeadlineOutcome::Blocked { reason: format!("unregistered after notice {}", due.notice) },
    }
}

/// The latest scheduled sending time at or before `now`.
pub fn period_start(now: i64, send_at: Time) -> i64 {
    let (hours, minutes, _) = send_at.as_hms();
    let at = kz_midnight(kz_date(now)) + (i64::from(hours) * 60 + i64::from(minutes)) * 60_000;
    if at <= now { at } else { at - 86_400_000 }
}

/// Retry delay in ms after `attempts` failures: base × 2^attempts, at most one hour.
pub fn backoff(base: Duration, attempts: i64) -> i64 {
    let base = base.as_millis() as i64;
    base.saturating_mul(1i64 << attempts.clamp(0, 20)).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::time;

    /// November 2026 has no holiday: its working days are its weekdays.
    fn calendar() -> Calendar {
        Calendar::kazakhstan_default()
    }

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn at(d: Date, t: Time) -> i64 {
        kz_midnight(d) + (i64::from(t.hour()) * 60 + i64::from(t.minute())) * 60_000
    }

    #[test]
    fn deadline_counts_working_days_from_the_next_day() {
        // Friday 2026-11-20: Mon 23 .. Fri 27 are the five working days.
        let (day, end) = deadline(&calendar(), at(date("2026-11-20"), time!(10:00)));
        assert_eq!(day, date("2026-11-27"));
        assert_eq!(end, at(date("2026-11-28"), time!(00:00)));
        // 23:30 local on Sunday is still Sunday: Mon..Fri.
        let (day, _) = deadline(&calendar(), at(date("2026-11-22"), time!(23:30)));
        assert_eq!(day, date("2026-11-27"));
        // 00:30 local on Monday (19:30 UTC Sunday): Tue..Mon.
        let (day, _) = deadline(&calendar(), at(date("2026-11-23"), time!(00:30)));
        assert_eq!(day, date("2026-11-30"));
    }

    #[test]
    fn an_address_uncovered_at_its_deadline_is_blocked_and_a_covered_one_resolved() {
        let due =
            |covered| DueDeadline { id: 7, ip: "198.51.100.7".parse().unwrap(), operator_id: 1, notice: 3, covered };
        assert_eq!(decide(&due(true)), DeadlineOutcome::Resolved);
        assert_eq!(decide(&due(false)), DeadlineOutcome::Blocked { reason: "unregistered after notice 3".into() });
    }

    #[test]
    fn periods_start_at_the_daily_sending_time() {
        let nine = time!(09:00);
        assert_eq!(period_start(at(date("2026-11-23"), time!(10:00)), nine), at(date("2026-11-23"), nine));
        assert_eq!(period_start(at(date("2026-11-23"), time!(08:59)), nine), at(date("2026-11-22"), nine));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 0), 30_000);
        assert_eq!(backoff(base, 3), 240_000);
        assert_eq!(backoff(base, 60), 3_600_000);
    }
}
