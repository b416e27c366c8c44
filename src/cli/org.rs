//! `perimeter org add | connect | list`: the user organisations and the operators
//! that connect them.

use std::process::ExitCode;

use clap::Subcommand;
use policies::Bin;
use store::Store;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use super::operator::list_or_none;

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Register an organisation by its BIN.
    Add {
        /// Business identification number: 12 digits with a valid check digit.
        #[arg(long)]
        bin: String,
        /// Organisation name.
        #[arg(long)]
        name: String,
        /// Operator that connects it (repeat for several).
        #[arg(long = "operator", value_name = "OPERATOR", required = true)]
        operators: Vec<String>,
    },
    /// Connect an organisation through one more operator.
    Connect { bin: String, operator: String },
    /// List organisations.
    List {
        /// Only those connected through this operator.
        #[arg(long)]
        operator: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub async fn run(store: &Store, cmd: OrgCmd) -> anyhow::Result<ExitCode> {
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
