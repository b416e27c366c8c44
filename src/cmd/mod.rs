//! What each command does: load the configuration, open the store, act, print.

mod actor;
mod admin;
pub mod ca;
pub mod catalog;
mod gate;
pub mod mail;
pub mod reconcile;
mod request;
mod up;
mod user;

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{Cli, Command, ConfigCmd};
use crate::config::Config;

/// Runs one command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    actor::set_given(cli.acting_as.as_deref());
    let config = load_config(&cli)?;
    match cli.command {
        Command::Up(args) => up::run(config, args, cli.config.clone()).await.map(|_| ExitCode::SUCCESS),
        Command::Config(ConfigCmd::Check) => {
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCmd::Example) => {
            print!("{}", include_str!("../../perimeter.example.toml"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator(c) => admin::operator(&open_store(&config).await?, c).await,
        Command::Org(c) => admin::org(&open_store(&config).await?, c).await,
        Command::Token(c) => admin::token(&open_store(&config).await?, c).await,
        Command::User(c) => user::run(&open_store(&config).await?, c).await,
        Command::Ca(c) => ca::run(&config, c).await,
        Command::Calendar(c) => calendar(&config, c),
        Command::Audit(a) => admin::audit(&open_store(&config).await?, a).await,
        Command::Catalog(c) => catalog::run(&open_store(&config).await?, c).await,
        Command::Unknown { operator, json } => {
            reconcile::unknown(&open_store(&config).await?, operator, json.json).await
        }
        Command::Notices { operator, json } => {
            reconcile::notices(&open_store(&config).await?, operator, json.json).await
        }
        Command::Policy(c) => crate::web::policy_command(&config, c).await,
        Command::Mail(c) => mail::run(&open_store(&config).await?, c).await,
        Command::Request(r) => request::run(&config, open_store(&config).await?, r).await,
        Command::Gate(c) => gate::run(&config, c).await,
        Command::Block(c) => reconcile::block(&open_store(&config).await?, c).await,
        Command::Reconcile { at, json } => {
            reconcile::run_once(&config, open_store(&config).await?, at, json.json).await
        }
    }
}

/// The file (if any) with command-line and environment overrides applied.
fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &cli.store {
        config.store.url = url.clone();
    }
    Ok(config)
}

/// Opens the store, creating the data directory for SQLite.
pub async fn open_store(config: &Config) -> anyhow::Result<::store::Store> {
    let url = config.store_url();
    if url.starts_with("sqlite:") {
        private_dir(&config.data_dir)?;
    }
    let store = ::store::Store::open(&url).await;
    let store = store.with_context(|| format!("cannot open the store {}", ::store::redact(&url)))?;
    Ok(store.keeping_unknown(config.catalog.max_unknown_per_operator))
}

/// Creates `dir` (and its parents) if missing and makes it private to the service's
/// user (0700): it holds the catalog, the CA key and the spool.
pub fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make the data directory {} private", dir.display()))
}

pub use actor::cli_actor;

fn calendar(config: &Config, cmd: crate::cli::CalendarCmd) -> anyhow::Result<ExitCode> {
    use crate::cli::CalendarCmd;
    use policies::calendar::{Calendar, Date};
    match cmd {
        CalendarCmd::Check { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match Calendar::parse(&text, &file.display().to_string()) {
                Ok(_) => println!("{}: valid", file.display()),
                Err(errors) => {
                    eprint!("{errors}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        CalendarCmd::Show { year } => {
            let calendar = crate::calendar::open(config)?;
            if !calendar.covers(year) {
                eprintln!(
                    "note: the calendar lists no religious days or transfers for {year}; only the yearly rules apply"
                );
            }
            for (day, why) in calendar.days_off(year) {
                println!("{day} {:<9} {why}", day.weekday_name());
            }
        }
        CalendarCmd::Deadline { date } => {
            let calendar = crate::calendar::open(config)?;
            let day: Date = date.parse().map_err(anyhow::Error::msg)?;
            println!("{}", calendar.add_working_days(day, ::catalog::reconcile::DEADLINE_WORKING_DAYS));
        }
    }
    Ok(ExitCode::SUCCESS)
}
