//! Filing at the desk from the console: the kinds a person may file, the form of one
//! kind as the regulation's form lists it (`form`), every problem shown beside what was
//! typed, the signed application where rules 15 and 15-2 ask for one, and attaching a
//! file to an application (read whole but never beyond the desk's limit). The duty team
//! files for any applicant; operators' and organisations' staff only for their own;
//! auditors not at all.
//!
//! Must not: check the fields itself (the desk does, naming every problem) or take a
//! form without the session's CSRF token.

mod form;

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
use super::view;
use crate::app::requests::{Asker, DeskError, Filing, day_of, input};
use crate::http::body::{Route, Unread};
pub use form::desk_lang;
use form::{Form, Sent, rows, with_rows};

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
pub async fn new(State(console): State<Console>, person: Person, Query(q): Query<NewQuery>) -> Result<Response> {
    let (kinds, _) = fileable(&person);
    let lang = person.lang;
    let chosen = match q.kind.as_deref().map(str::parse::<Kind>) {
        None => None,
        Some(Ok(kind)) if kinds.contains(&kind) => Some(kind),
        Some(_) => return Err(ConsoleError::bad_request("you cannot file an application of this kind")),
    };
    let dl = form::desk_lang(lang);
    let body = match chosen {
        Some(kind) => render(&console, &person, kind, &[], (None, None)),
        None => html! {
            @if kinds.is_empty() { p.empty { (lang.t("desk.cannot_file")) } }
            ul.kinds { @for k in &kinds { li { a href={ "/requests/new?kind=" (k) } { (k.name(dl)) } } } }
        },
    };
    Ok(view::page(&person, lang.t("desk.new"), "requests", body).into_response())
}

/// The form of `kind`, filled with what was sent, with the problems found.
fn render(
    console: &Console,
    person: &Person,
    kind: Kind,
    sent: &Sent,
    (problems, refusal): (Option<&desk::Problems>, Option<String>),
) -> Markup {
    let (_, own) = fileable(person);
    let form = Form {
        person,
        kind,
        own: own.map(|o| o.to_string()),
        sent,
        problems,
        refusal,
        signatures_verified: console.app.desk.verifies_signatures(),
    };
    form.render()
}

/// The fields of a sent form (`f.NAME` inputs; empty ones left out).
fn fields_of(sent: &Sent) -> Value {
    let mut fields = Map::new();
    for (key, value) in sent {
        if let Some(name) = key.strip_prefix("f.").filter(|_| !value.trim().is_empty()) {
            input::set(&mut fields, name, Value::String(value.trim().to_string()));
        }
    }
    Value::Object(fields)
}

/// The most bytes of one text field of the filing form (a certificate chain or a key in
/// PEM fits with room to spare; the desk checks each field's own limit).
const FIELD_BYTES: usize = 64 * 1024;

/// A sent filing form: its text inputs and the signed application, if one was chosen.
/// Multipart from the page (its CSRF token first, checked before any other part is
/// read), urlencoded from a client without a file (read whole within the form limit).
async fn read_form(
    person: &Person,
    body: Unread,
) -> Result<(Vec<(String, String)>, Option<(String, String, Vec<u8>)>)> {
    if !body.content_type().starts_with("multipart/form-data") {
        return Ok((person.form(body).await?, None));
    }
    let mut form = person.multipart(body, Route::AttachmentForm).await?;
    let (mut sent, mut signed) = (Vec::new(), None);
    while let Some(field) = form.next().await? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "signed" {
            let file = field.file_name().unwrap_or("signed.p7s").to_string();
            let content = form.keep(field, desk::attachment::MAX_BYTES).await?;
            if !content.is_empty() {
                signed = Some((file.clone(), input::guess_type(&file).to_string(), content));
            }
        } else {
            sent.push((name, form.text(field, FIELD_BYTES).await?));
        }
    }
    Ok((sent, signed))
}

/// Files the sent form; shows it again with every problem when the desk refuses it. A
/// specialist added or removed shows the form again, filing nothing.
pub async fn file(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    let (sent, signed) = read_form(&person, body).await?;
    let get = |name: &str| sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
    let (kinds, own) = fileable(&person);
    let kind: Kind = get("kind")
        .unwrap_or_default()
        .parse()
        .map_err(|e: desk::kind::UnknownKind| ConsoleError::bad_request(e.to_string()))?;
    if !kinds.contains(&kind) {
        return Err(ConsoleError::forbidden("you cannot file an application of this kind"));
    }
    let page = |status: StatusCode, sent: &Sent, shown: (Option<&desk::Problems>, Option<String>)| {
        let body = render(&console, &person, kind, sent, shown);
        Ok((status, view::page(&person, person.lang.t("desk.new"), "requests", body)).into_response())
    };
    if let Some(op) = get("op") {
        let mut rows: Vec<_> = rows(&sent).into_values().collect();
        match op.strip_prefix("remove:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n < rows.len() && rows.len() > 1 => drop(rows.remove(n)),
            _ if op == "add" && rows.len() < 20 => rows.push(Default::default()),
            _ => {}
        }
        if rows.is_empty() {
            rows.push(Default::default());
        }
        return page(StatusCode::OK, &with_rows(&sent, rows), (None, None));
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
    let filing = Filing { kind, applicant, contacts, fields: fields_of(&sent), signed };
    match console.app.desk.file(&person.actor(), filing, today).await {
        Ok(record) => Ok(Redirect::to(&format!("/requests/{}", record.id)).into_response()),
        Err(DeskError::Invalid(problems)) => page(StatusCode::UNPROCESSABLE_ENTITY, &sent, (Some(&problems), None)),
        Err(e @ (DeskError::TooEarly { .. } | DeskError::TooMany { .. })) => {
            page(StatusCode::CONFLICT, &sent, (None, Some(e.to_string())))
        }
        Err(e @ (DeskError::Signer(_) | DeskError::Signature(_))) => {
            page(StatusCode::UNPROCESSABLE_ENTITY, &sent, (None, Some(e.to_string())))
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
