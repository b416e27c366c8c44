//! WebSockets: the handshake (`Connection: upgrade`, `Upgrade: websocket`, HTTP/1.1) is
//! a request like any other, decided by the engine head and body first; then it goes to
//! an origin on a connection of its own, and on the origin's 101 the two upgraded
//! streams are relayed until either side closes, the WebSocket is idle for
//! `timeouts.websocket_idle`, or the WAF shuts down (after the drain time). Any other
//! answer of the origin is passed on as a response.
//!
//! Must not: upgrade without the origin's 101, or put a WebSocket's connection in a
//! keep-alive pool.

use std::sync::Arc;
use std::time::Duration;

use http::header::{CONNECTION, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::body::{OriginBody, full};
use super::forward;
use super::metrics::Reason;
use super::request::Exchange;
use crate::engine::Outcome;
use crate::sites::Active;

/// A WebSocket handshake over HTTP/1.1.
pub(crate) fn is_websocket<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let upgrade_named = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = headers.get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    req.version() == http::Version::HTTP_11 && upgrade_named && websocket
}

/// Sends a handshake the engine passed to an origin and, on its 101, joins the client to it.
pub(crate) async fn websocket(
    exchange: &Exchange,
    site: &Arc<Active>,
    host: &str,
    parts: &http::request::Parts,
    client_side: OnUpgrade,
    outcome: Option<Outcome>,
) -> Response<OriginBody> {
    let shared = Arc::clone(&exchange.conn.shared);
    let head = forward::to_origin(parts, exchange.conn.client.ip(), host, true);
    let failed = |why: String| exchange.refuse(502, Reason::Origin, why, outcome.as_ref());
    let (origin, io) = match site.origins.dedicated().await {
        Ok(open) => open,
        Err(e) => return failed(e.to_string()),
    };
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await {
        Ok(pair) => pair,
        Err(e) => return failed(format!("origin {origin}: {e}")),
    };
    tokio::spawn(connection.with_upgrades());
    let request = Request::from_parts(head, full(""));
    let answer = tokio::time::timeout(shared.config.timeouts.origin_response, sender.send_request(request)).await;
    let mut response = match answer {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return failed(format!("origin {origin}: WebSocket handshake failed: {e}")),
        Err(_) => return failed(format!("origin {origin}: no answer to the WebSocket handshake")),
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return exchange.pass(response, origin, outcome.as_ref());
    }
    let origin_side = hyper::upgrade::on(&mut response);
    let idle = shared.config.timeouts.websocket_idle;
    let drain = shared.config.timeouts.drain;
    let mut stop = shared.stop.clone();
    tokio::spawn(async move {
        let (client, origin) = match (client_side.await, origin_side.await) {
            (Ok(client), Ok(origin)) => (TokioIo::new(client), TokioIo::new(origin)),
            (client, origin) => {
                let why = client.err().or(origin.err()).map(|e| e.to_string()).unwrap_or_default();
                return tracing::debug!(error = %why, "WebSocket not joined");
            }
        };
        let cut = async {
            let _ = stop.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(drain).await;
        };
        tokio::select! {
            () = relay(client, origin, idle) => {}
            () = cut => {}
        }
    });
    let (parts, _) = response.into_parts();
    exchange.pass(Response::from_parts(parts, full("")), origin, outcome.as_ref())
}

/// Copies both ways until one side closes or nothing moved for `idle`.
async fn relay(a: impl AsyncRead + AsyncWrite, b: impl AsyncRead + AsyncWrite, idle: Duration) {
    let (mut a_read, mut a_write) = tokio::io::split(a);
    let (mut b_read, mut b_write) = tokio::io::split(b);
    let (mut from_a, mut from_b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let mut quiet_until = Instant::now() + idle;
    loop {
        let moved = tokio::select! {
            n = a_read.read(&mut from_a) => match n {
                Ok(n) if n > 0 => b_write.write_all(&from_a[..n]).await.is_ok(),
                _ => false,
            },
            n = b_read.read(&mut from_b) => match n {
                Ok(n) if n > 0 => a_write.write_all(&from_b[..n]).await.is_ok(),
                _ => false,
            },
            () = tokio::time::sleep_until(quiet_until) => false,
        };
        if !moved {
            let _ = a_write.shutdown().await;
            let _ = b_write.shutdown().await;
            return;
        }
        quiet_until = Instant::now() + idle;
    }
}
