//! `perimeter token create | list | revoke`: API tokens for operators, organisations
//! and the duty team.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use store::{Role, Store};

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::output::when;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token and print its secret once.
    Create {
        /// A name for the token (who or what uses it).
        name: String,
        /// A duty-team token: sees and changes everything.
        #[arg(long, group = "role", required_unless_present_any = ["operator", "organisation"])]
        duty: bool,
        /// An operator token: sees and changes only this operator's data.
        #[arg(long, group = "role")]
        operator: Option<String>,
        /// An organisation's token (its BIN): files and follows only its own
        /// applications at the request desk, and nothing else.
        #[arg(long, group = "role")]
        organisation: Option<String>,
    },
    /// List tokens (never their secrets).
    List(JsonFlag),
    /// Revoke a token.
    Revoke { name: String },
}

pub async fn run(store: &Store, cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCmd::Create { name, duty, operator, organisation } => {
            let role = match (duty, operator, organisation) {
                (true, None, None) => Role::Duty,
                (false, Some(operator), None) => Role::Operator { operator },
                (false, None, Some(bin)) => Role::Organisation { organisation: bin.parse()? },
                _ => anyhow::bail!("say one of --duty, --operator OPERATOR or --organisation BIN"),
            };
            let secret = store.create_token(&cli_actor(), &name, &role).await?;
            eprintln!("token '{name}' created; its secret is shown only now:");
            println!("{secret}");
        }
        TokenCmd::List(flag) => {
            let tokens = store.tokens().await?;
            if flag.json {
                json(&tokens)?;
            } else {
                for t in tokens {
                    let role = match &t.role {
                        Role::Duty => "duty".to_string(),
                        Role::Operator { operator } => format!("operator {operator}"),
                        Role::Organisation { organisation } => format!("organisation {organisation}"),
                    };
                    let state = t.revoked_at.map_or("live".to_string(), |at| format!("revoked {}", when(at)));
                    println!("{:<24} {:<28} created {}  {state}", t.name, role, when(t.created_at));
                }
            }
        }
        TokenCmd::Revoke { name } => {
            store.revoke_token(&cli_actor(), &name).await.context("cannot revoke")?;
            println!("token '{name}' revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
