//! The e-mail for one event of an application: to the applicant's contacts, saying
//! what happened to which application, the state it is in, who acts next and by when,
//! and for a refusal the reason and the first day a new application is accepted. It is
//! composed when the event is recorded (and kept in the outbox), made a message when sent,
//! with the application's attachments it names (the technical conditions as a PDF).

use lettre::Message;
use lettre::message::Mailbox;
use store::OutMail;

use super::RequestView;

/// The message telling the contacts of `view` about `verb` (the event's name, e.g.
/// `file`, `refuse`, `remind`).
pub fn compose(view: &RequestView, event: &str, verb: &str) -> OutMail {
    compose_to(view, event, verb, &view.application.contacts)
}

/// The same message to other recipients (the duty team, alerted of an incident).
pub fn compose_to(view: &RequestView, event: &str, verb: &str, recipients: &[String]) -> OutMail {
    let a = &view.application;
    OutMail {
        event: event.to_string(),
        recipients: recipients.to_vec(),
        subject: format!("[perimeter] request {} ({}): {}", view.id, a.kind().label(), a.state),
        body: text(view, verb),
        attachments: Vec::new(),
    }
}

/// The message to send for a recorded e-mail with its `files` (name, content type,
/// content); `Err` says which address is not one.
pub fn message(mail: &OutMail, from: &Mailbox, files: Vec<(String, String, Vec<u8>)>) -> Result<Message, String> {
    use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
    let mut builder = Message::builder().from(from.clone()).subject(mail.subject.clone());
    for to in &mail.recipients {
        let mailbox: Mailbox = to.parse().map_err(|e| format!("contact '{to}': {e}"))?;
        builder = builder.to(mailbox);
    }
    if files.is_empty() {
        return builder.body(mail.body.clone()).map_err(|e| format!("building the e-mail: {e}"));
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()));
    for (name, content_type, content) in files {
        let ct = ContentType::parse(&content_type).map_err(|e| format!("attachment {name}: {e}"))?;
        parts = parts.singlepart(Attachment::new(name).body(content, ct));
    }
    builder.multipart(parts).map_err(|e| format!("building the e-mail: {e}"))
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
        out.push_str("The technical conditions are attached as a PDF document in Russian and Kazakh.\n");
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
