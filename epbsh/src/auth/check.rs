//! Inbound checks of one message through mail-auth: SPF of the connecting address for the
//! envelope sender (the HELO name for `<>`), every DKIM signature, the ARC chain, and DMARC
//! of the `From` domain; their results as [`Findings`] in our own terms (what
//! [`super::decide`] reads) and as the `Authentication-Results` header (RFC 8601).
//!
//! Must not: decide anything (that is `decide`), or read the registry.

use std::net::IpAddr;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcOutput, DmarcResult, MessageAuthenticator,
    Parameters, SpfOutput, SpfResult,
};

use super::config::{AuthConfig, Mode};
use super::dns::{Caches, Lookups, Tracked};

/// The result of one check, in RFC 8601's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Res {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    TempError,
    PermError,
    None,
}

impl std::fmt::Display for Res {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Res::Pass => "pass",
            Res::Fail => "fail",
            Res::SoftFail => "softfail",
            Res::Neutral => "neutral",
            Res::TempError => "temperror",
            Res::PermError => "permerror",
            Res::None => "none",
        })
    }
}

/// What a sender's DMARC record asks for a message that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Asked {
    None,
    Quarantine,
    Reject,
}

/// One check's result with what it was about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub result: Res,
    /// The domain checked (SPF: the sender's; DKIM: `d=`; DMARC: the `From` domain).
    pub domain: String,
    /// More: the DKIM selector, an error text, the DMARC policy.
    pub detail: String,
}

/// Everything the checks found about one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Findings {
    /// The domains of the `From` addresses, lower-case (RFC 5322 wants exactly one).
    pub from_domains: Vec<String>,
    /// The envelope sender's domain (`None` for `<>`).
    pub mail_from: Option<String>,
    pub spf: Option<Check>,
    pub dkim: Vec<Check>,
    pub arc: Option<Check>,
    pub dmarc: Option<Check>,
    /// What the `From` domain's DMARC record asks for failing mail.
    pub dmarc_policy: Option<Asked>,
    /// True when the message's header could not be read (no DKIM, no `From`).
    pub unreadable: bool,
    /// SPF void lookups (names that answered nothing) seen while evaluating.
    pub spf_void_lookups: usize,
}

impl Findings {
    /// True when a DKIM signature of `domain` or of a parent of it passed.
    pub fn dkim_pass_for(&self, domain: &str) -> bool {
        self.dkim.iter().any(|c| c.result == Res::Pass && within(domain, &c.domain))
    }
}

/// True when `name` is `domain` or a subdomain of it.
pub fn within(name: &str, domain: &str) -> bool {
    name == domain || name.strip_suffix(domain).is_some_and(|p| p.ends_with('.'))
}

/// What the checks found, the results header, and the DMARC report row (when DMARC was
/// evaluated).
pub struct Checked {
    pub findings: Findings,
    pub header: String,
    pub row: Option<super::reports::Row>,
}

/// What the checks are given.
pub struct Input<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// The envelope sender, `local@domain`, or `""` for `<>`.
    pub sender: &'a str,
    pub message: &'a [u8],
}

fn spf_res(r: SpfResult) -> Res {
    match r {
        SpfResult::Pass => Res::Pass,
        SpfResult::Fail => Res::Fail,
        SpfResult::SoftFail => Res::SoftFail,
        SpfResult::Neutral => Res::Neutral,
        SpfResult::TempError => Res::TempError,
        SpfResult::PermError => Res::PermError,
        SpfResult::None => Res::None,
    }
}

fn dkim_res(r: &DkimResult) -> (Res, String) {
    match r {
        DkimResult::Pass => (Res::Pass, String::new()),
        DkimResult::Neutral(e) => (Res::Neutral, e.to_string()),
        DkimResult::Fail(e) => (Res::Fail, e.to_string()),
        DkimResult::PermError(e) => (Res::PermError, e.to_string()),
        DkimResult::TempError(e) => (Res::TempError, e.to_string()),
        DkimResult::None => (Res::None, String::new()),
    }
}

fn dmarc_res(r: &DmarcResult) -> (Res, String) {
    match r {
        DmarcResult::Pass => (Res::Pass, String::new()),
        DmarcResult::Fail(e) => (Res::Fail, e.to_string()),
        DmarcResult::TempError(e) => (Res::TempError, e.to_string()),
        DmarcResult::PermError(e) => (Res::PermError, e.to_string()),
        DmarcResult::None => (Res::None, String::new()),
    }
}

fn asked(p: Policy) -> Asked {
    match p {
        Policy::Reject => Asked::Reject,
        Policy::Quarantine => Asked::Quarantine,
        Policy::None | Policy::Unspecified => Asked::None,
    }
}

/// Runs the checks `cfg` turns on (DMARC also when `dmarc_wanted`); returns the findings
/// and the `Authentication-Results` header (`Authentication-Results: id; …\r\n`).
pub async fn run(
    auth: &MessageAuthenticator,
    caches: &Caches,
    cfg: &AuthConfig,
    authserv_id: &str,
    input: &Input<'_>,
    dmarc_wanted: impl Fn(&str) -> bool,
) -> Checked {
    let lookups = Lookups::default();
    let (txt, mx) =
        (Tracked { cache: &caches.txt, lookups: &lookups }, Tracked { cache: &caches.mx, lookups: &lookups });
    let (v4, v6) =
        (Tracked { cache: &caches.ipv4, lookups: &lookups }, Tracked { cache: &caches.ipv6, lookups: &lookups });
    // One set of caches for every check; a macro, as each check takes its own parameters.
    macro_rules! params {
        ($p:expr) => {
            Parameters::new($p)
                .with_txt_cache(&txt)
                .with_mx_cache(&mx)
                .with_ipv4_cache(&v4)
                .with_ipv6_cache(&v6)
                .with_ptr_cache(&caches.ptr)
        };
    }
    let mail_from = input.sender.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    let mut findings = Findings { mail_from: mail_from.clone(), ..Findings::default() };
    let mut header = AuthenticationResults::new(authserv_id);

    let spf_params = match input.sender {
        "" => SpfParameters::verify_ehlo(input.ip, input.helo, authserv_id),
        s => SpfParameters::verify_mail_from(input.ip, input.helo, authserv_id, s),
    };
    let spf: SpfOutput = auth.verify_spf(params!(spf_params)).await;
    let spf = void_limit(spf, lookups.void());
    findings.spf_void_lookups = lookups.void();
    if cfg.spf != Mode::Off {
        let domain = mail_from.clone().unwrap_or_else(|| input.helo.to_ascii_lowercase());
        findings.spf = Some(Check { result: spf_res(spf.result()), domain, detail: String::new() });
        header = match input.sender {
            "" => header.with_spf_ehlo_result(&spf, input.ip, input.helo),
            s => header.with_spf_mailfrom_result(&spf, input.ip, s, input.helo),
        };
    }

    let Some(message) = AuthenticatedMessage::parse(input.message) else {
        findings.unreadable = true;
        return Checked { findings, header: header.to_header(), row: None };
    };
    findings.from_domains = from_domains(&message);
    let dkim = if cfg.dkim != Mode::Off { auth.verify_dkim(params!(&message)).await } else { Vec::new() };
    let header_from = message.from.first().map(String::as_str).unwrap_or_default();
    for out in &dkim {
        let (result, error) = dkim_res(out.result());
        let (domain, selector) = out.signature().map(|s| (s.d.to_ascii_lowercase(), s.s.clone())).unwrap_or_default();
        let detail = if error.is_empty() { format!("s={selector}") } else { format!("s={selector}; {error}") };
        findings.dkim.push(Check { result, domain, detail });
    }
    let mut extra = Vec::new();
    if cfg.dkim != Mode::Off {
        header = header.with_dkim_results(&dkim, header_from);
        extra = unreadable_signatures(&message, &mut findings);
        if findings.dkim.is_empty() {
            extra.push("dkim=none".to_string());
        }
    }
    let arc_present = !message.ams_headers.is_empty() || !message.as_headers.is_empty() || message.has_arc_errors;
    if cfg.arc != Mode::Off && arc_present {
        let arc = auth.verify_arc(params!(&message)).await;
        let (result, detail) = dkim_res(arc.result());
        findings.arc = Some(Check { result, domain: String::new(), detail });
        header = header.with_arc_result(&arc, input.ip);
    }
    let from_domain = findings.from_domains.first().cloned();
    let mut row = None;
    if let Some(from) = from_domain.filter(|d| dmarc_wanted(d)) {
        let mail_from_domain = mail_from.as_deref().unwrap_or(input.helo);
        let p = DmarcParameters {
            message: &message,
            dkim_output: &dkim,
            dkim2_output: None,
            rfc5321_mail_from_domain: mail_from_domain,
            spf_output: &spf,
        };
        let dmarc: DmarcOutput = auth.verify_dmarc(params!(p)).await;
        let (result, error) = dmarc_res(&dmarc.result());
        let policy = asked(dmarc.policy());
        findings.dmarc_policy = dmarc.dmarc_record().map(|_| policy);
        let domain = if dmarc.domain().is_empty() { from.clone() } else { dmarc.domain().to_ascii_lowercase() };
        findings.dmarc = Some(Check { result, domain, detail: error });
        header = header.with_dmarc_result(&dmarc);
        row = Some(report_row(input, &from, mail_from_domain, &dkim, &spf, &dmarc));
    }
    Checked { findings, header: with_clauses(header.to_header(), &extra), row }
}

/// The DMARC aggregate report row of one message.
fn report_row(
    input: &Input<'_>,
    from: &str,
    mail_from: &str,
    dkim: &[mail_auth::DkimOutput<'_>],
    spf: &SpfOutput,
    dmarc: &DmarcOutput,
) -> super::reports::Row {
    use mail_auth::report::{Disposition, Record, SPFDomainScope};
    let record = Record::new()
        .with_source_ip(input.ip)
        .with_header_from(from)
        .with_envelope_from(mail_from)
        .with_dkim_output(dkim)
        .with_spf_output(spf, SPFDomainScope::MailFrom)
        .with_dmarc_output(dmarc);
    let rua = dmarc.dmarc_record().map(|r| r.rua().iter().map(|u| u.uri().to_string()).collect()).unwrap_or_default();
    let policy = match dmarc.policy() {
        Policy::Reject => Disposition::Reject,
        Policy::Quarantine => Disposition::Quarantine,
        Policy::None | Policy::Unspecified => Disposition::None,
    };
    super::reports::Row { record, rua, policy }
}

/// DKIM-Signature fields mail-auth could not read at all (it reports only some of them):
/// each one is a permerror of its own, in the findings and in the header.
fn unreadable_signatures(message: &AuthenticatedMessage<'_>, findings: &mut Findings) -> Vec<String> {
    let mut clauses = Vec::new();
    for e in &message.errors {
        if e.name.eq_ignore_ascii_case(b"DKIM-Signature") && !matches!(e.header, mail_auth::Error::Dkim(_)) {
            let detail = format!("malformed DKIM-Signature: {}", e.header);
            clauses.push(format!("dkim=permerror ({detail})"));
            findings.dkim.push(Check { result: Res::PermError, domain: String::new(), detail });
        }
    }
    clauses
}

/// `header` (a whole `Authentication-Results` field) with `clauses` added.
fn with_clauses(header: String, clauses: &[String]) -> String {
    if clauses.is_empty() {
        return header;
    }
    let mut out = header.trim_end_matches("\r\n").trim_end_matches("; none").to_string();
    for c in clauses {
        out.push_str(";\r\n\t");
        out.push_str(&c.replace(['\r', '\n'], " "));
    }
    out.push_str("\r\n");
    out
}

/// The findings without DNS (no resolver configured): the `From` domains and the envelope
/// sender only, and a results header saying nothing was evaluated.
pub fn without_dns(authserv_id: &str, input: &Input<'_>) -> Checked {
    let mail_from = input.sender.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    let mut findings = Findings { mail_from, ..Findings::default() };
    match AuthenticatedMessage::parse(input.message) {
        Some(m) => findings.from_domains = from_domains(&m),
        None => findings.unreadable = true,
    }
    Checked { findings, header: format!("Authentication-Results: {authserv_id}; none\r\n"), row: None }
}

/// RFC 7208 §4.6.4: more than two void lookups make the evaluation a permerror (a failed
/// lookup counts here too, but then the result is already a temperror and stays one).
fn void_limit(spf: SpfOutput, void: usize) -> SpfOutput {
    if void > 2 && !matches!(spf.result(), SpfResult::TempError | SpfResult::PermError) {
        let domain = spf.domain().to_string();
        return SpfOutput::new(domain).with_result(SpfResult::PermError);
    }
    spf
}

/// The distinct domains of the `From` addresses, lower-case.
fn from_domains(message: &AuthenticatedMessage<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for addr in &message.from {
        if let Some((_, d)) = addr.rsplit_once('@') {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}
