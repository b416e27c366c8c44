//! Delivery status notifications (RFC 3464 `multipart/report`) for recipients that failed
//! permanently or expired. Built here as bytes and an envelope with the null reverse-path;
//! the caller spools it like any other message. Pure: no I/O.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::envelope::{Envelope, Mailbox};
use crate::spool::MessageId;

/// Most bytes of the original header section quoted in the report.
const MAX_QUOTED_HEADERS: usize = 32 << 10;
/// Longest diagnostic text kept (a DSN line must stay under 998 bytes).
const MAX_DIAGNOSTIC: usize = 800;

/// One recipient the report is about.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub rcpt: Mailbox,
    /// RFC 3463 status, e.g. `5.1.1`, or `4.4.7` for expiry.
    pub status: String,
    /// The remote reply or our own reason.
    pub diagnostic: String,
    /// The remote server's name when the failure came from one.
    pub remote: Option<String>,
}

impl Failure {
    /// A failure whose status is taken from `text` (`550 5.1.1 …` or `5.1.2 …`), else the
    /// generic `5.0.0`.
    pub fn from_text(rcpt: Mailbox, text: &str, remote: Option<String>) -> Failure {
        let status = text.split_whitespace().take(2).find(|w| is_status(w)).unwrap_or("5.0.0").to_string();
        Failure { rcpt, status, diagnostic: text.to_string(), remote }
    }
}

fn is_status(w: &str) -> bool {
    let parts: Vec<_> = w.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..].iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The report for `failures` of message `id`, or `None` when the message had the null
/// reverse-path (never bounce a bounce).
pub(crate) fn build(
    hostname: &str,
    id: MessageId,
    original: &Envelope,
    body: &[u8],
    failures: &[Failure],
    now: OffsetDateTime,
) -> Option<(Envelope, Bytes)> {
    let sender = original.sender.clone()?;
    let date = now.format(&Rfc2822).unwrap_or_default();
    let boundary = format!("{id}.{}/{hostname}", now.unix_timestamp_nanos());
    let mut m = String::with_capacity(4096);
    let _ = write!(
        m,
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\nTo: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\n\
         Message-ID: <{id}.{}.dsn@{hostname}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n",
        now.unix_timestamp_nanos()
    );
    human_part(&mut m, hostname, &boundary, failures);
    status_part(&mut m, hostname, &boundary, original, failures, &date);
    let _ = write!(m, "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n");
    let mut out = m.into_bytes();
    out.extend_from_slice(header_section(body));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let envelope = Envelope {
        sender: None,
        recipients: vec![sender],
        received_at: now,
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        helo: hostname.to_string(),
        system_id: None,
    };
    Some((envelope, Bytes::from(out)))
}

fn human_part(m: &mut String, hostname: &str, boundary: &str, failures: &[Failure]) {
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is the mail system at host {hostname}.\r\n\r\n\
         Your message could not be delivered to one or more recipients.\r\n\r\n"
    );
    for f in failures {
        let _ = write!(m, "<{}>: {}\r\n", f.rcpt, clean(&f.diagnostic));
    }
    m.push_str("\r\n");
}

fn status_part(m: &mut String, host: &str, boundary: &str, env: &Envelope, failures: &[Failure], date: &str) {
    let arrival = env.received_at.format(&Rfc2822).unwrap_or_default();
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {host}\r\nArrival-Date: {arrival}\r\n"
    );
    for f in failures {
        let _ = write!(m, "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n", f.rcpt, f.status);
        if let Some(remote) = &f.remote {
            let _ = write!(m, "Remote-MTA: dns; {remote}\r\n");
        }
        let _ = write!(m, "Diagnostic-Code: smtp; {}\r\nLast-Attempt-Date: {date}\r\n", clean(&f.diagnostic));
    }
    m.push_str("\r\n");
}

/// One line of printable ASCII, bounded.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).take(MAX_DIAGNOSTIC).collect()
}

/// The original header section (without the blank line), cut at a line end if too long.
fn header_section(body: &[u8]) -> &[u8] {
    let end = memchr::memmem::find(body, b"\r\n\r\n").map_or(body.len(), |p| p + 2);
    let head = &body[..end.min(MAX_QUOTED_HEADERS)];
    match head.len() < end {
        true => head.iter().rposition(|b| *b == b'\n').map_or(&head[..0], |p| &head[..=p]),
        false => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(sender: Option<Mailbox>) -> Envelope {
        Envelope {
            sender,
            recipients: vec![Mailbox::new("bob", "ext.example")],
            received_at: OffsetDateTime::UNIX_EPOCH,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: "client".into(),
            system_id: None,
        }
    }

    #[test]
    fn report_structure() {
        let sender = Mailbox::new("alice", "a.gov.test");
        let f =
            Failure::from_text(Mailbox::new("bob", "ext.example"), "550 5.1.1 <bob>: no\nsuch user", Some("mx".into()));
        assert_eq!(f.status, "5.1.1");
        let body = b"Subject: hi\r\nFrom: alice@a.gov.test\r\n\r\nsecret body\r\n";
        let (e, bytes) =
            build("gw.test", MessageId(7), &env(Some(sender.clone())), body, &[f], OffsetDateTime::UNIX_EPOCH)
                .expect("dsn");
        assert_eq!((e.sender, e.recipients), (None, vec![sender]));
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        for needle in [
            "Content-Type: multipart/report; report-type=delivery-status;",
            "Final-Recipient: rfc822; bob@ext.example\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx\r\n",
            "Diagnostic-Code: smtp; 550 5.1.1 <bob>: no such user\r\n",
            "Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\nFrom: alice@a.gov.test\r\n\r\n--",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
        assert!(!text.contains("secret body"), "the body is not quoted");
        assert!(text.lines().all(|l| l.len() < 998));
    }

    #[test]
    fn no_report_for_null_sender_and_status_fallbacks() {
        let f = Failure::from_text(Mailbox::new("b", "x.example"), "554 rejected", None);
        assert_eq!(f.status, "5.0.0");
        assert_eq!(Failure::from_text(f.rcpt.clone(), "5.1.10 null MX", None).status, "5.1.10");
        assert!(build("gw.test", MessageId(1), &env(None), b"", &[f], OffsetDateTime::UNIX_EPOCH).is_none());
    }
}
