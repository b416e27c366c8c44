//! The pages the proxy answers with itself: the block page (status from the
//! refusal's kind, its reason, the host and the reference id that is also
//! in the access log), and the body type every proxied response uses.
//!
//! Must not: decide; it renders a [`Denial`] it is given.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

use crate::decide::denial::Denial;

/// The error of a body the proxy relays: the peer's, or the content scan's when it stops a transfer.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response and upstream request the proxy builds.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// A body from bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub(crate) fn empty() -> ProxyBody {
    full(Bytes::new())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML of a block page.
pub(crate) fn html(denial: &Denial, host: &str, reference: &str) -> String {
    let status = StatusCode::from_u16(denial.kind.status()).unwrap_or(StatusCode::FORBIDDEN);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {title}</title></head>\n\
         <body><h1>Access denied by the Internet access gateway</h1>\n\
         <p>Host: <code>{host}</code></p>\n<p>Reason: <strong>{reason}</strong></p>\n{threat}\
         <p>Reference: <code>{reference}</code> (quote it when you contact the service desk)</p>\n</body></html>\n",
        code = status.as_u16(),
        title = status.canonical_reason().unwrap_or("Denied"),
        host = escape(host),
        reason = escape(&denial.reason),
        threat = denial
            .threat
            .as_deref()
            .map(|t| format!("<p>Threat: <strong>{}</strong></p>\n", escape(t)))
            .unwrap_or_default(),
        reference = escape(reference),
    )
}

/// The block page response for `denial`; `close` asks the client to drop the connection.
pub(crate) fn block(denial: &Denial, host: &str, reference: &str, close: bool) -> Response<ProxyBody> {
    let body = html(denial, host, reference);
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::from_u16(denial.kind.status()).unwrap_or(StatusCode::FORBIDDEN);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(reference) {
        headers.insert("x-iqbsh-reference", value);
    }
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::denial::DenyKind;

    #[test]
    fn the_page_shows_reason_host_and_reference_escaped() {
        let denial = Denial::new(DenyKind::Policy, "category <gambling> is not allowed");
        let page = html(&denial, "casino.test", "0123456789abcdef");
        assert!(page.contains("403 Forbidden"), "{page}");
        assert!(page.contains("category &lt;gambling&gt; is not allowed"), "{page}");
        assert!(page.contains("casino.test") && page.contains("0123456789abcdef"), "{page}");
        let response = block(&denial, "casino.test", "0123456789abcdef", true);
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["x-iqbsh-reference"], "0123456789abcdef");
    }
}
