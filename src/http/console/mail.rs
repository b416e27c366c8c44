//! Mail systems in the console (duty team and auditors): the list with the relay's
//! queue, one system with its history and the traffic watch's counters against the
//! learnt baseline, and the duty team's actions — suspend, resume, release or delete
//! held mail after review — each audited under the person's name.
//!
//! Must not: be shown to operators' staff.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use policies::MailStatus;
use serde::Deserialize;
use serde_json::json;
use store::AuditFilter;

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::i18n::Lang;
use super::view::{self, csrf, when};
use crate::http::body::Unread;

fn require_staff(person: &Person) -> Result<()> {
    match person.role().own_operator() {
        Some(_) => Err(ConsoleError::forbidden("mail systems are for the duty team")),
        None => Ok(()),
    }
}

pub async fn systems(State(console): State<Console>, person: Person) -> Result<Response> {
    require_staff(&person)?;
    let lang = person.lang;
    let systems = console.app.store.mail_systems().await?;
    let queue = console.app.mail.as_deref().map(|g| (g.relay.queue_summary(), g.registry.load()));
    let body = html! {
        table #mail-systems {
            thead { tr {
                th { (lang.t("col.system")) } th { (lang.t("col.owner")) } th { (lang.t("col.domains")) }
                th { (lang.t("col.servers")) } th { (lang.t("col.status")) } th { (lang.t("col.since")) }
                th { (lang.t("col.reason")) }
            } }
            tbody { @for s in &systems { tr class=(format!("status-{}", s.status)) {
                td { a href={ "/mail/" (s.name) } { (s.name) } } td.mono { (s.owner_bin) }
                td { (s.domains.join(", ")) }
                td.mono { (s.servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                td { (lang.t(&format!("mail.{}", s.status))) } td { (when(lang, s.status_since)) }
                td { (s.status_reason.as_deref().unwrap_or("")) }
            } } }
        }
        h2 { (lang.t("mail.queue")) }
        @match &queue {
            None => p.empty { (lang.t("mail.relay_off")) },
            Some((lines, registry)) => {
                @if lines.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                    table #mail-queue {
                        thead { tr { th { (lang.t("col.system")) } th { (lang.t("col.queued")) } th { (lang.t("col.held")) }
                            th { (lang.t("col.deferred")) } th { (lang.t("col.oldest")) } } }
                        tbody { @for q in lines { tr {
                            td { (q.system.and_then(|id| registry.get(id)).map(|s| s.name.clone()).unwrap_or_else(|| "—".into())) }
                            td.num { (q.queued) } td.num { (q.held) } td.num { (q.deferred) }
                            td { (q.oldest.map(|t| when(lang, (t.unix_timestamp_nanos() / 1_000_000) as i64)).unwrap_or_default()) }
                        } } }
                    }
                }
            }
        }
    };
    Ok(view::page(&person, lang.t("nav.mail"), "mail", body).into_response())
}

pub async fn system(State(console): State<Console>, person: Person, Path(name): Path<String>) -> Result<Response> {
    require_staff(&person)?;
    let lang = person.lang;
    let store = &console.app.store;
    let system = store.mail_system(&name).await?;
    let filter = AuditFilter { subject: Some(format!("mail:{name}")), ..Default::default() };
    let history = store.changes_page(&filter, &store::PageRequest::first(100)).await?;
    let live = console.app.mail.as_ref().and_then(|m| m.watch.as_deref());
    let traffic = crate::app::mail::traffic(store, live, system.id).await?;
    let held = console.app.mail.as_deref().and_then(|g| {
        let id = epbsh::SystemId::try_from(system.id).ok()?;
        Some(g.relay.queue_summary().into_iter().find(|q| q.system == Some(id)).map_or(0, |q| q.held))
    });
    let body = html! {
        dl.facts {
            dt { (lang.t("col.status")) } dd #status { (lang.t(&format!("mail.{}", system.status))) }
            dt { (lang.t("col.reason")) } dd { (system.status_reason.as_deref().unwrap_or("—")) }
            dt { (lang.t("col.since")) } dd { (when(lang, system.status_since)) }
            dt { (lang.t("col.owner")) } dd.mono { (system.owner_bin) }
            dt { (lang.t("col.domains")) } dd { (system.domains.join(", ")) }
            dt { (lang.t("col.servers")) } dd.mono { (system.servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
            dt { (lang.t("col.contacts")) } dd { (system.contacts.join(", ")) }
            dt { (lang.t("col.held")) } dd #held { (held.map_or_else(|| "—".to_string(), |n| n.to_string())) }
            @if let Some(at) = system.disconnect_at { dt { (lang.t("mail.disconnect_at")) } dd { (when(lang, at)) } }
        }
        @if person.is_duty() && system.status != MailStatus::Disconnected { (actions(&person, &name, system.status)) }
        h2 { (lang.t("mail.traffic")) }
        @match &traffic {
            None => p.empty { (lang.t("list.none")) },
            Some(w) => (traffic_chart(lang, w)),
        }
        h2 { (lang.t("mail.history")) }
        table #history {
            thead { tr { th { (lang.t("col.when")) } th { (lang.t("col.by")) } th { (lang.t("col.action")) } th { (lang.t("col.details")) } } }
            tbody { @for c in &history.rows { tr {
                td { (when(lang, c.at)) } td { (c.actor) } td { (c.action) }
                td.json { (c.after.as_ref().map(ToString::to_string).unwrap_or_default()) }
            } } }
        }
    };
    Ok(view::page(&person, &format!("{} {name}", lang.t("col.system")), "mail", body).into_response())
}

fn actions(person: &Person, name: &str, status: MailStatus) -> Markup {
    let lang = person.lang;
    html! {
        section.actions {
            form #status-form method="post" action={ "/mail/" (name) "/status" } {
                (csrf(person))
                @if status == MailStatus::Suspended {
                    input type="hidden" name="status" value="active";
                    label { (lang.t("col.reason")) input name="reason" required; }
                    button type="submit" { (lang.t("action.resume")) }
                } @else {
                    input type="hidden" name="status" value="suspended";
                    label { (lang.t("col.reason")) input name="reason" required; }
                    button.danger type="submit" { (lang.t("action.suspend")) }
                }
            }
            @if status == MailStatus::Suspended {
                form #held-form method="post" action={ "/mail/" (name) "/held" } {
                    (csrf(person))
                    input type="hidden" name="action" value="delete";
                    label { (lang.t("mail.delete_reason")) input name="reason" required; }
                    label.check { input type="checkbox" name="reviewed" value="yes" required; (lang.t("mail.reviewed")) }
                    button.danger type="submit" { (lang.t("action.delete_held")) }
                }
            }
        }
    }
}

/// The current window's counters as bars, each against the learnt baseline (a mark).
fn traffic_chart(lang: Lang, watch: &epbsh::watch::SystemWatch) -> Markup {
    let (w, b) = (&watch.counters.window, &watch.counters.baseline);
    let rows: [(&str, f64, Option<f64>); 5] = [
        ("messages", w.messages as f64, Some(b.messages)),
        ("recipients", w.recipients as f64, Some(b.recipients)),
        ("domains", w.domains.len() as f64, Some(b.domains)),
        ("rejected", w.rejected as f64, None),
        ("bounces", w.bounces as f64, None),
    ];
    let max = rows.iter().map(|(_, c, b)| c.max(b.unwrap_or(0.0))).fold(1.0_f64, f64::max);
    let x = |v: f64| format!("{:.1}", 130.0 + 250.0 * v / max);
    html! {
        p { (lang.t("mail.window_since")) " " (when(lang, w.start_ms as i64)) " · " (lang.t("mail.learnt")) " " (b.windows)
            @if let Some(why) = &watch.suspended { " · " strong { (why) } } }
        svg.chart viewBox="0 0 400 130" role="img" aria-label=(lang.t("mail.traffic")) {
            @for (i, (name, current, baseline)) in rows.iter().enumerate() {
                @let y = i * 25 + 4;
                text x="0" y=(y + 13) { (lang.t(&format!("watch.{name}"))) " " (current) }
                rect.current x="130" y=(y) height="16" width=(format!("{:.1}", 250.0 * current / max)) {}
                @if let Some(b) = baseline {
                    line.baseline x1=(x(*b)) x2=(x(*b)) y1=(y) y2=(y + 18) {}
                }
            }
        }
        @if !watch.findings.is_empty() {
            ul.findings { @for f in &watch.findings { li { (serde_json::to_string(f).unwrap_or_default()) } } }
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: MailStatus,
    #[serde(default)]
    reason: String,
}

/// Suspends or resumes a system (audited by the store under the person's name).
pub async fn set_status(
    State(console): State<Console>,
    person: Person,
    Path(name): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    let f: StatusForm = person.form(body).await?;
    if f.status == MailStatus::Disconnected {
        return Err(ConsoleError::bad_request("disconnect a system with `perimeter mail disconnect` or the API"));
    }
    console.app.store.set_mail_status(&person.actor(), &name, f.status, &f.reason).await?;
    Ok(Redirect::to(&format!("/mail/{name}")).into_response())
}

#[derive(Deserialize)]
pub struct HeldForm {
    action: String,
    #[serde(default)]
    reason: String,
    reviewed: Option<String>,
}

/// Deletes (after review) or releases a suspended system's held mail.
pub async fn held(
    State(console): State<Console>,
    person: Person,
    Path(name): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    let f: HeldForm = person.form(body).await?;
    if f.reason.trim().is_empty() {
        return Err(ConsoleError::bad_request("a reason is required"));
    }
    let store = &console.app.store;
    let record = store.mail_system(&name).await?;
    match (f.action.as_str(), console.app.mail.as_deref()) {
        ("delete", _) if f.reviewed.as_deref() != Some("yes") => {
            return Err(ConsoleError::bad_request("confirm that the held mail was reviewed"));
        }
        ("delete", None) => {
            store.request_held_deletion(&person.actor(), &name, &f.reason).await?;
        }
        (action @ ("delete" | "release"), Some(gateway)) => {
            let id = epbsh::SystemId::try_from(record.id).map_err(|e| ConsoleError::bad_request(e.to_string()))?;
            let result = match action {
                "release" => gateway.relay.release_held(id).await,
                _ => gateway.relay.delete_held(id).await,
            };
            let count = result.map_err(|e| ConsoleError::new(StatusCode::CONFLICT, e.to_string()))?;
            let event = json!({ "action": action, "messages": count, "reason": f.reason.trim() });
            store.record(&person.actor(), &format!("mail.held.{action}"), &format!("mail:{name}"), event).await?;
        }
        (other, _) => {
            return Err(ConsoleError::bad_request(format!("unknown action '{other}': use release or delete")));
        }
    }
    Ok(Redirect::to(&format!("/mail/{name}")).into_response())
}
