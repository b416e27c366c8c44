//! Defacement-protection endpoints (rule 18): the duty team adds, removes, checks and
//! confirms the host keys of protected sites and sees them all; an organisation sees its
//! own sites only, and opens and closes their maintenance windows and accepts their
//! changes. Another organisation's site answers exactly as a site that does not exist.
//! Secrets come in the body, are sealed at once and never come back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deface::{Deface, DefaceError, NewSite};
use serde::Deserialize;
use serde_json::json;
use store::{DefaceOwner, Role, StoreError};

use super::{ApiError, AppState, Caller};
use crate::http::body::{Route, Unread};

type ApiResult<T> = Result<T, ApiError>;

impl From<DefaceError> for ApiError {
    fn from(e: DefaceError) -> ApiError {
        match e {
            DefaceError::Store(s) => s.into(),
            DefaceError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            DefaceError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            DefaceError::Unreachable(_) => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
            DefaceError::Disk(_) => {
                tracing::error!(error = %e, "defacement protection's disk failed while serving the API");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

fn service(s: &AppState) -> ApiResult<&Deface> {
    s.deface.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "defacement protection is off ([services] deface = false)")
    })
}

/// Refuses with 404 unless the caller is the duty team or the site's organisation: an
/// organisation learns nothing of a site that is not its own, not even that it exists.
async fn require_site(s: &AppState, caller: &Caller, domain: &str) -> ApiResult<()> {
    let owner = s.store.deface_owner(domain).await?;
    match &caller.role {
        Role::Duty => Ok(()),
        Role::Organisation { organisation } if owner.org.as_deref() == Some(organisation.as_str()) => Ok(()),
        _ => Err(StoreError::NotFound { what: "protected site", name: domain.to_string() }.into()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/deface/sites",
    tag = "deface",
    summary = "Protected sites with their state (the duty team: all; an organisation: its own)",
    responses((status = 200, description = "the sites"), (status = 403, description = "an operator's token"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn sites(State(s): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let own = match &caller.role {
        Role::Duty => None,
        Role::Organisation { organisation } => Some(s.store.deface_domains_of(organisation.as_str()).await?),
        Role::Operator { .. } => {
            return Err(ApiError::forbidden("defacement protection is for the duty team and organisations"));
        }
    };
    let all = service(&s)?.sites().await?;
    let shown: Vec<_> = all.into_iter().filter(|v| own.as_ref().is_none_or(|o| o.contains(&v.record.domain))).collect();
    Ok(Json(shown).into_response())
}

/// A site to protect, as the duty team sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSiteRequest {
    domain: String,
    /// `sftp://USER@HOST[:PORT]/PATH`.
    access: String,
    /// The account's password, or its private key (OpenSSH PEM text).
    secret: String,
    #[serde(default)]
    addresses: Vec<std::net::IpAddr>,
    #[serde(default)]
    pages: Vec<String>,
    /// Per page: `{"url", "mask"}` (a CSS selector or `re:REGEX`).
    #[serde(default)]
    masks: Vec<MaskRequest>,
    #[serde(default)]
    exclude: Vec<String>,
    /// BIN of the owner organisation.
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    contacts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskRequest {
    url: String,
    mask: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/deface/sites",
    tag = "deface",
    summary = "Protect a site (duty team); its reference is taken at its first check",
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"domain\", \"access\": \"sftp://USER@HOST[:PORT]/PATH\", \"secret\", \"addresses\"?, \"pages\"?, \"masks\"?: [{\"url\", \"mask\"}], \"exclude\"?, \"org\"?, \"contacts\"?}"),
    responses((status = 201, description = "protected"), (status = 403, description = "not the duty team"), (status = 409, description = "already protected"), (status = 422, description = "invalid field"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn add(State(s): State<AppState>, caller: Caller, body: Unread) -> ApiResult<Response> {
    caller.require_duty()?;
    let req: NewSiteRequest = body.json(&caller.actor(), Route::Desk).await?;
    let deface = service(&s)?;
    let mut site = NewSite::from_application(&req.domain, &req.addresses, &req.access, "", &req.secret, &req.pages, 0)?;
    site.application_id = None;
    site.spec.exclude = req.exclude;
    for m in &req.masks {
        site.mask(&m.url, &m.mask)?;
    }
    let owner = DefaceOwner { org: req.org, contacts: req.contacts };
    let sealer = s.desk.sealer().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let record = crate::app::deface::sites::protect((&s.store, &sealer), &caller.actor(), site, owner).await?;
    Ok((StatusCode::CREATED, Json(deface.site(&record.domain).await?.site)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/deface/sites/{domain}",
    tag = "deface",
    summary = "One site with its owner, findings (diffs) and events",
    params(("domain" = String, Path, description = "the site's domain")),
    responses((status = 200, description = "site, owner"), (status = 404, description = "no such site (or not the organisation's)"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn site(State(s): State<AppState>, caller: Caller, Path(domain): Path<String>) -> ApiResult<Response> {
    require_site(&s, &caller, &domain).await?;
    let detail = service(&s)?.site(&domain).await?;
    let owner = s.store.deface_owner(&domain).await?;
    Ok(Json(json!({ "site": detail, "owner": owner })).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/deface/sites/{domain}",
    tag = "deface",
    summary = "Stop protecting a site: its record, history and reference copy go (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    responses((status = 204, description = "removed"), (status = 403, description = "not the duty team"), (status = 404, description = "no such site"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn remove(State(s): State<AppState>, caller: Caller, Path(domain): Path<String>) -> ApiResult<Response> {
    caller.require_duty()?;
    service(&s)?.remove_site(&caller.actor(), &domain).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/deface/sites/{domain}/check",
    tag = "deface",
    summary = "Check a site now (duty team): one cycle, an unauthorised change put back",
    params(("domain" = String, Path, description = "the site's domain")),
    responses((status = 200, description = "what the check saw and did"), (status = 403, description = "not the duty team"), (status = 404, description = "no such site"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn check(State(s): State<AppState>, caller: Caller, Path(domain): Path<String>) -> ApiResult<Response> {
    caller.require_duty()?;
    Ok(Json(service(&s)?.check_now(&domain).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// A finding's number; the newest not accepted when absent.
    #[serde(default)]
    finding: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/deface/sites/{domain}/accept",
    tag = "deface",
    summary = "Accept a change: what was put back is made as found and becomes the reference",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"finding\"?: N}"),
    responses((status = 200, description = "the accepted finding"), (status = 404, description = "no such site (or not the organisation's)"), (status = 409, description = "nothing to accept"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn accept(
    State(s): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    require_site(&s, &caller, &domain).await?;
    let req: AcceptRequest = body.json_or_default(&caller.actor(), Route::Change).await?;
    Ok(Json(service(&s)?.accept(&caller.actor(), &domain, req.finding).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    open: bool,
}

#[utoipa::path(
    put,
    path = "/api/v1/deface/sites/{domain}/window",
    tag = "deface",
    summary = "Open a maintenance window, or close it (the site as it is becomes the reference)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"open\": true|false}"),
    responses((status = 200, description = "the site"), (status = 404, description = "no such site (or not the organisation's)"), (status = 409, description = "already open, or not open"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn window(
    State(s): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    require_site(&s, &caller, &domain).await?;
    let req: WindowRequest = body.json(&caller.actor(), Route::Change).await?;
    let deface = service(&s)?;
    deface.window(&caller.actor(), &domain, req.open).await?;
    Ok(Json(deface.site(&domain).await?.site).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostKeyRequest {
    /// `TYPE BASE64`; the pinned key when absent.
    #[serde(default)]
    key: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/deface/sites/{domain}/hostkey",
    tag = "deface",
    summary = "Confirm the site's SSH host key, the pinned one or a new one (duty team)",
    params(("domain" = String, Path, description = "the site's domain")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "{\"key\"?: \"TYPE BASE64\"}"),
    responses((status = 200, description = "the site"), (status = 403, description = "not the duty team"), (status = 404, description = "no such site"), (status = 409, description = "no key pinned yet"), (status = 422, description = "not a public key"), (status = 401, description = "missing, unknown or revoked token")),
    security(("bearer" = []))
)]
pub async fn host_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    body: Unread,
) -> ApiResult<Response> {
    caller.require_duty()?;
    let deface = service(&s)?;
    let req: HostKeyRequest = body.json_or_default(&caller.actor(), Route::Change).await?;
    let key = match req.key {
        Some(k) => k,
        None => s.store.deface_site(&domain).await?.host_key.ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("{domain} has no host key pinned yet: it is pinned at its first check"),
            )
        })?,
    };
    deface.confirm_host_key(&caller.actor(), &domain, &key).await?;
    Ok(Json(deface.site(&domain).await?.site).into_response())
}
