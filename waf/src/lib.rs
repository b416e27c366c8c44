//! The web application firewall of rule 17 (appendix 3): a reverse proxy in front of the
//! protected government sites that decides every request with the OWASP Core Rule Set,
//! run by libmodsecurity 3, before a byte reaches the site.
//!
//! Lives here: [`site`] (a site as the binary hands it over), [`sites`] (the snapshot of
//! every site and its handle, swapped at once on reload), [`serve`] (the proxy: TLS by
//! SNI, HTTP/1.1, HTTP/2 and WebSockets, the engine's threads and time budget, origins
//! with pools, health checks and failover, block pages, the audit log, metrics) and
//! `engine` (the binding of libmodsecurity and the project's rules).
//!
//! Entry: build an `engine::Engine`, hand it to a [`SitesHandle`], `apply` the sites,
//! then [`serve()`] with a [`WafConfig`]; [`WafHandle::shutdown`] drains and stops.
//!
//! Must not: touch the store (it reads a snapshot of its sites that the binary gives it);
//! decide by hand what is an attack (only the rule engine does).

pub mod engine;
pub mod serve;
pub mod site;
pub mod sites;

/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::serve::page::{Lang, languages};

    /// The site name a request with this `Host` field (and request target) is for.
    pub fn host(target: &str, host: &[u8]) -> Option<String> {
        let mut request = http::Request::builder();
        if let Ok(value) = http::HeaderValue::from_bytes(host) {
            request = request.header(http::header::HOST, value);
        }
        let request = request.uri(target).body(()).ok()?;
        crate::serve::head::host_of(&request)
    }
}

pub use serve::{AuditRecord, AuditRule, ConfigError, Metrics, ServeError, WafConfig, WafHandle, serve};
pub use site::{OriginTls, RateLimit, Site, SiteProblem};
pub use sites::{Sites, SitesError, SitesHandle};
