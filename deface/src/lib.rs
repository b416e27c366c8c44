//! Defacement protection of rule 18 (appendix 4): a reference copy of each protected
//! site's files and pages, checks on a cycle, unauthorised changes put back automatically
//! and reported with their evidence.
//!
//! The rooms inside: `config` (the `[deface]` section), `site` (a site's spec: access,
//! pages and masks, patterns), `files` (SFTP, listing, reference copy, scan, restore),
//! `pages` (HTTPS fetch, masked rendering, comparison), `diff` (readable evidence),
//! `notice` (the hook the binary implements for the desk and e-mail), `metrics`, and
//! `service` (the one task that checks every site, and the functions the CLI, API and
//! desk call: add, list, show, check now, accept, window open and close).
//!
//! SSH and SFTP are russh and russh-sftp: pure Rust over aws-lc-rs, the one crypto
//! provider of the workspace (ssh2 would bring libssh2 and OpenSSL).
//!
//! Must not: write outside a site's root or delete a file it did not see in the
//! reference; restore from a partial view of a site.

pub mod config;
pub mod diff;
pub mod files;
pub mod metrics;
pub mod notice;
pub mod pages;
pub mod service;
pub mod site;

pub use config::DefaceConfig;
pub use metrics::{Metrics, MetricsSnapshot, render as render_metrics};
pub use notice::{Hook, LogHook, Notice};
pub use service::{CheckReport, Deface, DefaceError, NewSite, SiteDetail, SiteView};
pub use site::{Access, Mask, PageSpec, Secret, SiteSpec};

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
