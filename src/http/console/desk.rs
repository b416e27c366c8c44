//! The request desk in the console: the list of applications with who holds each and
//! its due day (overdue first), one application with its fields, attachments and
//! timeline, and the forms of the transitions its state allows (each with the CSRF
//! token, audited under the person's name). Operators' staff see their operator's
//! applications and those of the organisations it connects, organisations' staff only
//! their own; each may report readiness on its own and download attachments; an
//! application a person does not see is answered as one that does not exist.
//!
//! Must not: judge a transition itself (the desk's rules do, through `requests`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use desk::{Action, Applicant, Holder};
use maud::{Markup, html};
use serde::Deserialize;

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::i18n::Lang;
use super::view::{self, csrf, day, when};
use crate::app::requests::{Asker, RequestView, day_of};
use crate::http::body::Unread;

fn asker(person: &Person) -> Asker {
    Asker::of_person(person.role())
}

/// Application `id`, if the person sees it; otherwise the same 404 as a missing one.
pub(super) async fn seen(console: &Console, person: &Person, id: i64) -> Result<store::ApplicationRecord> {
    Ok(asker(person).application(&console.app.store, id).await?)
}

/// Whether the person may give `verb` on an application of `applicant`.
fn may_give(person: &Person, verb: &str, applicant: &Applicant) -> bool {
    asker(person).may_give(verb, applicant)
}

fn holder(lang: Lang, h: Option<Holder>) -> &'static str {
    match h {
        Some(Holder::Duty) => lang.t("desk.duty"),
        Some(Holder::Applicant) => lang.t("desk.applicant"),
        None => "—",
    }
}

pub async fn list(State(console): State<Console>, person: Person) -> Result<Response> {
    let lang = person.lang;
    let today = day_of(store::now_ms());
    let records = console.app.store.applications(&asker(&person).visible).await?;
    let mut views: Vec<RequestView> = records.iter().map(|r| console.app.desk.view(r, today)).collect();
    RequestView::sort(&mut views);
    let may_file = asker(&person).files();
    let body = html! {
        @if may_file { p { a.button href="/requests/new" { (lang.t("desk.new")) } } }
        @if views.is_empty() { p.empty { (lang.t("list.none")) } } @else {
            table #requests {
                thead { tr {
                    th { "№" } th { (lang.t("col.kind")) } th { (lang.t("col.applicant")) } th { (lang.t("col.status")) }
                    th { (lang.t("col.holder")) } th { (lang.t("col.due")) } th { (lang.t("col.received")) }
                } }
                tbody { @for v in &views { tr class=[v.overdue.then_some("overdue")] {
                    td { a href={ "/requests/" (v.id) } { (v.id) } }
                    td { (v.application.kind().name(super::filing::desk_lang(lang))) } td.mono { (v.application.applicant) }
                    td { (v.application.state) } td { (holder(lang, v.holder)) }
                    td { @if let Some(due) = v.due { (day(lang, due)) @if v.overdue { " " strong { (lang.t("desk.overdue")) } } } }
                    td { (day(lang, v.application.received)) }
                } } }
            }
        }
    };
    Ok(view::page(&person, lang.t("nav.requests"), "requests", body).into_response())
}

pub async fn detail(State(console): State<Console>, person: Person, Path(id): Path<i64>) -> Result<Response> {
    let lang = person.lang;
    let store = &console.app.store;
    let record = seen(&console, &person, id).await?;
    let v = console.app.desk.view(&record, day_of(store::now_ms()));
    let (timeline, attachments) = (store.timeline(id).await?, store.attachments(id).await?);
    let a = &v.application;
    let verified = console.app.desk.verifies_signatures();
    let body = html! {
        @if !verified { p.hint #unverified { (lang.t("desk.signatures_unverified")) } }
        dl.facts {
            dt { (lang.t("col.kind")) } dd { (a.kind().name(super::filing::desk_lang(lang))) }
            dt { (lang.t("col.applicant")) } dd.mono { (a.applicant) }
            dt { (lang.t("col.status")) } dd #state { (a.state) " · " (day(lang, a.since)) }
            dt { (lang.t("col.holder")) } dd #holder { (holder(lang, v.holder)) }
            dt { (lang.t("col.due")) } dd #due { @if let Some(due) = v.due { (day(lang, due)) @if v.overdue { " " strong { (lang.t("desk.overdue")) } } } @else { "—" } }
            @if let Some(from) = v.resubmit_from { dt { (lang.t("desk.resubmit_from")) } dd #resubmit { (day(lang, from)) } }
            @if let Some(reason) = &a.reason { dt { (lang.t("col.reason")) } dd { (reason) } }
            @if let Some(c) = &a.conditions { dt { (lang.t("desk.conditions")) } dd #conditions { (c.number) " · " (day(lang, c.issued)) " → " (day(lang, c.expires))
                @for l in c.items.lines(super::filing::desk_lang(lang)) { br; (l.number) ". " (l.title) ": " (l.text) }
            } }
            @if let Some(t) = a.valid_through { dt { (lang.t("desk.valid_through")) } dd { (day(lang, t)) } }
            dt { (lang.t("col.contacts")) } dd { (a.contacts.join(", ")) }
            (fields(lang, &v))
            @for at in &attachments { dt { (lang.t("desk.attachment")) } dd {
                a href={ "/requests/" (id) "/attachments/" (at.id) } { (at.name) } " (" (at.content_type) ", " (at.size) " B)"
                @if let Some(signer) = &at.signer { " · " (lang.t("desk.signed_by")) " " (signer) }
                @if let Some(signed) = at.signs { " → " a href={ "/requests/" (id) "/attachments/" (signed) } { "#" (signed) } }
            } }
        }
        (forms(&person, id, &a.applicant, &a.verbs()))
        @if asker(&person).is(&a.applicant) {
            form.attach method="post" action={ "/requests/" (id) "/attach" } enctype="multipart/form-data" {
                (csrf(&person))
                label { (lang.t("desk.attach")) input type="file" name="file" required; }
                button type="submit" { (lang.t("desk.attach")) }
            }
        }
        h2 { (lang.t("desk.timeline")) }
        table #timeline {
            thead { tr { th { (lang.t("col.day")) } th { (lang.t("col.when")) } th { (lang.t("col.action")) } th { (lang.t("col.status")) } th { (lang.t("col.by")) } th { (lang.t("col.details")) } } }
            tbody { @for t in &timeline { tr {
                td { (day(lang, t.day)) } td { (when(lang, t.at)) } td { (t.verb) } td { (t.to) } td { (t.actor) }
                td { (t.note.as_deref().unwrap_or("")) }
            } } }
        }
    };
    Ok(view::page(&person, &format!("{} {id}", lang.t("nav.requests")), "requests", body).into_response())
}

/// The application's fields as its form labels them; secrets only as sealed.
fn fields(lang: super::i18n::Lang, v: &RequestView) -> Markup {
    let dl = super::filing::desk_lang(lang);
    let kind = v.application.kind();
    let value = serde_json::to_value(&v.application.fields).unwrap_or_default();
    let value = &value["fields"];
    html! {
        @for f in desk::form::fields(kind) {
            @let shown = &value[f.key];
            @if !shown.is_null() {
                dt { (f.label(dl)) }
                dd.field data-field=(f.key) {
                    @if v.sealed.iter().any(|k| k == f.key) { em { (lang.t("desk.sealed")) } }
                    @else if let Some(people) = shown.as_array().filter(|_| f.key == "specialists") {
                        @for p in people { div.specialist {
                            @for (part, ..) in desk::form::SPECIALIST { (p[part].as_str().unwrap_or("")) " · " }
                        } }
                    }
                    @else if let Some(items) = shown.as_array() {
                        (items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(", "))
                    }
                    @else if let Some(text) = shown.as_str() { pre.value { (text) } }
                    @else { (shown.to_string()) }
                }
            }
        }
    }
}

/// One form per verb the person may give: the duty team any the state allows, the
/// applicant's own staff only `ready`; auditors none.
fn forms(person: &Person, id: i64, applicant: &Applicant, verbs: &[&'static str]) -> Markup {
    let lang = person.lang;
    html! {
        section.actions {
            @for verb in verbs.iter().filter(|v| may_give(person, v, applicant)) {
                form.transition method="post" action={ "/requests/" (id) "/act" } {
                    (csrf(person))
                    input type="hidden" name="verb" value=(verb);
                    @match *verb {
                        "conditions" => {
                            label { (lang.t("desk.number")) input name="number" required; }
                            @for l in desk::conditions::Items::default().lines(super::filing::desk_lang(lang)) {
                                label { (l.number) ". " (l.title)
                                    @if l.number == "2.3" { input name="connection_point" required; }
                                    @else { textarea name=(item_name(l.number)) rows="2" { (l.text) } }
                                }
                            }
                        }
                        "refuse" | "nonconform" | "disconnect" | "close" => {
                            label { (lang.t("col.reason")) input name="text" required; }
                        }
                        _ => {}
                    }
                    button type="submit" class=[(*verb == "refuse").then_some("danger")] { (verb) }
                }
            }
        }
    }
}

/// The form name of an item of technical conditions.
fn item_name(number: &str) -> &'static str {
    match number {
        "2.4" => "interface",
        "2.5" => "channels",
        "2.6" => "patch_cords",
        "2.7" => "labelling",
        _ => "works",
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    verb: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    connection_point: String,
    interface: Option<String>,
    channels: Option<String>,
    patch_cords: Option<String>,
    labelling: Option<String>,
    works: Option<String>,
}

impl ActForm {
    /// The items as typed; one left as the regulation's text (in any language) is the
    /// regulation's, so the document gives it in each of its languages.
    fn items(&self) -> desk::conditions::Items {
        let defaults: Vec<Vec<desk::conditions::Line>> =
            desk::Lang::ALL.iter().map(|l| desk::conditions::Items::default().lines(*l)).collect();
        let own = |number: &str, typed: &Option<String>| {
            let typed = typed.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
            let regulation = defaults.iter().flatten().any(|l| l.number == number && l.text == typed);
            (!regulation).then(|| typed.to_string())
        };
        desk::conditions::Items {
            connection_point: self.connection_point.trim().to_string(),
            interface: own("2.4", &self.interface),
            channels: own("2.5", &self.channels),
            patch_cords: own("2.6", &self.patch_cords),
            labelling: own("2.7", &self.labelling),
            works: own("2.8", &self.works),
        }
    }

    fn action(&self) -> Result<Action> {
        let text = self.text.trim().to_string();
        Ok(match self.verb.as_str() {
            "check" => Action::Check,
            "conditions" => Action::Conditions { number: self.number.trim().to_string(), items: self.items() },
            "ready" => Action::Ready,
            "nonconform" => Action::NonConformities { reason: text },
            "extend" => Action::Extend,
            "connect" => Action::Connect,
            "apply" => Action::Apply,
            "close" => Action::Close { note: text },
            "refuse" => Action::Refuse { reason: text },
            "disconnect" => Action::Disconnect { reason: text, at: None },
            other => return Err(ConsoleError::bad_request(format!("unknown transition '{other}'"))),
        })
    }
}

/// Takes a transition (audited under the person's name) and shows the application.
pub async fn act(
    State(console): State<Console>,
    person: Person,
    Path(id): Path<i64>,
    body: Unread,
) -> Result<Response> {
    let record = seen(&console, &person, id).await?;
    let f: ActForm = person.form(body).await?;
    let action = f.action()?;
    if !may_give(&person, action.verb(), &record.application.applicant) {
        return Err(ConsoleError::forbidden("only the duty team answers applications"));
    }
    let today = day_of(store::now_ms());
    console.app.desk.act(&person.actor(), id, &action, today).await.map_err(crate::http::api::ApiError::from)?;
    Ok(Redirect::to(&format!("/requests/{id}")).into_response())
}

/// An attachment's content, downloaded (never shown inline).
pub async fn attachment(
    State(console): State<Console>,
    person: Person,
    Path((id, attachment)): Path<(i64, i64)>,
) -> Result<Response> {
    let (info, content) = asker(&person).attachment(&console.app.store, (id, attachment)).await?;
    Ok(crate::http::api::download(&info.content_type, &info.name, content))
}
