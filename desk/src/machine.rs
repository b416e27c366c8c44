//! The state machine of every kind: which action moves an application from which state
//! to which, who holds it in each state (the duty team or the applicant) and the day its
//! current step is due. Automatic steps (the lapse of technical conditions) are actions
//! too, taken when the day says so.

use policies::calendar::{Calendar, Date};
use serde::{Deserialize, Serialize};

use crate::clock::{self, Period};
use crate::{Applicant, Fields, Kind, Problems};

/// Where an application stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Received; the duty team answers.
    Filed,
    /// Mail connection: eligibility and technical possibility checked.
    Checked,
    /// Operator link: technical conditions issued; the operator prepares.
    Conditions,
    /// Operator link: the operator reported readiness; the duty team checks.
    Checking,
    /// Operator link: non-conformities found; the operator removes them.
    NonConformities,
    Connected,
    /// Yearly lists or a risky service in force for one calendar year.
    Applied,
    /// A change or an incident taken note of.
    Closed,
    Refused,
    /// Technical conditions expired without an extension.
    Lapsed,
    Disconnected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Filed => "filed",
            State::Checked => "checked",
            State::Conditions => "conditions",
            State::Checking => "checking",
            State::NonConformities => "non-conformities",
            State::Connected => "connected",
            State::Applied => "applied",
            State::Closed => "closed",
            State::Refused => "refused",
            State::Lapsed => "lapsed",
            State::Disconnected => "disconnected",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    /// The states of an application not yet decided: it awaits the duty team's answer
    /// or the applicant's next step.
    pub const UNDECIDED: [State; 5] =
        [State::Filed, State::Checked, State::Conditions, State::Checking, State::NonConformities];

    /// States in which technical conditions are running.
    fn conditions_run(self) -> bool {
        matches!(self, State::Conditions | State::Checking | State::NonConformities)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who must act next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Holder {
    Duty,
    Applicant,
}

/// Technical conditions issued for an operator link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    pub number: String,
    /// Connection point, interface technology, the independent paths, patch cords.
    pub details: String,
    pub issued: Date,
    /// The last day they are valid.
    pub expires: Date,
}

/// What someone does to an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    Check,
    Conditions {
        number: String,
        details: String,
    },
    Ready,
    NonConformities {
        reason: String,
    },
    Extend,
    Connect,
    Apply,
    Close {
        note: String,
    },
    Refuse {
        reason: String,
    },
    /// Disconnection, now or at the time agreed with the owner (RFC 3339).
    Disconnect {
        reason: String,
        #[serde(default)]
        at: Option<String>,
    },
    /// Automatic: technical conditions expired.
    Lapse,
}

impl Action {
    /// The verb as the command line and the timeline name it.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Check => "check",
            Action::Conditions { .. } => "conditions",
            Action::Ready => "ready",
            Action::NonConformities { .. } => "nonconform",
            Action::Extend => "extend",
            Action::Connect => "connect",
            Action::Apply => "apply",
            Action::Close { .. } => "close",
            Action::Refuse { .. } => "refuse",
            Action::Disconnect { .. } => "disconnect",
            Action::Lapse => "lapse",
        }
    }

    /// The words given with it (reason, note, conditions), for the timeline.
    pub fn note(&self) -> Option<String> {
        match self {
            Action::Conditions { number, details } => Some(format!("conditions {number}: {details}")),
            Action::Disconnect { reason, at: Some(at) } => Some(format!("{reason} (agreed for {at})")),
            Action::NonConformities { reason: t }
            | Action::Close { note: t }
            | Action::Refuse { reason: t }
            | Action::Disconnect { reason: t, .. } => Some(t.clone()),
            _ => None,
        }
    }
}

/// Why an action was not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a {kind} application in state '{state}' cannot be given '{verb}'")]
    NotNow { kind: Kind, state: State, verb: &'static str },
    #[error("{0}")]
    Missing(String),
    #[error("the technical conditions lapsed: they were valid through {0}")]
    Lapsed(Date),
    #[error("too late to extend: conditions valid through {expires} may be extended until {until}")]
    TooLateToExtend { expires: Date, until: Date },
}

/// The applicant's current step: who holds the application and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub holder: Option<Holder>,
    pub due: Option<Date>,
}

/// One application as the desk's rules see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub applicant: Applicant,
    /// Who is e-mailed at every transition.
    pub contacts: Vec<String>,
    #[serde(flatten)]
    pub fields: Fields,
    pub received: Date,
    pub state: State,
    /// The day it entered its state.
    pub since: Date,
    pub conditions: Option<Conditions>,
    /// Applied lists and risky services: the last day they are in force.
    pub valid_through: Option<Date>,
    /// The last reason given (refusal, non-conformities, disconnection).
    pub reason: Option<String>,
}

impl Application {
    /// A new application received on `received`; every problem is named.
    pub fn file(applicant: Applicant, contacts: Vec<String>, fields: Fields, received: Date) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        if !fields.kind().accepts(&applicant) {
            problems.push("applicant", format!("{applicant} may not file a {} application", fields.kind()));
        }
        if contacts.is_empty() {
            problems.push("contacts", "name at least one e-mail address to send the answers to");
        }
        if contacts.len() > MAX_CONTACTS {
            problems.push("contacts", format!("{} addresses; name at most {MAX_CONTACTS}", contacts.len()));
        }
        for c in contacts.iter().take(MAX_CONTACTS + 1).filter(|c| !plausible_email(c)) {
            let shown: String = c.chars().take(80).collect();
            problems.push("contacts", format!("'{}' is not an e-mail address", shown.escape_debug()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let (state, since) = (State::Filed, received);
        Ok(Application {
            applicant,
            contacts,
            fields,
            received,
            state,
            since,
            conditions: None,
            valid_through: None,
            reason: None,
        })
    }

    pub fn kind(&self) -> Kind {
        self.fields.kind()
    }

    /// Who holds it and when the current step is due, under `calendar`.
    pub fn step(&self, calendar: &Calendar) -> Step {
        let (holder, period, from) = match (self.kind(), self.state) {
            (kind, State::Filed) => (Some(Holder::Duty), answer_period(kind), self.received),
            (_, State::Checked) => (Some(Holder::Duty), Some(clock::MAIL_ANSWER), self.received),
            (_, State::Conditions) => (Some(Holder::Applicant), Some(clock::LINK_READINESS), self.since),
            (_, State::Checking) => (Some(Holder::Duty), None, self.since),
            (_, State::NonConformities) => (Some(Holder::Applicant), Some(clock::NON_CONFORMITIES), self.since),
            _ => (None, None, self.since),
        };
        Step { holder, due: period.map(|p| p.ends(from, calendar)) }
    }

    /// A change to a resource reported after the 5 working days the regulation allows
    /// from the change (IQBSH 19): the day it was due, when it was late.
    pub fn reported_late(&self, calendar: &Calendar) -> Option<Date> {
        let Fields::ResourceChange { changed_on, .. } = &self.fields else { return None };
        let due = clock::CHANGE_REPORTED.ends(*changed_on, calendar);
        (self.received > due).then_some(due)
    }

    /// Whether its current step is past due on `today`.
    pub fn overdue(&self, today: Date, calendar: &Calendar) -> bool {
        self.step(calendar).due.is_some_and(|due| due < today)
    }

    /// For a refused application, the first day the applicant may apply again.
    pub fn resubmit_from(&self) -> Option<Date> {
        (self.state == State::Refused).then(|| clock::resubmit_from(self.since))
    }

    /// Whether an applied list or service lapses within `days` of `today` (and has not
    /// lapsed yet): its applicant is to be reminded.
    pub fn reminder_due(&self, today: Date, days: u32) -> bool {
        let lapses = self.valid_through.filter(|_| self.state == State::Applied);
        lapses.is_some_and(|last| today <= last && last <= today.add_days(i64::from(days)))
    }

    /// Whether its technical conditions have expired by `today` (a lapse is due).
    pub fn lapse_due(&self, today: Date) -> bool {
        self.state.conditions_run() && self.conditions.as_ref().is_some_and(|c| c.expires < today)
    }

    /// The verbs a person may give it in its state (the automatic lapse aside).
    pub fn verbs(&self) -> Vec<&'static str> {
        let text = String::new;
        let samples = [
            Action::Check,
            Action::Conditions { number: text(), details: text() },
            Action::Ready,
            Action::NonConformities { reason: text() },
            Action::Extend,
            Action::Connect,
            Action::Apply,
            Action::Close { note: text() },
            Action::Refuse { reason: text() },
            Action::Disconnect { reason: text(), at: None },
        ];
        samples.iter().filter(|a| next(self.kind(), self.state, a).is_some()).map(Action::verb).collect()
    }

    /// Takes `action` on `today`; returns the state it left.
    pub fn act(&mut self, action: &Action, today: Date) -> Result<State, Refusal> {
        let from = self.state;
        if self.lapse_due(today) && *action != Action::Lapse {
            return Err(Refusal::Lapsed(self.conditions.as_ref().map_or(today, |c| c.expires)));
        }
        let to = next(self.kind(), from, action).ok_or(Refusal::NotNow {
            kind: self.kind(),
            state: from,
            verb: action.verb(),
        })?;
        self.apply_effects(action, today)?;
        if let Some(reason) = action.note().filter(|_| !matches!(action, Action::Conditions { .. })) {
            self.reason = Some(reason);
        }
        if to != from {
            self.state = to;
            self.since = today;
        }
        Ok(from)
    }

    fn apply_effects(&mut self, action: &Action, today: Date) -> Result<(), Refusal> {
        match action {
            Action::Conditions { number, details } => {
                if number.trim().is_empty() {
                    return Err(Refusal::Missing("technical conditions need their number".into()));
                }
                let expires = clock::conditions_expire(today);
                let (number, details) = (number.trim().to_string(), details.trim().to_string());
                self.conditions = Some(Conditions { number, details, issued: today, expires });
            }
            Action::Extend => {
                let c = self.conditions.as_mut().ok_or(Refusal::Missing("no technical conditions".into()))?;
                if today > clock::extend_by(c.expires) {
                    return Err(Refusal::TooLateToExtend { expires: c.expires, until: clock::extend_by(c.expires) });
                }
                c.expires = clock::conditions_expire(c.expires);
            }
            Action::Apply => self.valid_through = Some(policies::policy::valid_through(today)),
            Action::NonConformities { reason: t }
            | Action::Close { note: t }
            | Action::Refuse { reason: t }
            | Action::Disconnect { reason: t, .. }
                if t.trim().is_empty() =>
            {
                return Err(Refusal::Missing(format!("'{}' needs a reason", action.verb())));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The period within which the duty team answers a newly received application.
fn answer_period(kind: Kind) -> Option<Period> {
    match kind {
        Kind::OperatorLink => Some(clock::LINK_ANSWER),
        Kind::YearlyLists | Kind::RiskyService | Kind::Waf | Kind::Defacement => Some(clock::APPLY_OR_CONNECT),
        Kind::ResourceChange => None,
        Kind::Incident => Some(Period::SameDay),
        Kind::MailConnection => Some(clock::MAIL_ANSWER),
    }
}

/// The transition table: the state `action` leads to from `state`, if it is allowed.
fn next(kind: Kind, state: State, action: &Action) -> Option<State> {
    use Kind as K;
    use State as S;
    let to = match (kind, state, action) {
        (k, S::Filed, Action::Refuse { .. }) if k.may_be_refused() => S::Refused,
        (K::MailConnection, S::Checked, Action::Refuse { .. }) => S::Refused,
        (K::MailConnection, S::Filed, Action::Check) => S::Checked,
        (K::MailConnection, S::Checked, Action::Connect) => S::Connected,
        (K::MailConnection, S::Connected, Action::Disconnect { .. }) => S::Disconnected,
        (K::OperatorLink, S::Filed, Action::Conditions { .. }) => S::Conditions,
        (K::OperatorLink, S::Conditions | S::NonConformities, Action::Ready) => S::Checking,
        (K::OperatorLink, S::Checking, Action::NonConformities { .. }) => S::NonConformities,
        (K::OperatorLink, S::Checking, Action::Connect) => S::Connected,
        (K::OperatorLink, s, Action::Extend) if s.conditions_run() => s,
        (K::OperatorLink, s, Action::Lapse) if s.conditions_run() => S::Lapsed,
        (K::YearlyLists | K::RiskyService, S::Filed, Action::Apply) => S::Applied,
        (K::Waf | K::Defacement, S::Filed, Action::Connect) => S::Connected,
        (K::ResourceChange | K::Incident, S::Filed, Action::Close { .. }) => S::Closed,
        _ => return None,
    };
    Some(to)
}

/// The most addresses an application's answers are e-mailed to.
pub const MAX_CONTACTS: usize = 10;

/// A light check of an e-mail address: at most 254 bytes, one '@', something on each
/// side, a dot after it.
fn plausible_email(text: &str) -> bool {
    if text.len() > 254 {
        return false;
    }
    let Some((local, domain)) = text.rsplit_once('@') else { return false };
    valid_local_part(local) && valid_domain(domain)
}

/// A dot-atom local part (RFC 5322): ASCII letters, digits and `!#$%&'*+-/=?^_`{|}~`,
/// dots only between them, at most 64 bytes.
fn valid_local_part(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    !local.is_empty() && local.len() <= 64 && local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// A host name of two labels or more: letters (of any script), digits and inner
/// hyphens, each label at most 63 bytes.
fn valid_domain(domain: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    domain.len() <= 253 && domain.split('.').count() >= 2 && domain.split('.').all(label)
}

#[cfg(test)]
mod tests;
