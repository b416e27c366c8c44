//! Rule 1 in the console: unknown addresses with their notice, deadline and working
//! days left; notices with their delivery; blocks, added and lifted several at once
//! with a reason (duty team). Lists are keyset-paginated with their filters in the URL
//! and export as CSV; operators' staff see only their operator's.
//!
//! Must not: block or lift for anyone but the duty team.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use policies::calendar::{Date, today};
use serde::Deserialize;
use store::{BlockFilter, Page, PageRequest, UnknownFilter};

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::view::{self, csrf, day_text, given, pager, when, working_days_left};
use crate::http::body::Unread;

const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    operator: Option<String>,
    status: Option<String>,
    ip: Option<String>,
    kind: Option<String>,
    all: Option<String>,
    after: Option<i64>,
    before: Option<i64>,
    format: Option<String>,
}

impl ListQuery {
    fn page(&self) -> PageRequest {
        PageRequest { after: self.after, before: self.before, limit: PAGE }
    }

    fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }
}

/// Reads every page of a list (for a CSV export), at most [`view::EXPORT_CAP`] rows.
pub async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = store::Result<Page<T>>>,
{
    let mut rows = Vec::new();
    let mut request = PageRequest::first(1000);
    loop {
        let page = fetch(request).await?;
        rows.extend(page.rows);
        match page.next {
            Some(after) if rows.len() < view::EXPORT_CAP => request.after = Some(after),
            _ => return Ok(rows),
        }
    }
}

fn one_of(value: Option<String>, allowed: &[&str], what: &str) -> Result<Option<String>> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => {
            Err(ConsoleError::bad_request(format!("{what} '{v}': use one of {}", allowed.join(", "))))
        }
        v => Ok(v),
    }
}

pub async fn unknown(State(console): State<Console>, person: Person, Query(q): Query<ListQuery>) -> Result<Response> {
    let lang = person.lang;
    let filter = UnknownFilter {
        operator: person.scope(given(&q.operator))?,
        status: one_of(given(&q.status), &["open", "noticed", "blocked"], "status")?,
        ip: given(&q.ip),
    };
    let store = &console.app.store;
    let calendar = crate::app::calendar::open(&console.config.calendar)?;
    let today = today();
    let left = |d: &Option<String>| {
        d.as_deref().and_then(|d| d.parse::<Date>().ok()).map(|d| working_days_left(&calendar, today, d))
    };
    if q.csv() {
        let f = &filter;
        let rows = all_pages(move |p| async move { store.unknown_page(f, &p).await }).await?;
        let header = [
            "address",
            "operator",
            "link",
            "first_seen",
            "last_seen",
            "seen",
            "status",
            "notice",
            "deadline",
            "working_days_left",
        ];
        return Ok(view::csv(
            "unknown.csv",
            &header,
            rows.into_iter().map(|(_, u)| {
                vec![
                    u.ip.clone(),
                    u.operator.clone(),
                    u.link.clone(),
                    crate::app::output::when(u.first_seen),
                    crate::app::output::when(u.last_seen),
                    u.seen.to_string(),
                    u.status.to_string(),
                    u.notice.map(|n| n.to_string()).unwrap_or_default(),
                    u.deadline_day.clone().unwrap_or_default(),
                    left(&u.deadline_day).map(|n| n.to_string()).unwrap_or_default(),
                ]
            }),
        ));
    }
    let page = store.unknown_page(&filter, &q.page()).await?;
    let filters = [("operator", filter.operator.clone()), ("status", filter.status.clone()), ("ip", filter.ip.clone())];
    let own = person.role().own_operator().is_some();
    let body = html! {
        form.filters method="get" action="/unknown" {
            @if !own { label { (lang.t("col.operator")) input name="operator" value=[filter.operator.as_deref()]; } }
            label { (lang.t("col.status")) select name="status" {
                option value="" { (lang.t("filter.any")) }
                @for s in ["open", "noticed", "blocked"] {
                    option value=(s) selected[filter.status.as_deref() == Some(s)] { (lang.t(&format!("status.{s}"))) }
                }
            } }
            label { (lang.t("col.address")) input name="ip" value=[filter.ip.as_deref()] placeholder="203.0.113."; }
            button type="submit" { (lang.t("action.filter")) }
        }
        @if page.rows.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #unknown {
                thead { tr {
                    th { (lang.t("col.address")) } th { (lang.t("col.operator")) } th { (lang.t("col.link")) }
                    th { (lang.t("col.first_seen")) } th { (lang.t("col.last_seen")) } th { (lang.t("col.seen")) }
                    th { (lang.t("col.status")) } th { (lang.t("col.notice")) } th { (lang.t("col.deadline")) }
                    th { (lang.t("col.days_left")) }
                } }
                tbody { @for (_, u) in &page.rows { tr {
                    td.mono { (u.ip) } td { (u.operator) } td { (u.link) }
                    td { (when(lang, u.first_seen)) } td { (when(lang, u.last_seen)) } td.num { (u.seen) }
                    td { (lang.t(&format!("status.{}", u.status))) }
                    td { @if let Some(n) = u.notice { "#" (n) } }
                    td.deadline { (u.deadline_day.as_deref().map(|d| day_text(lang, d)).unwrap_or_default()) }
                    td.num { (left(&u.deadline_day).map(|n| n.to_string()).unwrap_or_default()) }
                } } }
            }
        }
        (pager(lang, "/unknown", &filters, &page))
    };
    Ok(view::page(&person, lang.t("nav.unknown"), "unknown", body).into_response())
}

pub async fn notices(State(console): State<Console>, person: Person, Query(q): Query<ListQuery>) -> Result<Response> {
    let lang = person.lang;
    let operator = person.scope(given(&q.operator))?;
    let status = one_of(given(&q.status), &["pending", "sent", "failed"], "status")?;
    let store = &console.app.store;
    if q.csv() {
        let (op, st) = (operator.as_deref(), status.as_deref());
        let rows = all_pages(move |p| async move { store.notices_page(op, st, &p).await }).await?;
        let header =
            ["id", "operator", "created", "recipients", "addresses", "status", "attempts", "error", "sent", "deadline"];
        return Ok(view::csv(
            "notices.csv",
            &header,
            rows.into_iter().map(|n| {
                vec![
                    n.id.to_string(),
                    n.operator,
                    crate::app::output::when(n.created_at),
                    n.recipients.join(" "),
                    n.addresses.to_string(),
                    n.status.to_string(),
                    n.attempts.to_string(),
                    n.last_error.unwrap_or_default(),
                    n.sent_at.map(crate::app::output::when).unwrap_or_default(),
                    n.deadline_day.unwrap_or_default(),
                ]
            }),
        ));
    }
    let page = store.notices_page(operator.as_deref(), status.as_deref(), &q.page()).await?;
    let filters = [("operator", operator.clone()), ("status", status.clone())];
    let own = person.role().own_operator().is_some();
    let body = html! {
        form.filters method="get" action="/notices" {
            @if !own { label { (lang.t("col.operator")) input name="operator" value=[operator.as_deref()]; } }
            label { (lang.t("col.status")) select name="status" {
                option value="" { (lang.t("filter.any")) }
                @for s in ["pending", "sent", "failed"] {
                    option value=(s) selected[status.as_deref() == Some(s)] { (lang.t(&format!("status.{s}"))) }
                }
            } }
            button type="submit" { (lang.t("action.filter")) }
        }
        @if page.rows.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #notices {
                thead { tr {
                    th { "#" } th { (lang.t("col.operator")) } th { (lang.t("col.created")) }
                    th { (lang.t("col.recipients")) } th { (lang.t("col.addresses")) } th { (lang.t("col.status")) }
                    th { (lang.t("col.attempts")) } th { (lang.t("col.sent")) } th { (lang.t("col.deadline")) }
                    th { (lang.t("col.error")) }
                } }
                tbody { @for n in &page.rows { tr class=(format!("status-{}", n.status)) {
                    td { (n.id) } td { (n.operator) } td { (when(lang, n.created_at)) }
                    td { (n.recipients.join(", ")) } td.num { (n.addresses) }
                    td { (lang.t(&format!("status.{}", n.status))) } td.num { (n.attempts) }
                    td { (n.sent_at.map(|t| when(lang, t)).unwrap_or_default()) }
                    td { (n.deadline_day.as_deref().map(|d| day_text(lang, d)).unwrap_or_default()) }
                    td { (n.last_error.as_deref().unwrap_or("")) }
                } } }
            }
        }
        (pager(lang, "/notices", &filters, &page))
    };
    Ok(view::page(&person, lang.t("nav.notices"), "notices", body).into_response())
}

pub async fn blocks(State(console): State<Console>, person: Person, Query(q): Query<ListQuery>) -> Result<Response> {
    let lang = person.lang;
    let filter = BlockFilter {
        all: q.all.as_deref() == Some("true"),
        kind: one_of(given(&q.kind), &["auto", "manual"], "kind")?,
        operator: person.scope(given(&q.operator))?,
        ip: None,
    };
    let prefix = given(&q.ip);
    let store = &console.app.store;
    if q.csv() {
        let (f, pre) = (&filter, prefix.as_deref());
        let rows = all_pages(move |p| async move { store.blocks_page(f, pre, &p).await }).await?;
        let header = ["prefix", "kind", "operator", "reason", "since", "by", "lifted", "lifted_by", "lift_reason"];
        return Ok(view::csv(
            "blocks.csv",
            &header,
            rows.into_iter().map(|b| {
                vec![
                    b.prefix.to_string(),
                    b.kind.to_string(),
                    b.operator.unwrap_or_default(),
                    b.reason,
                    crate::app::output::when(b.since),
                    b.actor,
                    b.lifted_at.map(crate::app::output::when).unwrap_or_default(),
                    b.lifted_by.unwrap_or_default(),
                    b.lift_reason.unwrap_or_default(),
                ]
            }),
        ));
    }
    let page = store.blocks_page(&filter, prefix.as_deref(), &q.page()).await?;
    let filters = [
        ("operator", filter.operator.clone()),
        ("kind", filter.kind.clone()),
        ("ip", prefix.clone()),
        ("all", filter.all.then(|| "true".to_string())),
    ];
    let duty = person.is_duty();
    let own = person.role().own_operator().is_some();
    let body = html! {
        @if duty {
            section.panel {
                h2 { (lang.t("blocks.add")) }
                form #add-blocks method="post" action="/blocks" {
                    (csrf(&person))
                    label { (lang.t("blocks.targets")) textarea name="targets" rows="3" required placeholder="198.51.100.7\n203.0.113.0/24" {} }
                    label { (lang.t("col.reason")) input name="reason" required; }
                    button type="submit" { (lang.t("action.block")) }
                }
            }
        }
        form.filters method="get" action="/blocks" {
            @if !own { label { (lang.t("col.operator")) input name="operator" value=[filter.operator.as_deref()]; } }
            label { (lang.t("col.kind")) select name="kind" {
                option value="" { (lang.t("filter.any")) }
                @for k in ["auto", "manual"] { option value=(k) selected[filter.kind.as_deref() == Some(k)] { (lang.t(&format!("kind.{k}"))) } }
            } }
            label { (lang.t("col.prefix")) input name="ip" value=[prefix.as_deref()]; }
            label.check { input type="checkbox" name="all" value="true" checked[filter.all]; (lang.t("blocks.include_lifted")) }
            button type="submit" { (lang.t("action.filter")) }
        }
        @if page.rows.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            form #lift-blocks method="post" action="/blocks/lift" {
                (csrf(&person))
                table #blocks {
                    thead { tr {
                        @if duty { th { input type="checkbox" data-select-all="target" aria-label=(lang.t("action.select_all")); } }
                        th { (lang.t("col.prefix")) } th { (lang.t("col.kind")) } th { (lang.t("col.operator")) }
                        th { (lang.t("col.reason")) } th { (lang.t("col.since")) } th { (lang.t("col.by")) }
                        th { (lang.t("col.lifted")) }
                    } }
                    tbody { @for b in &page.rows { tr {
                        @if duty { td { @if b.lifted_at.is_none() { input type="checkbox" name="target" value=(b.prefix); } } }
                        td.mono { (b.prefix) } td { (lang.t(&format!("kind.{}", b.kind))) }
                        td { (b.operator.as_deref().unwrap_or("")) } td { (b.reason) }
                        td { (when(lang, b.since)) } td { (b.actor) }
                        td { @if let Some(at) = b.lifted_at {
                            (when(lang, at)) " · " (b.lifted_by.as_deref().unwrap_or("")) ": " (b.lift_reason.as_deref().unwrap_or(""))
                        } }
                    } } }
                }
                @if duty {
                    div.actions {
                        label { (lang.t("blocks.lift_reason")) input name="reason"; }
                        button type="submit" { (lang.t("action.lift")) }
                    }
                }
            }
        }
        (pager(lang, "/blocks", &filters, &page))
    };
    Ok(view::page(&person, lang.t("nav.blocks"), "blocks", body).into_response())
}

#[derive(Deserialize)]
pub struct AddBlocks {
    #[serde(default)]
    targets: String,
    #[serde(default)]
    reason: String,
}

/// Blocks every address or prefix given, one per line (or separated by spaces/commas).
pub async fn add_blocks(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    person.require_duty()?;
    let f: AddBlocks = person.form(body).await?;
    let targets: Vec<String> =
        f.targets.split([',', ' ', '\n', '\r', '\t']).filter(|t| !t.is_empty()).map(String::from).collect();
    change(&console, &person, targets, &f.reason, true).await
}

/// Lifting needs the same form shape, but targets come as repeated checkbox fields.
pub async fn lift_blocks(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    person.require_duty()?;
    let pairs: Vec<(String, String)> = person.form(body).await?;
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let targets = pairs.iter().filter(|(k, _)| k == "target").map(|(_, v)| v.clone()).collect();
    change(&console, &person, targets, &field("reason").unwrap_or_default(), false).await
}

/// Applies each block or lift on its own (each audited under the person's name) and
/// shows what happened to every target.
async fn change(console: &Console, person: &Person, targets: Vec<String>, reason: &str, add: bool) -> Result<Response> {
    let lang = person.lang;
    if targets.is_empty() {
        return Err(ConsoleError::bad_request("name at least one address or prefix"));
    }
    if reason.trim().is_empty() {
        return Err(ConsoleError::bad_request("a reason is required"));
    }
    let store = &console.app.store;
    let mut results = Vec::with_capacity(targets.len());
    for t in targets.iter().take(1000) {
        let outcome = match crate::app::catalog::target(t) {
            Err(e) => Err(e.to_string()),
            Ok(net) if add => store.block(&person.actor(), net, reason).await.map(|_| ()).map_err(|e| e.to_string()),
            Ok(net) => store.unblock(&person.actor(), net, reason).await.map(|_| ()).map_err(|e| e.to_string()),
        };
        results.push((t.clone(), outcome));
    }
    let _ = console.app.nudge.try_send(());
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let status = if failed == results.len() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let done_key = if add { "blocks.blocked" } else { "blocks.lifted" };
    let body = html! {
        ul #results { @for (t, r) in &results { @match r {
            Ok(()) => li.ok { span.mono { (t) } " — " (lang.t(done_key)) },
            Err(e) => li.problem { span.mono { (t) } " — " (e) },
        } } }
        p { a href="/blocks" { (lang.t("nav.blocks")) } }
    };
    let title = if add { lang.t("blocks.add") } else { lang.t("action.lift") };
    Ok((status, view::page(person, title, "blocks", body)).into_response())
}
