//! The web application firewall's endpoints (rule 17) under `/api/v1/waf`: the protected
//! sites (add, list, show with their state and origins' health, change settings, replace
//! the certificate, exclude a rule, add a virtual patch, remove), a test request
//! explained, the events read from the audit log (filtered, with top rules and clients;
//! one transaction by id), and exclusions proposed from events and confirmed or declined.
//! The duty team does everything; an organisation's token reads its own sites and their
//! events (GET only, refused before any handler for anything else).
//!
//! Must not: hold the checks (`app::waf::Manager` does); show a key.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{Role, WafSiteRecord};
use waf::OriginTls;
use waf::engine::TestRequest;

use super::{ApiError, AppState, Caller, Duty};
use crate::app::waf::events::{self, EventFilter};
use crate::app::waf::settings::SiteSettings;
use crate::app::waf::{Manager, SiteInput, WafError};
use crate::http::body::{Route, Unread};

type ApiResult<T> = Result<T, ApiError>;

impl From<WafError> for ApiError {
    fn from(e: WafError) -> ApiError {
        match e {
            WafError::Store(e) => e.into(),
            WafError::Invalid(_) | WafError::Rules(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            WafError::Unavailable(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

fn manager(s: &AppState) -> Manager<'_> {
    let engine = match &s.waf {
        Some(view) => view.rule_engine().ok_or_else(|| view.engine().err().unwrap_or("no engine").to_string()),
        None => Err("the WAF does not run in this service ([services] waf = false)".into()),
    };
    Manager { store: &s.store, key_file: s.desk.key_file(), engine }
}

/// The sites `caller` may read: every site for the duty team, its own for an organisation.
fn may_read(caller: &Caller, site: &WafSiteRecord) -> bool {
    match &caller.role {
        Role::Duty => true,
        Role::Organisation { organisation } => site.owner_bin.as_deref() == Some(organisation.as_str()),
        Role::Operator { .. } => false,
    }
}

/// The site `domain`, if the caller may read it (404 otherwise, as for a site that is not).
async fn readable(s: &AppState, caller: &Caller, domain: &str) -> ApiResult<WafSiteRecord> {
    if matches!(caller.role, Role::Operator { .. }) {
        return Err(ApiError::forbidden("the WAF's sites are for the duty team and their organisations"));
    }
    let site = s.store.waf_site(domain).await?;
    match may_read(caller, &site) {
        true => Ok(site),
        false => Err(ApiError::new(StatusCode::NOT_FOUND, format!("WAF site '{domain}' does not exist"))),
    }
}

fn state_of(s: &AppState, domain: &str) -> Value {
    match &s.waf {
        Some(view) => json!(view.site_state(domain)),
        None => json!({ "state": "unavailable", "problems": ["the WAF does not run in this service"] }),
    }
}

#[utoipa::path(get, path = "/api/v1/waf/sites", tag = "waf",
    summary = "Protected sites with their state (duty team: all; an organisation: its own)",
    responses((status = 200, description = "the sites"), (status = 403, description = "an operator's token"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn sites(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    if matches!(caller.role, Role::Operator { .. }) {
        return Err(ApiError::forbidden("the WAF's sites are for the duty team and their organisations"));
    }
    let sites: Vec<Value> = s
        .store
        .waf_sites()
        .await?
        .into_iter()
        .filter(|site| may_read(&caller, site))
        .map(|site| json!({ "state": state_of(&s, &site.domain), "site": site }))
        .collect();
    Ok(Json(sites).into_response())
}

/// A site as the duty team adds it through the API.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    domain: String,
    origins: Vec<SocketAddr>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    origin_tls: Option<OriginTls>,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    settings: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    owner_bin: Option<String>,
    #[serde(default)]
    contacts: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/waf/sites", tag = "waf", summary = "Protect a site (duty team)",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"domain\", \"origins\": [\"ADDR:PORT\"], \"aliases\"?, \"origin_tls\"?, \"certificate\"?, \"key\"?, \"settings\"?: {\"mode\": \"detect\", ...}, \"owner_bin\"?, \"contacts\"?}"),
    responses((status = 201, description = "added"), (status = 403, description = "not the duty team"), (status = 409, description = "a name taken"), (status = 422, description = "every problem named"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn add(State(s): State<AppState>, Duty(caller): Duty, body: Unread) -> ApiResult<Response> {
    let new: NewSite = body.json(&caller.actor(), Route::Desk).await?;
    let certificate = match (new.certificate, new.key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("certificate and key go together: give both or neither")),
    };
    let mut settings = SiteSettings::default();
    let problems: Vec<String> = new.settings.iter().flatten().filter_map(|(k, v)| settings.set(k, v).err()).collect();
    if !problems.is_empty() {
        return Err(WafError::Invalid(problems).into());
    }
    let owner = new
        .owner_bin
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: policies::BinError| ApiError::bad_request(e.to_string()))?;
    let input = SiteInput {
        domain: new.domain,
        aliases: new.aliases,
        origins: new.origins,
        origin_tls: new.origin_tls,
        certificate,
        settings,
        owner,
        application: None,
        contacts: new.contacts,
    };
    let site = manager(&s).add(&caller.actor(), input).await?;
    Ok((StatusCode::CREATED, Json(site)).into_response())
}

#[utoipa::path(get, path = "/api/v1/waf/sites/{domain}", tag = "waf",
    summary = "One site: its record, its state and origins' health in the running WAF, its proposals",
    params(("domain" = String, Path, description = "the site's domain")),
    responses((status = 200, description = "site, state, proposals"), (status = 404, description = "no such site, or not the caller's"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn site(State(s): State<AppState>, caller: Caller, Path(domain): Path<String>) -> ApiResult<Response> {
    let site = readable(&s, &caller, &domain).await?;
    let proposals = s.store.waf_proposals(Some(&domain)).await?;
    Ok(Json(json!({ "site": site, "state": state_of(&s, &domain), "proposals": proposals })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    reason: String,
}

#[utoipa::path(delete, path = "/api/v1/waf/sites/{domain}", tag = "waf", summary = "Stop protecting a site (duty team)",
    params(("domain" = String, Path, description = "the site's domain"), ("reason" = String, Query, description = "why, for the audit trail")),
    responses((status = 200, description = "the site as it was"), (status = 404, description = "no such site"), (status = 422, description = "no reason"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(s.store.remove_waf_site(&caller.actor(), &domain, &q.reason).await?).into_response())
}

#[utoipa::path(put, path = "/api/v1/waf/sites/{domain}/settings", tag = "waf",
    summary = "Change settings by name, all at once (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"mode\": \"detect\", \"paranoia\": 2, \"rate_limit\": \"50/100\", \"deny\": \"198.51.100.7\", \"origins\": [...], ...}"),
    responses((status = 200, description = "the site"), (status = 409, description = "changed meanwhile"), (status = 422, description = "every problem named; nothing changed"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn settings(
    State(s): State<AppState>,
    Duty(caller): Duty,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    let pairs: serde_json::Map<String, Value> = body.json(&caller.actor(), Route::Desk).await?;
    let pairs: Vec<(String, Value)> = pairs.into_iter().collect();
    Ok(Json(manager(&s).set(&caller.actor(), &domain, &pairs).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    certificate: String,
    key: String,
}

#[utoipa::path(put, path = "/api/v1/waf/sites/{domain}/certificate", tag = "waf",
    summary = "Replace the certificate and key (duty team; the key is sealed, never shown)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"certificate\": PEM, \"key\": PEM}"),
    responses((status = 200, description = "the site"), (status = 422, description = "not a pair naming the site"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn certificate(
    State(s): State<AppState>,
    Duty(caller): Duty,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    let body: CertificateBody = body.json(&caller.actor(), Route::Desk).await?;
    let site = manager(&s).set_certificate(&caller.actor(), &domain, (body.certificate, body.key)).await?;
    Ok(Json(site).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExclusionBody {
    rule: u32,
    #[serde(default)]
    target: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/waf/sites/{domain}/exclusions", tag = "waf", summary = "Switch a rule off for the site (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"rule\": 942100, \"target\"?: \"ARGS:comment\"}"),
    responses((status = 200, description = "the site"), (status = 422, description = "a bad target"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn exclude(
    State(s): State<AppState>,
    Duty(caller): Duty,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    let body: ExclusionBody = body.json(&caller.actor(), Route::Desk).await?;
    let site = manager(&s).exclude(&caller.actor(), &domain, body.rule, body.target.as_deref()).await?;
    Ok(Json(site).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    patch: String,
}

#[utoipa::path(post, path = "/api/v1/waf/sites/{domain}/patches", tag = "waf",
    summary = "Add a virtual patch, loaded by the engine first (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"patch\": \"SecRule ...\"}"),
    responses((status = 200, description = "the site"), (status = 422, description = "the engine's message; nothing changed"), (status = 503, description = "no engine here"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn patch(
    State(s): State<AppState>,
    Duty(caller): Duty,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    let body: PatchBody = body.json(&caller.actor(), Route::Desk).await?;
    Ok(Json(manager(&s).patch(&caller.actor(), &domain, &body.patch).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    #[serde(default = "get")]
    method: String,
    #[serde(default = "root")]
    uri: String,
    /// `"Name: value"` lines.
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default)]
    data: Option<String>,
}

fn get() -> String {
    "GET".into()
}

fn root() -> String {
    "/".into()
}

#[utoipa::path(post, path = "/api/v1/waf/sites/{domain}/test", tag = "waf",
    summary = "Run one request through the site's rules, sent nowhere: verdict, score, rule ids (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"method\", \"uri\", \"headers\"?: [\"K: V\"], \"data\"?}"),
    responses((status = 200, description = "{\"verdict\":\"block\",\"score\":10,\"rules\":[942100,949110]}"), (status = 503, description = "no engine here"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn test(
    State(s): State<AppState>,
    Duty(caller): Duty,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    let body: TestBody = body.json(&caller.actor(), Route::Desk).await?;
    let mut request = TestRequest::new(&body.method, &body.uri);
    for h in &body.headers {
        let bad = || ApiError::bad_request(format!("header '{h}' is not 'Name: value'"));
        let (name, value) = h.split_once(':').ok_or_else(bad)?;
        let name = http::HeaderName::try_from(name.trim()).map_err(|_| bad())?;
        request.headers.append(name, http::HeaderValue::try_from(value.trim()).map_err(|_| bad())?);
    }
    if let Some(data) = body.data {
        if !request.headers.contains_key(http::header::CONTENT_TYPE) {
            let form = http::HeaderValue::from_static("application/x-www-form-urlencoded");
            request.headers.insert(http::header::CONTENT_TYPE, form);
        }
        request.body = data.into_bytes();
    }
    Ok(Json(manager(&s).test(&domain, request).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    rule: Option<u32>,
    client: Option<String>,
    path: Option<String>,
    from: Option<String>,
    to: Option<String>,
    action: Option<String>,
    limit: Option<usize>,
}

/// The filter of a query, limited to `sites`.
pub fn event_filter(q: &EventsQuery, sites: Vec<String>) -> Result<EventFilter, String> {
    let instant = |t: &Option<String>| t.as_deref().map(crate::app::output::parse_instant).transpose();
    let client = q.client.as_deref().filter(|c| !c.is_empty()).map(|c| {
        c.parse::<ipnet::IpNet>()
            .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("client '{c}' is not an address or a network"))
    });
    Ok(EventFilter {
        sites: Some(sites),
        rule: q.rule,
        client: client.transpose()?,
        path: q.path.clone().filter(|p| !p.is_empty()),
        from: instant(&q.from).map_err(|e| format!("from: {e:#}"))?,
        to: instant(&q.to).map_err(|e| format!("to: {e:#}"))?,
        action: q.action.clone().filter(|a| !a.is_empty()),
        transaction: None,
    })
}

fn audit_log(s: &AppState) -> ApiResult<std::path::PathBuf> {
    s.waf
        .as_ref()
        .map(|w| w.audit_log().to_path_buf())
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the WAF does not run in this service"))
}

#[utoipa::path(get, path = "/api/v1/waf/sites/{domain}/events", tag = "waf",
    summary = "The site's refused and matched requests, newest first, with top rules and clients",
    params(("domain" = String, Path, description = "the site's domain"), ("rule" = Option<u32>, Query, description = "a rule id"), ("client" = Option<String>, Query, description = "an address or network"), ("path" = Option<String>, Query, description = "a path prefix"), ("from" = Option<String>, Query, description = "RFC 3339"), ("to" = Option<String>, Query, description = "RFC 3339"), ("action" = Option<String>, Query, description = "blocked, matched or refused"), ("limit" = Option<usize>, Query, description = "1..1000, default 100")),
    responses((status = 200, description = "events, matched, top_rules, top_clients"), (status = 400, description = "a bad filter"), (status = 404, description = "no such site, or not the caller's"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn site_events(
    State(s): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let site = readable(&s, &caller, &domain).await?;
    let filter = event_filter(&q, vec![site.domain]).map_err(ApiError::bad_request)?;
    let (log, limit) = (audit_log(&s)?, q.limit.unwrap_or(100).clamp(1, 1000));
    let found = tokio::task::spawn_blocking(move || events::read(&log, &filter, limit))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(found).into_response())
}

#[utoipa::path(get, path = "/api/v1/waf/events/{transaction}", tag = "waf",
    summary = "One transaction, by the id its block page shows",
    params(("transaction" = String, Path, description = "the transaction id")),
    responses((status = 200, description = "the event"), (status = 404, description = "not in the log, or not the caller's site's"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn event(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let log = audit_log(&s)?;
    let found = tokio::task::spawn_blocking(move || events::find(&log, &id))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such transaction in the WAF's audit log");
    let event = found.ok_or_else(not_found)?;
    readable(&s, &caller, &event.site).await.map_err(|_| not_found())?;
    Ok(Json(event).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalsQuery {
    site: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/waf/proposals", tag = "waf", summary = "Proposed exclusions, newest first (duty team)",
    params(("site" = Option<String>, Query, description = "one site's only")),
    responses((status = 200, description = "the proposals"), (status = 403, description = "not the duty team"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn proposals(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ProposalsQuery>,
) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(s.store.waf_proposals(q.site.as_deref()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalBody {
    rule: u32,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    note: String,
}

#[utoipa::path(post, path = "/api/v1/waf/sites/{domain}/proposals", tag = "waf",
    summary = "Propose an exclusion from a false positive (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"rule\", \"target\"?, \"transaction\"?, \"note\"?}"),
    responses((status = 201, description = "proposed"), (status = 422, description = "a bad rule or target"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn propose(
    State(s): State<AppState>,
    Duty(caller): Duty,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    let b: ProposalBody = body.json(&caller.actor(), Route::Desk).await?;
    let (target, tx) = (b.target.as_deref(), b.transaction.as_deref());
    let proposal = manager(&s).propose(&caller.actor(), &domain, (b.rule, target), tx, &b.note).await?;
    Ok((StatusCode::CREATED, Json(proposal)).into_response())
}

#[utoipa::path(post, path = "/api/v1/waf/proposals/{id}/confirm", tag = "waf",
    summary = "Confirm a proposed exclusion: it joins the site's settings (duty team)",
    params(("id" = i64, Path, description = "the proposal")),
    responses((status = 200, description = "the site"), (status = 409, description = "already decided, or the site changed"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn confirm(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(manager(&s).confirm(&caller.actor(), id).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/waf/proposals/{id}/decline", tag = "waf", summary = "Decline a proposed exclusion (duty team)",
    params(("id" = i64, Path, description = "the proposal")),
    responses((status = 200, description = "the proposal"), (status = 409, description = "already decided"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = [])))]
pub async fn decline(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(s.store.decline_waf_proposal(&caller.actor(), id).await?).into_response())
}
