//! The control-plane HTTP API, versioned under `/api/v1`: JSON in and out, a bearer
//! token on every request. Operator tokens see and change only their operator's data;
//! duty-team tokens see everything. Its OpenAPI description is served at
//! `/api/v1/openapi.json`.

mod auth;
mod deface;
mod error;
mod gate;
mod mail;
mod openapi;
mod requests;
mod routes;
mod rules;
pub mod tls;
mod upload;
mod waf;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use snapshot::SnapshotHandle;
use store::Store;

pub use auth::{Caller, Duty};
pub use error::ApiError;
pub use routes::own_address;

/// The control-plane HTTP API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port the API listens on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Largest accepted request body (an imported list), in MiB.
    pub max_body_mib: usize,
    /// How request bodies must arrive, and how many at once.
    pub bodies: crate::http::body::BodyConfig,
    /// Serve the API and the console over TLS with this PEM certificate chain ...
    pub tls_cert: Option<PathBuf>,
    /// ... and this PEM private key (both or neither).
    pub tls_key: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8750)),
            max_body_mib: 256,
            bodies: Default::default(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ApiConfig {
    /// The TLS files must go together and read.
    pub fn validate(&self, problems: &mut crate::app::problem::ConfigProblems) {
        self.bodies.validate(problems);
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                if let Err(e) = tls::server_config(cert, key) {
                    problems.add("api.tls_cert", format!("{e:#}"));
                }
            }
            (None, None) => {}
            _ => problems.add("api.tls_cert", "tls_cert and tls_key go together: give both or neither"),
        }
    }
}

/// A file to download: its type, `attachment` with a file name made safe for the
/// header (what is not an ASCII letter, digit, '.', '-' or '_' becomes '_'), and no
/// sniffing, so that nothing a user uploaded is ever shown inline as a page.
pub fn download(content_type: &str, name: &str, body: impl Into<axum::body::Body>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let safe = if safe.trim_matches('.').is_empty() { "download".to_string() } else { safe };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{safe}\"")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        body.into(),
    )
        .into_response()
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub snapshot: SnapshotHandle,
    /// Asks the snapshot publisher to rebuild now (after an import through the API).
    pub nudge: tokio::sync::mpsc::Sender<()>,
    /// The running web proxy (for its metrics), when it runs.
    pub proxy: Option<std::sync::Arc<iqbsh::ProxyHandle>>,
    /// The running mail gateway (its queue and held mail), when it runs.
    pub mail: Option<std::sync::Arc<crate::app::mail::MailGateway>>,
    /// Told when the service begins to stop (`/readyz` then answers 503).
    pub stop: crate::app::service::Stop,
    /// The running packet gate (for its counters), when `[gate]` names interfaces.
    pub gate: Option<crate::app::gate::GateView>,
    /// The request desk (calendar, mailer, key for secrets).
    pub desk: std::sync::Arc<crate::app::requests::Desk>,
    /// Defacement protection, unless `[services] deface = false`.
    pub deface: Option<::deface::Deface>,
    /// The web application firewall, when `services.waf` (running, or why it is unavailable).
    pub waf: Option<crate::app::waf::WafView>,
}

/// The most any route reads through axum's own extractors; every route that takes a
/// body reads it through [`crate::http::body`] with its own limit instead.
const BACKSTOP_BYTES: usize = 64 << 10;

/// The API's routes. A body is read only after its caller is authenticated and
/// authorised, through [`crate::http::body::Unread`], within its route's limit.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/whoami", get(routes::whoami))
        .route("/operators", get(routes::operators).post(routes::add_operator))
        .route("/operators/{operator}", get(routes::operator))
        .route("/operators/{operator}/prefixes", put(routes::import).get(routes::export))
        .route("/organisations", get(routes::organisations).post(routes::add_organisation))
        .route("/lookup/{ip}", get(routes::lookup))
        .route("/history/{ip}", get(routes::history))
        .route("/audit", get(routes::audit))
        .route("/observations", axum::routing::post(rules::observe))
        .route("/unknown", get(rules::unknown))
        .route("/notices", get(rules::notices))
        .route("/blocks", get(rules::blocks).post(rules::add_block))
        .route("/blocks/lift", axum::routing::post(rules::lift_block))
        .route("/gate/grants", get(gate::grants).post(gate::add_grant))
        .route("/gate/grants/{id}/revoke", axum::routing::post(gate::revoke_grant))
        .route("/mail/systems", get(mail::systems).post(mail::connect))
        .route("/mail/systems/{name}", get(mail::system))
        .route("/mail/systems/{name}/status", put(mail::set_status))
        .route("/mail/systems/{name}/held", axum::routing::post(mail::held))
        .route("/mail/queue", get(mail::queue))
        .route("/requests", get(requests::list).post(requests::file))
        .route("/requests/{id}", get(requests::show))
        .route("/requests/{id}/actions", axum::routing::post(requests::act))
        .route("/requests/{id}/attachments", axum::routing::post(requests::attach))
        .route("/requests/{id}/attachments/{attachment}", get(requests::attachment))
        .route("/deface/sites", get(deface::sites).post(deface::add))
        .route("/deface/sites/{domain}", get(deface::site).delete(deface::remove))
        .route("/deface/sites/{domain}/check", axum::routing::post(deface::check))
        .route("/deface/sites/{domain}/accept", axum::routing::post(deface::accept))
        .route("/deface/sites/{domain}/window", put(deface::window))
        .route("/deface/sites/{domain}/hostkey", axum::routing::post(deface::host_key))
        .route("/waf/sites", get(waf::sites).post(waf::add))
        .route("/waf/sites/{domain}", get(waf::site).delete(waf::remove))
        .route("/waf/sites/{domain}/settings", put(waf::settings))
        .route("/waf/sites/{domain}/certificate", put(waf::certificate))
        .route("/waf/sites/{domain}/exclusions", axum::routing::post(waf::exclude))
        .route("/waf/sites/{domain}/patches", axum::routing::post(waf::patch))
        .route("/waf/sites/{domain}/test", axum::routing::post(waf::test))
        .route("/waf/sites/{domain}/events", get(waf::site_events))
        .route("/waf/sites/{domain}/proposals", axum::routing::post(waf::propose))
        .route("/waf/events/{transaction}", get(waf::event))
        .route("/waf/proposals", get(waf::proposals))
        .route("/waf/proposals/{id}/confirm", axum::routing::post(waf::confirm))
        .route("/waf/proposals/{id}/decline", axum::routing::post(waf::decline))
        .route("/metrics", get(routes::metrics))
        .fallback(routes::not_found);
    Router::new()
        .nest("/api/v1", v1)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(routes::ready))
        .layer(DefaultBodyLimit::max(BACKSTOP_BYTES))
        .with_state(state)
}
