//! Administrative commands: operators, organisations, tokens, the audit trail.

use std::process::ExitCode;

use anyhow::Context;
use policies::Bin;
use store::NewOperator;
use store::{Role, Store};

use super::cli_actor;
use crate::cli::{AuditArgs, OperatorCmd, OrgCmd, TokenCmd};
use crate::output::{json, when};

pub async fn operator(store: &Store, cmd: OperatorCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorCmd::Add { name, full_name, contacts, links } => {
            let new = NewOperator { name, full_name: full_name.unwrap_or_default(), contacts, links };
            let op = store.add_operator(&cli_actor(), new).await?;
            println!("operator '{}' registered (links: {})", op.name, list_or_none(&op.links));
        }
        OperatorCmd::List(flag) => {
            let ops = store.operators().await?;
            if flag.json {
                json(&ops)?;
            } else {
                for op in ops {
                    println!(
                        "{:<20} {:<40} contacts: {}  links: {}",
                        op.name,
                        op.full_name,
                        list_or_none(&op.contacts),
                        list_or_none(&op.links)
                    );
                }
            }
        }
        OperatorCmd::Show { name, json: flag } => {
            let op = store.operator(&name).await?;
            if flag.json {
                json(&op)?;
            } else {
                let orgs = store.organisations(Some(&name)).await?;
                let list = store.list(&name).await?;
                println!(
                    "operator   {}\nfull name  {}\ncontacts   {}\nlinks      {}",
                    op.name,
                    op.full_name,
                    list_or_none(&op.contacts),
                    list_or_none(&op.links)
                );
                println!("organisations {}\nprefixes      {}", orgs.len(), list.len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn org(store: &Store, cmd: OrgCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OrgCmd::Add { bin, name, operators } => {
            let bin: Bin = bin.parse()?;
            let org = store.add_organisation(&cli_actor(), &bin, &name, &operators).await?;
            println!(
                "organisation {} '{}' registered, connected through {}",
                org.bin,
                org.name,
                org.operators.join(", ")
            );
        }
        OrgCmd::Connect { bin, operator } => {
            let org = store.connect(&cli_actor(), &bin.parse()?, &operator).await?;
            println!("organisation {} is connected through {}", org.bin, org.operators.join(", "));
        }
        OrgCmd::List { operator, json: flag } => {
            let orgs = store.organisations(operator.as_deref()).await?;
            if flag.json {
                json(&orgs)?;
            } else {
                for o in orgs {
                    println!("{}  {:<40} via {}", o.bin, o.name, list_or_none(&o.operators));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn token(store: &Store, cmd: TokenCmd) -> anyhow::Result<ExitCode> {
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

pub async fn audit(store: &Store, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let changes = store.changes(args.subject.as_deref(), args.limit).await?;
    if args.json.json {
        json(&changes)?;
        return Ok(ExitCode::SUCCESS);
    }
    for c in changes {
        let after = c.after.map(|v| v.to_string()).unwrap_or_default();
        println!("#{:<6} {}  {:<24} {:<22} {:<28} {after}", c.id, when(c.at), c.actor, c.action, c.subject);
    }
    Ok(ExitCode::SUCCESS)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "-".into() } else { items.join(", ") }
}
