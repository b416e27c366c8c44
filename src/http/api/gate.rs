//! The duty team's grants of services besides the web proxy (rule 15-2), which the
//! packet gate enforces: list, grant, revoke. Duty tokens only; the caller is
//! authorised before the body is read, which is read as a change of a few fields
//! (`crate::http::body`, [`Route::Change`]).
//!
//! Must not: program the kernel (the running gate follows the store through the
//! snapshot, nudged here).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState, Caller};
use crate::app::grant::{expiry, service};
use crate::http::body::{Route, Unread};

type ApiResult<T> = Result<T, ApiError>;

/// A grant as the duty team asks for it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    /// The organisation's BIN.
    bin: String,
    /// `tcp` or `udp`.
    proto: String,
    /// `1194,51820` or `6881-6889`.
    ports: String,
    /// Destination prefixes; anywhere when absent.
    #[serde(default)]
    to: Vec<String>,
    reason: String,
    /// The last day in force (`YYYY-MM-DD`, Kazakhstan time) or an RFC 3339 instant.
    until: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revocation {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Revoked grants too.
    #[serde(default)]
    all: bool,
}

/// The body as `T`, read only now (after the caller's rights were checked).
async fn read<T: DeserializeOwned>(body: Unread, caller: &Caller) -> ApiResult<T> {
    let (bytes, _held) = body.bytes(&caller.actor(), Route::Change).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body: {e}")))
}

#[utoipa::path(
    get,
    path = "/api/v1/gate/grants",
    tag = "gateways",
    summary = "The duty team's grants of services besides the web proxy (duty team)",
    params(("all" = Option<bool>, Query, description = "revoked grants too")),
    responses((status = 200, description = "grants, newest first, each with its state (live, expired, revoked)"), (status = 403, description = "not the duty team"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn grants(State(s): State<AppState>, caller: Caller, Query(q): Query<ListQuery>) -> ApiResult<Response> {
    caller.require_duty()?;
    let now = snapshot::now_ms();
    let rows: Vec<serde_json::Value> = s
        .store
        .gate_grants(q.all)
        .await?
        .iter()
        .map(|g| {
            let mut v = serde_json::to_value(g).unwrap_or_default();
            v["state"] = g.state(now).into();
            v
        })
        .collect();
    Ok(Json(rows).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/gate/grants",
    tag = "gateways",
    summary = "Grant an organisation a service besides the web proxy (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"bin\", \"proto\": \"tcp|udp\", \"ports\": \"1194,51820\", \"to\": [\"PREFIX\"], \"reason\", \"until\": \"YYYY-MM-DD or RFC 3339\"}"),
    responses((status = 201, description = "the grant"), (status = 400, description = "a field is wrong (named)"), (status = 403, description = "not the duty team"), (status = 404, description = "no such organisation"), (status = 422, description = "no reason, or an expiry already past"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn add_grant(State(s): State<AppState>, caller: Caller, body: Unread) -> ApiResult<Response> {
    caller.require_duty()?;
    let req: GrantRequest = read(body, &caller).await?;
    let bad = |e: anyhow::Error| ApiError::bad_request(e.to_string());
    let service = service(&req.proto, &req.ports, &req.to).map_err(bad)?;
    let bin = req.bin.parse().map_err(|e| ApiError::bad_request(format!("bin: {e}")))?;
    let until = req.until.as_deref().map(expiry).transpose().map_err(bad)?;
    let grant = s.store.grant_service(&caller.actor(), &bin, &service, &req.reason, until).await?;
    let _ = s.nudge.try_send(());
    Ok((StatusCode::CREATED, Json(grant)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/gate/grants/{id}/revoke",
    tag = "gateways",
    summary = "Revoke a grant: its traffic stops within a second (duty team)",
    params(("id" = i64, Path, description = "the grant")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"reason\"}"),
    responses((status = 200, description = "the revoked grant"), (status = 403, description = "not the duty team"), (status = 404, description = "no such grant"), (status = 409, description = "revoked already"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn revoke_grant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Unread,
) -> ApiResult<Response> {
    caller.require_duty()?;
    let req: Revocation = read(body, &caller).await?;
    let grant = s.store.revoke_grant(&caller.actor(), id, &req.reason).await?;
    let _ = s.nudge.try_send(());
    Ok(Json(grant).into_response())
}
