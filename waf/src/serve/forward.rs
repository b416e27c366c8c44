//! Requests and responses as they cross the WAF: one head the engine and the origin
//! both see (the Host the browser asked for, HTTP/2 cookies joined as HTTP/1.1 carries
//! them), the forwarding fields the origin can trust (`X-Forwarded-For`, `Forwarded`,
//! `X-Forwarded-Proto`, set by the WAF alone: a client's own values are dropped), and no
//! hop-by-hop field in either direction.
//!
//! Must not: pass on a field that frames the message (`Transfer-Encoding`,
//! `Content-Length` of another body, `Connection` and the fields it names): the WAF
//! frames each message itself.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;

/// Fields that concern one connection only (RFC 9110 §7.6.1), plus the proxy ones.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Forwarding fields only the WAF may set.
const FORWARDING: [&str; 5] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"];

/// Removes the hop-by-hop fields and those `Connection` names; keeps `Upgrade` only
/// when `keep_upgrade` (a WebSocket handshake).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == header::UPGRADE))
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if !keep_upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// The head both the engine and the origin see: `Host` is `host` (HTTP/2 carries it as
/// `:authority`), cookies in one field.
pub(crate) fn normalise(parts: &mut Parts, host: &str) {
    if let Ok(value) = HeaderValue::from_str(host_with_port(parts, host).as_str()) {
        parts.headers.insert(header::HOST, value);
    }
    let cookies: Vec<&[u8]> = parts.headers.get_all(header::COOKIE).iter().map(HeaderValue::as_bytes).collect();
    if cookies.len() > 1 {
        let joined = cookies.join(&b"; "[..]);
        if let Ok(value) = HeaderValue::from_bytes(&joined) {
            parts.headers.insert(header::COOKIE, value);
        }
    }
}

/// The authority as the client wrote it (a port kept), or `host`.
fn host_with_port(parts: &Parts, host: &str) -> String {
    let written = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let written = written.or(parts.uri.authority().map(|a| a.as_str()));
    match written.and_then(|w| w.rsplit_once(':')).filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())) {
        Some((_, port)) if !port.is_empty() => format!("{host}:{port}"),
        _ => host.to_owned(),
    }
}

/// The head as the origin gets it: HTTP/1.1, hop-by-hop fields gone (but the
/// WebSocket handshake's), the forwarding fields the WAF's own.
pub(crate) fn to_origin(parts: &Parts, client: IpAddr, host: &str, websocket: bool) -> Parts {
    let mut head = parts.clone();
    head.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut head.headers, websocket);
    for name in FORWARDING {
        head.headers.remove(name);
    }
    head.headers.remove(header::CONTENT_LENGTH);
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 => v4,
    };
    let node = match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let set = |headers: &mut HeaderMap, name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(&mut head.headers, "x-forwarded-for", client.to_string());
    set(&mut head.headers, "x-forwarded-proto", "https".into());
    set(&mut head.headers, "forwarded", format!("for={node};proto=https;host=\"{host}\""));
    if websocket {
        head.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    head
}

/// A response's fields as the client gets them: hop-by-hop fields gone (a 101 keeps its
/// handshake fields).
pub(crate) fn to_client(headers: &mut HeaderMap, switching: bool) {
    strip_hop_by_hop(headers, switching);
    if switching {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_fields_are_the_wafs_own() {
        let request = http::Request::builder()
            .uri("/a?b=1")
            .header("host", "Gov.example.kz:8443")
            .header("x-forwarded-for", "6.6.6.6")
            .header("forwarded", "for=6.6.6.6")
            .header("connection", "keep-alive, x-secret")
            .header("x-secret", "1")
            .header("transfer-encoding", "chunked")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .expect("request");
        let (mut parts, ()) = request.into_parts();
        normalise(&mut parts, "gov.example.kz");
        assert_eq!(parts.headers["host"], "gov.example.kz:8443");
        assert_eq!(parts.headers["cookie"], "a=1; b=2");
        let head = to_origin(&parts, "2001:db8::7".parse().expect("ip"), "gov.example.kz", false);
        assert_eq!(head.headers["x-forwarded-for"], "2001:db8::7");
        assert_eq!(head.headers["forwarded"], "for=\"[2001:db8::7]\";proto=https;host=\"gov.example.kz\"");
        assert_eq!(head.headers["x-forwarded-proto"], "https");
        assert_eq!(head.headers.get_all("x-forwarded-for").iter().count(), 1);
        for gone in ["connection", "x-secret", "transfer-encoding"] {
            assert!(!head.headers.contains_key(gone), "{gone} forwarded");
        }
    }
}
