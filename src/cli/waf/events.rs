//! `perimeter waf events DOMAIN [--rule N] [--client NET] [--path P] [--from T] [--to T]
//! [--json]` and `perimeter waf event ID`: the WAF's refused and matched requests from
//! its audit log on this machine.

use std::process::ExitCode;

use clap::Args;
use ipnet::IpNet;
use store::Store;

use crate::app::output::{parse_instant, when};
use crate::app::waf::audit_log_path;
use crate::app::waf::events::{self, Event, EventFilter};
use crate::cli::json::{JsonFlag, json};
use crate::config::Config;

#[derive(Args, Debug)]
pub struct EventsArgs {
    pub domain: String,
    /// Only requests in which this rule matched.
    #[arg(long)]
    pub rule: Option<u32>,
    /// Only from this address or network.
    #[arg(long)]
    pub client: Option<String>,
    /// Only paths starting with this.
    #[arg(long)]
    pub path: Option<String>,
    /// From this instant (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Before this instant (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Args, Debug)]
pub struct EventArgs {
    /// The transaction id (on the block page and in the X-Waf-Transaction header).
    pub id: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// A client as an address or network.
pub fn client_net(text: &str) -> anyhow::Result<IpNet> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| anyhow::anyhow!("'{text}' is not an address or a network"))
}

pub async fn run(config: &Config, store: &Store, a: EventsArgs) -> anyhow::Result<ExitCode> {
    let site = store.waf_site(&a.domain).await?;
    let filter = EventFilter {
        sites: Some(vec![site.domain]),
        rule: a.rule,
        client: a.client.as_deref().map(client_net).transpose()?,
        path: a.path,
        from: a.from.as_deref().map(parse_instant).transpose()?,
        to: a.to.as_deref().map(parse_instant).transpose()?,
        ..EventFilter::default()
    };
    let log = audit_log_path(&config.waf, &config.data_dir);
    let found = tokio::task::spawn_blocking(move || events::read(&log, &filter, a.limit)).await??;
    if a.json.json {
        json(&found)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} event(s){}", found.matched, if found.window_cut { " in the log's last 32 MiB" } else { "" });
    for e in &found.events {
        print_line(e);
    }
    println!(
        "top rules:   {}",
        found.top_rules.iter().map(|t| format!("{} ({})", t.key, t.count)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "top clients: {}",
        found.top_clients.iter().map(|t| format!("{} ({})", t.key, t.count)).collect::<Vec<_>>().join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn print_line(e: &Event) {
    let ids: Vec<String> = e.rules.iter().map(|r| r.id.to_string()).collect();
    println!(
        "{}  {}  {:<8} {:>3} {} {} {} score {} rules {}",
        when(e.at),
        e.transaction,
        e.action,
        e.status,
        e.client,
        e.method,
        e.uri,
        e.score,
        ids.join(",")
    );
}

pub async fn one(config: &Config, a: EventArgs) -> anyhow::Result<ExitCode> {
    let log = audit_log_path(&config.waf, &config.data_dir);
    let id = a.id.clone();
    let Some(e) = tokio::task::spawn_blocking(move || events::find(&log, &id)).await?? else {
        eprintln!("no transaction {} in the WAF's audit log on this node", a.id);
        return Ok(ExitCode::FAILURE);
    };
    if a.json.json {
        json(&e)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "transaction {}\ntime        {}\nsite        {}\nclient      {}\nrequest     {} {}",
        e.transaction,
        when(e.at),
        e.site,
        e.client,
        e.method,
        e.uri
    );
    println!(
        "answer      {} ({}, mode {}){}",
        e.status,
        e.action,
        e.mode,
        e.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    );
    println!("score       {} (responses {})", e.score, e.outbound_score);
    for r in &e.rules {
        println!("rule        {} {}\n            {}", r.id, r.message, r.data);
    }
    Ok(ExitCode::SUCCESS)
}
