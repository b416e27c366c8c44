//! The body as a handler receives it ([`Unread`]: nothing read yet) and as it reads it
//! once it has checked the caller ([`Reading`]): whole into memory under the shared
//! budget (as JSON, or bytes), or chunk by chunk for a route that streams it
//! elsewhere (a list into its reader, a file to disk).
//!
//! Must not: read before `open`; keep a whole body in memory without reserving it.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::paced::Paced;
use super::{Bodies, BodyError, Route, Slot};

/// A request body nobody has read: the last argument of a handler that takes a body.
pub struct Unread {
    body: Body,
    content_type: String,
    length: Option<u64>,
    bodies: Option<Arc<Bodies>>,
}

impl<S: Send + Sync> FromRequest<S> for Unread {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, _: &S) -> Result<Unread, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let text = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        Ok(Unread {
            content_type: text(header::CONTENT_TYPE).unwrap_or_default().to_string(),
            length: text(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
            bodies: parts.extensions.get::<Arc<Bodies>>().cloned(),
            body,
        })
    }
}

impl Unread {
    /// The body's declared content type (empty when none).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// Begins reading for `who` on `route`: a declared length over the route's limit is
    /// refused at once, as is a caller or a server with no place for another body.
    pub fn open(self, who: &str, route: Route) -> Result<Reading, BodyError> {
        // Without the listener's registry nothing is read: fail closed.
        let bodies = self.bodies.ok_or(BodyError::Full)?;
        let limit = route.limit(bodies.list_bytes);
        if self.length.is_some_and(|n| n > limit as u64) {
            return Err(BodyError::TooLarge { limit });
        }
        let slot = bodies.enter(who, route)?;
        let paced = Paced::new(self.body, bodies.config.pace(), limit);
        Ok(Reading { paced, slot, declared: self.length })
    }

    /// The body read whole as JSON of type `T` (Content-Type `application/json`).
    pub async fn json<T: DeserializeOwned>(self, who: &str, route: Route) -> Result<T, BodyError> {
        let essence = self.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(BodyError::ContentType("application/json"));
        }
        let (bytes, _slot) = self.open(who, route)?.whole().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let at = format!("line {}, column {}", e.line(), e.column());
            match e.classify() {
                serde_json::error::Category::Data => {
                    BodyError::Malformed(format!("what this request takes ({at}): {e}"))
                }
                _ => BodyError::Form(format!("the body is not JSON ({at}): {e}")),
            }
        })
    }

    /// As [`Unread::json`] for an optional body: `T::default()` when the request names
    /// no body type (the body left out; anything sent without a type is not read).
    pub async fn json_or_default<T: DeserializeOwned + Default>(self, who: &str, route: Route) -> Result<T, BodyError> {
        if self.content_type.trim().is_empty() {
            return Ok(T::default());
        }
        self.json(who, route).await
    }

    /// The body read whole, with the place and memory it holds (given back when the
    /// [`Slot`] is dropped).
    pub async fn bytes(self, who: &str, route: Route) -> Result<(Bytes, Slot), BodyError> {
        self.open(who, route)?.whole().await
    }
}

/// A body being read by the handler that opened it.
pub struct Reading {
    paced: Paced,
    slot: Slot,
    declared: Option<u64>,
}

impl Reading {
    /// The next bytes, for a route that passes them on at once (they are not reserved).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        self.paced.chunk().await
    }

    /// The rest of the body in memory, each byte reserved from the shared budget.
    pub async fn whole(mut self) -> Result<(Bytes, Slot), BodyError> {
        // A declared length is reserved before it is allocated, the rest as it comes.
        let expected = self.declared.map_or(0, |n| n as usize).min(self.paced.limit());
        self.slot.hold(expected)?;
        let (mut out, mut reserved) = (Vec::with_capacity(expected), expected);
        while let Some(chunk) = self.paced.chunk().await? {
            let needed = out.len() + chunk.len();
            if needed > reserved {
                self.slot.hold(needed - reserved)?;
                reserved = needed;
            }
            out.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(out), self.slot))
    }

    pub(super) fn into_parts(self) -> (Paced, Slot) {
        (self.paced, self.slot)
    }
}
