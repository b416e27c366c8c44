//! The duty console and the operator portal: server-rendered HTML pages (maud) on the
//! API's listener, for people rather than programs. A person logs in with a name and
//! password (`perimeter user add`), gets a session cookie (HttpOnly, SameSite=Strict,
//! Secure over TLS) and a CSRF token for every form; every page reads through the
//! store's functions with the API's rule of who sees what (an operator's staff see only
//! their operator), and every change is audited as `user:NAME`. Pages work without
//! JavaScript; the few lines of script only add conveniences. Static assets are
//! compiled into the binary and the Content-Security-Policy allows nothing else.
//!
//! Must not: serve a page or an action to a request without a live session (except the
//! login page and the static assets), change anything on a GET, or serve the CA key.

mod assets;
mod audit;
mod auth;
mod catalog;
mod deface;
mod desk;
mod error;
mod filing;
mod forms;
mod i18n;
mod mail;
mod next;
mod rules;
mod system;
mod today;
mod upload;
mod view;
mod waf;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use policies::duration;
use serde::{Deserialize, Serialize};

use crate::app::ca::CaSettings;
use crate::app::calendar::CalendarConfig;
use crate::app::reconcile::NoticesConfig;
use crate::app::web::PoliciesConfig;
use crate::http::api::AppState;
use error::ConsoleError;

/// How the console treats sessions and logins.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A session without a request for this long ends.
    #[serde(with = "duration::one")]
    pub idle_timeout: Duration,
    /// A session ends this long after the login, however busy.
    #[serde(with = "duration::one")]
    pub absolute_timeout: Duration,
    /// Consecutive wrong passwords that lock an account ...
    pub lockout_after: u32,
    /// ... for this long.
    #[serde(with = "duration::one")]
    pub lockout_for: Duration,
    /// Login attempts a minute for one account name, from anywhere.
    pub logins_per_account: u32,
    /// Login attempts a minute from one client address, for any name.
    pub logins_per_address: u32,
    /// Disk all uploaded lists may take at once (waiting for confirmation or arriving), in MiB.
    pub upload_disk_mib: usize,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            lockout_after: 5,
            lockout_for: Duration::from_secs(15 * 60),
            logins_per_account: 10,
            logins_per_address: 30,
            upload_disk_mib: 1024,
        }
    }
}

/// The parts of the configuration the console reads: its own section, the data
/// directory (the CA, uploads), and what the calendar, policy,
/// and CA pages show and the CA rotation mails.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: std::path::PathBuf,
    pub console: ConsoleConfig,
    pub calendar: CalendarConfig,
    pub policies: PoliciesConfig,
    pub ca: CaSettings,
    pub notices: NoticesConfig,
}

/// What every console handler can reach: the API's state and the console's own.
#[derive(Clone)]
pub struct Console {
    pub app: AppState,
    pub config: Arc<Settings>,
    /// Whether the listener speaks TLS (the session cookie is then `Secure`).
    pub tls: bool,
    limits: Arc<auth::LoginLimits>,
    uploads: Arc<upload::Uploads>,
}

impl Console {
    pub fn new(app: AppState, config: Arc<Settings>, tls: bool) -> Console {
        let limits = Arc::new(auth::LoginLimits::new(&config.console));
        let uploads =
            Arc::new(upload::Uploads::new(config.data_dir.join("console-uploads"), config.console.upload_disk_mib));
        Console { app, config, tls, limits, uploads }
    }
}

/// The most any route reads through axum's own extractors; every route that takes a
/// body reads it through [`crate::http::body`] with its own limit, after its checks.
const BACKSTOP_BYTES: usize = 64 << 10;

/// The console's routes, to be merged beside `/api/v1`.
pub fn router(console: Console) -> Router {
    use axum::extract::DefaultBodyLimit;
    Router::new()
        .route("/", get(today::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/lang", post(auth::set_lang))
        .route("/static/{file}", get(assets::serve))
        .route("/today", get(today::page))
        .route("/unknown", get(rules::unknown))
        .route("/notices", get(rules::notices))
        .route("/blocks", get(rules::blocks).post(rules::add_blocks))
        .route("/blocks/lift", post(rules::lift_blocks))
        .route("/mail", get(mail::systems))
        .route("/mail/{name}", get(mail::system))
        .route("/mail/{name}/status", post(mail::set_status))
        .route("/mail/{name}/held", post(mail::held))
        .route("/deface", get(deface::sites))
        .route("/deface/{domain}", get(deface::site))
        .route("/deface/{domain}/window", post(deface::window))
        .route("/deface/{domain}/accept", post(deface::accept))
        .route("/deface/{domain}/hostkey", post(deface::host_key))
        .route("/deface/{domain}/check", post(deface::check))
        .route("/waf", get(waf::sites))
        .route("/waf/tx", get(waf::find))
        .route("/waf/{domain}", get(waf::site))
        .route("/waf/{domain}/events/{id}", get(waf::event))
        .route("/waf/{domain}/proposals", post(waf::propose))
        .route("/waf/proposals/{id}/confirm", post(waf::confirm))
        .route("/waf/proposals/{id}/decline", post(waf::decline))
        .route("/requests", get(desk::list))
        .route("/requests/new", get(filing::new).post(filing::file))
        .route("/requests/{id}", get(desk::detail))
        .route("/requests/{id}/attach", post(filing::attach))
        .route("/requests/{id}/act", post(desk::act))
        .route("/requests/{id}/attachments/{attachment}", get(desk::attachment))
        .route("/audit", get(audit::page))
        .route("/operators", get(catalog::operators))
        .route("/operators/{operator}", get(catalog::operator))
        .route("/operators/{operator}/upload", post(catalog::upload))
        .route("/operators/{operator}/confirm", post(catalog::confirm))
        .route("/operators/{operator}/export", get(catalog::export))
        .route("/organisations", get(catalog::organisations))
        .route("/lookup", get(catalog::lookup))
        .route("/ca", get(system::ca))
        .route("/ca/root.{ext}", get(system::ca_download))
        .route("/ca/rotate", post(system::ca_rotate))
        .route("/calendar", get(system::calendar))
        .route("/policies", get(system::policies))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BACKSTOP_BYTES))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

async fn not_found() -> ConsoleError {
    ConsoleError::new(axum::http::StatusCode::NOT_FOUND, "there is no such page in the console")
}

/// The Content-Security-Policy of every console answer: only the console's own script
/// and style, no inline code, no framing, forms only to itself.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
