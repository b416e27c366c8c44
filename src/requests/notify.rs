//! The e-mail for one transition: to the applicant's contacts, saying what happened to
//! which application, the state it is in, who acts next and by when, and for a refusal
//! the reason and the first day a new application is accepted.

use lettre::Message;
use lettre::message::Mailbox;

use super::RequestView;

/// The message telling the contacts of `view` about `verb`.
pub fn compose(view: &RequestView, verb: &str, from: &Mailbox) -> Result<Message, String> {
    compose_to(view, verb, from, &view.application.contacts)
}

/// The same message to other recipients (the duty team, alerted of an incident).
pub fn compose_to(view: &RequestView, verb: &str, from: &Mailbox, recipients: &[String]) -> Result<Message, String> {
    let a = &view.application;
    let subject = format!("[perimeter] request {} ({}): {}", view.id, a.kind().label(), a.state);
    let mut builder = Message::builder().from(from.clone()).subject(subject);
    for to in recipients {
        let mailbox: Mailbox = to.parse().map_err(|e| format!("contact '{to}': {e}"))?;
        builder = builder.to(mailbox);
    }
    builder.body(text(view, verb)).map_err(|e| format!("building the e-mail of request {}: {e}", view.id))
}

fn text(view: &RequestView, verb: &str) -> String {
    let a = &view.application;
    let mut out = format!(
        "Request {} ({}) from {}, received {}.\n\nWhat happened: {verb}\nState: {} since {}\n",
        view.id,
        a.kind().label(),
        a.applicant,
        a.received,
        a.state,
        a.since
    );
    match (view.holder, view.due) {
        (Some(desk::Holder::Applicant), Some(due)) => out.push_str(&format!("Your next step is due by {due}.\n")),
        (Some(desk::Holder::Duty), Some(due)) => out.push_str(&format!("The duty team answers by {due}.\n")),
        _ => {}
    }
    if let Some(reason) = &a.reason {
        out.push_str(&format!("Reason: {reason}\n"));
    }
    if let Some(c) = &a.conditions {
        out.push_str(&format!("Technical conditions {} issued {}, valid through {}.\n", c.number, c.issued, c.expires));
    }
    if let Some(through) = a.valid_through {
        out.push_str(&format!("In force through {through}.\n"));
    }
    if let Some(from) = view.resubmit_from {
        out.push_str(&format!("A new application is accepted from {from}.\n"));
    }
    if let Ok(fields) = serde_json::to_string(&a.fields) {
        out.push_str(&format!("Application: {fields}\n"));
    }
    out.push_str("\nDays are counted in Astana time; periods start the day after the event.\n");
    out
}
