//! `perimeter user ...`: the people who log in to the console. Passwords are asked for
//! on a terminal (twice, without echo) or read as the first line of standard input,
//! and handed to the store, which keeps only their argon2 hash.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use store::{Store, UserRole};

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::output::when;

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Register a person for the console. The password is asked for twice on a
    /// terminal, or read as the first line of standard input.
    Add {
        /// Login name: lowercase letters, digits, '-', '_', '.'.
        name: String,
        /// Duty team: sees and changes everything.
        #[arg(long, group = "role", required_unless_present_any = ["operator", "auditor", "organisation"])]
        duty: bool,
        /// An operator's staff: sees and changes only this operator's data.
        #[arg(long, group = "role")]
        operator: Option<String>,
        /// An organisation's staff (its BIN): file and follow only its own
        /// applications at the request desk.
        #[arg(long, group = "role")]
        organisation: Option<String>,
        /// Auditor: sees everything, changes nothing.
        #[arg(long, group = "role")]
        auditor: bool,
        /// The console's language for this person: ru, kk or en.
        #[arg(long, default_value = "ru")]
        lang: String,
    },
    /// Set a new password (ends the person's sessions and clears a lockout).
    Passwd { name: String },
    /// Disable a person: their sessions end at once and they cannot log in.
    Disable { name: String },
    /// Enable a disabled person again.
    Enable { name: String },
    /// List people (never their passwords).
    List(JsonFlag),
}

pub async fn run(store: &Store, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCmd::Add { name, duty, operator, auditor, organisation, lang } => {
            let role = match (duty, operator, auditor, organisation) {
                (true, None, false, None) => UserRole::Duty,
                (false, Some(operator), false, None) => UserRole::Operator { operator },
                (false, None, true, None) => UserRole::Auditor,
                (false, None, false, Some(bin)) => UserRole::Organisation { organisation: bin.parse()? },
                _ => anyhow::bail!("say one of --duty, --operator OPERATOR, --organisation BIN or --auditor"),
            };
            let password = read_password(&name)?;
            let user = store.add_user(&cli_actor(), &name, &role, &password, &lang).await?;
            println!("user '{}' registered ({}); they log in at the console", user.name, describe(&user.role));
        }
        UserCmd::Passwd { name } => {
            let password = read_password(&name)?;
            store.set_password(&cli_actor(), &name, &password).await?;
            println!("password of '{name}' changed; their sessions ended");
        }
        UserCmd::Disable { name } => {
            store.set_user_disabled(&cli_actor(), &name, true).await?;
            println!("user '{name}' disabled; their sessions ended");
        }
        UserCmd::Enable { name } => {
            store.set_user_disabled(&cli_actor(), &name, false).await?;
            println!("user '{name}' enabled");
        }
        UserCmd::List(flag) => {
            let users = store.users().await?;
            if flag.json {
                json(&users)?;
            } else {
                for u in users {
                    let state = match (u.disabled_at, u.locked_until) {
                        (Some(at), _) => format!("disabled {}", when(at)),
                        (None, Some(until)) if until > store::now_ms() => format!("locked until {}", when(until)),
                        _ => "active".to_string(),
                    };
                    println!("{:<24} {:<28} {:<3} {state}", u.name, describe(&u.role), u.lang);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(role: &UserRole) -> String {
    match role {
        UserRole::Duty => "duty team".into(),
        UserRole::Auditor => "auditor".into(),
        UserRole::Operator { operator } => format!("operator {operator}"),
        UserRole::Organisation { organisation } => format!("organisation {organisation}"),
    }
}

/// The new password: asked twice on a terminal, else the first line of stdin.
fn read_password(name: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ; nothing was changed");
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}
