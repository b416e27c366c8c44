//! The duty team's first page, "Today": what needs attention now — deadlines in the
//! next three working days, new unknown addresses, today's blocks, notices that did not
//! go out, suspended mail systems and their held mail, policies about to lapse (the
//! file's and the request desk's), requests overdue (the policy file's and the desk's
//! applications), and the root CA's expiry.
//!
//! Must not: change anything.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use policies::MailStatus;
use policies::calendar::{Calendar, Date, today};
use store::UserRole;

use super::Console;
use super::auth::Person;
use super::error::Result;
use super::i18n::Lang;
use super::view::{self, day, day_text, when, working_days_left};

/// `/`: the duty team's Today, an operator's own list, an organisation's applications.
pub async fn home(person: Person) -> Response {
    match person.role() {
        UserRole::Operator { operator } => Redirect::to(&format!("/operators/{operator}")).into_response(),
        UserRole::Organisation { .. } => Redirect::to("/requests").into_response(),
        UserRole::Duty | UserRole::Auditor => Redirect::to("/today").into_response(),
    }
}

/// The last day of the next `n` working days after `from`.
fn after_working_days(calendar: &Calendar, from: Date, n: u32) -> Date {
    calendar.add_working_days(from, n)
}

pub async fn page(State(console): State<Console>, person: Person) -> Result<Response> {
    if let Some(op) = person.role().own_operator() {
        return Ok(Redirect::to(&format!("/operators/{op}")).into_response());
    }
    let lang = person.lang;
    let store = &console.app.store;
    let calendar = crate::app::calendar::open(&console.config.calendar)?;
    let today = today();
    let horizon = after_working_days(&calendar, today, 3);
    let (due, due_count) = store.unknown_due(None, &horizon.to_string(), 50).await?;
    let new_unknown = store.count_unknown(None, "open").await?;
    let blocked_today = store.blocks_since(catalog::reconcile::kz_midnight(today), None).await?;
    let undelivered = store.undelivered_notices(None).await?;
    let suspended: Vec<_> =
        store.mail_systems().await?.into_iter().filter(|s| s.status == MailStatus::Suspended).collect();
    let held = held_counts(&console);
    let requests = store.applications(&store::Visible::All).await?;
    let overdue_requests = requests.iter().filter(|r| console.app.desk.view(r, today).overdue).count();
    let desk_policies = crate::app::web::desk_policies(store).await?;
    let body = html! {
        section.cards {
            (card(lang, "today.due", due_count, "/unknown?status=noticed"))
            (card(lang, "today.new_unknown", new_unknown, "/unknown?status=open"))
            (card(lang, "today.blocked_today", blocked_today.len() as i64, "/blocks"))
            (card(lang, "today.undelivered", undelivered.len() as i64, "/notices?status=failed"))
            (card(lang, "today.suspended", suspended.len() as i64, "/mail"))
            (card(lang, "today.requests_overdue", overdue_requests as i64, "/requests"))
        }
        section {
            h2 { (lang.t("today.due")) " (" (day(lang, today)) " – " (day(lang, horizon)) ")" }
            @if due.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                table {
                    thead { tr { th { (lang.t("col.address")) } th { (lang.t("col.operator")) } th { (lang.t("col.link")) }
                        th { (lang.t("col.deadline")) } th { (lang.t("col.days_left")) } } }
                    tbody { @for u in &due { tr {
                        td.mono { (u.ip) } td { (u.operator) } td { (u.link) }
                        td { (u.deadline_day.as_deref().map(|d| day_text(lang, d)).unwrap_or_default()) }
                        td { (u.deadline_day.as_deref().and_then(|d| d.parse::<Date>().ok())
                            .map(|d| working_days_left(&calendar, today, d).to_string()).unwrap_or_default()) }
                    } } }
                }
            }
        }
        section {
            h2 { (lang.t("today.blocked_today")) }
            @if blocked_today.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                table {
                    thead { tr { th { (lang.t("col.prefix")) } th { (lang.t("col.kind")) } th { (lang.t("col.reason")) }
                        th { (lang.t("col.since")) } th { (lang.t("col.by")) } } }
                    tbody { @for b in &blocked_today { tr {
                        td.mono { (b.prefix) } td { (lang.t(&format!("kind.{}", b.kind))) } td { (b.reason) }
                        td { (when(lang, b.since)) } td { (b.actor) }
                    } } }
                }
            }
        }
        section {
            h2 { (lang.t("today.undelivered")) }
            @if undelivered.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                table {
                    thead { tr { th { "#" } th { (lang.t("col.operator")) } th { (lang.t("col.status")) }
                        th { (lang.t("col.attempts")) } th { (lang.t("col.error")) } } }
                    tbody { @for n in &undelivered { tr {
                        td { (n.id) } td { (n.operator) } td { (n.status) } td { (n.attempts) }
                        td { (n.last_error.as_deref().unwrap_or("")) }
                    } } }
                }
            }
        }
        section {
            h2 { (lang.t("today.suspended")) }
            @if suspended.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                table {
                    thead { tr { th { (lang.t("col.system")) } th { (lang.t("col.reason")) } th { (lang.t("col.since")) }
                        th { (lang.t("col.held")) } } }
                    tbody { @for s in &suspended { tr {
                        td { a href={ "/mail/" (s.name) } { (s.name) } }
                        td { (s.status_reason.as_deref().unwrap_or("")) } td { (when(lang, s.status_since)) }
                        td { (held.iter().find(|(id, _)| *id == s.id).map_or(0, |(_, n)| *n)) }
                    } } }
                }
            }
        }
        (policies_section(&console, desk_policies, lang, &calendar, today))
        (ca_section(&console, lang))
    };
    Ok(view::page(&person, lang.t("nav.today"), "today", body).into_response())
}

fn card(lang: Lang, key: &str, count: i64, href: &str) -> Markup {
    html! { a.card href=(href) { span.count { (count) } span.label { (lang.t(key)) } } }
}

/// Held messages per mail system id, from the running relay.
fn held_counts(console: &Console) -> Vec<(i64, usize)> {
    let Some(gateway) = console.app.mail.as_deref() else { return Vec::new() };
    gateway.relay.queue_summary().into_iter().filter_map(|q| q.system.map(|id| (i64::from(id.0), q.held))).collect()
}

/// Policies (from the file and the desk's applied applications) that lapse within 30
/// days, and the file's requests not applied in time.
fn policies_section(
    console: &Console,
    applied: Vec<policies::policy::OrgPolicy>,
    lang: Lang,
    calendar: &Calendar,
    today: Date,
) -> Markup {
    let mut book = match super::system::policy_book(&console.config) {
        Ok(book) => book,
        Err(e) => return html! { section { h2 { (lang.t("nav.policies")) } p.problem { (e) } } },
    };
    applied.into_iter().for_each(|org| book.merge(org));
    let soon = today.add_days(30);
    let mut lapsing: Vec<_> = book
        .organisations()
        .filter_map(|o| o.valid_through().map(|v| (o, v)))
        .filter(|(_, v)| *v >= today && *v <= soon)
        .collect();
    lapsing.sort_by_key(|(_, v)| *v);
    let overdue = book.overdue(calendar, today);
    html! {
        section {
            h2 { (lang.t("today.lapsing")) }
            @if lapsing.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                ul { @for (o, v) in &lapsing { li { (o.bin) " " (o.name) " — " (day(lang, *v)) } } }
            }
            h2 { (lang.t("today.overdue")) }
            @if overdue.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                ul { @for (o, by) in &overdue { li { (o.bin) " " (o.name) " — " (lang.t("col.due")) " " (day(lang, *by)) } } }
            }
        }
    }
}

fn ca_section(console: &Console, lang: Lang) -> Markup {
    let expiry = super::system::ca_expiry(&console.config);
    html! {
        section {
            h2 { (lang.t("today.ca")) }
            @match expiry {
                Ok(ms) => p { (lang.t("ca.valid_until")) " " (when(lang, ms)) " · " a href="/ca" { (lang.t("nav.ca")) } },
                Err(e) => p.problem { (e) },
            }
        }
    }
}
