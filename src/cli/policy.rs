//! `perimeter policy check | explain | overdue | export`: the web gateway's categories
//! and policies: check the files, explain a decision, list overdue requests, export the
//! book in force.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use iqbsh::Rules;
use policies::calendar::today;

use crate::app::web::{PolicyRules, load};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Load the configured category lists and policy book (or the given policy file) and
    /// report every problem; nothing changes.
    Check { file: Option<PathBuf> },
    /// What the web gateway decides for an organisation and a host today, and why.
    Explain {
        /// The organisation's BIN.
        #[arg(long)]
        org: String,
        host: String,
    },
    /// Requests not applied within ten working days of receipt (rule 4).
    Overdue,
    /// Write the policies the web gateway enforces (the policy file with the request
    /// desk's applied applications) in the policy file's TOML format.
    Export {
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `perimeter policy ...`: check the files, explain a decision, list overdue requests,
/// export the book in force.
pub async fn run(config: &Config, cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    let mut settings = config.policies.clone();
    if let PolicyCmd::Check { file: Some(f) } = &cmd {
        settings.file = Some(f.clone());
    }
    // Checking a file judges the file alone; explaining and listing see what the
    // gateway enforces: the file with the desk's applied applications.
    let loaded = match &cmd {
        PolicyCmd::Check { .. } => PolicyRules::load(&settings),
        _ => load(&settings, &config.open_store().await?).await,
    };
    let rules = match loaded {
        Ok(r) => r,
        Err(e) => {
            eprint!("{e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    match cmd {
        PolicyCmd::Check { .. } => {
            let orgs = rules.book.organisations().count();
            println!("valid: {} categorised domains, {orgs} organisation policies", rules.db.len());
        }
        PolicyCmd::Explain { org, host } => {
            let found = rules.categorize(&host);
            let decision = rules.decide(&org, &host, "", &found.categories);
            let handling = if found.exempt { "spliced (exempt from inspection)" } else { "inspected" };
            let cats = if found.categories.is_empty() { "none".to_string() } else { found.categories.join(", ") };
            println!("host        {host}\ncategories  {cats}\ntls         {handling}");
            println!("decision    {}\nreason      {}", if decision.allow { "allow" } else { "deny" }, decision.reason);
        }
        PolicyCmd::Export { output } => {
            let text = rules.book.to_toml();
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => print!("{text}"),
            }
        }
        PolicyCmd::Overdue => {
            let calendar = crate::app::calendar::open(&config.calendar)?;
            for (p, by) in rules.book.overdue(&calendar, today()) {
                let state = p.granted.map_or_else(|| "still pending".to_string(), |g| format!("granted {g}"));
                println!("{} {:<40} received {}  due {by}  {state}", p.bin, p.name, p.received);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
