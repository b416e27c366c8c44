//! Multipart forms (the console's uploads): the form must send its CSRF token as its
//! first part, which is read alone (at most [`TOKEN_BYTES`]) and handed to the console
//! to check before any later part is read; then the parts one by one, text fields
//! bounded, files passed on chunk by chunk or kept in memory under the shared budget.
//!
//! Why the first part and not a header or the URL: the console's forms work without
//! script, so a browser can send nothing but the form's own fields, and it sends them
//! in the order the page lists them (the HTML form submission algorithm; every console
//! form puts its token first); a token in the URL would end up in histories and logs.
//!
//! Must not: read past the first part before the token is checked.

use axum::body::Bytes;
use multer::{Field, Multipart};

use super::paced::Paced;
use super::{BodyError, Route, Slot, Unread};

/// The most bytes of the first part (a CSRF token is 64).
pub const TOKEN_BYTES: usize = 1024;

/// A multipart form whose first part was read and whose other parts are not.
pub struct FormParts {
    multipart: Multipart<'static>,
    slot: Slot,
}

impl Unread {
    /// Opens a multipart form for `who` on `route`: the text of its first part, which
    /// must be named `first`, and the rest unread.
    pub async fn multipart(self, who: &str, route: Route, first: &str) -> Result<(String, FormParts), BodyError> {
        let boundary = multer::parse_boundary(self.content_type())
            .map_err(|_| BodyError::ContentType("multipart/form-data with a boundary"))?;
        let (paced, slot) = self.open(who, route)?.into_parts();
        let mut parts = FormParts { multipart: Multipart::new(stream(paced), boundary), slot };
        let refused = || BodyError::Form(format!("the form must send its '{first}' field first; reload the page"));
        let field = parts.next().await?.ok_or_else(refused)?;
        if field.name() != Some(first) {
            return Err(refused());
        }
        let text = parts.text(field, TOKEN_BYTES).await?;
        Ok((text, parts))
    }
}

/// The paced body as the stream multer reads; it ends at the first error.
fn stream(paced: Paced) -> impl futures_util::Stream<Item = Result<Bytes, BodyError>> + Send + 'static {
    futures_util::stream::unfold(Some(paced), |state| async move {
        let mut paced = state?;
        match paced.chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(paced))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// What multer's error means: the body's own error when reading it failed.
pub fn error(e: multer::Error) -> BodyError {
    match e {
        multer::Error::StreamReadFailed(inner) => match inner.downcast::<BodyError>() {
            Ok(body) => *body,
            Err(other) => BodyError::Broken(other.to_string()),
        },
        other => BodyError::Form(format!("the form is malformed: {other}")),
    }
}

impl FormParts {
    /// The next part, `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Field<'static>>, BodyError> {
        self.multipart.next_field().await.map_err(error)
    }

    /// A part's text, at most `max` bytes.
    pub async fn text(&mut self, mut field: Field<'static>, max: usize) -> Result<String, BodyError> {
        let name = field.name().unwrap_or_default().to_string();
        let mut out = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(error)? {
            if out.len() + chunk.len() > max {
                return Err(BodyError::Form(format!("the form's field '{name}' is longer than {max} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out).map_err(|_| BodyError::Form(format!("the form's field '{name}' is not UTF-8")))
    }

    /// A part's content kept in memory, at most `max` bytes, reserved from the shared
    /// budget (held until this form is dropped).
    pub async fn keep(&mut self, mut field: Field<'static>, max: usize) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(error)? {
            if out.len() + chunk.len() > max {
                return Err(BodyError::TooLarge { limit: max });
            }
            self.slot.hold(chunk.len())?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
