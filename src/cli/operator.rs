//! `perimeter operator add | list | show`: the telecom operators.

use std::process::ExitCode;

use clap::Subcommand;
use store::NewOperator;
use store::Store;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};

#[derive(Subcommand, Debug)]
pub enum OperatorCmd {
    /// Register an operator.
    Add {
        /// Short handle: lowercase letters, digits, '-', '_', '.' (e.g. kaztelecom).
        name: String,
        /// Full legal name.
        #[arg(long)]
        full_name: Option<String>,
        /// Contact e-mail for notices (repeat for several).
        #[arg(long = "contact", value_name = "EMAIL")]
        contacts: Vec<String>,
        /// A link on which this operator delivers traffic (repeat for several).
        #[arg(long = "link", value_name = "LINK")]
        links: Vec<String>,
    },
    /// List operators.
    List(JsonFlag),
    /// Show one operator.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub async fn run(store: &Store, cmd: OperatorCmd) -> anyhow::Result<ExitCode> {
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

pub fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "-".into() } else { items.join(", ") }
}
