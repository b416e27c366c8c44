//! Reading a person's forms, after the handler has checked who they are and what they
//! may do: a urlencoded form is read whole (within the console's form limit) and
//! refused unless it carries the session's CSRF token; a multipart form (an upload)
//! must send the token as its first part, checked before any later part is read.
//!
//! Must not: hand a handler a field of a form whose token was not checked.

use serde::de::DeserializeOwned;

use super::auth::Person;
use super::error::{ConsoleError, Result};
use crate::http::body::{BodyError, FormParts, Route, Unread};

impl From<BodyError> for ConsoleError {
    fn from(e: BodyError) -> ConsoleError {
        ConsoleError::new(e.status(), e.to_string())
    }
}

impl Person {
    /// The urlencoded form in `body`, as `T`, once its CSRF token is this session's.
    pub async fn form<T: DeserializeOwned>(&self, body: Unread) -> Result<T> {
        let (bytes, _held) = body.bytes(&self.actor(), Route::Form).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::bad_request(format!("malformed form: {e}")))?;
        self.check_csrf(pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()))?;
        serde_urlencoded::from_bytes(&bytes).map_err(|e| ConsoleError::bad_request(format!("malformed form: {e}")))
    }

    /// The multipart form in `body` on `route`, its first part (the CSRF token) checked.
    pub async fn multipart(&self, body: Unread, route: Route) -> Result<FormParts> {
        let (token, parts) = body.multipart(&self.actor(), route, "csrf").await?;
        self.check_csrf(Some(&token))?;
        Ok(parts)
    }
}
