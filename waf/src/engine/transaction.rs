//! One transaction through the engine, in the nginx connector's order: connection, URI,
//! request headers, request body, response headers and body, logging, asking for an
//! intervention after each phase.
//!
//! Must not: call the engine again after an intervention (later steps repeat it); run
//! the response phases of a site that did not ask for response inspection.

use std::ffi::CString;
use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;

use super::collect::Collector;
use super::compile::Compiled;
use super::ffi::RawTransaction;
use super::{Outcome, Step, Transaction};

pub(crate) struct Inner {
    raw: RawTransaction,
    compiled: Arc<Compiled>,
    stopped: Option<u16>,
    body_done: bool,
}

/// The id as the engine gets it: printable ASCII but `"` and `\`, at most 128 bytes
/// (the log line repeats it; see `logline`).
fn engine_id(tx_id: &str) -> String {
    let id: String =
        tx_id.chars().take(128).map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    if id.is_empty() { "-".into() } else { id }
}

fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "")).unwrap_or_default()
}

/// `1.1`, `HTTP/1.1`, `2`, `HTTP/2.0` → `1.1`, `2.0` (what the connector passes).
fn http_version(version: &str) -> &'static str {
    match version.trim_start_matches("HTTP/") {
        "0.9" => "0.9",
        "1.0" => "1.0",
        "2" | "2.0" => "2.0",
        "3" | "3.0" => "3.0",
        _ => "1.1",
    }
}

pub(crate) fn begin(compiled: &Arc<Compiled>, tx_id: &str, client: SocketAddr, server: SocketAddr) -> Transaction {
    let id = engine_id(tx_id);
    let (client_ip, server_ip) = (client.ip().to_string(), server.ip().to_string());
    let collector = Collector::new(id.clone(), client_ip.clone(), server_ip.clone());
    let mut raw = RawTransaction::new(&compiled.set, &c_text(&id), collector);
    raw.connection(&c_text(&client_ip), client.port(), &c_text(&server_ip), server.port());
    let mut inner = Inner { raw, compiled: compiled.clone(), stopped: None, body_done: false };
    inner.check();
    Transaction { inner }
}

impl Inner {
    /// Asks for an intervention; the first one sticks.
    fn check(&mut self) -> Step {
        if let Some(status) = self.stopped {
            return Step::Intervene { status };
        }
        match self.raw.intervention() {
            Some(disruption) => {
                // The disruptive rule's line comes with the intervention, not the callback.
                if let Some(line) = &disruption.log {
                    self.raw.sink().line(line.as_bytes());
                }
                self.stopped = Some(disruption.status);
                Step::Intervene { status: disruption.status }
            }
            None => Step::Continue,
        }
    }
}

impl Transaction {
    /// Phase 1: the request line and headers. A URI with a NUL byte is refused (400).
    pub fn request_head(&mut self, method: &str, uri: &str, version: &str, headers: &HeaderMap) -> Step {
        let inner = &mut self.inner;
        if let Some(status) = inner.stopped {
            return Step::Intervene { status };
        }
        let Ok(c_uri) = CString::new(uri) else {
            inner.stopped = Some(400);
            return Step::Intervene { status: 400 };
        };
        inner.raw.sink().set_uri(uri.as_bytes());
        inner.raw.uri(&c_uri, &c_text(method), &c_text(http_version(version)));
        for (name, value) in headers {
            inner.raw.request_header(name.as_str().as_bytes(), value.as_bytes());
        }
        inner.raw.request_headers_done();
        inner.check()
    }

    /// Phase 2: the request body (the whole, limited body at once; also with an empty
    /// body: most CRS rules run in this phase).
    pub fn request_body(&mut self, body: &[u8]) -> Step {
        let inner = &mut self.inner;
        if let Some(status) = inner.stopped {
            return Step::Intervene { status };
        }
        if !body.is_empty() {
            inner.raw.request_body(body);
        }
        inner.raw.request_body_done();
        inner.body_done = true;
        inner.check()
    }

    /// Phase 3: the response status and headers. Without response inspection only the
    /// status is noted (for the logging phase).
    pub fn response_head(&mut self, status: u16, version: &str, headers: &HeaderMap) -> Step {
        let inner = &mut self.inner;
        if let Some(stopped) = inner.stopped {
            return Step::Intervene { status: stopped };
        }
        if !inner.body_done {
            inner.raw.request_body_done();
            inner.body_done = true;
            if let Step::Intervene { status } = inner.check() {
                return Step::Intervene { status };
            }
        }
        if !inner.compiled.settings.inspect_responses {
            inner.raw.status_code(status);
            return Step::Continue;
        }
        for (name, value) in headers {
            inner.raw.response_header(name.as_str().as_bytes(), value.as_bytes());
        }
        let protocol = format!("HTTP {}", http_version(version));
        inner.raw.response_headers_done(status, &c_text(&protocol));
        inner.check()
    }

    /// Phase 4: the response body (what the site sends, up to the engine's response
    /// limit); nothing without response inspection.
    pub fn response_body(&mut self, body: &[u8]) -> Step {
        let inner = &mut self.inner;
        if let Some(status) = inner.stopped {
            return Step::Intervene { status };
        }
        if !inner.compiled.settings.inspect_responses {
            return Step::Continue;
        }
        if !body.is_empty() {
            inner.raw.response_body(body);
        }
        inner.raw.response_body_done();
        inner.check()
    }

    /// Phase 5 (logging), then the scores and matched rules.
    pub fn finish(mut self) -> Outcome {
        let inner = &mut self.inner;
        inner.raw.logging();
        let blocked = inner.stopped.is_some();
        let sink = inner.raw.sink();
        let (inbound_score, outbound_score) = sink.scores.unwrap_or_default();
        Outcome { inbound_score, outbound_score, matches: std::mem::take(&mut sink.matches), blocked }
    }

    /// The site these rules belong to.
    pub fn site(&self) -> &str {
        &self.inner.compiled.site
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_versions_are_what_the_engine_takes() {
        assert_eq!(engine_id("ab\"c d\\é"), "ab_c_d__");
        assert_eq!(engine_id(""), "-");
        assert_eq!(engine_id(&"x".repeat(300)).len(), 128);
        assert_eq!(http_version("HTTP/2"), "2.0");
        assert_eq!(http_version("1.0"), "1.0");
        assert_eq!(http_version("HTTP/1.1"), "1.1");
    }
}
