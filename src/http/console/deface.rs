//! Defacement protection in the console (rule 18): the protected sites with their state
//! (new, protected, changed, restoring, window open, unreachable, host key changed);
//! per site its reference, its SSH host key, the findings with their files, pages and
//! readable diffs, and the events. The duty team confirms a host key and checks a site
//! now; the duty team and the site's organisation open and close a maintenance window
//! and accept a change, each audited under the person's name. Auditors read.
//!
//! Must not: be shown to operators' staff; show an organisation a site that is not its
//! own (it answers as a site that does not exist); show a secret or raw JSON.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use deface::files::restore::FileOutcome;
use deface::{DefaceError, SiteView};
use maud::{Markup, html};
use serde::Deserialize;
use store::{DefaceEvent, DefaceFinding, UserRole};

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::i18n::Lang;
use super::view::{self, csrf, when};
use crate::http::body::Unread;

impl From<DefaceError> for ConsoleError {
    fn from(e: DefaceError) -> ConsoleError {
        crate::http::api::ApiError::from(e).into()
    }
}

fn service(console: &Console) -> Result<&deface::Deface> {
    console.app.deface.as_ref().ok_or_else(|| {
        ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, "defacement protection is off ([services] deface = false)")
    })
}

/// The domains `person` may see: all for the duty team and auditors, its own for an
/// organisation; operators' staff none.
async fn visible(console: &Console, person: &Person) -> Result<Option<Vec<String>>> {
    match person.role() {
        UserRole::Duty | UserRole::Auditor => Ok(None),
        UserRole::Organisation { organisation } => {
            Ok(Some(console.app.store.deface_domains_of(organisation.as_str()).await?))
        }
        UserRole::Operator { .. } => {
            Err(ConsoleError::forbidden("defacement protection is for the duty team and organisations"))
        }
    }
}

/// Refuses with 404 unless `person` may see `domain`.
async fn readable(console: &Console, person: &Person, domain: &str) -> Result<()> {
    match visible(console, person).await? {
        Some(own) if !own.iter().any(|d| d == domain) => {
            Err(ConsoleError::new(StatusCode::NOT_FOUND, format!("protected site '{domain}' does not exist")))
        }
        _ => Ok(()),
    }
}

/// Whether `person` may change `domain`'s window and accept its changes (auditors read).
async fn may_act(console: &Console, person: &Person, domain: &str) -> Result<()> {
    readable(console, person, domain).await?;
    match person.role() {
        UserRole::Auditor => Err(ConsoleError::forbidden("auditors read; they do not change")),
        _ => Ok(()),
    }
}

fn state(lang: Lang, state: &str) -> &'static str {
    lang.t(&format!("deface.state.{state}"))
}

/// `/deface`: every site the person may see, with its state.
pub async fn sites(State(console): State<Console>, person: Person) -> Result<Response> {
    let own = visible(&console, &person).await?;
    let lang = person.lang;
    let all = service(&console)?.sites().await?;
    let sites: Vec<SiteView> =
        all.into_iter().filter(|s| own.as_ref().is_none_or(|o| o.contains(&s.record.domain))).collect();
    let body = html! {
        @if sites.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #deface-sites {
                thead { tr {
                    th { (lang.t("waf.site")) } th { (lang.t("col.status")) } th { (lang.t("deface.since")) }
                    th { (lang.t("deface.last_check")) } th { (lang.t("deface.open_findings")) }
                } }
                tbody { @for s in &sites {
                    @let r = &s.record;
                    tr class=(format!("state-{}", r.state)) {
                        td { a href={ "/deface/" (r.domain) } { (r.domain) } }
                        td { (state(lang, &r.state)) }
                        td { (when(lang, r.state_since)) }
                        td { (r.last_check.map_or_else(|| "—".to_string(), |t| when(lang, t))) }
                        td.num { (s.open_findings) }
                    }
                } }
            }
        }
    };
    Ok(view::page(&person, lang.t("nav.deface"), "deface", body).into_response())
}

/// `/deface/{domain}`: one site, its reference, host key, findings and events.
pub async fn site(State(console): State<Console>, person: Person, Path(domain): Path<String>) -> Result<Response> {
    readable(&console, &person, &domain).await?;
    let detail = service(&console)?.site(&domain).await?;
    let lang = person.lang;
    let acts = person.is_duty() || matches!(person.role(), UserRole::Organisation { .. });
    let r = &detail.site.record;
    let body = html! {
        dl.facts {
            dt { (lang.t("col.status")) } dd #state { (state(lang, &r.state)) @if let Some(d) = &r.state_detail { " · " (d) } }
            dt { (lang.t("deface.since")) } dd { (when(lang, r.state_since)) }
            dt { (lang.t("deface.last_check")) } dd { (r.last_check.map_or_else(|| "—".to_string(), |t| when(lang, t))) }
            dt { (lang.t("deface.reference")) } dd {
                @match r.reference_at {
                    Some(at) => { (r.reference_files) " " (lang.t("deface.files")) " · " (r.reference_bytes) " B · "
                        (r.reference_pages) " " (lang.t("deface.pages")) " · " (when(lang, at)) }
                    None => { (lang.t("deface.no_reference")) }
                }
            }
            dt { (lang.t("deface.host_key")) } dd.mono #host-key {
                (detail.site.host_key_fingerprint.as_deref().unwrap_or("—"))
                @if let (Some(by), Some(at)) = (&r.host_key_confirmed_by, r.host_key_confirmed_at) {
                    " · " (lang.t("deface.confirmed")) " " (by) " · " (when(lang, at))
                }
            }
            dt { (lang.t("deface.window")) } dd #window { (lang.t(if r.window_open { "deface.window.open" } else { "deface.window.closed" })) }
        }
        @if acts {
            div.actions {
                form.inline method="post" action={ "/deface/" (domain) "/window" } {
                    (csrf(&person))
                    input type="hidden" name="open" value=(if r.window_open { "false" } else { "true" });
                    button type="submit" { (lang.t(if r.window_open { "deface.close_window" } else { "deface.open_window" })) }
                }
                @if person.is_duty() {
                    @if r.host_key.is_some() && (r.host_key_confirmed_at.is_none() || r.state == "host-key-changed") {
                        form.inline method="post" action={ "/deface/" (domain) "/hostkey" } {
                            (csrf(&person)) button type="submit" { (lang.t("deface.confirm_key")) }
                        }
                    }
                    form.inline method="post" action={ "/deface/" (domain) "/check" } {
                        (csrf(&person)) button type="submit" { (lang.t("deface.check_now")) }
                    }
                }
            }
        }
        h2 { (lang.t("deface.findings")) }
        (findings(&person, &domain, &detail.findings, acts))
        h2 { (lang.t("deface.events")) }
        (events(lang, &detail.events))
    };
    Ok(view::page(&person, &domain, "deface", body).into_response())
}

fn findings(person: &Person, domain: &str, findings: &[DefaceFinding], acts: bool) -> Markup {
    let lang = person.lang;
    html! {
        @if findings.is_empty() { p.empty { (lang.t("list.none")) } }
        @for f in findings {
            section.finding id={ "finding-" (f.id) } {
                h3 { "№ " (f.id) " · " (lang.t(&format!("deface.kind.{}", kind_key(&f.kind)))) " · " (when(lang, f.detected_at)) }
                p { (lang.t(&format!("deface.outcome.{}", outcome_key(&f.outcome))))
                    @if let Some(at) = f.restored_at { " · " (lang.t("deface.restored")) " " (when(lang, at)) }
                    @if let (Some(by), Some(at)) = (&f.accepted_by, f.accepted_at) { " · " (lang.t("deface.accepted")) " " (by) " · " (when(lang, at)) } }
                (files_table(lang, &f.files))
                @if !f.diff.is_empty() { details { summary { (lang.t("deface.diff")) } pre.diff { (f.diff) } } }
                @if acts && f.accepted_at.is_none() {
                    form.inline method="post" action={ "/deface/" (domain) "/accept" } {
                        (csrf(person))
                        input type="hidden" name="finding" value=(f.id);
                        button type="submit" { (lang.t("deface.accept")) }
                    }
                }
            }
        }
    }
}

fn files_table(lang: Lang, files: &serde_json::Value) -> Markup {
    let files: Vec<FileOutcome> = serde_json::from_value(files.clone()).unwrap_or_default();
    html! {
        @if !files.is_empty() {
            table.files {
                thead { tr { th { (lang.t("deface.file")) } th { (lang.t("deface.change")) } th { (lang.t("col.action")) } } }
                tbody { @for file in &files { tr {
                    td.mono { (file.path) }
                    td { (lang.t(&format!("deface.change.{}", change_key(file.change)))) }
                    td { (file.action) @if let Some(why) = &file.reason { " · " (why) } }
                } } }
            }
        }
    }
}

fn events(lang: Lang, events: &[DefaceEvent]) -> Markup {
    html! {
        @if events.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #deface-events {
                thead { tr { th { (lang.t("col.when")) } th { (lang.t("col.kind")) } th { (lang.t("col.details")) } } }
                tbody { @for e in events { tr { td { (when(lang, e.at)) } td.mono { (e.kind) } td { (e.detail) } } } }
            }
        }
    }
}

fn kind_key(kind: &str) -> &'static str {
    match kind {
        "window" => "window",
        "pages" => "pages",
        _ => "unauthorised",
    }
}

fn outcome_key(outcome: &str) -> &'static str {
    match outcome {
        "restored" => "restored",
        "partly-restored" => "partly_restored",
        "accepted" => "accepted",
        _ => "recorded",
    }
}

fn change_key(change: deface::files::scan::Change) -> &'static str {
    match change {
        deface::files::scan::Change::Added => "added",
        deface::files::scan::Change::Changed => "changed",
        deface::files::scan::Change::Deleted => "deleted",
    }
}

#[derive(Deserialize)]
pub struct WindowForm {
    csrf: Option<String>,
    open: bool,
}

/// Opens or closes the site's maintenance window.
pub async fn window(
    State(console): State<Console>,
    person: Person,
    Path(domain): Path<String>,
    body: Unread,
) -> Result<Response> {
    may_act(&console, &person, &domain).await?;
    let f: WindowForm = person.form(body).await?;
    person.check_csrf(f.csrf.as_deref())?;
    service(&console)?.window(&person.actor(), &domain, f.open).await?;
    Ok(Redirect::to(&format!("/deface/{domain}")).into_response())
}

#[derive(Deserialize)]
pub struct AcceptForm {
    csrf: Option<String>,
    finding: i64,
}

/// Accepts a finding: what was put back is made as found and becomes the reference.
pub async fn accept(
    State(console): State<Console>,
    person: Person,
    Path(domain): Path<String>,
    body: Unread,
) -> Result<Response> {
    may_act(&console, &person, &domain).await?;
    let f: AcceptForm = person.form(body).await?;
    person.check_csrf(f.csrf.as_deref())?;
    let accepted = service(&console)?.accept(&person.actor(), &domain, Some(f.finding)).await?;
    Ok(Redirect::to(&format!("/deface/{domain}#finding-{}", accepted.id)).into_response())
}

/// Confirms the site's pinned SSH host key (duty team).
pub async fn host_key(
    State(console): State<Console>,
    person: Person,
    Path(domain): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    person.button(body).await?;
    let pinned = console.app.store.deface_site(&domain).await?.host_key;
    let key = pinned.ok_or_else(|| {
        ConsoleError::new(
            StatusCode::CONFLICT,
            format!("{domain} has no host key pinned yet: it is pinned at its first check"),
        )
    })?;
    service(&console)?.confirm_host_key(&person.actor(), &domain, &key).await?;
    Ok(Redirect::to(&format!("/deface/{domain}")).into_response())
}

/// Checks the site now (duty team): one cycle, an unauthorised change put back.
pub async fn check(
    State(console): State<Console>,
    person: Person,
    Path(domain): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    person.button(body).await?;
    service(&console)?.check_now(&domain).await?;
    Ok(Redirect::to(&format!("/deface/{domain}")).into_response())
}
