//! What the service tells the outside when it finds something: every finding and every
//! event, already recorded in the store, handed to a [`Hook`] the binary implements (it
//! files an `incident` application at the desk and e-mails the site's technical contacts
//! and the duty team through the notices' outbox).
//!
//! Must not: send mail or touch the desk itself; wait on a hook without a time limit.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use store::{DefaceEvent, DefaceFinding};

/// One thing to tell.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// A change set: put back (`unauthorised`), recorded in a window, or pages changed.
    Finding(DefaceFinding),
    /// An event of a site's checks (unreachable, host key changed, a name refused...).
    Event(DefaceEvent),
}

impl Notice {
    pub fn domain(&self) -> &str {
        match self {
            Notice::Finding(f) => &f.domain,
            Notice::Event(e) => &e.domain,
        }
    }

    /// A subject line for a message about it.
    pub fn subject(&self) -> String {
        match self {
            Notice::Finding(f) if f.kind == "unauthorised" => {
                format!("Defacement of {} found and {}", f.domain, f.outcome.replace('-', " "))
            }
            Notice::Finding(f) if f.kind == "window" => {
                format!("Changes on {} during its maintenance window", f.domain)
            }
            Notice::Finding(f) => format!("Pages of {} changed", f.domain),
            Notice::Event(e) => format!("Defacement protection of {}: {}", e.domain, e.kind.replace('-', " ")),
        }
    }

    /// A plain-text body with the evidence: files, pages, diff, times (UTC).
    pub fn body(&self) -> String {
        let at = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp(ms / 1000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_else(|| ms.to_string())
        };
        match self {
            Notice::Finding(f) => {
                let mut b =
                    format!("Site: {}\nFinding: {} ({})\nDetected: {}\n", f.domain, f.id, f.kind, at(f.detected_at));
                if let Some(r) = f.restored_at {
                    b.push_str(&format!("Restored: {}\n", at(r)));
                }
                if let Some(c) = f.confirmed_at {
                    b.push_str(&format!("Pages confirmed: {}\n", at(c)));
                }
                b.push_str(&format!("Outcome: {}\n\nFiles:\n", f.outcome));
                for file in f.files.as_array().into_iter().flatten() {
                    let s = |k: &str| file.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                    b.push_str(&format!("  {} {}: {}\n", s("change"), s("path"), s("action")));
                }
                b.push_str("\nPages:\n");
                for page in f.pages.as_array().into_iter().flatten() {
                    b.push_str(&format!("  {page}\n"));
                }
                b.push_str("\nDiff:\n");
                b.push_str(&f.diff);
                b
            }
            Notice::Event(e) => format!("Site: {}\nEvent: {}\nAt: {}\n\n{}\n", e.domain, e.kind, at(e.at), e.detail),
        }
    }
}

/// Where notices go; the binary implements it. Called once per notice, after it is
/// recorded; the service waits at most `[deface] timeout` for it.
pub trait Hook: Send + Sync + 'static {
    fn notify(&self, notice: Notice) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// A hook that only logs (for a service run without the desk).
pub struct LogHook;

impl Hook for LogHook {
    fn notify(&self, notice: Notice) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move { tracing::warn!(site = notice.domain(), "{}", notice.subject()) })
    }
}
