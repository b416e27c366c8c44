//! Who is asking: login and logout, the session cookie, the person behind a request
//! ([`Person`], the extractor every page takes), CSRF checks on every form, and the
//! login rate limits (per account name and per client address, governor) in front of
//! the store's lockout after consecutive wrong passwords.
//!
//! An organisation's staff reach only the request desk, the root certificate, their own
//! settings and (to read) their own WAF sites' pages: every other page refuses them here,
//! before any handler runs.
//!
//! Must not: say whether an unknown name exists; accept a state-changing form without
//! the session's CSRF token; redirect after login anywhere but a path of this console.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use maud::html;
use serde::Deserialize;
use store::{Lockout, LoginOutcome, Session, SessionLimits, UserRole, now_ms};

use super::error::{ConsoleError, Result};
use super::i18n::Lang;
use super::{Console, ConsoleConfig, view};
use crate::http::body::{Route, Unread};

const SESSION_COOKIE: &str = "perimeter_session";
/// Over TLS the cookie takes the `__Host-` prefix: Secure, host-only, path `/`.
const SECURE_SESSION_COOKIE: &str = "__Host-perimeter_session";
/// The double-submit token that protects the login form itself.
const LOGIN_COOKIE: &str = "perimeter_login";

/// Rate limits in front of the password check, and the session and lockout limits.
pub struct LoginLimits {
    account: DefaultKeyedRateLimiter<String>,
    address: DefaultKeyedRateLimiter<String>,
    pub lockout: Lockout,
    pub session: SessionLimits,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl LoginLimits {
    pub fn new(c: &ConsoleConfig) -> LoginLimits {
        LoginLimits {
            account: RateLimiter::keyed(per_minute(c.logins_per_account)),
            address: RateLimiter::keyed(per_minute(c.logins_per_address)),
            lockout: Lockout { after: i64::from(c.lockout_after.max(1)), for_ms: c.lockout_for.as_millis() as i64 },
            session: SessionLimits {
                idle_ms: c.idle_timeout.as_millis() as i64,
                absolute_ms: c.absolute_timeout.as_millis() as i64,
            },
        }
    }

    /// True when one more attempt for `name` from `address` is allowed now.
    fn allow(&self, name: &str, address: &str) -> bool {
        if self.account.len() > 100_000 {
            self.account.retain_recent();
        }
        if self.address.len() > 100_000 {
            self.address.retain_recent();
        }
        self.address.check_key(&address.to_string()).is_ok() && self.account.check_key(&name.to_string()).is_ok()
    }
}

/// The person behind a request, from the session cookie. Without a live session a
/// page request is sent to the login page.
#[derive(Clone, Debug)]
pub struct Person {
    pub session: Session,
    pub lang: Lang,
}

impl Person {
    pub fn name(&self) -> &str {
        &self.session.user.name
    }

    pub fn role(&self) -> &UserRole {
        &self.session.user.role
    }

    /// The audit trail's name of this person.
    pub fn actor(&self) -> String {
        format!("user:{}", self.session.user.name)
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// Reads a form that is only a button (its CSRF token and nothing else) and checks
    /// the token.
    pub async fn button(&self, body: Unread) -> Result<()> {
        #[derive(Deserialize)]
        struct Button {
            csrf: Option<String>,
        }
        let form: Button = self.form(body).await?;
        self.check_csrf(form.csrf.as_deref())
    }

    pub fn is_duty(&self) -> bool {
        self.session.user.role == UserRole::Duty
    }

    /// Refuses with 403 unless this person is on the duty team (auditors only read).
    pub fn require_duty(&self) -> Result<()> {
        match self.role() {
            UserRole::Duty => Ok(()),
            UserRole::Auditor => Err(ConsoleError::forbidden("an auditor reads; only the duty team changes this")),
            UserRole::Operator { .. } | UserRole::Organisation { .. } => {
                Err(ConsoleError::forbidden("only the duty team may do this"))
            }
        }
    }

    /// Refuses with 403 unless this person may see `operator`'s data.
    pub fn require_operator(&self, operator: &str) -> Result<()> {
        if self.role().may_see(operator) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(format!("'{}' may not see operator '{operator}'", self.name())))
        }
    }

    /// Refuses with 403 unless this person may change `operator`'s data (duty or its own staff).
    pub fn require_change(&self, operator: &str) -> Result<()> {
        match self.role() {
            UserRole::Auditor => Err(ConsoleError::forbidden("an auditor reads; only the duty team changes this")),
            _ => self.require_operator(operator),
        }
    }

    /// The operator a list is limited to: operators' staff always see only their own,
    /// and asking for another's is refused (the API's rule).
    pub fn scope(&self, asked: Option<String>) -> Result<Option<String>> {
        match (self.role().own_operator(), asked) {
            (None, asked) => Ok(asked),
            (Some(own), None) => Ok(Some(own.to_string())),
            (Some(own), Some(asked)) => {
                self.require_operator(&asked)?;
                Ok(Some(own.to_string()))
            }
        }
    }

    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<()> {
        let sent = token.unwrap_or_default();
        if !sent.is_empty() && verify_slices_are_equal(sent.as_bytes(), self.session.csrf.as_bytes()).is_ok() {
            Ok(())
        } else {
            Err(ConsoleError::forbidden("the form's security token is missing or stale; reload the page and try again"))
        }
    }
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Refuses a state-changing request whose Origin is another site's.
fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

impl FromRequestParts<Console> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> std::result::Result<Person, Response> {
        if !same_origin(&parts.method, &parts.headers) {
            return Err(ConsoleError::forbidden("this form was not sent from this console").into_response());
        }
        let name = if console.tls { SECURE_SESSION_COOKIE } else { SESSION_COOKIE };
        let session = match cookie(&parts.headers, name) {
            Some(secret) => console
                .app
                .store
                .session(secret, now_ms(), console.limits.session)
                .await
                .map_err(|e| ConsoleError::from(e).into_response())?,
            None => None,
        };
        match session {
            Some(session) if !may_open(&session.user.role, &parts.method, parts.uri.path()) => {
                Err(ConsoleError::forbidden("an organisation's staff use the request desk only").into_response())
            }
            Some(session) => {
                let lang = Lang::from_code(&session.user.lang);
                Ok(Person { session, lang })
            }
            None if parts.method == Method::GET => {
                let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next = serde_urlencoded::to_string([("next", path)]).unwrap_or_default();
                Err(Redirect::to(&format!("/login?{next}")).into_response())
            }
            None => {
                Err(ConsoleError::new(StatusCode::UNAUTHORIZED, "your session has ended; log in again").into_response())
            }
        }
    }
}

/// Whether a person of `role` may open `path`: an organisation's staff only the desk
/// (`/requests…`), the root certificate (`/ca…`), the home page, language and logout,
/// read (GET) their own WAF sites' pages (`/waf…`), and their own protected sites'
/// pages and forms (`/deface…`: windows and acceptances are theirs to make; each
/// handler checks the owner, and the duty team's own actions check the role).
fn may_open(role: &UserRole, method: &Method, path: &str) -> bool {
    let under = |prefix: &str| path.strip_prefix(prefix).is_some_and(|r| r.is_empty() || r.starts_with('/'));
    match role {
        UserRole::Organisation { .. } => {
            matches!(path, "/" | "/lang" | "/logout" | "/ca/root.pem" | "/ca/root.der")
                || under("/requests")
                || path == "/ca"
                || (method == Method::GET && under("/waf"))
                || under("/deface")
        }
        _ => true,
    }
}

/// The client's address, as the listener saw it (`unknown` without connection info).
pub struct ClientAddr(String);

impl<S: Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<ClientAddr, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(ClientAddr(ip.unwrap_or_else(|| "unknown".to_string())))
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Only a path of this console ([`super::next`]).
fn safe_next(next: Option<&str>) -> &str {
    super::next::same_site(next)
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// The login page's language: asked for, else the browser's first choice we speak.
fn login_lang(asked: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(code) = asked {
        return Lang::from_code(code);
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Lang::from_code(accept.get(..2).unwrap_or("en"))
}

pub async fn login_page(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let lang = login_lang(q.lang.as_deref(), &headers);
    login_form(lang, safe_next(q.next.as_deref()), None, StatusCode::OK)
}

fn login_form(lang: Lang, next: &str, problem: Option<String>, status: StatusCode) -> Response {
    let token = random_token();
    let body = html! {
        main.login {
            h1 { "perimeter" }
            p.lead { (lang.t("login.welcome")) }
            @if let Some(p) = &problem { p.problem role="alert" { (p) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                input type="hidden" name="lang" value=(lang.code());
                label { (lang.t("login.name")) input name="name" autocomplete="username" required autofocus; }
                label { (lang.t("login.password")) input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { (lang.t("login.submit")) }
            }
            p.langs {
                @for other in Lang::ALL {
                    a href={ "/login?lang=" (other.code()) } { (other.native_name()) } " "
                }
            }
        }
    };
    let mut response = (status, Html(view::bare(lang, lang.t("login.title"), body).into_string())).into_response();
    let cookie = format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
    lang: Option<String>,
}

pub async fn login(
    State(console): State<Console>,
    ClientAddr(address): ClientAddr,
    method: Method,
    headers: HeaderMap,
    body: Unread,
) -> Response {
    // Nobody is known yet: the form is read from the anonymous pool, under the address.
    let form: LoginForm = match body.bytes(&format!("address:{address}"), Route::Login).await {
        Ok((bytes, _held)) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => form,
            Err(e) => return ConsoleError::bad_request(format!("the login form is malformed: {e}")).into_response(),
        },
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    let lang = form.lang.as_deref().map_or_else(|| login_lang(None, &headers), Lang::from_code);
    let next = safe_next(form.next.as_deref()).to_string();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_origin(&method, &headers)
        || form.csrf.is_empty()
        || verify_slices_are_equal(form.csrf.as_bytes(), expected.as_bytes()).is_err()
    {
        return ConsoleError::forbidden("the login form's security token is missing or stale; reload the page")
            .into_response();
    }
    if form.name.trim().is_empty() || form.password.is_empty() {
        return login_form(lang, &next, Some(lang.t("login.incomplete").into()), StatusCode::BAD_REQUEST);
    }
    let name = form.name.trim().to_lowercase();
    if !console.limits.allow(&name, &address) {
        return login_form(lang, &next, Some(lang.t("login.slow_down").into()), StatusCode::TOO_MANY_REQUESTS);
    }
    let now = now_ms();
    match console.app.store.login(&name, &form.password, now, console.limits.lockout).await {
        Ok(LoginOutcome::Accepted(user)) => match console.app.store.open_session(user.id, &address, now).await {
            Ok(secret) => {
                tracing::info!(user = %user.name, %address, "console login");
                if let Err(e) = console.app.store.expire_sessions(now, console.limits.session).await {
                    tracing::warn!(error = %e, "removing expired console sessions failed");
                }
                let mut response = Redirect::to(&next).into_response();
                set_session_cookie(&mut response, &console, &secret);
                response
            }
            Err(e) => ConsoleError::from(e).into_response(),
        },
        // A locked account answers as a wrong password does (and so as an unknown name):
        // the page must not tell a prober which names exist. The log and the audit say it.
        Ok(outcome @ (LoginOutcome::Refused | LoginOutcome::Locked { .. })) => {
            match outcome {
                LoginOutcome::Locked { until } => {
                    tracing::warn!(user = %name, %address, locked_until = until, "console login to a locked account")
                }
                _ => tracing::warn!(user = %name, %address, "console login refused"),
            }
            login_form(lang, &next, Some(lang.t("login.refused").into()), StatusCode::UNAUTHORIZED)
        }
        Err(e) => ConsoleError::from(e).into_response(),
    }
}

fn set_session_cookie(response: &mut Response, console: &Console, secret: &str) {
    let cookie = if console.tls {
        format!("{SECURE_SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Secure")
    } else {
        format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict")
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub async fn logout(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    let _: Vec<(String, String)> = person.form(body).await?;
    console.app.store.close_session(person.session.id).await?;
    let mut response = Redirect::to("/login").into_response();
    let name = if console.tls { SECURE_SESSION_COOKIE } else { SESSION_COOKIE };
    let secure = if console.tls { "; Secure" } else { "" };
    let cookie = format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    back: Option<String>,
}

pub async fn set_lang(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    let form: LangForm = person.form(body).await?;
    console.app.store.set_user_lang(&person.actor(), person.session.user.id, &form.lang).await?;
    Ok(Redirect::to(safe_next(form.back.as_deref())).into_response())
}

#[cfg(test)]
mod tests {
    use super::{Method, UserRole, may_open, safe_next};

    #[test]
    fn after_login_only_console_paths() {
        assert_eq!(safe_next(Some("/unknown?operator=a")), "/unknown?operator=a");
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/\t/evil.example/"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn an_organisations_staff_open_only_the_desk_the_root_certificate_and_read_waf_pages() {
        let org = UserRole::Organisation { organisation: policies::Bin::with_check_digit("98014000001").unwrap() };
        let (get, post) = (Method::GET, Method::POST);
        for ok in ["/", "/requests", "/requests/3", "/requests/3/act", "/ca", "/ca/root.pem", "/lang", "/logout"] {
            assert!(may_open(&org, &post, ok), "{ok}");
        }
        for refused in ["/today", "/operators", "/operators/alpha", "/audit", "/requestsx", "/ca/rotate", "/mail"] {
            assert!(!may_open(&org, &get, refused), "{refused}");
        }
        for read in ["/waf", "/waf/portal.example.kz", "/waf/tx"] {
            assert!(may_open(&org, &get, read) && !may_open(&org, &post, read), "{read}");
        }
        assert!(!may_open(&org, &post, "/waf/proposals/1/confirm") && !may_open(&org, &get, "/wafx"));
        assert!(may_open(&UserRole::Auditor, &get, "/audit"));
    }
}
