//! `perimeter request`: file applications, list and show them with who holds each and
//! when its step is due, attach files, and one verb per transition.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use desk::{Action, Applicant, Kind};
use policies::calendar::Date;
use serde_json::{Map, Value, json};
use store::Store;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::output::{parse_instant, when};
use crate::app::requests::{Desk, DeskError, Filing, RequestView, day_of, input};
use crate::config::Config;

#[derive(Args, Debug)]
pub struct RequestArgs {
    /// Pretend it is this day or time (YYYY-MM-DD or RFC 3339). Only honoured when
    /// PERIMETER_TEST_CLOCK=1, for tests; production always uses the real clock.
    #[arg(long, hide = true)]
    pub at: Option<String>,
    #[command(subcommand)]
    pub command: RequestCmd,
}

/// The words a transition carries.
#[derive(Args, Debug)]
pub struct Reason {
    /// Why (sent to the applicant).
    #[arg(long)]
    pub reason: String,
}

#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    /// File an application of KIND: operator-link, yearly-lists, risky-service, waf,
    /// defacement, resource-change, incident, mail-connection or mail-disconnection.
    ///
    /// Fields come from --fields FILE (a JSON object) and --set KEY=VALUE (repeat;
    /// lists as comma-separated values; KEY=@FILE reads the value from a file, e.g.
    /// certificate=@site.pem; a specialist's parts as specialists.0.name,
    /// specialists.0.email, specialists.0.work_phone, specialists.0.mobile). Every
    /// problem is reported at once, each with its field.
    File {
        kind: String,
        /// operator:NAME or org:BIN.
        #[arg(long)]
        applicant: String,
        /// An e-mail address every answer is sent to (repeat for several).
        #[arg(long = "contact", value_name = "EMAIL", required = true)]
        contacts: Vec<String>,
        #[arg(long, value_name = "FILE")]
        fields: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The application signed with the organisation's digital signature (CMS, e.g.
        /// .p7s, content attached); required for yearly-lists and risky-service when
        /// `[desk] trust_anchors` is set, and its signer's BIN must be the applicant's.
        #[arg(long, value_name = "FILE")]
        signed: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Applications, overdue first, then by due day.
    List {
        /// Only those past their due day.
        #[arg(long)]
        overdue: bool,
        /// Only those due within this many working days (overdue ones included).
        #[arg(long, value_name = "DAYS")]
        due_within: Option<u32>,
        /// Only this applicant's (operator:NAME or org:BIN).
        #[arg(long)]
        applicant: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One application: state, holder, due day, fields, timeline, attachments.
    Show {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Attach a file (PDF, PNG, JPEG, PKCS#7, text or CSV; at most 10 MiB).
    Attach {
        id: i64,
        file: PathBuf,
        /// Its content type (default: from the file name).
        #[arg(long = "type")]
        content_type: Option<String>,
    },
    /// Mail connection: eligibility and technical possibility checked.
    Check { id: i64 },
    /// Operator link: issue technical conditions item by item (IQBSH appendix 2; valid
    /// 60 calendar days). Items left out are the regulation's text. The operator is
    /// e-mailed them as a PDF in Russian and Kazakh, also attached to the application.
    Conditions {
        id: i64,
        #[arg(long)]
        number: String,
        #[command(flatten)]
        items: ConditionItems,
    },
    /// Operator link: the operator reports readiness.
    Ready { id: i64 },
    /// Operator link: non-conformities found (the operator has 5 working days).
    Nonconform {
        id: i64,
        #[command(flatten)]
        reason: Reason,
    },
    /// Operator link: extend the technical conditions by 60 days (at least 10 days
    /// before they expire).
    Extend { id: i64 },
    /// Connect (operator link, WAF, defacement protection, mail system: a mail system
    /// is created in the registry).
    Connect { id: i64 },
    /// Apply yearly lists or a risky service (valid one calendar year), or a mail
    /// system's disconnection letter (the system is disconnected in the registry, now
    /// or from the agreed day).
    Apply { id: i64 },
    /// Close a reported change or incident.
    Close {
        id: i64,
        #[arg(long)]
        note: String,
    },
    /// Refuse, with reasons (a WAF, defacement or mail connection may be applied for
    /// again for the same site or mail domain after 30 calendar days; the other kinds at
    /// once).
    Refuse {
        id: i64,
        #[command(flatten)]
        reason: Reason,
    },
    /// Disconnect a connected mail system, now or at the time agreed with its owner.
    Disconnect {
        id: i64,
        #[command(flatten)]
        reason: Reason,
        /// The agreed time (RFC 3339); the relay disconnects the system then.
        #[arg(long)]
        at: Option<String>,
    },
    /// Record the lapse of technical conditions that expired without an extension, and
    /// remind organisations whose policies lapse within `[policies] remind_days`
    /// (`perimeter up` does this on its own every `notices.interval`).
    Sweep,
    /// Bring a policy file's organisations to the desk: each organisation's lists become
    /// a yearly-lists application (applied on the day granted, or pending) with the
    /// networks the catalog holds for it, each granted risky category an applied
    /// risky-service application. All or nothing; an organisation that already has
    /// such applications at the desk refuses the import.
    Import {
        /// A policy file (the format `perimeter policy export` writes).
        file: PathBuf,
        /// Where the imported applications' e-mails go (the file names no contacts).
        #[arg(long = "contact", value_name = "EMAIL", required = true)]
        contacts: Vec<String>,
    },
}

/// The items of technical conditions (IQBSH appendix 2, 2.3–2.8).
#[derive(Args, Debug)]
pub struct ConditionItems {
    /// 2.3: where the channels are connected (rack, shelf, ports).
    #[arg(long)]
    pub connection_point: String,
    /// 2.4 (default "10G, full-duplex, SM").
    #[arg(long)]
    pub interface: Option<String>,
    /// 2.5 (default: main and backup over independent physical channels).
    #[arg(long)]
    pub channels: Option<String>,
    /// 2.6 (default: SC-LC patch cords between the optical shelves in corrugated pipe).
    #[arg(long)]
    pub patch_cords: Option<String>,
    /// 2.7 (default: patch cords labelled with their owner).
    #[arg(long)]
    pub labelling: Option<String>,
    /// 2.8 (default: works agreed with the duty team beforehand).
    #[arg(long)]
    pub works: Option<String>,
}

pub async fn run(config: &Config, store: Store, args: RequestArgs) -> anyhow::Result<ExitCode> {
    let today = today(args.at.as_deref())?;
    let desk = config.desk(store)?;
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
            let imported = crate::app::requests::import::policy_file(&desk.store, &actor, &file, &contacts).await?;
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
    let reason = |r: &Reason| r.reason.clone();
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
