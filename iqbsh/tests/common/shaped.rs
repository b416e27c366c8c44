//! Bodies of a given shape for the content-scanning tests, served by both
//! test origins: `/at/{start|middle|end}/N` is N bytes of the pattern with the
//! EICAR test file put at its start, middle or end (`?chunked`: sent in 16 KiB
//! chunks with no length, else with `Content-Length`); `/stall/N` sends N bytes
//! (in 16 KiB chunks) and then nothing, never ending; `/events/N/K` is a server-sent event stream
//! of N events 300 ms apart whose K-th event (from 1; 0 for none) carries EICAR.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::Response;
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::icap::EICAR;
use super::origin::pattern;

pub type TestBody = BoxBody<Bytes, Infallible>;

/// A body fed by a task; it ends when the task drops its sender.
struct Fed(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Fed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

pub fn full(bytes: Bytes) -> TestBody {
    Full::new(bytes).boxed()
}

/// N bytes of the pattern with EICAR at `pos` (`start`, `middle` or `end`; `none`: without it).
pub fn placed(pos: &str, n: usize) -> Option<Bytes> {
    let at = match pos {
        "none" => return Some(pattern(n)),
        "start" => 0,
        "middle" => n / 2,
        "end" => n,
        _ => return None,
    };
    let body = pattern(n);
    let mut out = Vec::with_capacity(n + EICAR.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(EICAR);
    out.extend_from_slice(&body[at..]);
    Some(Bytes::from(out))
}

/// `bytes` in 16 KiB frames with no length (HTTP/1.1 sends them chunked).
pub fn chunked(bytes: Bytes) -> TestBody {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for start in (0..bytes.len()).step_by(16 << 10) {
            if tx.send(bytes.slice(start..bytes.len().min(start + (16 << 10)))).await.is_err() {
                return;
            }
        }
    });
    Fed(rx).boxed()
}

fn with_type(body: TestBody, kind: &'static str) -> Response<TestBody> {
    let mut response = Response::new(body);
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static(kind));
    response
}

/// The shaped answer for `path` (with `query`), if it names one.
pub fn respond(path: &str, query: Option<&str>) -> Option<Response<TestBody>> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts[..] {
        ["at", pos, n] => {
            let bytes = placed(pos, n.parse().ok()?)?;
            let body = if query == Some("chunked") { chunked(bytes) } else { full(bytes) };
            Some(with_type(body, "application/octet-stream"))
        }
        ["stall", n] => {
            let bytes = pattern(n.parse().ok()?);
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                for start in (0..bytes.len()).step_by(16 << 10) {
                    if tx.send(bytes.slice(start..bytes.len().min(start + (16 << 10)))).await.is_err() {
                        return;
                    }
                }
                // Never ends while the receiver is there; gives up after a minute.
                tokio::time::timeout(Duration::from_secs(60), tx.closed()).await.ok();
            });
            Some(with_type(Fed(rx).boxed(), "application/octet-stream"))
        }
        ["events", n, k] => {
            let (n, k): (usize, usize) = (n.parse().ok()?, k.parse().ok()?);
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                for i in 1..=n {
                    let data = if i == k { String::from_utf8_lossy(EICAR).into_owned() } else { format!("tick {i}") };
                    if tx.send(Bytes::from(format!("id: {i}\ndata: {data}\n\n"))).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
            Some(with_type(Fed(rx).boxed(), "text/event-stream"))
        }
        _ => None,
    }
}
