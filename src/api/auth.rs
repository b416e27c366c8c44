//! Bearer-token authentication: every API request names a live token; the token's role
//! decides what the request may see and change.

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
            Role::Operator { .. } => Err(ApiError::forbidden("this needs a duty-team token")),
        }
    }

    /// The operator an operator token is limited to; `None` for the duty team.
    pub fn own_operator(&self) -> Option<&str> {
        match &self.role {
            Role::Duty => None,
            Role::Operator { operator } => Some(operator),
        }
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
        match state.store.authenticate(secret.trim()).await? {
            Some((token, role)) => Ok(Caller { token, role }),
            None => Err(unauthorized("the token is unknown or revoked")),
        }
    }
}
