//! Mail-gateway endpoints (duty team only): the registry of connected mail systems —
//! connect, list, show with history, suspend, resume, disconnect.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog::store::NewMailSystem;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Caller};

type ApiResult<T> = Result<T, ApiError>;

pub async fn systems(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(s.store.mail_systems().await?).into_response())
}

pub async fn connect(State(s): State<AppState>, caller: Caller, Json(new): Json<NewMailSystem>) -> ApiResult<Response> {
    caller.require_duty()?;
    let system = s.store.connect_mail_system(&caller.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(system)).into_response())
}

pub async fn system(State(s): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    caller.require_duty()?;
    let system = s.store.mail_system(&name).await?;
    let history = s.store.changes(Some(&format!("mail:{name}")), 100).await?;
    Ok(Json(json!({ "system": system, "history": history })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `active` (resume), `suspended` or `disconnected`.
    status: String,
    reason: String,
    /// For `disconnected`: an agreed time (RFC 3339) instead of now.
    #[serde(default)]
    at: Option<String>,
}

pub async fn set_status(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<StatusRequest>,
) -> ApiResult<Response> {
    caller.require_duty()?;
    let system = match (&req.at, req.status.as_str()) {
        (Some(at), "disconnected") => {
            let at = crate::output::parse_instant(at).map_err(|e| ApiError::bad_request(e.to_string()))?;
            s.store.schedule_disconnect(&caller.actor(), &name, at, &req.reason).await?
        }
        (Some(_), _) => return Err(ApiError::bad_request("'at' is only for status 'disconnected'")),
        (None, status) => s.store.set_mail_status(&caller.actor(), &name, status, &req.reason).await?,
    };
    Ok(Json(system).into_response())
}
