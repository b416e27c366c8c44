//! The command line: the global flags, one verb per file (its flags, its help text and
//! what it does), and the dispatch from a parsed command line to its verb.
//!
//! Must not: hold what `up` runs (app/) or what the HTTP API serves (http/); a verb
//! reads the configuration, calls down into them and prints.

mod actor;
mod audit;
mod block;
mod ca;
mod calendar;
mod catalog;
mod config;
mod gate;
mod gate_grant;
mod json;
mod mail;
mod mail_dkim;
mod mail_explain;
mod notices;
mod operator;
mod org;
mod policy;
mod reconcile;
mod request;
mod token;
mod unknown;
mod up;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// perimeter: the IP catalog, the Internet access gateway and the mail gateway of a
/// government network.
///
/// Start with `perimeter up` (runs on defaults: SQLite in ./perimeter-data, API on
/// 127.0.0.1:8750). Register operators and organisations, create API tokens, and
/// import operators' IP lists with the commands below.
#[derive(Parser, Debug)]
#[command(name = "perimeter", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Configuration file (TOML). Without one, every setting takes its default.
    #[arg(long, short, global = true, env = "PERIMETER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, global = true, env = "PERIMETER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Catalog database URL, sqlite://PATH or postgres://... (overrides `store.url`).
    #[arg(long, global = true, env = "PERIMETER_STORE_URL", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    /// Who is acting, as the audit trail names changes made from the command line
    /// (default: the person behind sudo, else the login name).
    #[arg(long = "as", global = true, env = "PERIMETER_ACTOR", value_name = "NAME")]
    pub acting_as: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service: API and console, catalog publisher and reconciler, web proxy, mail relay, packet gate.
    Up(up::UpArgs),
    /// Check a configuration file, or print the example one.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Telecom operators: register and inspect.
    #[command(subcommand)]
    Operator(operator::OperatorCmd),
    /// User organisations: register, connect through operators, list.
    #[command(subcommand, name = "org")]
    Org(org::OrgCmd),
    /// Operators' IP lists: import, export, look up an address, history.
    #[command(subcommand)]
    Catalog(catalog::CatalogCmd),
    /// API tokens for operators and the duty team.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// People who log in to the console: duty team, operators' staff, auditors.
    #[command(subcommand)]
    User(user::UserCmd),
    /// The audit trail: who changed what, when.
    Audit(audit::AuditArgs),
    /// The working-day calendar: check a file, list a year's days off, compute a deadline.
    #[command(subcommand)]
    Calendar(calendar::CalendarCmd),
    /// The gateway root CA: create, show, export for operators, rotate.
    #[command(subcommand)]
    Ca(ca::CaCmd),
    /// Unknown source addresses seen by the gateways, with their notice and deadline.
    Unknown(unknown::UnknownArgs),
    /// Notices sent to operators about unknown addresses, and their delivery status.
    Notices(notices::NoticesArgs),
    /// Blocks: list them, or block and unblock by hand (duty team; a reason is required).
    #[command(subcommand)]
    Block(block::BlockCmd),
    /// Web access policies: check the files, explain a decision, list overdue requests.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Connected government mail systems (the mail gateway's registry).
    #[command(subcommand)]
    Mail(mail::MailCmd),
    /// The request desk: file applications, list and show them with who holds each and
    /// when its step is due, and move them on (one verb per transition).
    Request(request::RequestArgs),
    /// The packet gate: what it enforces and counts, what it does with a source, its rules.
    #[command(subcommand)]
    Gate(gate::GateCmd),
    /// Run one reconciler pass now: open due notices, send them, apply passed deadlines.
    /// (`perimeter up` does this on its own every `notices.interval`.)
    Reconcile(reconcile::ReconcileArgs),
}

/// Runs one command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    actor::set_given(cli.acting_as.as_deref());
    let config = load_config(&cli)?;
    match cli.command {
        Command::Up(args) => up::run(config, args, cli.config.clone()).await.map(|_| ExitCode::SUCCESS),
        Command::Config(c) => config::run(&config, c),
        Command::Operator(c) => operator::run(&config.open_store().await?, c).await,
        Command::Org(c) => org::run(&config.open_store().await?, c).await,
        Command::Token(c) => token::run(&config.open_store().await?, c).await,
        Command::User(c) => user::run(&config.open_store().await?, c).await,
        Command::Ca(c) => ca::run(&config, c).await,
        Command::Calendar(c) => calendar::run(&config, c),
        Command::Audit(a) => audit::run(&config.open_store().await?, a).await,
        Command::Catalog(c) => catalog::run(&config.open_store().await?, c).await,
        Command::Unknown(a) => unknown::run(&config.open_store().await?, a).await,
        Command::Notices(a) => notices::run(&config.open_store().await?, a).await,
        Command::Policy(c) => policy::run(&config, c).await,
        Command::Mail(c) => mail::run(&config, c).await,
        Command::Request(r) => request::run(&config, config.open_store().await?, r).await,
        Command::Gate(c) => gate::run(&config, c).await,
        Command::Block(c) => block::run(&config.open_store().await?, c).await,
        Command::Reconcile(a) => reconcile::run(&config, config.open_store().await?, a).await,
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
