//! The audit trail in the console: who changed what and when, filtered by subject,
//! actor, action and dates (Astana days), keyset-paginated, exported as CSV. Operators'
//! staff see their operator's changes only, as through the API.
//!
//! Must not: show an operator another operator's changes.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use store::{AuditFilter, PageRequest, UserRole};

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::rules::all_pages;
use super::view::{self, given, pager, when};

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    subject: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<i64>,
    before: Option<i64>,
    format: Option<String>,
}

fn day_start(text: &Option<String>, next: bool) -> Result<Option<i64>> {
    let Some(text) = given(text) else { return Ok(None) };
    let (start, end) = crate::app::output::parse_day(&text).map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    Ok(Some(if next { end } else { start }))
}

pub async fn page(State(console): State<Console>, person: Person, Query(q): Query<AuditQuery>) -> Result<Response> {
    let lang = person.lang;
    let subject = match (person.role(), given(&q.subject)) {
        (UserRole::Operator { operator }, None) => Some(format!("operator:{operator}")),
        (UserRole::Operator { operator }, Some(s)) if s == format!("operator:{operator}") => Some(s),
        (UserRole::Operator { .. }, Some(_)) => {
            return Err(ConsoleError::forbidden("operators see only their own operator's changes"));
        }
        (_, subject) => subject,
    };
    let filter = AuditFilter {
        subject,
        actor: given(&q.actor),
        action: given(&q.action),
        from: day_start(&q.from, false)?,
        to: day_start(&q.to, true)?,
    };
    let store = &console.app.store;
    if q.format.as_deref() == Some("csv") {
        let f = &filter;
        let rows = all_pages(move |p| async move { store.changes_page(f, &p).await }).await?;
        let header = ["id", "at", "actor", "action", "subject", "before", "after"];
        return Ok(view::csv(
            "audit.csv",
            &header,
            rows.into_iter().map(|c| {
                vec![
                    c.id.to_string(),
                    crate::app::output::when(c.at),
                    c.actor,
                    c.action,
                    c.subject,
                    c.before.map(|v| v.to_string()).unwrap_or_default(),
                    c.after.map(|v| v.to_string()).unwrap_or_default(),
                ]
            }),
        ));
    }
    let page = store.changes_page(&filter, &PageRequest { after: q.after, before: q.before, limit: 50 }).await?;
    let filters = [
        ("subject", filter.subject.clone()),
        ("actor", filter.actor.clone()),
        ("action", filter.action.clone()),
        ("from", given(&q.from)),
        ("to", given(&q.to)),
    ];
    let own = person.role().own_operator().is_some();
    let body = html! {
        form.filters method="get" action="/audit" {
            @if !own { label { (lang.t("col.subject")) input name="subject" value=[filter.subject.as_deref()] placeholder="block:198.51.100.7/32"; } }
            label { (lang.t("col.by")) input name="actor" value=[filter.actor.as_deref()] placeholder="user:NAME"; }
            label { (lang.t("col.action")) input name="action" value=[filter.action.as_deref()] placeholder="block."; }
            label { (lang.t("filter.from")) input type="date" name="from" value=[given(&q.from)]; }
            label { (lang.t("filter.to")) input type="date" name="to" value=[given(&q.to)]; }
            button type="submit" { (lang.t("action.filter")) }
        }
        @if page.rows.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #audit {
                thead { tr { th { "#" } th { (lang.t("col.when")) } th { (lang.t("col.by")) } th { (lang.t("col.action")) }
                    th { (lang.t("col.subject")) } th { (lang.t("col.details")) } } }
                tbody { @for c in &page.rows { tr {
                    td { (c.id) } td { (when(lang, c.at)) } td { (c.actor) } td { (c.action) } td.mono { (c.subject) }
                    td.json { (c.after.as_ref().or(c.before.as_ref()).map(ToString::to_string).unwrap_or_default()) }
                } } }
            }
        }
        (pager(lang, "/audit", &filters, &page))
    };
    Ok(view::page(&person, lang.t("nav.audit"), "audit", body).into_response())
}
