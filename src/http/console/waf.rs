//! The web application firewall in the console (rule 17): the protected sites with their
//! state; per site its origins' health, the refused and matched requests read from the
//! audit log (filter by rule, client, path, day, action), the top rules and clients, and
//! the proposed exclusions; a transaction's details, found by the id its block page
//! shows. From a rule of a false positive the duty team proposes an exclusion (one
//! click) and confirms it (a second), each audited under the person's name.
//! Organisations' people see their own sites' events, read-only.
//!
//! Must not: be shown to operators' staff; show a key or raw JSON.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use store::{ProposalStatus, UserRole, WafProposal, WafSiteRecord};

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::i18n::Lang;
use super::view::{self, csrf, when};
use crate::app::waf::events::{self, Event, EventFilter, Events};
use crate::app::waf::settings::SiteSettings;
use crate::app::waf::{Manager, WafError};
use crate::http::body::Unread;

impl From<WafError> for ConsoleError {
    fn from(e: WafError) -> ConsoleError {
        crate::http::api::ApiError::from(e).into()
    }
}

/// The sites `person` may see; operators' staff none.
fn may_read(person: &Person, site: &WafSiteRecord) -> bool {
    match person.role() {
        UserRole::Duty | UserRole::Auditor => true,
        UserRole::Organisation { organisation } => site.owner_bin.as_deref() == Some(organisation.as_str()),
        UserRole::Operator { .. } => false,
    }
}

fn refuse_operators(person: &Person) -> Result<()> {
    match person.role() {
        UserRole::Operator { .. } => {
            Err(ConsoleError::forbidden("the WAF's sites are for the duty team and their organisations"))
        }
        _ => Ok(()),
    }
}

async fn readable(console: &Console, person: &Person, domain: &str) -> Result<WafSiteRecord> {
    refuse_operators(person)?;
    let site = console.app.store.waf_site(domain).await?;
    match may_read(person, &site) {
        true => Ok(site),
        false => Err(ConsoleError::new(StatusCode::NOT_FOUND, format!("WAF site '{domain}' does not exist"))),
    }
}

fn state_word(console: &Console, domain: &str) -> (&'static str, Vec<String>) {
    match &console.app.waf {
        Some(view) => {
            let s = view.site_state(domain);
            (s.state, s.problems)
        }
        None => ("unavailable", vec![]),
    }
}

fn mode_of(site: &WafSiteRecord) -> SiteSettings {
    SiteSettings::from_json(&site.settings).unwrap_or_default()
}

/// `/waf`: every site the person may see, with its state; a search by transaction id.
pub async fn sites(State(console): State<Console>, person: Person) -> Result<Response> {
    refuse_operators(&person)?;
    let lang = person.lang;
    let sites: Vec<WafSiteRecord> =
        console.app.store.waf_sites().await?.into_iter().filter(|s| may_read(&person, s)).collect();
    let engine = console.app.waf.as_ref().map(|w| w.engine().map(str::to_string).map_err(str::to_string));
    let body = html! {
        @match &engine {
            None => p.empty { (lang.t("waf.off")) },
            Some(Err(why)) => p.problem { (lang.t("waf.unavailable")) ": " (why) },
            Some(Ok(_)) => {},
        }
        form.filters method="get" action="/waf/tx" {
            label { (lang.t("waf.transaction")) input name="id" required pattern="[A-Za-z0-9_-]{1,64}"; }
            button type="submit" { (lang.t("action.search")) }
        }
        @if sites.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #waf-sites {
                thead { tr {
                    th { (lang.t("waf.site")) } th { (lang.t("col.status")) } th { (lang.t("waf.mode")) }
                    th { (lang.t("waf.paranoia")) } th { (lang.t("col.owner")) } th { (lang.t("waf.origins")) }
                } }
                tbody { @for s in &sites {
                    @let (state, _) = state_word(&console, &s.domain);
                    @let settings = mode_of(s);
                    tr class=(format!("state-{state}")) {
                        td { a href={ "/waf/" (s.domain) } { (s.domain) } }
                        td { (lang.t(&format!("waf.state.{state}"))) }
                        td { (mode_text(lang, &settings)) }
                        td.num { (settings.rules.paranoia) }
                        td.mono { (s.owner_bin.as_deref().unwrap_or("—")) }
                        td.mono { (s.origins.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                    }
                } }
            }
        }
    };
    Ok(view::page(&person, lang.t("nav.waf"), "waf", body).into_response())
}

fn mode_text(lang: Lang, settings: &SiteSettings) -> &'static str {
    match settings.rules.mode {
        waf::engine::Mode::Block => lang.t("waf.mode.block"),
        waf::engine::Mode::Detect => lang.t("waf.mode.detect"),
    }
}

#[derive(Deserialize)]
pub struct TxQuery {
    id: String,
}

/// `/waf/tx?id=…`: the transaction's page, when the person may see its site.
pub async fn find(State(console): State<Console>, person: Person, Query(q): Query<TxQuery>) -> Result<Response> {
    refuse_operators(&person)?;
    let id = q.id.trim().to_string();
    let event = read_one(&console, &id).await?;
    let not_found = || ConsoleError::new(StatusCode::NOT_FOUND, format!("no transaction {id} in the WAF's audit log"));
    let event = event.ok_or_else(not_found)?;
    readable(&console, &person, &event.site).await.map_err(|_| not_found())?;
    Ok(Redirect::to(&format!("/waf/{}/events/{}", event.site, event.transaction)).into_response())
}

async fn read_one(console: &Console, id: &str) -> Result<Option<Event>> {
    let Some(view) = &console.app.waf else { return Ok(None) };
    let (log, id) = (view.audit_log().to_path_buf(), id.to_string());
    let found = tokio::task::spawn_blocking(move || events::find(&log, &id)).await.map_err(anyhow::Error::from)?;
    Ok(found.map_err(anyhow::Error::from)?)
}

/// The filter form's fields, kept in the URL.
#[derive(Deserialize, Default)]
pub struct EventsForm {
    rule: Option<String>,
    client: Option<String>,
    path: Option<String>,
    from: Option<String>,
    to: Option<String>,
    action: Option<String>,
}

impl EventsForm {
    fn filter(&self, domain: &str) -> std::result::Result<EventFilter, String> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let day = |v: &Option<String>, end: bool| -> std::result::Result<Option<i64>, String> {
            given(v)
                .map(|d| {
                    crate::app::output::parse_day(&d)
                        .map(|(s, e)| if end { e } else { s })
                        .map_err(|e| format!("{e:#}"))
                })
                .transpose()
        };
        let rule =
            given(&self.rule).map(|r| r.parse::<u32>().map_err(|_| format!("'{r}' is not a rule id"))).transpose()?;
        let client = given(&self.client)
            .map(|c| {
                c.parse::<ipnet::IpNet>()
                    .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("'{c}' is not an address or a network"))
            })
            .transpose()?;
        Ok(EventFilter {
            sites: Some(vec![domain.to_string()]),
            rule,
            client,
            path: given(&self.path),
            from: day(&self.from, false)?,
            to: day(&self.to, true)?,
            action: given(&self.action),
            transaction: None,
        })
    }
}

/// Events shown on a site's page.
const SHOWN: usize = 200;

/// `/waf/{domain}`: the site's state, origins, events with their filter, top rules and
/// clients, proposals.
pub async fn site(
    State(console): State<Console>,
    person: Person,
    Path(domain): Path<String>,
    Query(form): Query<EventsForm>,
) -> Result<Response> {
    let site = readable(&console, &person, &domain).await?;
    let lang = person.lang;
    let filter = form.filter(&site.domain).map_err(ConsoleError::bad_request)?;
    let found = match &console.app.waf {
        Some(view) => {
            let log = view.audit_log().to_path_buf();
            tokio::task::spawn_blocking(move || events::read(&log, &filter, SHOWN))
                .await
                .map_err(anyhow::Error::from)?
                .map_err(anyhow::Error::from)?
        }
        None => Events::default(),
    };
    let proposals = match person.is_duty() || matches!(person.role(), UserRole::Auditor) {
        true => console.app.store.waf_proposals(Some(&site.domain)).await?,
        false => Vec::new(),
    };
    let body = html! {
        (facts(&console, lang, &site))
        h2 { (lang.t("waf.events")) }
        (filter_form(lang, &site.domain, &form))
        p { (found.matched) " " (lang.t("waf.found")) @if found.window_cut { " · " (lang.t("waf.window")) } }
        (events_table(lang, &site.domain, &found.events))
        div.columns {
            section { h2 { (lang.t("waf.top_rules")) }
                table #top-rules { tbody { @for t in &found.top_rules { tr {
                    td.mono { a href=(view::link(&format!("/waf/{}", site.domain), &[("rule", Some(t.key.to_string()))])) { (t.key) } }
                    td { (t.label) } td.num { (t.count) }
                } } } } }
            section { h2 { (lang.t("waf.top_clients")) }
                table #top-clients { tbody { @for t in &found.top_clients { tr {
                    td.mono { a href=(view::link(&format!("/waf/{}", site.domain), &[("client", Some(t.key.to_string()))])) { (t.key) } }
                    td.num { (t.count) }
                } } } } }
        }
        @if !proposals.is_empty() { (proposals_table(&person, &proposals)) }
    };
    Ok(view::page(&person, &format!("{} {}", lang.t("waf.site"), site.domain), "waf", body).into_response())
}

fn facts(console: &Console, lang: Lang, site: &WafSiteRecord) -> Markup {
    let (state, problems) = state_word(console, &site.domain);
    let settings = mode_of(site);
    let origins = console.app.waf.as_ref().map(|w| w.site_state(&site.domain).origins).unwrap_or_default();
    html! {
        dl.facts {
            dt { (lang.t("col.status")) } dd #state { (lang.t(&format!("waf.state.{state}"))) }
            @for p in &problems { dt { (lang.t("col.problem")) } dd.problem { (p) } }
            dt { (lang.t("waf.mode")) } dd #mode { (mode_text(lang, &settings)) }
            dt { (lang.t("waf.paranoia")) } dd { (settings.rules.paranoia) }
            dt { (lang.t("waf.certificate")) } dd { (lang.t(if site.key_kept { "waf.cert.kept" } else { "waf.cert.none" })) }
            dt { (lang.t("col.owner")) } dd.mono { (site.owner_bin.as_deref().unwrap_or("—")) }
            @if let Some(id) = site.application_id { dt { (lang.t("waf.application")) } dd { a href={ "/requests/" (id) } { (id) } } }
            dt { (lang.t("waf.origins")) } dd { @for o in &site.origins {
                @let up = origins.iter().find(|(a, _)| a == o).map(|(_, h)| *h);
                span.mono { (o) } " " (match up { Some(true) => lang.t("waf.healthy"), Some(false) => lang.t("waf.down"), None => "" }) br;
            } }
            dt { (lang.t("waf.exclusions")) } dd { @for e in &settings.rules.exclusions {
                span.mono { (e.rule) @if let Some(t) = &e.target { " " (t) } } br;
            } }
            dt { (lang.t("waf.patches")) } dd { (settings.rules.patches.len()) }
        }
    }
}

fn filter_form(lang: Lang, domain: &str, f: &EventsForm) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters method="get" action={ "/waf/" (domain) } {
            label { (lang.t("waf.rule")) input name="rule" value=(value(&f.rule)) size="7"; }
            label { (lang.t("waf.client")) input name="client" value=(value(&f.client)); }
            label { (lang.t("waf.path")) input name="path" value=(value(&f.path)); }
            label { (lang.t("waf.from")) input type="date" name="from" value=(value(&f.from)); }
            label { (lang.t("waf.to")) input type="date" name="to" value=(value(&f.to)); }
            label { (lang.t("col.action")) select name="action" {
                option value="" { "—" }
                @for a in ["blocked", "matched", "refused"] {
                    option value=(a) selected[f.action.as_deref() == Some(a)] { (lang.t(&format!("waf.action.{a}"))) }
                }
            } }
            button type="submit" { (lang.t("action.filter")) }
        }
    }
}

fn events_table(lang: Lang, domain: &str, events: &[Event]) -> Markup {
    html! {
        @if events.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #waf-events {
                thead { tr {
                    th { (lang.t("col.when")) } th { (lang.t("waf.transaction")) } th { (lang.t("col.action")) }
                    th { (lang.t("waf.answer")) } th { (lang.t("waf.client")) } th { (lang.t("waf.request")) }
                    th { (lang.t("waf.score")) } th { (lang.t("waf.rules")) }
                } }
                tbody { @for e in events { tr class=(format!("action-{}", e.action)) {
                    td { (when(lang, e.at)) }
                    td.mono { a href={ "/waf/" (domain) "/events/" (e.transaction) } { (e.transaction) } }
                    td { (lang.t(&format!("waf.action.{}", action_key(&e.action)))) }
                    td.num { (e.status) } td.mono { (e.client) }
                    td.mono { (e.method) " " (e.uri) }
                    td.num { (e.score) }
                    td.mono { (e.rules.iter().map(|r| r.id.to_string()).collect::<Vec<_>>().join(" ")) }
                } } }
            }
        }
    }
}

/// An action word the table knows (anything else reads as refused).
fn action_key(action: &str) -> &'static str {
    match action {
        "blocked" => "blocked",
        "matched" => "matched",
        _ => "refused",
    }
}

fn proposals_table(person: &Person, proposals: &[WafProposal]) -> Markup {
    let lang = person.lang;
    html! {
        h2 #proposals { (lang.t("waf.proposals")) }
        table #waf-proposals {
            thead { tr { th { "№" } th { (lang.t("waf.rule")) } th { (lang.t("waf.target")) } th { (lang.t("waf.transaction")) }
                th { (lang.t("col.by")) } th { (lang.t("col.status")) } th {} } }
            tbody { @for p in proposals { tr {
                td.num { (p.id) } td.mono { (p.rule) } td.mono { (p.target.as_deref().unwrap_or("—")) }
                td.mono { (p.transaction.as_deref().unwrap_or("—")) }
                td { (p.proposed_by) " · " (when(lang, p.proposed_at)) }
                td { (lang.t(&format!("waf.proposal.{}", p.status))) }
                td { @if person.is_duty() && p.status == ProposalStatus::Proposed {
                    form.inline method="post" action={ "/waf/proposals/" (p.id) "/confirm" } {
                        (csrf(person)) button type="submit" { (lang.t("waf.confirm")) }
                    }
                    form.inline method="post" action={ "/waf/proposals/" (p.id) "/decline" } {
                        (csrf(person)) button.small type="submit" { (lang.t("waf.decline")) }
                    }
                } }
            } } }
        }
    }
}

/// `/waf/{domain}/events/{id}`: one transaction; for the duty team, a proposal of an
/// exclusion from each matched rule.
pub async fn event(
    State(console): State<Console>,
    person: Person,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Response> {
    let site = readable(&console, &person, &domain).await?;
    let lang = person.lang;
    let event = read_one(&console, &id).await?.filter(|e| e.site == site.domain);
    let event =
        event.ok_or_else(|| ConsoleError::new(StatusCode::NOT_FOUND, format!("no transaction {id} of {domain}")))?;
    let body = html! {
        dl.facts {
            dt { (lang.t("col.when")) } dd { (when(lang, event.at)) }
            dt { (lang.t("waf.site")) } dd { a href={ "/waf/" (domain) } { (domain) } }
            dt { (lang.t("waf.client")) } dd.mono { (event.client) }
            dt { (lang.t("waf.request")) } dd.mono { (event.method) " " (event.uri) }
            dt { (lang.t("waf.answer")) } dd { (event.status) " · " (lang.t(&format!("waf.action.{}", action_key(&event.action)))) }
            @if let Some(r) = &event.reason { dt { (lang.t("col.reason")) } dd { (r) } }
            dt { (lang.t("waf.mode")) } dd { (event.mode) }
            dt { (lang.t("waf.score")) } dd #score { (event.score) }
        }
        h2 { (lang.t("waf.rules")) }
        table #event-rules {
            thead { tr { th { (lang.t("waf.rule")) } th { (lang.t("col.details")) } th { (lang.t("waf.matched")) }
                @if person.is_duty() { th { (lang.t("waf.propose")) } } } }
            tbody { @for r in event.rules.iter().filter(|r| r.id != 0) { tr {
                td.mono { (r.id) } td { (r.message) } td.mono { (r.data) }
                @if person.is_duty() { td {
                    @let target = target_of(&r.data);
                    form.inline.propose method="post" action={ "/waf/" (domain) "/proposals" } {
                        (csrf(&person))
                        input type="hidden" name="rule" value=(r.id);
                        input type="hidden" name="transaction" value=(event.transaction);
                        @if let Some(t) = &target { input type="hidden" name="target" value=(t); }
                        button type="submit" { (lang.t("waf.propose_exclusion")) " " (r.id) @if let Some(t) = &target { " · " (t) } }
                    }
                } }
            } } }
        }
    };
    Ok(view::page(&person, &format!("{} {}", lang.t("waf.transaction"), event.transaction), "waf", body)
        .into_response())
}

/// The target a matched rule names (`… found within ARGS:q: …` → `ARGS:q`), when it is
/// one an exclusion may name.
fn target_of(data: &str) -> Option<String> {
    let rest = data.split(" within ").nth(1)?;
    let target = rest.split(": ").next()?.trim().trim_end_matches(':');
    let exclusion = waf::engine::Exclusion { rule: 1, target: Some(target.to_string()) };
    let trial = waf::engine::RuleSettings { exclusions: vec![exclusion], ..Default::default() };
    trial.check().is_empty().then(|| target.to_string())
}

#[derive(Deserialize)]
pub struct ProposeForm {
    csrf: Option<String>,
    rule: u32,
    target: Option<String>,
    transaction: Option<String>,
    #[serde(default)]
    note: String,
}

fn manager(console: &Console) -> Manager<'_> {
    let engine = match &console.app.waf {
        Some(view) => view.rule_engine().ok_or_else(|| view.engine().err().unwrap_or("no engine").to_string()),
        None => Err("the WAF does not run in this service".into()),
    };
    Manager { store: &console.app.store, key_file: console.app.desk.key_file(), engine }
}

/// Proposes an exclusion from an event's rule (first click).
pub async fn propose(
    State(console): State<Console>,
    person: Person,
    Path(domain): Path<String>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    let f: ProposeForm = person.form(body).await?;
    person.check_csrf(f.csrf.as_deref())?;
    let target = f.target.as_deref().filter(|t| !t.is_empty());
    let note = if f.note.trim().is_empty() { "false positive" } else { f.note.trim() };
    let p =
        manager(&console).propose(&person.actor(), &domain, (f.rule, target), f.transaction.as_deref(), note).await?;
    Ok(Redirect::to(&format!("/waf/{domain}#proposal-{}", p.id)).into_response())
}

/// Confirms a proposal (second click): the exclusion joins the site's settings.
pub async fn confirm(
    State(console): State<Console>,
    person: Person,
    Path(id): Path<i64>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    person.button(body).await?;
    let site = manager(&console).confirm(&person.actor(), id).await?;
    Ok(Redirect::to(&format!("/waf/{}", site.domain)).into_response())
}

/// Declines a proposal.
pub async fn decline(
    State(console): State<Console>,
    person: Person,
    Path(id): Path<i64>,
    body: Unread,
) -> Result<Response> {
    person.require_duty()?;
    person.button(body).await?;
    let p = console.app.store.decline_waf_proposal(&person.actor(), id).await?;
    Ok(Redirect::to(&format!("/waf/{}", p.site)).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_target_of_a_match_is_read_from_its_data() {
        let data = "Matched Data: s&sos found within ARGS:q: 1' or '1'='1";
        assert_eq!(super::target_of(data).as_deref(), Some("ARGS:q"));
        assert_eq!(super::target_of("Matched Data: x found within TX:foo: y"), None);
        assert_eq!(super::target_of("no target here"), None);
    }
}
