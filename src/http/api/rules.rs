//! Rule-1 endpoints: the gateways' observation ingest, unknown addresses, notices and
//! blocks. Operators read their own; only the duty team blocks and unblocks.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use snapshot::Class;
use store::{BlockFilter, Observation};

use super::{ApiError, AppState, Caller};
use crate::app::catalog::target;
use crate::app::output::parse_instant;

type ApiResult<T> = Result<T, ApiError>;

/// A time in a report: RFC 3339 text, or Unix milliseconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Instant {
    Millis(i64),
    Text(String),
}

impl Instant {
    fn millis(&self) -> Result<i64, String> {
        match self {
            Instant::Millis(ms) => Ok(*ms),
            Instant::Text(text) => parse_instant(text).map_err(|e| e.to_string()),
        }
    }
}

/// One report as the gateways send it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    ip: std::net::IpAddr,
    link: String,
    first_seen: Instant,
    last_seen: Instant,
    #[serde(default = "one")]
    count: i64,
}

fn one() -> i64 {
    1
}

impl Report {
    fn observation(self) -> Result<Observation, String> {
        let at = |t: &Instant| t.millis().map_err(|e| format!("{}: {e}", self.ip));
        let (first_seen, last_seen) = (at(&self.first_seen)?, at(&self.last_seen)?);
        Ok(Observation { ip: self.ip, link: self.link, first_seen, last_seen, count: self.count })
    }
}

/// Ingests a batch of unknown-address reports (duty-team or gateway tokens). Times are
/// RFC 3339 or Unix milliseconds. Reports for addresses the catalog knows by now are
/// skipped and counted; reserved and the gateway's own addresses, and times that cannot
/// be milliseconds, are refused one by one with the reason.
#[utoipa::path(
    post,
    path = "/api/v1/observations",
    tag = "rules",
    summary = "Report unknown source addresses (duty team, gateways)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "[{\"ip\", \"link\", \"first_seen\", \"last_seen\", \"count\"}]"),
    responses((status = 200, description = "accepted, already known and refused counts"), (status = 400, description = "malformed batch"), (status = 403, description = "not the duty team"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn observe(State(s): State<AppState>, caller: Caller, body: axum::body::Bytes) -> ApiResult<Response> {
    caller.require_duty()?;
    let reports: Vec<Report> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "malformed observation batch (line {}, column {}): {e}; expected [{{\"ip\", \"link\", \"first_seen\", \"last_seen\", \"count\"}}] with times in RFC 3339 or Unix milliseconds",
            e.line(),
            e.column()
        ))
    })?;
    let own = own_addresses(&s).await;
    let now = store::now_ms();
    let (mut batch, mut refused) = (Vec::with_capacity(reports.len()), Vec::new());
    for report in reports {
        match report.observation().and_then(|o| catalog::ingest::screen(&o, &own, now).map(|()| o)) {
            Ok(o) => batch.push(o),
            Err(why) => refused.push(why),
        }
    }
    let snapshot = s.snapshot.current();
    let classes = snapshot.classify_many(&batch.iter().map(|o| o.ip).collect::<Vec<_>>());
    let (unknown, known): (Vec<_>, Vec<_>) =
        batch.into_iter().zip(classes).partition(|(_, class)| !matches!(class, Class::Known { .. }));
    let unknown = unknown.into_iter().map(|(o, _)| o).collect();
    let mut report = s.store.record_observations(unknown).await?;
    refused.append(&mut report.refused);
    let body = json!({ "accepted": report.accepted, "already_known": known.len(), "refused": refused,
        "over_limit": report.over_limit });
    Ok(Json(body).into_response())
}

/// This node's own addresses (never a user's source): its gateways' listeners, the
/// proxy's configured own addresses and every address of the host's interfaces.
async fn own_addresses(s: &AppState) -> Vec<std::net::IpAddr> {
    let mut own = match &s.proxy {
        Some(p) => p.own_addresses(),
        None => {
            tokio::task::spawn_blocking(iqbsh::interface_addresses).await.ok().and_then(Result::ok).unwrap_or_default()
        }
    };
    if let Some(m) = &s.mail {
        own.push(m.relay.local_addr().ip());
    }
    own.retain(|ip| !ip.is_unspecified());
    own
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorQuery {
    operator: Option<String>,
}

/// The operator a listing is limited to: an operator token sees only its own.
fn scope(caller: &Caller, asked: Option<String>) -> ApiResult<Option<String>> {
    match (caller.own_operator(), asked) {
        (None, asked) => Ok(asked),
        (Some(own), None) => Ok(Some(own.to_string())),
        (Some(own), Some(asked)) => {
            caller.require_operator(&asked)?;
            Ok(Some(own.to_string()))
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/unknown",
    tag = "rules",
    summary = "Live unknown addresses with notice and deadline",
    params(("operator" = Option<String>, Query, description = "only this operator's (operators always get their own)")),
    responses((status = 200, description = "the addresses"), (status = 403, description = "another operator's"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn unknown(State(s): State<AppState>, caller: Caller, Query(q): Query<OperatorQuery>) -> ApiResult<Response> {
    let operator = scope(&caller, q.operator)?;
    Ok(Json(s.store.unknown_addresses(operator.as_deref()).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/notices",
    tag = "rules",
    summary = "Notices sent to operators and their delivery",
    params(("operator" = Option<String>, Query, description = "only this operator's (operators always get their own)")),
    responses((status = 200, description = "the notices"), (status = 403, description = "another operator's"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn notices(State(s): State<AppState>, caller: Caller, Query(q): Query<OperatorQuery>) -> ApiResult<Response> {
    let operator = scope(&caller, q.operator)?;
    Ok(Json(s.store.notices(operator.as_deref()).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/blocks",
    tag = "rules",
    summary = "Blocks",
    params(("all" = Option<bool>, Query, description = "include lifted blocks"), ("kind" = Option<String>, Query, description = "auto or manual"), ("operator" = Option<String>, Query, description = "only this operator's (operators always get their own)"), ("ip" = Option<String>, Query, description = "only blocks covering this address")),
    responses((status = 200, description = "the blocks"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn blocks(
    State(s): State<AppState>,
    caller: Caller,
    Query(mut filter): Query<BlockFilter>,
) -> ApiResult<Response> {
    filter.operator = scope(&caller, filter.operator)?;
    Ok(Json(s.store.blocks(&filter).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// An address or a prefix.
    target: String,
    reason: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/blocks",
    tag = "rules",
    summary = "Block an address or prefix (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"target\": \"ADDRESS or PREFIX\", \"reason\"}"),
    responses((status = 201, description = "the block"), (status = 400, description = "bad target"), (status = 403, description = "not the duty team"), (status = 409, description = "already blocked"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn add_block(state: State<AppState>, caller: Caller, req: Json<BlockRequest>) -> ApiResult<Response> {
    change_block(state, caller, req, true).await.map(|b| (StatusCode::CREATED, b).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/blocks/lift",
    tag = "rules",
    summary = "Lift the live block on exactly this address or prefix (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"target\": \"ADDRESS or PREFIX\", \"reason\"}"),
    responses((status = 200, description = "the lifted block"), (status = 403, description = "not the duty team"), (status = 404, description = "no live block"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn lift_block(state: State<AppState>, caller: Caller, req: Json<BlockRequest>) -> ApiResult<Response> {
    change_block(state, caller, req, false).await.map(IntoResponse::into_response)
}

/// Blocks (`add`) or lifts a block, then asks for a fresh snapshot at once.
async fn change_block(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<BlockRequest>,
    add: bool,
) -> ApiResult<Json<store::Block>> {
    caller.require_duty()?;
    let net = target(&req.target).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let block = if add {
        s.store.block(&caller.actor(), net, &req.reason).await?
    } else {
        s.store.unblock(&caller.actor(), net, &req.reason).await?
    };
    let _ = s.nudge.try_send(());
    Ok(Json(block))
}
