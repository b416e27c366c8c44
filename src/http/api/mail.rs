//! Mail-gateway endpoints (duty team only): the registry of connected mail systems —
//! connect, list, show with history and traffic counters, suspend, resume, disconnect; the relay's queue and
//! the release or deletion of held mail.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use policies::MailStatus;
use serde::Deserialize;
use serde_json::json;
use store::NewMailSystem;

use super::{ApiError, AppState, Caller};
use crate::http::body::{Route, Unread};

type ApiResult<T> = Result<T, ApiError>;

#[utoipa::path(
    get,
    path = "/api/v1/mail/systems",
    tag = "mail",
    summary = "Connected mail systems (duty team)",
    responses((status = 200, description = "the systems"), (status = 403, description = "not the duty team"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn systems(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(s.store.mail_systems().await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/mail/systems",
    tag = "mail",
    summary = "Connect a mail system (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"name\", \"owner_bin\", \"domains\": [...], \"servers\": [...], \"deliver_to\"?, \"contacts\": [...]}"),
    responses((status = 201, description = "connected"), (status = 403, description = "not the duty team"), (status = 409, description = "name, domain or server taken"), (status = 422, description = "invalid field"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn connect(State(s): State<AppState>, caller: Caller, body: Unread) -> ApiResult<Response> {
    caller.require_duty()?;
    let new: NewMailSystem = body.json(&caller.actor(), Route::Change).await?;
    let system = s.store.connect_mail_system(&caller.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(system)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/mail/systems/{name}",
    tag = "mail",
    summary = "One mail system with its history and traffic-watch counters",
    params(("name" = String, Path, description = "mail system name")),
    responses((status = 200, description = "system, history, traffic"), (status = 404, description = "no such system"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn system(State(s): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    caller.require_duty()?;
    let system = s.store.mail_system(&name).await?;
    let history = s.store.changes(Some(&format!("mail:{name}")), 100).await?;
    let live = s.mail.as_ref().and_then(|m| m.watch.as_deref());
    let traffic = crate::app::mail::traffic(&s.store, live, system.id)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    Ok(Json(json!({ "system": system, "history": history, "traffic": traffic })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `active` (resume), `suspended` or `disconnected`.
    status: MailStatus,
    reason: String,
    /// For `disconnected`: an agreed time (RFC 3339) instead of now.
    #[serde(default)]
    at: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/mail/systems/{name}/status",
    tag = "mail",
    summary = "Suspend, resume or disconnect (now or at an agreed time)",
    params(("name" = String, Path, description = "mail system name")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"status\": \"active|suspended|disconnected\", \"reason\", \"at\"?}"),
    responses((status = 200, description = "the system"), (status = 400, description = "bad request"), (status = 409, description = "disconnected already"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn set_status(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    caller.require_duty()?;
    let req: StatusRequest = body.json(&caller.actor(), Route::Change).await?;
    let system = match (&req.at, req.status) {
        (Some(at), MailStatus::Disconnected) => {
            let at = crate::app::output::parse_instant(at).map_err(|e| ApiError::bad_request(e.to_string()))?;
            s.store.schedule_disconnect(&caller.actor(), &name, at, &req.reason).await?
        }
        (Some(_), _) => return Err(ApiError::bad_request("'at' is only for status 'disconnected'")),
        (None, status) => s.store.set_mail_status(&caller.actor(), &name, status, &req.reason).await?,
    };
    Ok(Json(system).into_response())
}

fn gateway(s: &AppState) -> ApiResult<&crate::app::mail::MailGateway> {
    s.mail.as_deref().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the mail relay is not running"))
}

/// What the relay has queued, per connected system (held, deferred, oldest).
#[utoipa::path(
    get,
    path = "/api/v1/mail/queue",
    tag = "mail",
    summary = "Queued, held and deferred mail per system",
    responses((status = 200, description = "per system"), (status = 503, description = "the relay is not running"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn queue(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_duty()?;
    let gateway = gateway(&s)?;
    let registry = gateway.registry.load();
    let lines: Vec<_> = gateway
        .relay
        .queue_summary()
        .into_iter()
        .map(|q| {
            let name = q.system.and_then(|id| registry.get(id)).map(|sys| sys.name.clone());
            let oldest = q.oldest.map(|t| crate::app::output::when((t.unix_timestamp_nanos() / 1_000_000) as i64));
            json!({ "system": name, "queued": q.queued, "held": q.held, "deferred": q.deferred, "oldest": oldest })
        })
        .collect();
    Ok(Json(lines).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldRequest {
    /// `release` (the system must be active again) or `delete` (after review).
    action: String,
    reason: String,
}

/// Releases or deletes a system's held mail; audited.
#[utoipa::path(
    post,
    path = "/api/v1/mail/systems/{name}/held",
    tag = "mail",
    summary = "Release or delete a suspended system's held mail",
    params(("name" = String, Path, description = "mail system name")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"action\": \"release|delete\", \"reason\"}"),
    responses((status = 200, description = "how many messages"), (status = 409, description = "not possible now"), (status = 503, description = "the relay is not running"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn held(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    caller.require_duty()?;
    let req: HeldRequest = body.json(&caller.actor(), Route::Change).await?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::bad_request("a reason is required"));
    }
    let gateway = gateway(&s)?;
    let record = s.store.mail_system(&name).await?;
    let id = epbsh::SystemId::try_from(record.id)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let result = match req.action.as_str() {
        "release" => gateway.relay.release_held(id).await,
        "delete" => gateway.relay.delete_held(id).await,
        other => return Err(ApiError::bad_request(format!("unknown action '{other}': use release or delete"))),
    };
    let count = result.map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    let event = json!({ "action": req.action, "messages": count, "reason": req.reason.trim() });
    s.store.record(&caller.actor(), &format!("mail.held.{}", req.action), &format!("mail:{name}"), event).await?;
    Ok(Json(json!({ "system": name, "action": req.action, "messages": count })).into_response())
}
