//! Reading an uploaded list as it arrives: the request body streams through a small
//! bounded channel into the list reader on a blocking thread, so an upload costs the
//! memory of the rows kept, never of the whole body, and a body over the configured
//! limit is refused with 413 without being read further.
//!
//! Must not: buffer the body whole.

use std::io::{self, BufReader, Read};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use catalog::format::{self, Format, Problems, RawRow};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::ApiError;

/// Chunks in flight between the connection and the reader.
const IN_FLIGHT: usize = 8;

/// Reads the list in `body` (already limited to the configured size) in `format`.
pub async fn read_list(format: Format, mut body: Body) -> Result<(Vec<RawRow>, Problems), ApiError> {
    let (tx, rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        format::read(format, BufReader::with_capacity(64 * 1024, Chunks { rx, current: Bytes::new() }))
    });
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let Ok(data) = frame.into_data() else { continue };
                if tx.send(data).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let read = reader.await;
    if let Some(e) = failure {
        return Err(body_error(&e));
    }
    read.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the list failed: {e}")))
}

/// 413 for a body over the limit, 400 for one that broke off.
fn body_error(e: &axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the list is larger than the API accepts (api.max_body_mib)",
            );
        }
        source = err.source();
    }
    ApiError::bad_request(format!("the upload broke off: {e}"))
}

/// The body's chunks as a reader, for the blocking list reader.
struct Chunks {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
