//! Rule-1 commands: unknown addresses, notices, blocks, and one reconciler pass.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use catalog::reconcile::mail::SmtpMailer;
use catalog::reconcile::{NoticeSettings, Reconciler};
use store::BlockFilter;
use store::Store;

use super::cli_actor;
use crate::cli::BlockCmd;
use crate::config::Config;
use crate::output::{json, parse_instant, when};

/// The reconciler as configured: calendar, SMTP relay, sending time.
/// The `[notices]` SMTP relay and sender, which the reconciler and the desk share.
pub fn notices_mailer(config: &Config) -> anyhow::Result<(SmtpMailer, lettre::message::Mailbox)> {
    let mailer = SmtpMailer::new(&config.notices.smtp_url, config.notices.send_timeout)
        .map_err(anyhow::Error::msg)
        .context("[notices] smtp_url")?;
    let from = config
        .notices
        .from
        .parse()
        .with_context(|| format!("[notices] from: '{}' is not a mailbox", config.notices.from))?;
    Ok((mailer, from))
}

/// How long a sender holds a message it claimed: longer than its SMTP exchange can last.
pub fn claim_period(config: &Config) -> Duration {
    config.notices.send_timeout * 2 + Duration::from_secs(5)
}

pub fn reconciler(config: &Config, store: Store) -> anyhow::Result<Reconciler> {
    let calendar = crate::calendar::load(config)?;
    let (mailer, from) = notices_mailer(config)?;
    let format = time::macros::format_description!("[hour]:[minute]");
    let send_at = time::Time::parse(&config.notices.send_at, &format)
        .with_context(|| format!("[notices] send_at: '{}' is not HH:MM", config.notices.send_at))?;
    let retry_base = config.notices.retry_base.max(Duration::from_secs(1));
    let claim = claim_period(config);
    let settings = NoticeSettings { from, send_at, retry_base, claim };
    Ok(Reconciler::new(store, calendar, Arc::new(mailer), settings))
}

pub async fn run_once(config: &Config, store: Store, at: Option<String>, as_json: bool) -> anyhow::Result<ExitCode> {
    let now = match at {
        Some(at) if std::env::var("PERIMETER_TEST_CLOCK").is_ok_and(|v| v == "1") => parse_instant(&at)?,
        Some(_) => anyhow::bail!("--at is for tests only (PERIMETER_TEST_CLOCK=1); the reconciler uses the real clock"),
        None => store::now_ms(),
    };
    let report = reconciler(config, store)?.tick(now).await?;
    if as_json {
        json(&report)?;
    } else {
        println!(
            "notices opened {:?}, sent {:?}, failed {}; blocked {:?}; resolved {:?}",
            report.notices_created,
            report.sent,
            report.failed.len(),
            report.deadlines.blocked,
            report.deadlines.resolved
        );
        for (id, e) in &report.failed {
            eprintln!("notice {id} not sent: {e}");
        }
        for op in &report.operators_without_contacts {
            eprintln!("operator '{op}' has unknown addresses but no contact address: no notice can be sent");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn unknown(store: &Store, operator: Option<String>, as_json: bool) -> anyhow::Result<ExitCode> {
    let list = store.unknown_addresses(operator.as_deref()).await?;
    if as_json {
        json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    for u in list {
        let notice = u.notice.map_or("-".to_string(), |n| format!("notice {n}"));
        let deadline = u.deadline_day.unwrap_or_else(|| "-".into());
        println!(
            "{:<40} {:<12} {:<12} {:<9} {:<11} deadline {deadline}  seen {} times, last {}",
            u.ip,
            u.operator,
            u.link,
            u.status,
            notice,
            u.seen,
            when(u.last_seen)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn notices(store: &Store, operator: Option<String>, as_json: bool) -> anyhow::Result<ExitCode> {
    let list = store.notices(operator.as_deref()).await?;
    if as_json {
        json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    for n in list {
        let state = match (&n.status[..], n.sent_at) {
            ("sent", Some(at)) => format!("sent {} deadline {}", when(at), n.deadline_day.clone().unwrap_or_default()),
            _ => format!("{} after {} attempt(s): {}", n.status, n.attempts, n.last_error.clone().unwrap_or_default()),
        };
        println!("#{:<5} {:<14} {} address(es) to {}  {state}", n.id, n.operator, n.addresses, n.recipients.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// An address or a prefix.
pub fn target(text: &str) -> anyhow::Result<snapshot::Net> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(snapshot::Net::host(ip));
    }
    Ok(text.parse()?)
}

pub async fn block(store: &Store, cmd: BlockCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BlockCmd::Add { target: t, reason } => {
            let b = store.block(&cli_actor(), target(&t)?, &reason).await?;
            println!("{} blocked: {}", b.prefix, b.reason);
        }
        BlockCmd::Lift { target: t, reason } => {
            let b = store.unblock(&cli_actor(), target(&t)?, &reason).await?;
            println!("{} unblocked: {}", b.prefix, b.lift_reason.unwrap_or_default());
        }
        BlockCmd::List { all, kind, operator, ip, json: flag } => {
            let blocks = store.blocks(&BlockFilter { all, kind, operator, ip }).await?;
            if flag.json {
                json(&blocks)?;
            } else {
                for b in blocks {
                    let lifted = b.lifted_at.map_or(String::new(), |at| {
                        format!(
                            "  lifted {} by {}: {}",
                            when(at),
                            b.lifted_by.clone().unwrap_or_default(),
                            b.lift_reason.clone().unwrap_or_default()
                        )
                    });
                    println!("{:<24} {:<6} since {}  {}{lifted}", b.prefix, b.kind, when(b.since), b.reason);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
