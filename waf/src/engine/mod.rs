//! The rule engine: libmodsecurity 3 (opened at run time) running the project's base
//! configuration (`waf/rules/`) and the OWASP Core Rule Set installed by Debian's
//! `modsecurity-crs`, compiled once per site with that site's settings.
//!
//! This file is the contract with the reverse proxy (`serve`): the types and calls below
//! are what `serve` uses, and they change only by agreement written in a commit message.
//!
//! How `serve` drives one request (the order of the nginx connector; each call is
//! blocking and runs off the async workers):
//!
//! ```text
//! let mut tx = site_rules.begin(id, client, server);
//! tx.request_head(method, uri, "1.1", &headers)?   // Step::Intervene → refuse, don't forward
//! tx.request_body(&body)?                          // the whole (limited) body at once
//!     … forward to the origin …
//! tx.response_head(status, "1.1", &headers)?       // Continue at once unless the site
//! tx.response_body(&body)?                         //   asked for response inspection
//! let outcome = tx.finish();                       // phase 5; scores and matched rules
//! ```
//!
//! After an `Intervene` every later step returns the same `Intervene` without asking the
//! engine again. Headers must include `Host` (for HTTP/2, from `:authority`).
//!
//! Must not: touch sockets, files other than the rules it loads, or the store; decide by
//! hand what is an attack (only the loaded rules do); keep anything of a transaction
//! after `finish` or drop.

mod collect;
mod compile;
mod explain;
mod ffi;
pub mod logline;
mod settings;
mod transaction;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use compile::{UNICODE_MAP, site_text};
pub use explain::{TestRequest, Verdict, VerdictKind, explain};
pub use settings::{Exclusion, Mode, OverLimit, RuleSettings};

/// Where the engine's parts are on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnginePaths {
    /// libmodsecurity 3 (Debian `libmodsecurity3`), opened with `dlopen`.
    pub library: PathBuf,
    /// The CRS set-up (Debian `modsecurity-crs`); the local exclusion files beside it
    /// (`REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`, `RESPONSE-999-…`) are loaded
    /// when present, as Debian's `owasp-crs.load` does.
    pub crs_setup: PathBuf,
    /// The directory of the CRS rules (`*.conf` and their `.data` files).
    pub crs_rules: PathBuf,
}

impl Default for EnginePaths {
    fn default() -> Self {
        EnginePaths {
            library: PathBuf::from("libmodsecurity.so.3"),
            crs_setup: PathBuf::from("/etc/modsecurity/crs/crs-setup.conf"),
            crs_rules: PathBuf::from("/usr/share/modsecurity-crs/rules"),
        }
    }
}

/// Why the engine cannot run. The message names what to install.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the WAF is unavailable: libmodsecurity 3 cannot be opened ({path}: {reason}); install the Debian package libmodsecurity3"
    )]
    Library { path: String, reason: String },
    #[error(
        "the WAF is unavailable: the OWASP Core Rule Set is missing ({path}); install the Debian package modsecurity-crs"
    )]
    Crs { path: String },
    #[error("the WAF is unavailable: the base configuration and the CRS do not load: {0}")]
    Base(String),
}

/// Why a site's rules were refused. Nothing of them was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("site {site}: {field}: {problem}")]
    Settings { site: String, field: String, problem: String },
    #[error("site {site}: virtual patch {index} does not load: {message}")]
    Patch { site: String, index: usize, message: String },
    #[error("site {site}: the rules do not load: {message}")]
    Engine { site: String, message: String },
}

/// The loaded library and the project's base configuration + CRS, once per process.
/// `Send + Sync`; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    lib: Arc<ffi::Library>,
    paths: EnginePaths,
    /// A private directory holding the project's unicode map (the engine reads it from a
    /// file at each compile); removed with the last clone.
    unicode_map: Arc<compile::UnicodeMap>,
}

impl Engine {
    /// Opens libmodsecurity and checks that the base configuration and the CRS load
    /// (with default settings); the error says what is missing and what to install.
    pub fn load(paths: &EnginePaths) -> Result<Engine, EngineError> {
        compile::load_engine(paths)
    }

    /// The library's own name and version, e.g. `ModSecurity v3.0.9 (Linux)`.
    pub fn version(&self) -> String {
        self.lib.version().to_string()
    }
}

/// One site's compiled rules; cheap to clone (`Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct SiteRules {
    inner: Arc<compile::Compiled>,
}

impl SiteRules {
    /// Compiles the base configuration, the CRS and the site's settings, exclusions and
    /// virtual patches into one rule set. Refuses settings or rules that do not load,
    /// with the engine's own message; nothing half-applied (the caller keeps the old set).
    pub fn compile(engine: &Engine, site: &str, settings: &RuleSettings) -> Result<SiteRules, RulesError> {
        compile::compile(engine, site, settings).map(|inner| SiteRules { inner: Arc::new(inner) })
    }

    /// Starts a transaction; `tx_id` becomes the engine's `UNIQUE_ID` and is what the
    /// block page and the audit log show.
    pub fn begin(&self, tx_id: &str, client: SocketAddr, server: SocketAddr) -> Transaction {
        transaction::begin(&self.inner, tx_id, client, server)
    }

    /// The settings these rules were compiled from.
    pub fn settings(&self) -> &RuleSettings {
        &self.inner.settings
    }
}

/// One request and its response, decided phase by phase; `Send` (moved into a blocking
/// thread); every call blocks while the engine runs.
pub struct Transaction {
    inner: transaction::Inner,
}

/// What the proxy does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Refuse with this status (the block page); nothing more goes to the origin.
    Intervene {
        status: u16,
    },
}

/// Everything the engine said about a finished transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The CRS inbound anomaly score (`tx.anomaly_score` after phase 2).
    pub inbound_score: u32,
    /// The CRS outbound anomaly score (0 unless responses are inspected).
    pub outbound_score: u32,
    /// Every rule that matched and logs (at most [`MAX_MATCHES`], in order).
    pub matches: Vec<RuleMatch>,
    /// An intervention happened: the request or response was refused.
    pub blocked: bool,
}

/// One matched rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    /// The rule id; 0 for an engine line that could not be read (its text is in `data`).
    pub id: u32,
    pub message: String,
    /// What matched, shortened to [`MAX_DATA`] characters.
    pub data: String,
    /// The CRS severity (0 emergency … 7 debug), as the engine logged it.
    pub severity: Option<u8>,
}

/// At most this many matches are kept per transaction (memory per transaction bounded).
pub const MAX_MATCHES: usize = 64;
/// Matched data is shortened to this many characters.
pub const MAX_DATA: usize = 200;
