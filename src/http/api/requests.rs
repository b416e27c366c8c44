//! Request-desk endpoints: file an application, list (overdue first), show one with its
//! timeline, attachments and e-mails, fetch an attachment, and take a transition. An
//! operator's token sees its own applications and those of the organisations it
//! connects, an organisation's token only its own; each files only for itself and may
//! report readiness on its own; the duty team sees and does everything. An application
//! the caller does not see is answered as one that does not exist.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use desk::{Action, Applicant, Kind};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Caller};
use crate::app::requests::{Asker, DeskError, Filing, RequestView, day_of};
use crate::http::body::{Route, Unread};

type ApiResult<T> = Result<T, ApiError>;

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> ApiError {
        match e {
            DeskError::Invalid(_) | DeskError::Signature(_) | DeskError::Signer(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            DeskError::TooEarly { .. } | DeskError::TooMany { .. } | DeskError::Effect(_) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            DeskError::Store(e) => e.into(),
        }
    }
}

fn require_is(caller: &Caller, asker: &Asker, applicant: &Applicant) -> ApiResult<()> {
    match asker.is(applicant) {
        true => Ok(()),
        false => Err(ApiError::forbidden(format!("token '{}' may not act for {applicant}", caller.token))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    overdue: bool,
    /// Only those due within this many working days (overdue ones included).
    due_within: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/requests",
    tag = "requests",
    summary = "Applications, overdue first (an operator token sees only its own)",
    params(
        ("overdue" = Option<bool>, Query, description = "only those past their due day"),
        ("due_within" = Option<u32>, Query, description = "only those due within this many working days")
    ),
    responses((status = 200, description = "the applications with holder and due day"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn list(State(s): State<AppState>, caller: Caller, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    let today = day_of(store::now_ms());
    let records = s.store.applications(&Asker::of_token(&caller.role).visible).await?;
    let mut views: Vec<RequestView> = records.iter().map(|r| s.desk.view(r, today)).collect();
    views.retain(|v| !q.overdue || v.overdue);
    if let Some(days) = q.due_within {
        let horizon = s.desk.horizon(today, days);
        views.retain(|v| v.due.is_some_and(|due| due <= horizon));
    }
    RequestView::sort(&mut views);
    Ok(Json(views).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    kind: Kind,
    applicant: Applicant,
    contacts: Vec<String>,
    fields: serde_json::Value,
    /// The application signed with the organisation's digital signature (rules 15 and
    /// 15-2 when `[desk] trust_anchors` is set).
    #[serde(default)]
    signed: Option<SignedDocument>,
}

/// A signed document given with a filing: its file name and its content in base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDocument {
    name: String,
    #[serde(default = "pkcs7")]
    content_type: String,
    content_base64: String,
}

fn pkcs7() -> String {
    "application/pkcs7-mime".into()
}

#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "requests",
    summary = "File an application",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"kind\", \"applicant\": \"operator:NAME|org:BIN\", \"contacts\": [...], \"fields\": {...}, \"signed\": {\"name\", \"content_base64\"} (optional; required for yearly-lists and risky-service when signatures are verified)}"),
    responses((status = 201, description = "filed"), (status = 403, description = "not this operator's"), (status = 409, description = "refused: the resource was refused less than 30 days ago"), (status = 422, description = "every problem of the fields, each under `fields` with its field and why; or the signature refused"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn file(State(s): State<AppState>, caller: Caller, body: Unread) -> ApiResult<Response> {
    // Who may file for whom is in the body: it is read after the token, within the desk's limit.
    let req: FileRequest = body.json(&caller.actor(), Route::Desk).await?;
    require_is(&caller, &Asker::of_token(&caller.role), &req.applicant)?;
    let today = day_of(store::now_ms());
    let signed = match req.signed {
        Some(d) => {
            use base64::Engine;
            let content = base64::engine::general_purpose::STANDARD
                .decode(d.content_base64.trim())
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("signed.content_base64: {e}")))?;
            Some((d.name, d.content_type, content))
        }
        None => None,
    };
    let filing =
        Filing { kind: req.kind, applicant: req.applicant, contacts: req.contacts, fields: req.fields, signed };
    match s.desk.file(&caller.actor(), filing, today).await {
        Ok(record) => Ok((StatusCode::CREATED, Json(s.desk.view(&record, today))).into_response()),
        Err(DeskError::Invalid(problems)) => {
            let body = json!({ "error": format!("the application has problems:\n{problems}"), "fields": problems });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/requests/{id}",
    tag = "requests",
    summary = "One application with its timeline and attachments",
    params(("id" = i64, Path, description = "application number")),
    responses((status = 200, description = "request, timeline, attachments"), (status = 403, description = "not this operator's"), (status = 404, description = "no such application"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn show(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    let record = Asker::of_token(&caller.role).application(&s.store, id).await?;
    let view = s.desk.view(&record, day_of(store::now_ms()));
    let timeline = s.store.timeline(id).await?;
    let attachments = s.store.attachments(id).await?;
    let mail = s.store.desk_mail(id).await?;
    let signatures = if s.desk.verifies_signatures() { "verified" } else { "not verified" };
    let shown = json!({ "request": view, "timeline": timeline, "attachments": attachments, "mail": mail,
        "signatures": signatures });
    Ok(Json(shown).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/requests/{id}/attachments/{attachment}",
    tag = "requests",
    summary = "An attachment's content, with its content type",
    params(("id" = i64, Path, description = "application number"), ("attachment" = i64, Path, description = "attachment number")),
    responses((status = 200, description = "the file as it was attached"), (status = 404, description = "no such application or attachment (or its content was never kept)"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn attachment(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, attachment)): Path<(i64, i64)>,
) -> ApiResult<Response> {
    let (info, content) = Asker::of_token(&caller.role).attachment(&s.store, (id, attachment)).await?;
    Ok(super::download(&info.content_type, &info.name, content))
}

#[utoipa::path(
    post,
    path = "/api/v1/requests/{id}/actions",
    tag = "requests",
    summary = "Take a transition (operators: only 'ready' on their own)",
    params(("id" = i64, Path, description = "application number")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"action\": \"check|conditions|ready|non-conformities|extend|connect|apply|close|refuse|disconnect\", with \"reason\", \"note\" or \"number\" and \"details\" where the action takes them}"),
    responses((status = 200, description = "the application after it"), (status = 403, description = "not allowed to this caller"), (status = 409, description = "not possible in this state (the answer says why)"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn act(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>, body: Unread) -> ApiResult<Response> {
    let asker = Asker::of_token(&caller.role);
    let record = asker.application(&s.store, id).await?;
    let action: Action = body.json(&caller.actor(), Route::Desk).await?;
    if !asker.may_give(action.verb(), &record.application.applicant) {
        return Err(ApiError::forbidden("the duty team answers; an applicant may only report readiness ('ready')"));
    }
    if action == Action::Lapse {
        return Err(ApiError::bad_request("a lapse is recorded by the desk itself"));
    }
    let today = day_of(store::now_ms());
    let record = s.desk.act(&caller.actor(), id, &action, today).await?;
    Ok(Json(s.desk.view(&record, today)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachQuery {
    name: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/requests/{id}/attachments",
    tag = "requests",
    summary = "Attach a file (the body, with its Content-Type); a signed document (CMS) is verified",
    params(("id" = i64, Path, description = "application number"), ("name" = String, Query, description = "the file's name")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "PDF, PNG, JPEG, PKCS#7 (DER), text or CSV; at most 10 MiB"),
    responses((status = 201, description = "recorded, with the signer of a signed document"), (status = 403, description = "not this operator's"), (status = 422, description = "refused: size, type, or a signature that does not verify"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn attach(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<AttachQuery>,
    body: Unread,
) -> ApiResult<Response> {
    let asker = Asker::of_token(&caller.role);
    let record = asker.application(&s.store, id).await?;
    require_is(&caller, &asker, &record.application.applicant)?;
    let content_type = body.content_type().to_string();
    let (content, _held) = body.bytes(&caller.actor(), Route::Attachment).await?;
    let info = s.desk.attach(&caller.actor(), id, (&q.name, &content_type, &content)).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}
