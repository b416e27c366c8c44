//! API errors: a status and a JSON body with a message a person can act on, plus the
//! list of problems when an uploaded list was refused.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog::ImportError;
use catalog::format::ShownProblems;
use serde_json::json;
use store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The problems of a refused list.
    pub problems: Option<ShownProblems>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), problems: None }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(problems) = &self.problems {
            body["problems"] = json!(problems.shown);
            body["more_problems"] = json!(problems.more);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match &e {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Db(_) | StoreError::Migrate(_) => {
                tracing::error!(error = %e, "store failure while serving the API");
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; try again later");
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> ApiError {
        match e {
            ImportError::Rejected(problems) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("the list has {} problem(s); nothing was applied", problems.total()),
                problems: Some(problems),
            },
            ImportError::Store(e) => e.into(),
        }
    }
}

impl From<catalog::publish::LoadError> for ApiError {
    fn from(e: catalog::publish::LoadError) -> ApiError {
        tracing::error!(error = %e, "snapshot failure while serving the API");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the catalog snapshot is unavailable; try again later")
    }
}
