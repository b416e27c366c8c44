//! Filing at the desk from the console: the kinds a person may file, the form of one
//! kind (one input per field of the kind, lists comma-separated), every problem shown
//! beside what was typed, and attaching a file to an application (read whole but never
//! beyond the desk's limit). The duty team files for any applicant; operators' and
//! organisations' staff only for their own; auditors not at all.
//!
//! Must not: check the fields itself (the desk does, naming every problem) or take a
//! form without the session's CSRF token.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use desk::{Applicant, Kind};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Console;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::view::{self, csrf};
use crate::app::requests::{Asker, DeskError, Filing, day_of, input};
use crate::http::body::{Route, Unread};

/// The kinds this person may file, with the applicant they file as (`None`: the duty
/// team, who name the applicant).
fn fileable(person: &Person) -> (Vec<Kind>, Option<Applicant>) {
    let asker = Asker::of_person(person.role());
    match (&asker.own, asker.answers) {
        (Some(own), _) => (Kind::ALL.into_iter().filter(|k| k.accepts(own)).collect(), Some(own.clone())),
        (None, true) => (Kind::ALL.to_vec(), None),
        (None, false) => (Vec::new(), None),
    }
}

#[derive(Deserialize)]
pub struct NewQuery {
    kind: Option<String>,
}

/// `/requests/new`: the kinds, or the form of one.
pub async fn new(person: Person, Query(q): Query<NewQuery>) -> Result<Response> {
    let (kinds, _) = fileable(&person);
    let lang = person.lang;
    let chosen = match q.kind.as_deref().map(str::parse::<Kind>) {
        None => None,
        Some(Ok(kind)) if kinds.contains(&kind) => Some(kind),
        Some(_) => return Err(ConsoleError::bad_request("you cannot file an application of this kind")),
    };
    let body = match chosen {
        Some(kind) => form(&person, kind, &[], None),
        None => html! {
            @if kinds.is_empty() { p.empty { (lang.t("desk.cannot_file")) } }
            ul.kinds { @for k in &kinds { li { a href={ "/requests/new?kind=" (k) } { (k.label()) } } } }
        },
    };
    Ok(view::page(&person, lang.t("desk.new"), "requests", body).into_response())
}

/// The form of `kind`, filled with what was sent, with the problems found.
fn form(person: &Person, kind: Kind, sent: &[(String, String)], problems: Option<&str>) -> Markup {
    let lang = person.lang;
    let (_, own) = fileable(person);
    let value = |name: &str| sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    html! {
        h2 { (kind.label()) }
        @if let Some(p) = problems { pre.problem role="alert" #problems { (p) } }
        form.filing method="post" action="/requests/new" {
            (csrf(person))
            input type="hidden" name="kind" value=(kind);
            label { (lang.t("col.applicant"))
                @match &own {
                    Some(own) => { input name="applicant" value=(own) readonly; }
                    None => { input name="applicant" value=(value("applicant")) placeholder="operator:NAME | org:BIN" required; }
                }
            }
            label { (lang.t("col.contacts")) input name="contacts" type="text" value=(value("contacts")) placeholder="it@org.example" required; }
            @for field in kind.fields() {
                @let name = format!("f.{field}");
                label { (field) input name=(name) value=(value(&name)) type=[field.ends_with(".secret").then_some("password")]; }
            }
            button type="submit" { (lang.t("desk.file")) }
        }
    }
}

/// The fields of a sent form (`f.NAME` inputs; empty ones left out).
fn fields_of(sent: &[(String, String)]) -> Value {
    let mut fields = Map::new();
    for (key, value) in sent {
        if let Some(name) = key.strip_prefix("f.").filter(|_| !value.trim().is_empty()) {
            input::set(&mut fields, name, Value::String(value.trim().to_string()));
        }
    }
    Value::Object(fields)
}

/// Files the sent form; shows it again with every problem when the desk refuses it.
pub async fn file(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    let sent: Vec<(String, String)> = person.form(body).await?;
    let get = |name: &str| sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
    let (kinds, own) = fileable(&person);
    let kind: Kind = get("kind")
        .unwrap_or_default()
        .parse()
        .map_err(|e: desk::kind::UnknownKind| ConsoleError::bad_request(e.to_string()))?;
    if !kinds.contains(&kind) {
        return Err(ConsoleError::forbidden("you cannot file an application of this kind"));
    }
    let applicant = match own {
        Some(own) => own,
        None => get("applicant").unwrap_or_default().parse().map_err(ConsoleError::bad_request)?,
    };
    let contacts: Vec<String> = get("contacts")
        .unwrap_or_default()
        .split([',', ' ', ';'])
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let today = day_of(store::now_ms());
    let filing = Filing { kind, applicant, contacts, fields: fields_of(&sent) };
    let refused = |status: StatusCode, text: String| {
        let page = view::page(&person, person.lang.t("desk.new"), "requests", form(&person, kind, &sent, Some(&text)));
        Ok((status, page).into_response())
    };
    match console.app.desk.file(&person.actor(), filing, today).await {
        Ok(record) => Ok(Redirect::to(&format!("/requests/{}", record.id)).into_response()),
        Err(DeskError::Invalid(problems)) => refused(StatusCode::UNPROCESSABLE_ENTITY, problems.to_string()),
        Err(e @ (DeskError::TooEarly { .. } | DeskError::TooMany { .. })) => {
            refused(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => Err(crate::http::api::ApiError::from(e).into()),
    }
}

/// Attaches the form's file to application `id` (the applicant or the duty team).
pub async fn attach(
    State(console): State<Console>,
    person: Person,
    Path(id): Path<i64>,
    body: Unread,
) -> Result<Response> {
    let record = super::desk::seen(&console, &person, id).await?;
    if !Asker::of_person(person.role()).is(&record.application.applicant) {
        return Err(ConsoleError::forbidden("only the applicant and the duty team attach files"));
    }
    let mut form = person.multipart(body, Route::AttachmentForm).await?;
    let mut file = None;
    while let Some(field) = form.next().await? {
        if field.name() != Some("file") || file.is_some() {
            continue;
        }
        let name = field.file_name().unwrap_or("attachment").to_string();
        let given = field.content_type().map(|t| t.to_string()).filter(|t| t != "application/octet-stream");
        let content_type = given.unwrap_or_else(|| input::guess_type(&name).to_string());
        let content = form.keep(field, desk::attachment::MAX_BYTES).await?;
        file = Some((name, content_type, content));
    }
    let (name, content_type, content) = file.ok_or_else(|| ConsoleError::bad_request("choose a file to attach"))?;
    let attached = console.app.desk.attach(&person.actor(), id, (&name, &content_type, &content)).await;
    attached.map_err(|e| ConsoleError::from(crate::http::api::ApiError::from(e)))?;
    Ok(Redirect::to(&format!("/requests/{id}")).into_response())
}
