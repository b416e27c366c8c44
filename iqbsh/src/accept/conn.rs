//! State shared by every connection ([`Shared`]) and the context of one
//! client connection ([`Conn`]): its listener, client and when it was
//! accepted, the rules in force for each decision (read anew per request, so
//! a reload reaches open connections), plus helpers that categorise hosts
//! and log decisions consistently.
//!
//! Must not: hold locks; everything here is immutable or atomic.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use certs::LeafForge;

use crate::accept::admission::{Client, Gate};
use crate::config::Settings;
use crate::decide::denial::Denial;
use crate::decide::resolve::Resolver;
use crate::decide::rules::{Categorized, Rules, RulesHandle};
use crate::report::accesslog::{AccessLog, Action, Record, reference_id};
use crate::report::metrics::Metrics;
use crate::tls::config::ClientSide;
use crate::tls::origin::OriginTls;

/// Everything the listeners share.
pub(crate) struct Shared {
    pub settings: Settings,
    pub gate: Gate,
    pub rules: RulesHandle,
    pub resolver: Resolver,
    /// The threat feeds.
    pub threats: crate::decide::threats::ThreatsHandle,
    pub origin: OriginTls,
    pub forge: Arc<LeafForge>,
    pub client_tls: ClientSide,
    pub log: AccessLog,
    /// The ICAP services bodies are scanned by.
    pub icap: crate::icap::Icap,
    pub metrics: Arc<Metrics>,
    /// Becomes `true` at shutdown; tasks that outlive their listener watch it.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// Which listener accepted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Explicit,
    Transparent,
}

impl Listener {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Transparent => "transparent",
        }
    }
}

/// One client connection.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub listener: Listener,
    pub client: Client,
    /// When the connection was accepted (its maximum lifetime counts from here).
    pub born: Instant,
    /// Set once the connection is a spliced tunnel, which watches the standing of its
    /// source itself and writes its own access-log line when cut (`standing::guard`).
    pub splicing: std::sync::atomic::AtomicBool,
    /// What this connection holds on disk while its bodies are scanned.
    pub hold: Arc<crate::icap::HoldShare>,
}

impl Conn {
    /// The rules in force now (a reload reaches the next decision of every open connection).
    pub(crate) fn rules(&self) -> Arc<dyn Rules> {
        self.shared.rules.current()
    }

    /// The categories of `host`: an address literal, in whatever form, is in the
    /// `ip-literal` category of its own (decided like any other, never exempt); names
    /// are looked up in the rules in force now.
    pub(crate) fn categorize(&self, rules: &dyn Rules, host: &str) -> Categorized {
        match crate::decide::literal::kind(host) {
            crate::decide::literal::HostKind::Name => rules.categorize(host),
            _ => Categorized { categories: vec![policies::category::IP_LITERAL.to_owned()], exempt: false },
        }
    }

    /// The organisation's BIN (empty when unknown; only admitted connections reach the rules).
    pub(crate) fn bin(&self) -> &str {
        self.client.org.as_deref().unwrap_or_default()
    }

    /// A record for a decision about `host`, started at `started`, with no outcome yet.
    pub(crate) fn record(&self, started: SystemTime, method: &str, host: &str, url: String) -> Record {
        Record {
            started,
            duration_ms: 0,
            client: self.client.ip,
            org: self.client.org.clone(),
            listener: self.listener.label(),
            method: method.to_owned(),
            host: if host.is_empty() { "-".to_owned() } else { host.to_owned() },
            url,
            sni: None,
            categories: Vec::new(),
            action: Action::Deny,
            deny_kind: None,
            status: 0,
            reason: String::new(),
            cert_error: None,
            bytes_to_client: 0,
            bytes_from_client: 0,
            upstream: None,
            content_type: None,
            reference: reference_id(),
            scans: Vec::new(),
        }
    }

    /// Completes and writes `record` (duration from its start); counts bytes.
    pub(crate) fn finish(&self, mut record: Record) {
        let elapsed = record.started.elapsed().unwrap_or_default();
        record.duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.shared.metrics.bytes(record.bytes_to_client, record.bytes_from_client);
        self.shared.log.write(record);
    }

    /// Writes the line of a request the HTTP parser refused (a malformed request
    /// line or header, a header block over the limit); hyper has answered it with
    /// 400 or 431 and closes. Other ends of a connection are no decision.
    pub(crate) fn note_unreadable(&self, error: &hyper::Error) {
        if !(error.is_parse() || error.is_parse_too_large()) {
            return;
        }
        let status = if error.is_parse_too_large() { 431 } else { 400 };
        let mut record = self.record(SystemTime::now(), "-", "", "-".to_owned());
        let denial =
            Denial::new(crate::decide::denial::DenyKind::BadRequest, format!("the request could not be read: {error}"));
        self.deny(&mut record, &denial, status);
        self.finish(record);
    }

    /// Marks `record` as refused for `denial` (counted) with the given answer status.
    pub(crate) fn deny(&self, record: &mut Record, denial: &Denial, status: u16) {
        record.action = Action::Deny;
        record.deny_kind = Some(denial.kind);
        record.status = status;
        record.reason.clone_from(&denial.reason);
        self.shared.metrics.denial(denial.kind);
    }
}
