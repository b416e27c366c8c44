//! TLS results per destination domain with a policy (MTA-STS now): sessions that met it,
//! failures by kind and MX host, policy fetches that failed; and the TLS-RPT report
//! (RFC 8460 §4.4, JSON) of a domain for a period, for the addresses its `_smtp._tls`
//! record names. Counts are kept from start (or from the last [`Counts::take`]).
//!
//! Must not: grow without bound (at most [`MAX_DOMAINS`] domains are counted).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Policy;
use super::policy::Mode;

/// Destination domains counted at most.
pub const MAX_DOMAINS: usize = 10_000;

/// One domain's TLS results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsCounts {
    /// The policy in force at the last session (`enforce`, `testing`).
    pub mode: Option<Mode>,
    pub mx: Vec<String>,
    pub successes: u64,
    /// (RFC 8460 result type, MX host) → sessions.
    pub failures: BTreeMap<(String, String), u64>,
    pub fetch_failures: u64,
}

/// The counts of every destination domain.
#[derive(Default)]
pub struct Counts {
    map: Mutex<BTreeMap<String, TlsCounts>>,
}

impl Counts {
    fn with(&self, domain: &str, f: impl FnOnce(&mut TlsCounts)) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_DOMAINS && !map.contains_key(domain) {
            return;
        }
        f(map.entry(domain.to_string()).or_default());
    }

    /// A session to an MX of `domain` that met its policy.
    pub fn success(&self, domain: &str, policy: &Policy) {
        self.with(domain, |c| {
            c.successes += 1;
            c.mode = Some(policy.mode);
            c.mx.clone_from(&policy.mx);
        });
    }

    /// A session (or MX host) that did not meet the policy: RFC 8460's result type.
    pub fn failure(&self, domain: &str, policy: &Policy, result_type: &str, mx_host: &str) {
        self.with(domain, |c| {
            *c.failures.entry((result_type.to_string(), mx_host.to_string())).or_default() += 1;
            c.mode = Some(policy.mode);
            c.mx.clone_from(&policy.mx);
        });
    }

    pub(super) fn fetch_failed(&self, domain: &str) {
        self.with(domain, |c| c.fetch_failures += 1);
    }

    /// Every domain's counts.
    pub fn snapshot(&self) -> Vec<(String, TlsCounts)> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Takes `domain`'s counts (for a report), starting it afresh.
    pub fn take(&self, domain: &str) -> Option<TlsCounts> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(domain)
    }
}

/// A TLS-RPT report (RFC 8460 §4.4).
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    #[serde(rename = "organization-name")]
    pub organization: String,
    #[serde(rename = "date-range")]
    pub range: DateRange,
    #[serde(rename = "contact-info")]
    pub contact: String,
    #[serde(rename = "report-id")]
    pub id: String,
    pub policies: Vec<PolicyResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DateRange {
    #[serde(rename = "start-datetime")]
    pub start: String,
    #[serde(rename = "end-datetime")]
    pub end: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub policy: PolicyDesc,
    pub summary: Summary,
    #[serde(rename = "failure-details", skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureDetail>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyDesc {
    #[serde(rename = "policy-type")]
    pub kind: String,
    #[serde(rename = "policy-string")]
    pub string: Vec<String>,
    #[serde(rename = "policy-domain")]
    pub domain: String,
    #[serde(rename = "mx-host")]
    pub mx: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(rename = "total-successful-session-count")]
    pub successes: u64,
    #[serde(rename = "total-failure-session-count")]
    pub failures: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureDetail {
    #[serde(rename = "result-type")]
    pub result_type: String,
    #[serde(rename = "receiving-mx-hostname")]
    pub mx_host: String,
    #[serde(rename = "failed-session-count")]
    pub count: u64,
}

impl TlsReport {
    /// The report of `domain`'s `counts` over `[start, end)` by `organization` (our
    /// relay), `contact` the address receivers may write to.
    pub fn new(
        organization: &str,
        contact: &str,
        domain: &str,
        counts: &TlsCounts,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> TlsReport {
        let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let mode = match counts.mode {
            Some(Mode::Enforce) => "enforce",
            Some(Mode::Testing) => "testing",
            _ => "none",
        };
        let mut string = vec!["version: STSv1".to_string(), format!("mode: {mode}")];
        string.extend(counts.mx.iter().map(|m| format!("mx: {m}")));
        let failures: Vec<FailureDetail> = counts
            .failures
            .iter()
            .map(|((t, mx), n)| FailureDetail { result_type: t.clone(), mx_host: mx.clone(), count: *n })
            .collect();
        let failed = failures.iter().map(|f| f.count).sum::<u64>() + counts.fetch_failures;
        let policy = PolicyDesc { kind: "sts".into(), string, domain: domain.into(), mx: counts.mx.clone() };
        TlsReport {
            organization: organization.into(),
            range: DateRange { start: fmt(start), end: fmt(end) },
            contact: contact.into(),
            id: format!("{}_{domain}@{organization}", fmt(start)),
            policies: vec![PolicyResult {
                policy,
                summary: Summary { successes: counts.successes, failures: failed },
                failures,
            }],
        }
    }

    /// The JSON text (RFC 8460 §4.4).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_sums_what_was_counted() {
        let c = Counts::default();
        let p =
            Policy { mode: Mode::Enforce, mx: vec!["mx.ext.test".into()], max_age: std::time::Duration::from_secs(60) };
        c.success("ext.test", &p);
        c.failure("ext.test", &p, "certificate-host-mismatch", "mx.ext.test");
        c.failure("ext.test", &p, "certificate-host-mismatch", "mx.ext.test");
        let counts = c.take("ext.test").unwrap();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let r =
            TlsReport::new("relay.test", "tlsrpt@relay.test", "ext.test", &counts, t0, t0 + time::Duration::days(1));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let pol = &json["policies"][0];
        assert_eq!(pol["summary"]["total-successful-session-count"], 1);
        assert_eq!(pol["summary"]["total-failure-session-count"], 2);
        assert_eq!(pol["failure-details"][0]["result-type"], "certificate-host-mismatch");
        assert_eq!(pol["policy"]["policy-string"][1], "mode: enforce");
        assert_eq!(json["date-range"]["end-datetime"], "1970-01-02T00:00:00Z");
        assert!(c.take("ext.test").is_none(), "taken");
    }
}
