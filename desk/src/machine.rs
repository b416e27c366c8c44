//! The state machine of every kind: which action moves an application from which state
//! to which, who holds it in each state (the duty team or the applicant) and the day its
//! current step is due. Automatic steps (the lapse of technical conditions) are actions
//! too, taken when the day says so.

use policies::calendar::{Calendar, Date};
use serde::{Deserialize, Serialize};

use crate::clock::{self, Period};
use crate::conditions::Items;
use crate::fields::{Registry, plausible_email};
use crate::{Applicant, Fields, Kind, Problems, Why};

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

/// Technical conditions issued for an operator link (IQBSH appendix 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    pub number: String,
    /// Items 2.3–2.8.
    #[serde(flatten)]
    pub items: Items,
    pub issued: Date,
    /// The last day they are valid (2.9).
    pub expires: Date,
}

/// What someone does to an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    Check,
    /// Technical conditions, items 2.3–2.8 (those left out are the regulation's text).
    Conditions {
        number: String,
        #[serde(flatten)]
        items: Items,
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
            Action::Conditions { number, items } => Some(format!("conditions {number}: {}", items.connection_point)),
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
    /// A new application of `kind` received on `received` from `value` (its fields as
    /// JSON): the fields, the applicant and the contacts are checked together, and every
    /// problem is named at once.
    pub fn receive(
        applicant: Applicant,
        contacts: Vec<String>,
        (kind, value): (Kind, &serde_json::Value),
        received: Date,
        registry: &dyn Registry,
    ) -> Result<Self, Problems> {
        let fields = Fields::parse(kind, value, received, registry);
        let mut problems = check_filer(&applicant, &contacts, kind);
        if let (Ok(Fields::MailDisconnection { system, .. }), Applicant::Organisation(bin)) = (&fields, &applicant)
            && let Some(owner) = registry.mail_system_owner(system).filter(|owner| owner != bin.as_str())
        {
            problems.push("system", Why::NotOwner(format!("{system} ({owner})")));
        }
        match fields {
            Ok(fields) if problems.is_empty() => Ok(Application::new(applicant, contacts, fields, received)),
            Ok(_) => Err(problems),
            Err(mut first) => {
                first.0.extend(problems.0);
                Err(first)
            }
        }
    }

    /// A new application of fields already read, received on `received`.
    pub fn file(applicant: Applicant, contacts: Vec<String>, fields: Fields, received: Date) -> Result<Self, Problems> {
        let problems = check_filer(&applicant, &contacts, fields.kind());
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Application::new(applicant, contacts, fields, received))
    }

    fn new(applicant: Applicant, contacts: Vec<String>, fields: Fields, received: Date) -> Self {
        let (state, since) = (State::Filed, received);
        Application {
            applicant,
            contacts,
            fields,
            received,
            state,
            since,
            conditions: None,
            valid_through: None,
            reason: None,
        }
    }

    pub fn kind(&self) -> Kind {
        self.fields.kind()
    }

    /// Who holds it and when the current step is due, under `calendar`.
    pub fn step(&self, calendar: &Calendar) -> Step {
        let (holder, period, from) = match (self.kind(), self.state) {
            // EPBSH rule 11: disconnected on the day agreed in the letter.
            (Kind::MailDisconnection, State::Filed) if self.agreed_day().is_some() => {
                return Step { holder: Some(Holder::Duty), due: self.agreed_day() };
            }
            (kind, State::Filed) => (Some(Holder::Duty), answer_period(kind), self.received),
            (_, State::Checked) => (Some(Holder::Duty), Some(clock::MAIL_ANSWER), self.received),
            (_, State::Conditions) => (Some(Holder::Applicant), Some(clock::LINK_READINESS), self.since),
            (_, State::Checking) => (Some(Holder::Duty), None, self.since),
            (_, State::NonConformities) => (Some(Holder::Applicant), Some(clock::NON_CONFORMITIES), self.since),
            _ => (None, None, self.since),
        };
        Step { holder, due: period.map(|p| p.ends(from, calendar)) }
    }

    /// The day a disconnection letter agreed, if it names one.
    fn agreed_day(&self) -> Option<Date> {
        match &self.fields {
            Fields::MailDisconnection { on, .. } => *on,
            _ => None,
        }
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

    /// For a refused application of a kind that waits (IQBSH rules 17, 18, EPBSH rule
    /// 10), the first day its resource may be applied for again.
    pub fn resubmit_from(&self) -> Option<Date> {
        (self.state == State::Refused && self.kind().waits_after_refusal()).then(|| clock::resubmit_from(self.since))
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
            Action::Conditions { number: text(), items: Items::default() },
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
            Action::Conditions { number, items } => {
                if number.trim().is_empty() {
                    return Err(Refusal::Missing("technical conditions need their number".into()));
                }
                if items.connection_point.trim().is_empty() {
                    return Err(Refusal::Missing("technical conditions need their connection point (2.3)".into()));
                }
                let expires = clock::conditions_expire(today);
                let items = items.trimmed();
                self.conditions = Some(Conditions { number: number.trim().to_string(), items, issued: today, expires });
            }
            Action::Extend => {
                let c = self.conditions.as_mut().ok_or(Refusal::Missing("no technical conditions".into()))?;
                if today > clock::extend_by(c.expires) {
                    return Err(Refusal::TooLateToExtend { expires: c.expires, until: clock::extend_by(c.expires) });
                }
                c.expires = clock::conditions_expire(c.expires);
            }
            Action::Apply if matches!(self.kind(), Kind::YearlyLists | Kind::RiskyService) => {
                self.valid_through = Some(policies::policy::valid_through(today))
            }
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
        // EPBSH rule 11: with no day agreed in the letter, as a connection is answered.
        Kind::MailDisconnection => Some(clock::MAIL_ANSWER),
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
        (K::MailDisconnection, S::Filed, Action::Apply) => S::Disconnected,
        (K::Waf | K::Defacement, S::Filed, Action::Connect) => S::Connected,
        (K::ResourceChange | K::Incident, S::Filed, Action::Close { .. }) => S::Closed,
        _ => return None,
    };
    Some(to)
}

/// The most addresses an application's answers are e-mailed to.
pub const MAX_CONTACTS: usize = 10;

/// The problems of who files and who is told: an applicant of the kind's sort, and
/// 1–[`MAX_CONTACTS`] plausible e-mail addresses.
fn check_filer(applicant: &Applicant, contacts: &[String], kind: Kind) -> Problems {
    let mut problems = Problems::default();
    if !kind.accepts(applicant) {
        problems.push("applicant", Why::MayNotFile { applicant: applicant.to_string(), kind: kind.to_string() });
    }
    if contacts.is_empty() {
        problems.push("contacts", Why::NoContacts);
    }
    if contacts.len() > MAX_CONTACTS {
        problems.push("contacts", Why::TooManyContacts { count: contacts.len(), max: MAX_CONTACTS });
    }
    for c in contacts.iter().take(MAX_CONTACTS + 1).filter(|c| !plausible_email(c)) {
        problems.push("contacts", Why::NotEmail(c.clone()));
    }
    problems
}

#[cfg(test)]
mod tests;
