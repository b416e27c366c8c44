//! Rule 1 as `perimeter up` runs it: the `[notices]` section (the SMTP relay and sender
//! the reconciler, the desk, the CA rotation and the traffic watch share), and the
//! reconciler built from it with the calendar in force, run as a service on the node
//! that leads it.
//!
//! Must not: decide notices or blocks itself (`catalog::reconcile` does).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use catalog::reconcile::mail::SmtpMailer;
use catalog::reconcile::{NoticeSettings, Reconciler};
use policies::duration;
use serde::{Deserialize, Serialize};
use store::{Leadership, Store};

use super::calendar::CalendarConfig;
use super::problem::ConfigProblems;
use super::service::{Service, Stop};

/// Notices to operators about unknown addresses (rule 1).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NoticesConfig {
    /// The SMTP relay notices go through: `smtp://HOST:PORT` (add `?tls=required` for
    /// STARTTLS), or `smtps://HOST:PORT`.
    pub smtp_url: String,
    /// The From: of notices.
    pub from: String,
    /// Local time (UTC+5) at which each day's notices go out, `HH:MM`.
    pub send_at: String,
    /// First retry delay after a failed send; doubles up to an hour.
    #[serde(with = "duration::one")]
    pub retry_base: Duration,
    /// How often the reconciler runs (notices, deadlines).
    #[serde(with = "duration::one")]
    pub interval: Duration,
    /// How long one SMTP exchange may take before it is given up (and retried).
    #[serde(with = "duration::one")]
    pub send_timeout: Duration,
}

impl Default for NoticesConfig {
    fn default() -> NoticesConfig {
        NoticesConfig {
            smtp_url: "smtp://127.0.0.1:25".into(),
            from: "perimeter <perimeter@localhost>".into(),
            send_at: "09:00".into(),
            retry_base: Duration::from_secs(60),
            interval: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
        }
    }
}

impl NoticesConfig {
    /// Checks what the reconciler, the desk and the traffic watch would refuse at start.
    pub fn validate(&self, problems: &mut ConfigProblems) {
        if let Err(e) = SmtpMailer::check_url(&self.smtp_url) {
            problems.add("notices.smtp_url", e);
        }
        if let Err(e) = self.from.parse::<lettre::message::Mailbox>() {
            problems.add("notices.from", format!("'{}' is not a mailbox: {e}", self.from));
        }
        if send_at(&self.send_at).is_err() {
            problems.add("notices.send_at", format!("'{}' is not HH:MM", self.send_at));
        }
    }
}

/// The daily sending time, `HH:MM`.
fn send_at(text: &str) -> Result<time::Time, time::error::Parse> {
    let format = time::macros::format_description!("[hour]:[minute]");
    time::Time::parse(text, &format)
}

/// The `[notices]` SMTP relay and sender, which the reconciler and the desk share.
pub fn notices_mailer(config: &NoticesConfig) -> anyhow::Result<(SmtpMailer, lettre::message::Mailbox)> {
    let mailer = SmtpMailer::new(&config.smtp_url, config.send_timeout)
        .map_err(anyhow::Error::msg)
        .context("[notices] smtp_url")?;
    let from = config.from.parse().with_context(|| format!("[notices] from: '{}' is not a mailbox", config.from))?;
    Ok((mailer, from))
}

/// How long a sender holds a message it claimed: longer than its SMTP exchange can last.
pub fn claim_period(config: &NoticesConfig) -> Duration {
    config.send_timeout * 2 + Duration::from_secs(5)
}

/// The reconciler as configured: calendar, SMTP relay, sending time.
pub fn reconciler(config: &NoticesConfig, calendar: &CalendarConfig, store: Store) -> anyhow::Result<Reconciler> {
    let calendar = super::calendar::load(calendar)?;
    let (mailer, from) = notices_mailer(config)?;
    let send_at =
        send_at(&config.send_at).with_context(|| format!("[notices] send_at: '{}' is not HH:MM", config.send_at))?;
    let retry_base = config.retry_base.max(Duration::from_secs(1));
    let claim = claim_period(config);
    let settings = NoticeSettings { from, send_at, retry_base, claim };
    Ok(Reconciler::new(store, calendar, Arc::new(mailer), settings))
}

/// The reconciler ticking every `[notices] interval` while this node leads it.
pub struct ReconcilerService {
    pub reconciler: Reconciler,
    pub every: Duration,
    pub lead: Leadership,
}

impl Service for ReconcilerService {
    const NAME: &'static str = "reconciler";

    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        self.reconciler.run(self.every.max(Duration::from_secs(1)), self.lead, stop.token()).await;
        Ok(())
    }
}
