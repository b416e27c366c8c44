//! `perimeter mail`: the registry of connected government mail systems (connect,
//! suspend, resume, delete held mail, disconnect now or at an agreed time, list, show
//! with history), their DKIM keys (`mail_dkim`) and what the relay's authentication
//! checks would do with a message (`mail_explain`).

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;
use policies::MailStatus;
use store::{MailSystemRecord, NewMailSystem};

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use super::{mail_dkim, mail_explain};
use crate::app::output::{parse_instant, when};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum MailCmd {
    /// Connect a mail system: its domains, the addresses its servers send from, its
    /// owner organisation and technical contacts.
    Connect {
        /// Short handle (lowercase letters, digits, '-', '_', '.'), e.g. minfin-mail.
        name: String,
        /// BIN of the owner organisation (registered with `perimeter org add`).
        #[arg(long)]
        owner: String,
        /// A mail domain it receives for (repeat for several).
        #[arg(long = "domain", value_name = "DOMAIN", required = true)]
        domains: Vec<String>,
        /// An address its mail servers send from (repeat for several).
        #[arg(long = "server", value_name = "IP", required = true)]
        servers: Vec<IpAddr>,
        /// Where inbound mail goes (default: the first server, port 25).
        #[arg(long, value_name = "IP:PORT")]
        deliver_to: Option<std::net::SocketAddr>,
        /// A technical contact, e-mailed on suspension (repeat for several).
        #[arg(long = "contact", value_name = "EMAIL", required = true)]
        contacts: Vec<String>,
    },
    /// List mail systems and their status.
    List(JsonFlag),
    /// One mail system with its history.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Suspend by hand: new mail gets 4xx, queued outbound mail is held (never dropped).
    Suspend {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume a suspended system; its held mail is released with a fresh expiry.
    Resume {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Delete a suspended system's held mail after review (the running gateway applies
    /// it; the count appears in `mail show`). Otherwise held mail waits for resumption.
    DeleteHeld {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Disconnect now, or at an agreed time (--at, RFC 3339).
    Disconnect {
        name: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// DKIM keys of connected systems' domains: make, list, rotate.
    #[command(subcommand)]
    Dkim(mail_dkim::DkimCmd),
    /// What the relay would do with a message from ADDR at IP: every check's result and
    /// the decision (or, from a connected system's server, how it is signed).
    Explain(mail_explain::ExplainArgs),
}

pub async fn run(config: &Config, cmd: MailCmd) -> anyhow::Result<ExitCode> {
    let store = &config.open_store().await?;
    let actor = cli_actor();
    match cmd {
        MailCmd::Dkim(c) => return mail_dkim::run(config, store, c).await,
        MailCmd::Explain(a) => return mail_explain::run(config, store, a).await,
        MailCmd::Connect { name, owner, domains, servers, deliver_to, contacts } => {
            let new = NewMailSystem { name, owner_bin: owner, domains, servers, deliver_to, contacts };
            let s = store.connect_mail_system(&actor, new).await?;
            println!(
                "mail system '{}' connected: domains {}, servers {}",
                s.name,
                s.domains.join(" "),
                join(&s.servers)
            );
        }
        MailCmd::List(flag) => {
            let systems = store.mail_systems().await?;
            if flag.json {
                json(&systems)?;
            } else {
                for s in systems {
                    println!("{:<20} {:<13} {:<12} {}", s.name, s.status, s.owner_bin, s.domains.join(" "));
                }
            }
        }
        MailCmd::Show { name, json: flag } => {
            let s = store.mail_system(&name).await?;
            let history = store.changes(Some(&format!("mail:{name}")), 100).await?;
            let traffic = crate::app::mail::traffic(store, None, s.id).await?;
            if flag.json {
                json(&serde_json::json!({ "system": s, "history": history, "traffic": traffic }))?;
            } else {
                print_system(&s);
                if let Some(t) = &traffic {
                    print_traffic(t);
                }
                println!("history:");
                for c in history.iter().rev() {
                    println!("  {}  {:<26} by {}", when(c.at), c.action, c.actor);
                }
            }
        }
        MailCmd::Suspend { name, reason } => {
            let s = store.set_mail_status(&actor, &name, MailStatus::Suspended, &reason).await?;
            println!("mail system '{}' suspended: new mail gets 4xx, its queued mail is held", s.name);
        }
        MailCmd::Resume { name, reason } => {
            let s = store.set_mail_status(&actor, &name, MailStatus::Active, &reason).await?;
            println!("mail system '{}' resumed: held mail is released with a fresh expiry", s.name);
        }
        MailCmd::DeleteHeld { name, reason } => {
            store.request_held_deletion(&actor, &name, &reason).await?;
            println!(
                "deletion of the held mail of '{name}' requested: the running gateway deletes it \
                 (`perimeter mail show {name}` shows how many)"
            );
        }
        MailCmd::Disconnect { name, reason, at: None } => {
            store.set_mail_status(&actor, &name, MailStatus::Disconnected, &reason).await?;
            println!("mail system '{name}' disconnected");
        }
        MailCmd::Disconnect { name, reason, at: Some(at) } => {
            let at = parse_instant(&at)?;
            store.schedule_disconnect(&actor, &name, at, &reason).await?;
            println!("mail system '{name}' will be disconnected at {}", when(at));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// The traffic watch's counters as last saved by the running gateway.
fn print_traffic(t: &epbsh::watch::SystemWatch) {
    let (w, b) = (&t.counters.window, &t.counters.baseline);
    println!(
        "traffic      window from {}: {} messages, {} recipients, {} domains, {} delivered, {} refused, {} bounces",
        when(i64::try_from(w.start_ms).unwrap_or(i64::MAX)),
        w.messages,
        w.recipients,
        w.domains.len(),
        w.delivered,
        w.rejected,
        w.bounces
    );
    println!(
        "usual        {:.1} messages, {:.1} recipients, {:.1} domains per window ({} windows learnt)",
        b.messages, b.recipients, b.domains, b.windows
    );
    if let Some(until) = t.throttled_until_ms {
        println!("throttled    until {}", when(i64::try_from(until).unwrap_or(i64::MAX)));
    }
    for f in &t.findings {
        println!("signal       {} ({:?}): {}", f.signal, f.level, f.detail);
    }
}

fn print_system(s: &MailSystemRecord) {
    println!(
        "mail system  {}\nowner        {}\nstatus       {} since {}",
        s.name,
        s.owner_bin,
        s.status,
        when(s.status_since)
    );
    if let Some(r) = &s.status_reason {
        println!("reason       {r}");
    }
    if let Some(at) = s.disconnect_at {
        println!("disconnect   at {}", when(at));
    }
    println!("domains      {}\nservers      {}", s.domains.join(" "), join(&s.servers));
    let inbound = s.deliver_to.map_or_else(|| format!("{} port 25", s.servers[0]), |d| d.to_string());
    println!("inbound to   {inbound}\ncontacts     {}", s.contacts.join(" "));
}
