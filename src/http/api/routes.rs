//! The API's handlers: operators, organisations, lists (import and export), lookups,
//! history and the audit trail. Each checks the caller's role first.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use catalog::format::{self, Format};
use catalog::{Disclosure, ImportRequest};
use policies::Bin;
use serde::Deserialize;
use serde_json::json;
use snapshot::Class;
use store::Role;
use store::{BlockFilter, NewOperator};

use super::{ApiError, AppState, Caller};
use crate::app::catalog::{Lookup, export_rows};
use crate::app::output::{parse_day, parse_instant};
use crate::http::body::{Route, Unread};

type ApiResult<T> = Result<T, ApiError>;

/// For load balancers, without a token: 200 while the service serves (from its last
/// snapshot even when the store is unreachable, which the answer says), 503 once it
/// has begun to stop, so traffic drains away before the listeners close.
pub async fn ready(State(s): State<AppState>) -> Response {
    let reachable =
        tokio::time::timeout(std::time::Duration::from_secs(1), s.store.generation()).await.is_ok_and(|g| g.is_ok());
    let body = json!({
        "ready": !s.stop.is_stopped(),
        "store": if reachable { "reachable" } else { "unreachable" },
        "snapshot_generation": s.snapshot.current().generation(),
        "waf": s.waf.as_ref().map_or_else(|| json!({ "state": "off" }), |w| w.readiness()),
    });
    let status = if s.stop.is_stopped() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (status, Json(body)).into_response()
}

#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "tokens",
    summary = "The calling token's name and role",
    responses((status = 200, description = "name and role"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn whoami(caller: Caller) -> Json<serde_json::Value> {
    Json(json!({ "token": caller.token, "role": caller.role }))
}

#[utoipa::path(
    get,
    path = "/api/v1/operators",
    tag = "catalog",
    summary = "Operators (an operator token sees only its own)",
    responses((status = 200, description = "the operators"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn operators(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let mut ops = s.store.operators().await?;
    if let Some(own) = caller.own_operator() {
        ops.retain(|o| o.name == own);
    }
    Ok(Json(ops).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/operators",
    tag = "catalog",
    summary = "Register an operator (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"name\", \"full_name\", \"contacts\": [...], \"links\": [...]}"),
    responses((status = 201, description = "registered"), (status = 403, description = "not the duty team"), (status = 409, description = "name or link taken"), (status = 422, description = "invalid field"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn add_operator(State(s): State<AppState>, caller: Caller, body: Unread) -> ApiResult<Response> {
    caller.require_duty()?;
    let new: NewOperator = body.json(&caller.actor(), Route::Change).await?;
    let op = s.store.add_operator(&caller.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(op)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/operators/{operator}",
    tag = "catalog",
    summary = "One operator",
    params(("operator" = String, Path, description = "operator handle")),
    responses((status = 200, description = "the operator"), (status = 403, description = "another operator's"), (status = 404, description = "no such operator"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn operator(State(s): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    caller.require_operator(&name)?;
    Ok(Json(s.store.operator(&name).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    bin: String,
    name: String,
    operators: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations",
    tag = "catalog",
    summary = "Organisations (an operator token: those it connects)",
    responses((status = 200, description = "the organisations"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn organisations(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    Ok(Json(s.store.organisations(caller.own_operator()).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/organisations",
    tag = "catalog",
    summary = "Register an organisation (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"bin\", \"name\", \"operators\": [...]}"),
    responses((status = 201, description = "registered"), (status = 400, description = "invalid BIN"), (status = 403, description = "not the duty team"), (status = 409, description = "BIN taken"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn add_organisation(State(s): State<AppState>, caller: Caller, body: Unread) -> ApiResult<Response> {
    caller.require_duty()?;
    let new: NewOrganisation = body.json(&caller.actor(), Route::Change).await?;
    let bin: Bin = new.bin.parse().map_err(|e: policies::BinError| ApiError::bad_request(e.to_string()))?;
    let org = s.store.add_organisation(&caller.actor(), &bin, &new.name, &new.operators).await?;
    Ok((StatusCode::CREATED, Json(org)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
}

#[utoipa::path(
    put,
    path = "/api/v1/operators/{operator}/prefixes",
    tag = "catalog",
    summary = "Replace the operator's list as a whole",
    params(("operator" = String, Path, description = "operator handle"), ("dry_run" = Option<bool>, Query, description = "only compute the difference")),
    request_body(content = String, content_type = "text/csv", description = "CSV rows prefix,bin[,comment], or a JSON array of {prefix, bin, comment} sent as application/json"),
    responses((status = 200, description = "the difference, applied unless dry_run"), (status = 403, description = "another operator's"), (status = 415, description = "neither CSV nor JSON"), (status = 422, description = "every problem with its line; nothing applied"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn import(
    State(s): State<AppState>,
    caller: Caller,
    Path(operator): Path<String>,
    Query(q): Query<ImportQuery>,
    body: Unread,
) -> ApiResult<Response> {
    caller.require_operator(&operator)?;
    let format = Format::from_content_type(body.content_type()).ok_or_else(|| {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the list as Content-Type: text/csv or application/json")
    })?;
    let reading = body.open(&caller.actor(), Route::List).map_err(super::upload::list_error)?;
    let (rows, problems) = super::upload::read_list(format, reading).await?;
    let disclosure = if caller.own_operator().is_some() { Disclosure::OwnOnly } else { Disclosure::Full };
    let actor = caller.actor();
    let request = ImportRequest { actor: &actor, operator: &operator, dry_run: q.dry_run, disclosure };
    let outcome = catalog::import(&s.store, &request, rows, problems, &|_, _| {}).await?;
    if outcome.applied {
        let _ = s.nudge.try_send(());
    }
    Ok(Json(outcome).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<Format>,
}

#[utoipa::path(
    get,
    path = "/api/v1/operators/{operator}/prefixes",
    tag = "catalog",
    summary = "The operator's current list",
    params(("operator" = String, Path, description = "operator handle"), ("format" = Option<String>, Query, description = "csv or json (default)")),
    responses((status = 200, description = "the list"), (status = 403, description = "another operator's"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn export(
    State(s): State<AppState>,
    caller: Caller,
    Path(operator): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    caller.require_operator(&operator)?;
    let format = q.format.unwrap_or(Format::Json);
    let rows = export_rows(&s.store, &operator).await.map_err(|e| match e.downcast::<store::StoreError>() {
        Ok(store) => ApiError::from(store),
        Err(other) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    })?;
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
    };
    Ok(([(header::CONTENT_TYPE, content_type)], format::write(format, &rows)).into_response())
}

fn parse_ip(text: &str) -> ApiResult<IpAddr> {
    text.parse().map_err(|_| ApiError::bad_request(format!("'{text}' is not an IPv4 or IPv6 address")))
}

/// Whether an operator may learn about `ip`: it is in its list, or blocked on its
/// behalf. Another operator's address, an address in no list and someone else's block
/// all get the same answer (the API's lookup and the console's address search).
pub async fn own_address(
    store: &store::Store,
    snapshot: &snapshot::Snapshot,
    class: &Class<'_>,
    ip: IpAddr,
    own: &str,
) -> Result<bool, store::StoreError> {
    if snapshot.holder(ip).is_some_and(|(_, operator, _)| operator == own) {
        return Ok(true);
    }
    if !matches!(class, Class::Blocked { .. }) {
        return Ok(false);
    }
    let filter = BlockFilter { ip: Some(ip), operator: Some(own.into()), ..Default::default() };
    Ok(!store.blocks(&filter).await?.is_empty())
}

#[utoipa::path(
    get,
    path = "/api/v1/lookup/{ip}",
    tag = "catalog",
    summary = "Longest-prefix match of an address in the current snapshot",
    params(("ip" = String, Path, description = "IPv4 or IPv6 address")),
    responses((status = 200, description = "known, unknown or blocked"), (status = 400, description = "not an address"), (status = 403, description = "in another operator's list"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn lookup(State(s): State<AppState>, caller: Caller, Path(ip): Path<String>) -> ApiResult<Response> {
    let ip = parse_ip(&ip)?;
    let snapshot = s.snapshot.current();
    let class = snapshot.classify(ip);
    if let Some(own) = caller.own_operator()
        && !own_address(&s.store, &snapshot, &class, ip, own).await?
    {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("{ip} is not in operator '{own}''s list")));
    }
    Ok(Json(Lookup::new(ip, class)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    at: Option<String>,
    on: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/history/{ip}",
    tag = "catalog",
    summary = "Who held an address",
    params(("ip" = String, Path, description = "IPv4 or IPv6 address"), ("at" = Option<String>, Query, description = "an RFC 3339 instant"), ("on" = Option<String>, Query, description = "a Kazakhstan day YYYY-MM-DD")),
    responses((status = 200, description = "the assignments"), (status = 400, description = "bad address or time"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn history(
    State(s): State<AppState>,
    caller: Caller,
    Path(ip): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Response> {
    let ip = parse_ip(&ip)?;
    let bad = |e: anyhow::Error| ApiError::bad_request(e.to_string());
    let (from, to) = match (q.at, q.on) {
        (Some(at), _) => parse_instant(&at).map(|t| (t, t + 1)).map_err(bad)?,
        (None, Some(day)) => parse_day(&day).map_err(bad)?,
        (None, None) => (i64::MIN, i64::MAX),
    };
    let mut holders = s.store.holders(ip, from, to).await?;
    if let Some(own) = caller.own_operator() {
        holders.retain(|a| a.operator == own);
    }
    Ok(Json(holders).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    subject: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    summary = "The audit trail, newest first",
    params(("subject" = Option<String>, Query, description = "exact subject, e.g. operator:NAME"), ("limit" = Option<i64>, Query, description = "1..10000, default 100")),
    responses((status = 200, description = "the changes"), (status = 403, description = "an operator asking for another subject"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn audit(State(s): State<AppState>, caller: Caller, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    let subject = match (&caller.role, q.subject) {
        (Role::Duty, subject) => subject,
        (Role::Operator { operator }, None) => Some(format!("operator:{operator}")),
        (Role::Operator { operator }, Some(s)) if s == format!("operator:{operator}") => Some(s),
        (Role::Operator { .. }, Some(_)) => {
            return Err(ApiError::forbidden("an operator token sees only its own operator's changes"));
        }
        (Role::Organisation { .. }, _) => {
            return Err(ApiError::forbidden("an organisation's token reads no audit trail"));
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(Json(s.store.changes(subject.as_deref(), limit).await?).into_response())
}

pub async fn not_found(_caller: Caller) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API endpoint; see the README for the /api/v1 routes")
}

/// Prometheus metrics of the gateways (duty team, or a scraper with a duty token).
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    tag = "gateways",
    summary = "Prometheus metrics of the gateways and defacement protection (duty team)",
    responses((status = 200, description = "text/plain metrics"), (status = 403, description = "not the duty team"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn metrics(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_duty()?;
    let mut body = s.proxy.as_ref().map(|p| p.render_metrics()).unwrap_or_default();
    if let Some(mail) = &s.mail {
        body.push_str(&mail.relay.render_metrics());
    }
    if let Some(gate) = &s.gate {
        body.push_str(&gate.render_metrics().await);
    }
    if let Some(d) = &s.deface {
        body.push_str(&deface::render_metrics(&d.metrics()));
    }
    if let Some(waf) = &s.waf {
        body.push_str(&waf.render_metrics());
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
