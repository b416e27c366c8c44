//! Reading an uploaded list as it arrives: the request body streams through a small
//! bounded channel into the list reader on a blocking thread, so an upload costs the
//! memory of the rows kept, never of the whole body; the body is read at the listener's
//! pace and within the list limit (`crate::http::body`).
//!
//! Must not: buffer the body whole.

use std::io::{self, BufReader, Read};

use axum::body::Bytes;
use axum::http::StatusCode;
use catalog::format::{self, Format, Problems, RawRow};
use tokio::sync::mpsc;

use super::ApiError;
use crate::http::body::{BodyError, Reading};

/// Chunks in flight between the connection and the reader.
const IN_FLIGHT: usize = 8;

/// Reads the list in `body` (opened for its caller) in `format`.
pub async fn read_list(format: Format, mut body: Reading) -> Result<(Vec<RawRow>, Problems), ApiError> {
    let (tx, rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        format::read(format, BufReader::with_capacity(64 * 1024, Chunks { rx, current: Bytes::new() }))
    });
    let mut failure = None;
    loop {
        match body.chunk().await {
            Ok(Some(data)) => {
                if tx.send(data).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let read = reader.await;
    if let Some(e) = failure {
        return Err(list_error(e));
    }
    read.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the list failed: {e}")))
}

/// Why a list was not read; a list over its limit names the setting that sets it.
pub fn list_error(e: BodyError) -> ApiError {
    match e {
        BodyError::TooLarge { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the list is larger than the API accepts ({limit} bytes, api.max_body_mib)"),
        ),
        other => other.into(),
    }
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
