//! `perimeter request`: file applications, list and show them with who holds each and
//! when its step is due, attach files, and one verb per transition.

use std::process::ExitCode;

use anyhow::Context;
use desk::{Action, Applicant, Kind};
use policies::calendar::Date;
use serde_json::{Map, Value, json};
use store::Store;

use super::cli_actor;
use crate::cli::{RequestArgs, RequestCmd};
use crate::config::Config;
use crate::output::{json, parse_instant, when};
use crate::requests::{Desk, DeskError, Filing, RequestView, day_of, input};

pub async fn run(config: &Config, store: Store, args: RequestArgs) -> anyhow::Result<ExitCode> {
    let today = today(args.at.as_deref())?;
    let desk = Desk::open(config, store)?;
    let actor = cli_actor();
    // Only filings, transitions and the sweep record e-mails; reading sends nothing.
    let records_mail =
        matches!(args.command, RequestCmd::File { .. } | RequestCmd::Sweep) || transition_of(&args.command).is_some();
    match args.command {
        RequestCmd::File { kind, applicant, contacts, fields, set, signed, json: flag } => {
            let kind: Kind = kind.parse()?;
            let applicant: Applicant = applicant.parse().map_err(anyhow::Error::msg)?;
            let fields = fields_of(fields.as_deref(), &set)?;
            let signed = match signed {
                Some(path) => {
                    let content = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let content_type = input::guess_type(&name).to_string();
                    Some((name, content_type, content))
                }
                None => None,
            };
            let filing = Filing { kind, applicant, contacts, fields, signed };
            let record = desk.file(&actor, filing, today).await.map_err(explain)?;
            let view = desk.view(&record, today);
            if flag.json {
                json(&view)?;
            } else {
                println!("request {} filed: {} from {}", view.id, kind, view.application.applicant);
                print_step(&view);
            }
        }
        RequestCmd::List { overdue, due_within, applicant, json: flag } => {
            let applicant: Option<Applicant> = applicant.map(|a| a.parse()).transpose().map_err(anyhow::Error::msg)?;
            let records = desk.store.applications(&store::Visible::All).await?;
            let mut views: Vec<RequestView> = records
                .iter()
                .filter(|r| applicant.as_ref().is_none_or(|a| &r.application.applicant == a))
                .map(|r| desk.view(r, today))
                .collect();
            views.retain(|v| !overdue || v.overdue);
            if let Some(days) = due_within {
                let horizon = desk.horizon(today, days);
                views.retain(|v| v.due.is_some_and(|due| due <= horizon));
            }
            RequestView::sort(&mut views);
            if flag.json {
                json(&views)?;
            } else {
                views.iter().for_each(|v| println!("{}", v.line()));
            }
        }
        RequestCmd::Show { id, json: flag } => show(&desk, id, today, flag.json).await?,
        RequestCmd::Attach { id, file, content_type } => {
            let content = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let content_type = content_type.unwrap_or_else(|| input::guess_type(&name).to_string());
            let info = desk.attach(&actor, id, (&name, &content_type, &content)).await.map_err(explain)?;
            println!(
                "request {id}: attached {} ({}, {} bytes, sha256 {})",
                info.name, info.content_type, info.size, info.sha256
            );
            if let Some(signer) = &info.signer {
                println!("signed by {signer} (BIN {})", info.signer_bin.as_deref().unwrap_or("not named"));
            }
            if let Some(signed) = info.signs {
                println!("a detached signature of attachment {signed}");
            }
        }
        RequestCmd::Import { file, contacts } => {
            let imported = crate::requests::import::policy_file(&desk.store, &actor, &file, &contacts).await?;
            println!(
                "imported {} organisations as {} applications: {:?}",
                imported.organisations,
                imported.applications.len(),
                imported.applications
            );
        }
        RequestCmd::Sweep => {
            let swept = desk.sweep(today).await.map_err(explain)?;
            println!(
                "technical conditions lapsed: {:?}; reminded of lapsing policies: {:?}",
                swept.lapsed, swept.reminded
            );
        }
        transition => {
            let (id, action) = transition_of(&transition).context("not a transition")?;
            let record = desk.act(&actor, id, &action, today).await.map_err(explain)?;
            let view = desk.view(&record, today);
            println!("request {id}: {} → {}", action.verb(), view.application.state);
            print_step(&view);
        }
    }
    if records_mail {
        send_outbox(&desk).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the e-mails the command recorded (and any others due); what cannot be sent
/// now stays in the outbox for `perimeter up` to retry.
async fn send_outbox(desk: &Desk) {
    match desk.send_due(store::now_ms()).await {
        Ok(report) => {
            for (mail, error) in report.failed {
                eprintln!("warning: desk e-mail {mail} was not sent ({error}); it stays in the outbox and is retried");
            }
        }
        Err(e) => eprintln!("warning: the desk's outbox could not be read: {e}"),
    }
}

async fn show(desk: &Desk, id: i64, today: Date, as_json: bool) -> anyhow::Result<()> {
    let record = desk.store.application(id).await?;
    let view = desk.view(&record, today);
    let timeline = desk.store.timeline(id).await?;
    let attachments = desk.store.attachments(id).await?;
    let mail = desk.store.desk_mail(id).await?;
    if as_json {
        let signatures = if desk.verifies_signatures() { "verified" } else { "not verified" };
        return json(&json!({ "request": view, "timeline": timeline, "attachments": attachments, "mail": mail,
            "signatures": signatures }));
    }
    let a = &view.application;
    let signatures = match desk.verifies_signatures() {
        true => "verified against [desk] trust_anchors",
        false => "NOT VERIFIED ([desk] trust_anchors is not set)",
    };
    println!(
        "request      {} ({})\napplicant    {}\nreceived     {}",
        view.id,
        a.kind().label(),
        a.applicant,
        a.received
    );
    println!("state        {} since {}", a.state, a.since);
    print_step(&view);
    if let Some(reason) = &a.reason {
        println!("reason       {reason}");
    }
    println!("contacts     {}", a.contacts.join(" "));
    println!("fields       {}", serde_json::to_string(&a.fields)?);
    if !view.sealed.is_empty() {
        println!("sealed       {} (never shown)", view.sealed.join(", "));
    }
    println!("signatures   {signatures}");
    for at in &attachments {
        let signer = at.signer.as_deref().map(|s| format!(", signed by {s}")).unwrap_or_default();
        println!("attachment   {} ({}, {} bytes, sha256 {}{signer})", at.name, at.content_type, at.size, at.sha256);
    }
    for m in &mail {
        let error = m.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        println!(
            "e-mail       {} to {}: {} after {} attempts{error}",
            m.event,
            m.recipients.join(" "),
            m.status,
            m.attempts
        );
    }
    println!("timeline:");
    for t in &timeline {
        let note = t.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        println!("  {} {}  {:<10} → {:<16} by {}{note}", t.day, when(t.at), t.verb, t.to, t.actor);
    }
    Ok(())
}

fn print_step(view: &RequestView) {
    let holder = match view.holder {
        Some(desk::Holder::Duty) => "the duty team",
        Some(desk::Holder::Applicant) => "the applicant",
        None => "nobody (answered)",
    };
    println!("holder       {holder}");
    if let Some(due) = view.due {
        println!("due          {due}{}", if view.overdue { " (overdue)" } else { "" });
    }
    if let Some(c) = &view.application.conditions {
        println!("conditions   {} issued {}, valid through {}", c.number, c.issued, c.expires);
    }
    if let Some(through) = view.application.valid_through {
        println!("valid        through {through}");
    }
    if let Some(from) = view.resubmit_from {
        println!("resubmit_from {from}");
    }
    if let Some(due) = view.reported_late {
        println!("reported late: the change was to be reported by {due}");
    }
}

/// Today in Kazakhstan, or the day given with --at under the test clock.
fn today(at: Option<&str>) -> anyhow::Result<Date> {
    let Some(at) = at else { return Ok(day_of(store::now_ms())) };
    if !std::env::var("PERIMETER_TEST_CLOCK").is_ok_and(|v| v == "1") {
        anyhow::bail!("--at is for tests only (PERIMETER_TEST_CLOCK=1); the desk uses the real clock");
    }
    match at.parse::<Date>() {
        Ok(day) => Ok(day),
        Err(_) => Ok(day_of(parse_instant(at)?)),
    }
}

fn explain(e: DeskError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The application and the transition a command asks for, if it is one.
fn transition_of(cmd: &RequestCmd) -> Option<(i64, Action)> {
    let reason = |r: &crate::cli::Reason| r.reason.clone();
    let pair = match cmd {
        RequestCmd::Check { id } => (*id, Action::Check),
        RequestCmd::Conditions { id, number, items: i } => {
            let items = desk::conditions::Items {
                connection_point: i.connection_point.clone(),
                interface: i.interface.clone(),
                channels: i.channels.clone(),
                patch_cords: i.patch_cords.clone(),
                labelling: i.labelling.clone(),
                works: i.works.clone(),
            };
            (*id, Action::Conditions { number: number.clone(), items })
        }
        RequestCmd::Ready { id } => (*id, Action::Ready),
        RequestCmd::Nonconform { id, reason: r } => (*id, Action::NonConformities { reason: reason(r) }),
        RequestCmd::Extend { id } => (*id, Action::Extend),
        RequestCmd::Connect { id } => (*id, Action::Connect),
        RequestCmd::Apply { id } => (*id, Action::Apply),
        RequestCmd::Close { id, note } => (*id, Action::Close { note: note.clone() }),
        RequestCmd::Refuse { id, reason: r } => (*id, Action::Refuse { reason: reason(r) }),
        RequestCmd::Disconnect { id, reason: r, at } => (*id, Action::Disconnect { reason: reason(r), at: at.clone() }),
        _ => return None,
    };
    Some(pair)
}

/// The fields from a JSON file and KEY=VALUE pairs (a value that reads as JSON, such
/// as a number, is taken as such; a repeated key makes a list).
fn fields_of(file: Option<&std::path::Path>, set: &[String]) -> anyhow::Result<Value> {
    let mut fields = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?
        }
        None => Value::Object(Map::new()),
    };
    let object = fields.as_object_mut().context("the fields file must hold a JSON object")?;
    for pair in set {
        let (key, value) = pair.split_once('=').with_context(|| format!("--set {pair}: write KEY=VALUE"))?;
        let value = match value.strip_prefix('@') {
            Some(path) => serde_json::Value::String(
                std::fs::read_to_string(path).with_context(|| format!("--set {key}=@{path}: cannot read the file"))?,
            ),
            None => input::typed(value),
        };
        input::set(object, key, value);
    }
    Ok(fields)
}
