//! DMARC aggregate reports (RFC 7489 §7.2) for our domains: every message from outside
//! whose `From` is one of our domains (a forgery refused, or mail that passed) is kept as
//! a row (source address, identifiers, SPF and DKIM results, what the relay did), equal
//! rows counted together; [`DmarcLog::take`] makes the report of a domain for the period
//! since its last one (daily, by whoever calls it) with the `rua` addresses its DMARC
//! record names. [`AggregateReport::message`] is the e-mail to send them (XML, gzipped).
//!
//! Must not: grow without bound (at most [`MAX_ROWS`] distinct rows per domain, then the
//! rest are counted as dropped and said so in the report).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use mail_auth::report::{ActionDisposition, Disposition, Record, Report};
use time::OffsetDateTime;

/// Distinct rows kept per domain and period.
pub const MAX_ROWS: usize = 10_000;

/// One message's row, as the check made it.
pub struct Row {
    pub record: Record,
    /// The `rua` addresses of the domain's DMARC record (mail-auth gives them without
    /// their `mailto:`).
    pub rua: Vec<String>,
    /// The policy its record publishes.
    pub policy: Disposition,
}

struct DomainLog {
    since: OffsetDateTime,
    rua: Vec<String>,
    policy: Disposition,
    rows: HashMap<Record, u32>,
    dropped: u64,
}

/// The rows of every one of our domains since its last report.
#[derive(Default)]
pub struct DmarcLog {
    map: Mutex<BTreeMap<String, DomainLog>>,
}

/// A report ready to send.
pub struct AggregateReport {
    pub report: Report,
    /// Where the domain's DMARC record asks reports to go.
    pub rua: Vec<String>,
}

impl DmarcLog {
    /// Keeps `row` for `domain` (ours), with what the relay did.
    pub fn add(&self, domain: &str, mut row: Row, did: ActionDisposition, now: OffsetDateTime) {
        row.record = row.record.with_action_disposition(did).with_count(0);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let log = map.entry(domain.to_string()).or_insert_with(|| DomainLog {
            since: now,
            rua: Vec::new(),
            policy: row.policy,
            rows: HashMap::new(),
            dropped: 0,
        });
        log.rua = row.rua;
        log.policy = row.policy;
        let room = log.rows.len() < MAX_ROWS;
        match log.rows.get_mut(&row.record) {
            Some(n) => *n += 1,
            None if room => {
                log.rows.insert(row.record, 1);
            }
            None => log.dropped += 1,
        }
    }

    /// The domains with rows waiting.
    pub fn domains(&self) -> Vec<String> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }

    /// The report of `domain` from its first row since the last report until `now`, by
    /// `org` (our name) with `email` as its contact; the rows start afresh.
    pub fn take(&self, domain: &str, org: &str, email: &str, now: OffsetDateTime) -> Option<AggregateReport> {
        let log = self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(domain)?;
        let begin = log.since.unix_timestamp().max(0) as u64;
        let end = now.unix_timestamp().max(0) as u64;
        let mut report = Report::new()
            .with_org_name(org)
            .with_email(email)
            .with_report_id(format!("{domain}.{begin}.{end}@{org}"))
            .with_date_range_begin(begin)
            .with_date_range_end(end)
            .with_domain(domain)
            .with_p(log.policy)
            .with_generator("perimeter epbsh");
        if log.dropped > 0 {
            report = report.with_error(format!("{} messages not reported: over {MAX_ROWS} distinct rows", log.dropped));
        }
        let mut rows: Vec<(Record, u32)> = log.rows.into_iter().collect();
        rows.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (record, n) in rows {
            report.add_record(record.with_count(n));
        }
        Some(AggregateReport { report, rua: log.rua })
    }
}

impl AggregateReport {
    /// The report e-mail (RFC 7489 §7.2.1.1: gzipped XML attached) from `from`, to the
    /// `mailto:` addresses of the record.
    pub fn message(&self, submitter: &str, from: &str) -> std::io::Result<String> {
        let to: Vec<&str> = self.rua.iter().map(|u| u.strip_prefix("mailto:").unwrap_or(u)).collect();
        self.report.to_rfc5322(submitter, from, to.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ip: &str) -> Row {
        Row {
            record: Record::new().with_source_ip(ip.parse().unwrap()).with_header_from("a.gov.test"),
            rua: vec!["mailto:dmarc@a.gov.test".into()],
            policy: Disposition::Reject,
        }
    }

    #[test]
    fn equal_rows_are_counted_together_and_a_report_starts_afresh() {
        let log = DmarcLog::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        log.add("a.gov.test", row("192.0.2.1"), ActionDisposition::Reject, t0);
        log.add("a.gov.test", row("192.0.2.1"), ActionDisposition::Reject, t0);
        log.add("a.gov.test", row("198.51.100.1"), ActionDisposition::Reject, t0);
        let r = log.take("a.gov.test", "relay.test", "dmarc@relay.test", t0 + time::Duration::days(1)).unwrap();
        let counts: Vec<u32> = r.report.records().iter().map(Record::count).collect();
        assert_eq!(counts, [2, 1]);
        assert_eq!(r.report.domain(), "a.gov.test");
        let xml = r.report.to_xml();
        assert!(
            xml.contains("<source_ip>192.0.2.1</source_ip>") && xml.contains("<disposition>reject</disposition>"),
            "{xml}"
        );
        let mail = r.message("relay.test", "dmarc@relay.test").unwrap();
        assert!(mail.contains("To: <dmarc@a.gov.test>") && mail.contains("application/gzip"), "{mail}");
        assert!(log.take("a.gov.test", "relay.test", "x@relay.test", t0).is_none(), "taken");
    }
}
