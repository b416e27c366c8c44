//! The seam to the category database and the per-organisation policies:
//! the [`Rules`] trait the root package implements, and [`RulesHandle`],
//! which holds the current rules behind an `ArcSwap` so they can be replaced
//! at runtime (reload without restart).
//!
//! Every decision loads the rules in force at that moment (one lock-free
//! load per request): a reload or a policy change applies to the next
//! request of connections already open, not only to new ones; one decision
//! sees one policy set. Must not: do I/O; the rules are called on the
//! proxy's worker threads for every request.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// What the category database says about a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorized {
    /// Category slugs of the host.
    pub categories: Vec<String>,
    /// Whether any of them is exempt from inspection (rule 2).
    pub exempt: bool,
}

/// Whether a request may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The request may pass.
    pub allow: bool,
    /// Why; shown on the block page and written to the access log.
    pub reason: String,
}

impl Decision {
    /// An allowing decision with its reason.
    pub fn allow(reason: impl Into<String>) -> Self {
        Self { allow: true, reason: reason.into() }
    }

    /// A denying decision with its reason.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self { allow: false, reason: reason.into() }
    }
}

/// What the proxy needs to know about a host and whether a request may pass.
pub trait Rules: Send + Sync + 'static {
    /// Categories of `host` (slugs) and whether any of them is exempt from inspection (rule 2).
    fn categorize(&self, host: &str) -> Categorized;
    /// May organisation `org_bin` reach `host` (with these categories) now? `reason` is shown on the block page.
    fn decide(&self, org_bin: &str, host: &str, url: &str, categories: &[String]) -> Decision;
}

/// The current rules, replaceable at runtime. Cheap to clone; clones share.
#[derive(Clone)]
pub struct RulesHandle(Arc<ArcSwap<Arc<dyn Rules>>>);

impl fmt::Debug for RulesHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RulesHandle")
    }
}

impl RulesHandle {
    /// A handle holding `rules`.
    pub fn new(rules: Arc<dyn Rules>) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(rules)))
    }

    /// The rules in force now, for one decision.
    pub fn current(&self) -> Arc<dyn Rules> {
        Arc::clone(&**self.0.load())
    }

    /// Replaces the rules; every decision from now on, on open connections too, uses `rules`.
    pub fn replace(&self, rules: Arc<dyn Rules>) {
        self.0.store(Arc::new(rules));
    }
}
