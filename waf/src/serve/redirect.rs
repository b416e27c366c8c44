//! The plain-HTTP listener's one answer: a protected site's browsers are sent to the
//! same URL over HTTPS (308, so a form's method and body are kept); a Host that is no
//! site's gets 421.
//!
//! Must not: forward anything to an origin over plain HTTP.

use http::{HeaderValue, Request, Response, StatusCode, header};

use super::body::{OriginBody, full};
use super::head::{host_of, transaction_id};
use crate::sites::SitesHandle;

/// The answer to a request on the HTTP listener; `https_port` is where browsers reach HTTPS.
pub(crate) fn answer<B>(sites: &SitesHandle, https_port: u16, req: &Request<B>) -> Response<OriginBody> {
    let host = host_of(req);
    let known = host.as_deref().is_some_and(|h| sites.load_guard().find(h).is_some());
    let (Some(host), true) = (host, known) else {
        let language = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        return super::page::response(421, &transaction_id(), language);
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = match https_port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    };
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
