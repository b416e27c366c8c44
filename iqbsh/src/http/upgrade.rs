//! WebSocket (an HTTP/1.1 `Upgrade: websocket`) through a bumped connection. The
//! handshake is a request like any other (host checked, rules applied by the caller);
//! it goes to the origin on a verified connection of its own, and when the origin
//! answers 101 the two upgraded streams are relayed as a tunnel (idle limit, bytes
//! counted, cut like any tunnel by `standing`) and logged when it closes. Any other answer is passed on as a response.
//!
//! Must not: upgrade without the origin's 101, or reuse the shared origin connection
//! (an upgraded connection speaks WebSocket, not HTTP).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use http::header::{CONNECTION, HeaderValue, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::accept::conn::Conn;
use crate::decide::denial::{Denial, DenyKind};
use crate::http::answer::{refuse, to_client};
use crate::http::forward::to_origin;
use crate::http::link::OriginLink;
use crate::http::page::{ProxyBody, empty};
use crate::report::accesslog::{Action, Record};

/// A WebSocket handshake: `Connection: upgrade` and `Upgrade: websocket`.
pub(crate) fn is_websocket<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let upgrade_named = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = headers.get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    upgrade_named && websocket
}

/// Forwards an allowed WebSocket handshake to the origin and, on its 101, joins the
/// client to it; `record` is written when the WebSocket closes.
pub(crate) async fn websocket(
    conn: &Arc<Conn>,
    origin: &OriginLink,
    mut req: Request<Incoming>,
    authority: &str,
    mut record: Record,
) -> Response<ProxyBody> {
    let client_side = hyper::upgrade::on(&mut req);
    let from_client = Arc::new(AtomicU64::new(0));
    let mut upstream_req = match to_origin(req, authority, false, Arc::clone(&from_client)) {
        Ok(r) => r,
        Err(denial) => return refuse(conn, record, &denial, true),
    };
    // The hop-by-hop headers were stripped; these two are the handshake itself.
    upstream_req.headers_mut().insert(CONNECTION, HeaderValue::from_static("upgrade"));
    upstream_req.headers_mut().insert(UPGRADE, HeaderValue::from_static("websocket"));
    let mut upstream = match origin.reopen(conn).await {
        Ok(u) => u,
        Err(denial) => return refuse(conn, record, &denial, true),
    };
    let mut response = match upstream.send(upstream_req).await {
        Ok(r) => r,
        Err(e) => {
            let denial = Denial::new(DenyKind::Upstream, format!("{authority}: WebSocket handshake failed: {e}"));
            return refuse(conn, record, &denial, true);
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return to_client(Arc::clone(conn), record, response, from_client, None);
    }
    let origin_side = hyper::upgrade::on(&mut response);
    let (parts, _) = response.into_parts();
    record.action = Action::Allow;
    record.status = StatusCode::SWITCHING_PROTOCOLS.as_u16();
    record.scans.extend(crate::http::inspect::unscanned(conn, "WebSocket frames are not scanned"));
    conn.shared.metrics.request(Action::Allow);
    let conn = Arc::clone(conn);
    tokio::spawn(async move {
        match (client_side.await, origin_side.await) {
            (Ok(client), Ok(origin)) => {
                let idle = conn.shared.settings.tunnel_idle;
                let (client, origin) = (TokioIo::new(client), TokioIo::new(origin));
                // The WebSocket outlives the request that opened it: it is cut like a tunnel
                // when its source loses its standing or the connection its lifetime.
                let cut = std::sync::OnceLock::new();
                let until = async {
                    let _ = cut.set(crate::accept::standing::ended(&conn).await);
                };
                let relayed = crate::tls::idle::relay(client, origin, idle, until).await;
                record.bytes_from_client = relayed.from_client;
                record.bytes_to_client = relayed.to_client;
                if relayed.idle {
                    record.reason.push_str(" (closed after the idle limit)");
                }
                if let Some(denial) = cut.get() {
                    record.reason.push_str(&format!(" (cut: {})", denial.reason));
                    record.deny_kind = Some(denial.kind);
                }
            }
            (client, origin) => {
                let why = client.err().or(origin.err()).map(|e| e.to_string()).unwrap_or_default();
                record.reason.push_str(&format!(" (WebSocket not joined: {why})"));
            }
        }
        conn.finish(record);
    });
    // The 101 keeps its Upgrade and Connection headers: they complete the handshake.
    Response::from_parts(parts, empty())
}
