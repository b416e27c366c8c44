//! A refused or failed console request, shown as a page with its status and a message
//! a person can act on. Store failures map to statuses as the API maps them.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use crate::http::api::ApiError;

/// An error answer of the console.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub message: String,
}

impl ConsoleError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError { status, message: message.into() }
    }

    pub fn forbidden(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn bad_request(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let reason = self.status.canonical_reason().unwrap_or("error");
        let page = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (code) " " (reason) " — perimeter" }
                    link rel="stylesheet" href="/static/console.css";
                }
                body.error {
                    main {
                        h1 { (code) " " (reason) }
                        p.message { (self.message) }
                        p { a href="/" { "perimeter" } }
                    }
                }
            }
        };
        (self.status, Html(page.into_string())).into_response()
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> ConsoleError {
        ConsoleError { status: e.status, message: e.message }
    }
}

impl From<store::StoreError> for ConsoleError {
    fn from(e: store::StoreError) -> ConsoleError {
        ApiError::from(e).into()
    }
}

impl From<catalog::publish::LoadError> for ConsoleError {
    fn from(e: catalog::publish::LoadError) -> ConsoleError {
        ApiError::from(e).into()
    }
}

impl From<anyhow::Error> for ConsoleError {
    fn from(e: anyhow::Error) -> ConsoleError {
        tracing::error!(error = %format!("{e:#}"), "console request failed");
        ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

pub type Result<T> = std::result::Result<T, ConsoleError>;
