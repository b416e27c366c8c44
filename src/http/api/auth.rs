//! Bearer-token authentication: every API request names a live token; the token's role
//! decides what the request may see and change. An organisation's token reaches only
//! the request desk (`/api/v1/requests…`) and its protected sites (`/api/v1/deface/sites…`):
//! every other path refuses it here, before any handler runs, and within them it sees
//! only its own applications and sites.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use store::Role;

use super::{ApiError, AppState};

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: String,
    pub role: Role,
}

impl Caller {
    /// The audit-trail name of this caller.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token)
    }

    /// Refuses with 403 unless the caller may act for `operator`.
    pub fn require_operator(&self, operator: &str) -> Result<(), ApiError> {
        if self.role.may_act_for(operator) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("token '{}' may not see or change operator '{operator}'", self.token)))
        }
    }

    /// Refuses with 403 unless the caller is on the duty team.
    pub fn require_duty(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Duty => Ok(()),
            Role::Operator { .. } | Role::Organisation { .. } => {
                Err(ApiError::forbidden("this needs a duty-team token"))
            }
        }
    }

    /// The operator an operator token is limited to; `None` for the duty team. An
    /// organisation's token (refused outside the desk anyway) is limited to no operator
    /// at all: `Some("")`, a name no operator has.
    pub fn own_operator(&self) -> Option<&str> {
        match &self.role {
            Role::Duty => None,
            Role::Operator { operator } => Some(operator),
            Role::Organisation { .. } => Some(""),
        }
    }
}

/// The paths an organisation's token may use (within them, only its own records).
const ORGANISATION_PATHS: [&str; 2] = ["/api/v1/requests", "/api/v1/deface/sites"];
/// The paths an organisation's token may read.
const ORGANISATION_READS: &str = "/api/v1/waf";

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn organisation_may_use(method: &axum::http::Method, path: &str) -> bool {
    ORGANISATION_PATHS.iter().any(|p| under(path, p))
        || (method == axum::http::Method::GET && under(path, ORGANISATION_READS))
}
/// A caller on the duty team; anyone else is refused with 403 before the handler runs
/// (and so before it reads a body).
pub struct Duty(pub Caller);

impl FromRequestParts<AppState> for Duty {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Duty, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_duty()?;
        Ok(Duty(caller))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing 'Authorization: Bearer TOKEN' header"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer TOKEN'"))?;
        // The API is nested under /api/v1: the path as the client sent it is the original one.
        let path = parts.extensions.get::<axum::extract::OriginalUri>().map_or(parts.uri.path(), |o| o.0.path());
        match state.store.authenticate(secret.trim()).await? {
            Some((token, Role::Organisation { .. })) if !organisation_may_use(&parts.method, path) => {
                Err(ApiError::forbidden(format!(
                    "token '{token}' is an organisation's: it may use only {} and read {ORGANISATION_READS}",
                    ORGANISATION_PATHS.join(" and ")
                )))
            }
            Some((token, role)) => Ok(Caller { token, role }),
            None => Err(unauthorized("the token is unknown or revoked")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_organisation_token_reaches_only_the_desk_its_deface_sites_and_reads_its_waf_sites() {
        use axum::http::Method;
        for ok in
            ["/api/v1/requests", "/api/v1/requests/7", "/api/v1/requests/7/attachments", "/api/v1/deface/sites/a.kz"]
        {
            assert!(super::organisation_may_use(&Method::POST, ok), "{ok}");
        }
        for refused in [
            "/api/v1/requestsx",
            "/api/v1/operators",
            "/api/v1/blocks",
            "/api/v1/",
            "/",
            "/api/v1/wafx",
            "/api/v1/deface/sitesx",
        ] {
            assert!(!super::organisation_may_use(&Method::GET, refused), "{refused}");
        }
        assert!(super::organisation_may_use(&Method::GET, "/api/v1/waf/sites/a.kz/events"));
        assert!(!super::organisation_may_use(&Method::POST, "/api/v1/waf/sites/a.kz/exclusions"));
    }
}
