//! The catalog in the console: operators and organisations, an operator's page with its
//! list (keyset-paginated, searchable by address and BIN), the operator portal's upload
//! (CSV or JSON → the dry-run diff and every problem with its line → confirm to apply),
//! export, and the address search (lookup now, history on a day).
//!
//! Must not: show or change another operator's data for an operator's staff (403), or
//! apply an upload before the person confirmed the diff they saw (uploads wait on disk,
//! `upload`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use catalog::format::ShownProblems;
use catalog::format::{self, Format};
use catalog::import::{Disclosure, Request as ImportRequest};
use catalog::{ImportError, ImportOutcome};
use maud::{Markup, html};
use policies::Bin;
use serde::Deserialize;
use store::PageRequest;

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::i18n::Lang;
use super::upload::Pending;
use super::view::{self, csrf, given, pager, when};
use crate::http::body::{Route, Unread};

/// Up to this many prefixes are counted exactly on an operator's page.
const COUNT_CAP: i64 = 10_000;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    /// Words the row must contain (name, BIN, contacts), any case.
    q: Option<String>,
    format: Option<String>,
}

impl SearchQuery {
    fn matches(&self, fields: &[&str]) -> bool {
        given(&self.q).is_none_or(|q| {
            let q = q.to_lowercase();
            fields.iter().any(|f| f.to_lowercase().contains(&q))
        })
    }

    fn form(&self, lang: Lang, action: &str) -> Markup {
        html! {
            form.filters method="get" action=(action) {
                label { (lang.t("action.search")) input name="q" value=[given(&self.q)]; }
                button type="submit" { (lang.t("action.filter")) }
                a href=(view::link(action, &[("q", given(&self.q)), ("format", Some("csv".into()))])) { "CSV" }
            }
        }
    }
}

pub async fn operators(
    State(console): State<Console>,
    person: Person,
    Query(q): Query<SearchQuery>,
) -> Result<Response> {
    if let Some(own) = person.role().own_operator() {
        return Ok(Redirect::to(&format!("/operators/{own}")).into_response());
    }
    let lang = person.lang;
    let mut ops = console.app.store.operators().await?;
    ops.retain(|o| q.matches(&[&o.name, &o.full_name, &o.contacts.join(" "), &o.links.join(" ")]));
    if q.format.as_deref() == Some("csv") {
        let rows = ops.into_iter().map(|o| vec![o.name, o.full_name, o.contacts.join(" "), o.links.join(" ")]);
        return Ok(view::csv("operators.csv", &["operator", "full_name", "contacts", "links"], rows));
    }
    let body = html! {
        (q.form(lang, "/operators"))
        table #operators {
            thead { tr { th { (lang.t("col.operator")) } th { (lang.t("col.full_name")) } th { (lang.t("col.contacts")) } th { (lang.t("col.links")) } } }
            tbody { @for o in &ops { tr {
                td { a href={ "/operators/" (o.name) } { (o.name) } } td { (o.full_name) }
                td { (o.contacts.join(", ")) } td { (o.links.join(", ")) }
            } } }
        }
    };
    Ok(view::page(&person, lang.t("nav.operators"), "operators", body).into_response())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    ip: Option<String>,
    bin: Option<String>,
    after: Option<i64>,
    before: Option<i64>,
    format: Option<String>,
}

pub async fn operator(
    State(console): State<Console>,
    person: Person,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    person.require_operator(&name)?;
    if q.format.is_some() {
        return export_as(&console, &name, q.format.as_deref()).await;
    }
    let lang = person.lang;
    let store = &console.app.store;
    let op = store.operator(&name).await?;
    let contains = match given(&q.ip) {
        Some(ip) => Some(ip.parse().map_err(|_| ConsoleError::bad_request(format!("'{ip}' is not an address")))?),
        None => None,
    };
    let bin: Option<Bin> = match given(&q.bin) {
        Some(b) => Some(b.parse().map_err(|e: policies::BinError| ConsoleError::bad_request(e.to_string()))?),
        None => None,
    };
    let page = store
        .list_page(&name, contains, bin.as_ref(), &PageRequest { after: q.after, before: q.before, limit: 50 })
        .await?;
    let count = store.count_list(&name, COUNT_CAP).await?;
    let orgs = store.organisations(Some(&name)).await?;
    let path = format!("/operators/{name}");
    let filters = [("ip", given(&q.ip)), ("bin", given(&q.bin))];
    let body = html! {
        dl.facts {
            dt { (lang.t("col.full_name")) } dd { (op.full_name) }
            dt { (lang.t("col.contacts")) } dd { (op.contacts.join(", ")) }
            dt { (lang.t("col.links")) } dd { (op.links.join(", ")) }
            dt { (lang.t("col.prefixes")) } dd #prefix-count { @if count > COUNT_CAP { (lang.t("list.more_than")) " " (COUNT_CAP) } @else { (count) } }
            dt { (lang.t("nav.organisations")) } dd { (orgs.len()) }
        }
        p.links {
            a href={ "/unknown?operator=" (name) } { (lang.t("nav.unknown")) } " · "
            a href={ "/notices?operator=" (name) } { (lang.t("nav.notices")) } " · "
            a href={ "/blocks?operator=" (name) } { (lang.t("nav.blocks")) } " · "
            a href={ (path) "/export?format=csv" } { (lang.t("list.export")) " CSV" } " · "
            a href={ (path) "/export?format=json" } { (lang.t("list.export")) " JSON" }
        }
        @if person.require_change(&name).is_ok() { (upload_form(&person, &name)) }
        h2 { (lang.t("list.title")) }
        form.filters method="get" action=(path) {
            label { (lang.t("list.contains")) input name="ip" value=[given(&q.ip)] placeholder="203.0.113.7"; }
            label { "BIN" input name="bin" value=[given(&q.bin)]; }
            button type="submit" { (lang.t("action.filter")) }
        }
        @if page.rows.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #prefixes {
                thead { tr { th { (lang.t("col.prefix")) } th { "BIN" } th { (lang.t("col.organisation")) } th { (lang.t("col.comment")) } th { (lang.t("col.since")) } } }
                tbody { @for (_, a) in &page.rows { tr {
                    td.mono { (a.prefix) } td.mono { (a.bin) } td { (a.organisation) } td { (a.comment) } td { (when(lang, a.valid_from)) }
                } } }
            }
        }
        (pager(lang, &path, &filters, &page))
        h2 { (lang.t("nav.organisations")) }
        (org_table(lang, &orgs))
    };
    Ok(view::page(&person, &format!("{} {name}", lang.t("col.operator")), "list", body).into_response())
}

fn upload_form(person: &Person, operator: &str) -> Markup {
    let lang = person.lang;
    html! {
        section.panel {
            h2 { (lang.t("upload.title")) }
            p.hint { (lang.t("upload.hint")) }
            form #upload method="post" action={ "/operators/" (operator) "/upload" } enctype="multipart/form-data" {
                (csrf(person))
                input type="file" name="list" accept=".csv,.txt,.json,text/csv,application/json" required;
                button type="submit" { (lang.t("upload.check")) }
            }
        }
    }
}

fn org_table(lang: Lang, orgs: &[store::Organisation]) -> Markup {
    html! {
        @if orgs.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table.orgs {
                thead { tr { th { "BIN" } th { (lang.t("col.organisation")) } th { (lang.t("col.operators")) } } }
                tbody { @for o in orgs { tr { td.mono { (o.bin) } td { (o.name) } td { (o.operators.join(", ")) } } } }
            }
        }
    }
}

/// The list's format: from the file name, else JSON when it starts with `[`.
fn format_of(file_name: Option<&str>, head: &[u8]) -> Format {
    file_name.and_then(|n| Format::from_path(std::path::Path::new(n))).unwrap_or_else(|| {
        let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        match text.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Format::Json,
            _ => Format::Csv,
        }
    })
}

async fn check(
    console: &Console,
    person: &Person,
    operator: &str,
    format: Format,
    path: &std::path::Path,
    apply: bool,
) -> Result<std::result::Result<ImportOutcome, ShownProblems>> {
    let file = std::fs::File::open(path)
        .map_err(|e| ConsoleError::from(anyhow::anyhow!("cannot read the upload {}: {e}", path.display())))?;
    let reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let (rows, problems) = tokio::task::spawn_blocking(move || format::read(format, reader))
        .await
        .map_err(|e| ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the list failed: {e}")))?;
    // What an operator's staff may learn of others' data in the problems, as through the API.
    let disclosure = if person.role().own_operator().is_some() { Disclosure::OwnOnly } else { Disclosure::Full };
    let actor = person.actor();
    let request = ImportRequest { actor: &actor, operator, dry_run: !apply, disclosure };
    match catalog::import(&console.app.store, &request, rows, problems, &|_, _| {}).await {
        Ok(outcome) => Ok(Ok(outcome)),
        Err(ImportError::Rejected(problems)) => Ok(Err(problems)),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

/// Checks an uploaded list without applying it: the diff to confirm, or every problem.
pub async fn upload(
    State(console): State<Console>,
    person: Person,
    Path(operator): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_change(&operator)?;
    let form = person.multipart(body, Route::List).await?;
    let received = console.uploads.receive(form).await?;
    let format = format_of(received.file_name.as_deref(), &received.head);
    // An upload that is refused or changes nothing is dropped here, and its file with it.
    let outcome = check(&console, &person, &operator, format, &received.file.path, false).await?;
    let lang = person.lang;
    let shown = received.file_name.clone().unwrap_or_else(|| "list".into());
    let body = match outcome {
        Err(problems) => {
            let body = html! {
                p.problem #rejected { (shown) ": " (problems.total()) " " (lang.t("upload.problems")) }
                table #problems {
                    thead { tr { th { (lang.t("col.line")) } th { (lang.t("col.field")) } th { (lang.t("col.problem")) } } }
                    tbody { @for p in &problems.shown { tr { td.num { (p.line) } td { (p.field.as_deref().unwrap_or("")) } td { (p.message) } } } }
                }
                @if problems.more > 0 { p.problem { "… +" (problems.more) } }
                (upload_form(&person, &operator))
            };
            let page = view::page(&person, lang.t("upload.title"), "list", body);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Ok(outcome) => {
            let id = received.id.clone();
            let changes = outcome.diff.added.len()
                + outcome.diff.removed.len()
                + outcome.diff.moved.len()
                + outcome.diff.updated.len();
            if changes > 0 {
                let pending = Pending::new(person.session.user.id, operator.clone(), format, received.file);
                console.uploads.keep(id.clone(), pending);
            }
            html! {
                p #dry-run { (shown) ": " (lang.t("upload.dry_run")) }
                (diff_view(lang, &outcome))
                @if changes > 0 {
                    form #confirm method="post" action={ "/operators/" (operator) "/confirm" } {
                        (csrf(&person))
                        input type="hidden" name="upload" value=(id);
                        button type="submit" { (lang.t("upload.confirm")) }
                    }
                } @else { p { (lang.t("upload.nothing")) } }
                p { a href={ "/operators/" (operator) } { (lang.t("action.cancel")) } }
            }
        }
    };
    Ok(view::page(&person, lang.t("upload.title"), "list", body).into_response())
}

pub(super) fn random_id() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn diff_view(lang: Lang, outcome: &ImportOutcome) -> Markup {
    let d = &outcome.diff;
    let shown = 500;
    let lines = |sign: &str, key: &str, list: &[catalog::import::DiffLine]| {
        html! {
            @if !list.is_empty() {
                h3 { (lang.t(key)) " (" (list.len()) ")" }
                ul.diff { @for l in list.iter().take(shown) {
                    li.mono { (sign) " " (l.prefix) " " (l.bin) @if let Some(from) = &l.from_bin { " ← " (from) } }
                } @if list.len() > shown { li { "… " (list.len() - shown) } } }
            }
        }
    };
    html! {
        p #diff-counts {
            (lang.t("diff.added")) " " (d.added.len()) ", " (lang.t("diff.removed")) " " (d.removed.len()) ", "
            (lang.t("diff.moved")) " " (d.moved.len()) ", " (lang.t("diff.updated")) " " (d.updated.len()) ", "
            (lang.t("diff.unchanged")) " " (d.unchanged)
        }
        (lines("+", "diff.added", &d.added))
        (lines("−", "diff.removed", &d.removed))
        (lines("~", "diff.moved", &d.moved))
        (lines("*", "diff.updated", &d.updated))
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    upload: String,
}

/// Applies a checked upload; the list is checked again as it is applied.
pub async fn confirm(
    State(console): State<Console>,
    person: Person,
    Path(operator): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_change(&operator)?;
    let f: ConfirmForm = person.form(body).await?;
    let lang = person.lang;
    let pending = console.uploads.take(&f.upload, person.session.user.id, &operator).ok_or_else(|| {
        ConsoleError::new(StatusCode::GONE, "this upload is no longer waiting for confirmation; upload the list again")
    })?;
    let checked = check(&console, &person, &operator, pending.format, &pending.file.path, true).await;
    drop(pending);
    let body = match checked? {
        Ok(outcome) => {
            let _ = console.app.nudge.try_send(());
            html! {
                p #applied { (lang.t("upload.applied")) @if let Some(id) = outcome.change { " (#" (id) ")" } }
                (diff_view(lang, &outcome))
                @if !outcome.resolved.is_empty() { p { (lang.t("upload.resolved")) " " (outcome.resolved.len()) } }
                p { a href={ "/operators/" (operator) } { (lang.t("nav.list")) } }
            }
        }
        Err(problems) => html! {
            p.problem #rejected { (problems.total()) " " (lang.t("upload.problems")) }
            ul { @for p in &problems.shown { li { (p.line) ": " (p.message) } } }
        },
    };
    Ok(view::page(&person, lang.t("upload.title"), "list", body).into_response())
}

#[derive(Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
}

pub async fn export(
    State(console): State<Console>,
    person: Person,
    Path(operator): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    person.require_operator(&operator)?;
    export_as(&console, &operator, q.format.as_deref()).await
}

async fn export_as(console: &Console, operator: &str, format: Option<&str>) -> Result<Response> {
    let format = match format {
        Some("json") => Format::Json,
        Some("csv") | None => Format::Csv,
        Some(other) => return Err(ConsoleError::bad_request(format!("format '{other}': use csv or json"))),
    };
    let rows = crate::app::catalog::export_rows(&console.app.store, operator).await?;
    let (content_type, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok(crate::http::api::download(content_type, &format!("{operator}.{ext}"), format::write(format, &rows)))
}

pub async fn organisations(
    State(console): State<Console>,
    person: Person,
    Query(q): Query<SearchQuery>,
) -> Result<Response> {
    let lang = person.lang;
    let mut orgs = console.app.store.organisations(person.role().own_operator()).await?;
    orgs.retain(|o| q.matches(&[o.bin.as_str(), &o.name, &o.operators.join(" ")]));
    if q.format.as_deref() == Some("csv") {
        let rows = orgs.into_iter().map(|o| vec![o.bin.to_string(), o.name, o.operators.join(" ")]);
        return Ok(view::csv("organisations.csv", &["bin", "name", "operators"], rows));
    }
    let body = html! { (q.form(lang, "/organisations")) (org_table(lang, &orgs)) };
    Ok(view::page(&person, lang.t("nav.organisations"), "organisations", body).into_response())
}

#[derive(Deserialize, Default)]
pub struct LookupQuery {
    ip: Option<String>,
    on: Option<String>,
}

/// Who owns an address now (the snapshot the gateways use), and who held it on a day.
pub async fn lookup(State(console): State<Console>, person: Person, Query(q): Query<LookupQuery>) -> Result<Response> {
    let lang = person.lang;
    let own = person.role().own_operator().map(str::to_string);
    let result = match given(&q.ip) {
        None => html! {},
        Some(text) => {
            let ip: std::net::IpAddr = text
                .parse()
                .map_err(|_| ConsoleError::bad_request(format!("'{text}' is not an IPv4 or IPv6 address")))?;
            let snapshot = console.app.snapshot.current();
            let class = snapshot.classify(ip);
            if let Some(own) = &own
                && !crate::http::api::own_address(&console.app.store, &snapshot, &class, ip, own).await?
            {
                return Err(ConsoleError::new(
                    StatusCode::NOT_FOUND,
                    format!("{ip} is not in operator '{own}''s list"),
                ));
            }
            let (from, to) = match given(&q.on) {
                Some(day) => {
                    crate::app::output::parse_day(&day).map_err(|e| ConsoleError::bad_request(e.to_string()))?
                }
                None => (i64::MIN, i64::MAX),
            };
            let mut holders = console.app.store.holders(ip, from, to).await?;
            if let Some(own) = &own {
                holders.retain(|a| &a.operator == own);
            }
            let now = crate::app::catalog::Lookup::new(ip, class).text();
            html! {
                p #lookup-now.mono { (now) }
                h2 { (lang.t("lookup.history")) @if let Some(d) = given(&q.on) { " " (view::day_text(lang, &d)) } }
                @if holders.is_empty() { p.empty { (lang.t("list.none")) } } @else {
                    table #holders {
                        thead { tr { th { (lang.t("col.prefix")) } th { "BIN" } th { (lang.t("col.organisation")) } th { (lang.t("col.operator")) }
                            th { (lang.t("filter.from")) } th { (lang.t("filter.to")) } } }
                        tbody { @for a in &holders { tr {
                            td.mono { (a.prefix) } td.mono { (a.bin) } td { (a.organisation) } td { (a.operator) }
                            td { (when(lang, a.valid_from)) } td { (a.valid_to.map(|t| when(lang, t)).unwrap_or_else(|| "—".into())) }
                        } } }
                    }
                }
            }
        }
    };
    let body = html! {
        form.filters method="get" action="/lookup" {
            label { (lang.t("col.address")) input name="ip" value=[given(&q.ip)] required placeholder="203.0.113.7"; }
            label { (lang.t("lookup.on")) input type="date" name="on" value=[given(&q.on)]; }
            button type="submit" { (lang.t("action.search")) }
        }
        (result)
    };
    Ok(view::page(&person, lang.t("nav.lookup"), "lookup", body).into_response())
}
