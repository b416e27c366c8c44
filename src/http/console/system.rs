//! The console's pages about the system itself: the root CA (fingerprints, validity,
//! the certificate to download as PEM or DER with install steps per operating system),
//! rotation (confirmed, every operator e-mailed the new root), the organisations' policies with their validity and risky-service grants, and the
//! working-day calendar of a year.
//!
//! Must not: show or serve the CA's private key; rotate without the duty team's
//! confirmation on a page showing the root in force.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certs::{CaStore, ExportFormat};
use maud::html;
use policies::calendar::today;
use policies::policy::PolicyBook;
use serde::Deserialize;
use time::OffsetDateTime;

use super::Console;
use super::Settings;
use super::auth::Person;
use super::error::{ConsoleError, Result};
use super::view::{self, csrf, day, when};
use crate::http::body::Unread;

fn load_ca(config: &Settings) -> anyhow::Result<CaStore> {
    let dir = config.data_dir.join("ca");
    Ok(CaStore::load(&dir, OffsetDateTime::now_utc())?)
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// When the current root stops being valid (unix ms).
pub fn ca_expiry(config: &Settings) -> anyhow::Result<i64> {
    Ok(ms(load_ca(config)?.current().not_after()))
}

/// The configured policy book (the default one when no file is configured).
pub fn policy_book(config: &Settings) -> anyhow::Result<PolicyBook> {
    match &config.policies.file {
        None => Ok(PolicyBook::default()),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            PolicyBook::parse(&text, &path.display().to_string()).map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

pub async fn ca(State(console): State<Console>, person: Person) -> Result<Response> {
    let lang = person.lang;
    let ca = load_ca(&console.config)?;
    let root = ca.current();
    let body = html! {
        dl.facts {
            dt { (lang.t("ca.fingerprint")) } dd.mono #fingerprint { (root.fingerprint()) }
            dt { (lang.t("ca.valid_from")) } dd { (when(lang, ms(root.not_before()))) }
            dt { (lang.t("ca.valid_until")) } dd { (when(lang, ms(root.not_after()))) }
            @if let Some(p) = ca.previous() {
                dt { (lang.t("ca.previous")) } dd.mono { (p.root().fingerprint()) }
                dt { (lang.t("ca.trusted_until")) } dd { (when(lang, ms(p.overlap_end()))) }
            }
        }
        p.links { a href="/ca/root.pem" download { (lang.t("ca.download")) " PEM" } " · " a href="/ca/root.der" download { (lang.t("ca.download")) " DER" } }
        h2 { (lang.t("ca.install")) }
        dl.install {
            dt { "Windows" } dd { (lang.t("ca.install_windows")) pre { "certutil -addstore -f Root perimeter-root.der" } }
            dt { "macOS" } dd { pre { "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain perimeter-root.pem" } }
            dt { "Debian, Ubuntu, Astra Linux" } dd { pre { "sudo cp perimeter-root.pem /usr/local/share/ca-certificates/perimeter-root.crt\nsudo update-ca-certificates" } }
            dt { "RHEL, RED OS, ALT" } dd { pre { "sudo cp perimeter-root.pem /etc/pki/ca-trust/source/anchors/\nsudo update-ca-trust" } }
            dt { "Firefox" } dd { (lang.t("ca.install_firefox")) }
        }
        @if person.is_duty() {
            section.panel {
                h2 { (lang.t("ca.rotate")) }
                p.hint { (lang.t("ca.rotate_hint")) }
                form #rotate method="post" action="/ca/rotate" {
                    (csrf(&person))
                    input type="hidden" name="current" value=(root.fingerprint().to_string());
                    label.check { input type="checkbox" name="confirm" value="yes" required; (lang.t("ca.rotate_confirm")) }
                    button.danger type="submit" { (lang.t("ca.rotate")) }
                }
            }
        }
    };
    Ok(view::page(&person, lang.t("nav.ca"), "ca", body).into_response())
}

#[derive(Deserialize)]
pub struct RotateForm {
    /// The fingerprint of the root the person saw: a stale page rotates nothing.
    #[serde(default)]
    current: String,
    confirm: Option<String>,
}

/// Makes a new root and tells every operator (duty team, confirmed); audited as the person.
pub async fn ca_rotate(State(console): State<Console>, person: Person, body: Unread) -> Result<Response> {
    person.require_duty()?;
    let f: RotateForm = person.form(body).await?;
    if f.confirm.as_deref() != Some("yes") {
        return Err(ConsoleError::bad_request("confirm the rotation: every workstation will need the new root"));
    }
    let now = load_ca(&console.config)?.current().fingerprint().to_string();
    if now != f.current {
        return Err(ConsoleError::new(StatusCode::CONFLICT, "the root changed since this page was loaded; look again"));
    }
    let lang = person.lang;
    let config = &console.config;
    let ca = (config.data_dir.as_path(), &config.ca, &config.notices);
    let report =
        crate::app::ca::rotate_and_tell(ca, &console.app.store, &person.actor(), OffsetDateTime::now_utc()).await?;
    let body = html! {
        dl.facts {
            dt { (lang.t("ca.fingerprint")) } dd.mono #new-fingerprint { (report.new_fingerprint) }
            dt { (lang.t("ca.previous")) } dd.mono { (report.old_fingerprint) }
            dt { (lang.t("ca.trusted_until")) } dd { (report.overlap_end) }
            dt { (lang.t("ca.notified")) } dd #notified { (report.notified.join(", ")) }
        }
        @if !report.problems.is_empty() { ul { @for p in &report.problems { li.problem { (p) } } } }
        p.hint { (lang.t("ca.restart_hint")) }
        p { a href="/ca" { (lang.t("nav.ca")) } }
    };
    Ok(view::page(&person, lang.t("ca.rotate"), "ca", body).into_response())
}

/// The current root certificate (never the key), PEM or DER.
pub async fn ca_download(State(console): State<Console>, _person: Person, Path(ext): Path<String>) -> Result<Response> {
    let ca = load_ca(&console.config)?;
    let (format, content_type) = match ext.as_str() {
        "pem" => (ExportFormat::Pem, "application/x-pem-file"),
        "der" => (ExportFormat::Der, "application/pkix-cert"),
        other => return Err(ConsoleError::bad_request(format!("'{other}': the root is served as .pem or .der"))),
    };
    Ok(crate::http::api::download(content_type, &format!("perimeter-root.{ext}"), ca.export_current(format)))
}

pub async fn policies(State(console): State<Console>, person: Person) -> Result<Response> {
    if person.role().own_operator().is_some() {
        return Err(ConsoleError::forbidden("policies are for the duty team"));
    }
    let lang = person.lang;
    let book = policy_book(&console.config)?;
    let calendar = crate::app::calendar::open(&console.config.calendar)?;
    let today = today();
    let body = html! {
        p { (lang.t("policies.default")) ": " (book.default_categories.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
        table #policies {
            thead { tr { th { "BIN" } th { (lang.t("col.organisation")) } th { (lang.t("policies.received")) }
                th { (lang.t("policies.apply_by")) } th { (lang.t("policies.granted")) } th { (lang.t("policies.valid_through")) }
                th { (lang.t("policies.categories")) } th { (lang.t("policies.grants")) } } }
            tbody { @for o in book.organisations() { tr class=[(!o.valid_on(today)).then_some("lapsed")] {
                td.mono { (o.bin) } td { (o.name) } td { (day(lang, o.received)) } td { (day(lang, o.apply_by(&calendar))) }
                td { (o.granted.map(|g| day(lang, g)).unwrap_or_else(|| lang.t("policies.pending").to_string())) }
                td { (o.valid_through().map(|v| day(lang, v)).unwrap_or_default()) }
                td { (o.categories.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                td { @for g in &o.grants { div.grant class=[(!g.valid_on(today)).then_some("lapsed")] {
                    (grant_target(&g.target)) " · " (g.request) " · " (day(lang, g.granted))
                } } }
            } } }
        }
    };
    Ok(view::page(&person, lang.t("nav.policies"), "policies", body).into_response())
}

fn grant_target(target: &policies::policy::GrantTarget) -> String {
    match target {
        policies::policy::GrantTarget::Category(c) => c.to_string(),
        policies::policy::GrantTarget::Domain(d) => d.clone(),
    }
}

#[derive(Deserialize)]
pub struct YearQuery {
    year: Option<i32>,
}

pub async fn calendar(State(console): State<Console>, person: Person, Query(q): Query<YearQuery>) -> Result<Response> {
    let lang = person.lang;
    let calendar = crate::app::calendar::open(&console.config.calendar)?;
    let year = q.year.unwrap_or_else(|| today().year()).clamp(1990, 2100);
    let days_off = calendar.days_off(year);
    let body = html! {
        p.links {
            a href={ "/calendar?year=" (year - 1) } { "← " (year - 1) } " · " strong { (year) } " · "
            a href={ "/calendar?year=" (year + 1) } { (year + 1) " →" }
        }
        @if !calendar.covers(year) { p.hint { (lang.t("calendar.not_covered")) } }
        table #days-off {
            thead { tr { th { (lang.t("col.day")) } th { (lang.t("col.reason")) } } }
            tbody { @for (d, why) in &days_off { tr { td { (day(lang, *d)) } td { (why) } } } }
        }
    };
    Ok(view::page(&person, &format!("{} {year}", lang.t("nav.calendar")), "calendar", body).into_response())
}
