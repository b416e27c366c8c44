//! SMTP replies with enhanced status codes (RFC 3463), and the fixed replies
//! the session sends.

use std::fmt::Write as _;

/// An enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enhanced(pub u8, pub u16, pub u16);

/// One reply: basic code, optional enhanced code, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit reply code.
    pub code: u16,
    /// Enhanced status code (absent on 354 and the greeting).
    pub enhanced: Option<Enhanced>,
    /// Human-readable text (CR, LF and other controls are replaced when sent).
    pub text: String,
}

impl Reply {
    /// A reply with an enhanced status code.
    pub fn new(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Self {
        let (c, s, d) = enhanced;
        Self { code, enhanced: Some(Enhanced(c, s, d)), text: text.into() }
    }

    /// A reply without an enhanced status code.
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Self { code, enhanced: None, text: text.into() }
    }

    /// True for 5xx replies.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Appends the wire form (`code[-| ]enhanced text CRLF`) to `out`.
    pub(crate) fn write_line(&self, last: bool, out: &mut Vec<u8>) {
        let sep = if last { ' ' } else { '-' };
        let mut line = String::with_capacity(16 + self.text.len());
        let _ = write!(line, "{}{sep}", self.code);
        if let Some(Enhanced(c, s, d)) = self.enhanced {
            let _ = write!(line, "{c}.{s}.{d} ");
        }
        line.extend(self.text.chars().map(|ch| if ch.is_control() { ' ' } else { ch }));
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The replies of the session, in one place.
pub(crate) mod fixed {
    use super::Reply;

    pub fn ok() -> Reply {
        Reply::new(250, (2, 0, 0), "OK")
    }
    pub fn sender_ok() -> Reply {
        Reply::new(250, (2, 1, 0), "Sender OK")
    }
    pub fn rcpt_ok() -> Reply {
        Reply::new(250, (2, 1, 5), "Recipient OK")
    }
    pub fn start_data() -> Reply {
        Reply::plain(354, "End data with <CR><LF>.<CR><LF>")
    }
    pub fn bye() -> Reply {
        Reply::new(221, (2, 0, 0), "Bye")
    }
    pub fn vrfy() -> Reply {
        Reply::new(252, (2, 5, 2), "Cannot VRFY user, but will accept message and attempt delivery")
    }
    pub fn help() -> Reply {
        Reply::new(214, (2, 0, 0), "See RFC 5321")
    }
    pub fn tls_ready() -> Reply {
        Reply::new(220, (2, 0, 0), "Ready to start TLS")
    }
    pub fn unknown_command() -> Reply {
        Reply::new(500, (5, 5, 2), "Command not recognized")
    }
    pub fn bad_chars() -> Reply {
        Reply::new(500, (5, 5, 2), "Invalid characters in command")
    }
    pub fn bare_lf() -> Reply {
        Reply::new(500, (5, 5, 2), "Bare LF received; lines must end with CRLF")
    }
    pub fn line_too_long() -> Reply {
        Reply::new(500, (5, 5, 6), "Line too long")
    }
    pub fn syntax(text: &str) -> Reply {
        Reply::new(501, (5, 5, 4), format!("Syntax error: {text}"))
    }
    pub fn bad_sender() -> Reply {
        Reply::new(501, (5, 1, 7), "Bad sender address syntax")
    }
    pub fn bad_rcpt() -> Reply {
        Reply::new(501, (5, 1, 3), "Bad recipient address syntax")
    }
    pub fn not_implemented() -> Reply {
        Reply::new(502, (5, 5, 1), "Command not implemented")
    }
    pub fn bad_sequence(text: &str) -> Reply {
        Reply::new(503, (5, 5, 1), format!("Bad sequence of commands: {text}"))
    }
    pub fn no_valid_rcpt() -> Reply {
        Reply::new(554, (5, 5, 1), "No valid recipients")
    }
    pub fn unsupported_param() -> Reply {
        Reply::new(555, (5, 5, 4), "Unsupported parameter")
    }
    pub fn source_route() -> Reply {
        Reply::new(553, (5, 7, 1), "Source routes are not accepted")
    }
    pub fn routing_chars() -> Reply {
        Reply::new(553, (5, 7, 1), "Percent-hack, bang paths and quoted @ are not accepted")
    }
    pub fn too_big() -> Reply {
        Reply::new(552, (5, 3, 4), "Message size exceeds fixed maximum message size")
    }
    pub fn bare_cr_lf_in_data() -> Reply {
        Reply::new(550, (5, 6, 0), "Message contains bare CR or LF; lines must end with CRLF")
    }
    pub fn nul_in_data() -> Reply {
        Reply::new(550, (5, 6, 0), "Message contains NUL bytes")
    }
    pub fn too_many_hops() -> Reply {
        Reply::new(
            554,
            (5, 4, 6),
            format!("Too many hops: more than {} Received headers (mail loop)", crate::smtp::MAX_HOPS),
        )
    }
    pub fn no_memory() -> Reply {
        Reply::new(452, (4, 3, 1), "Insufficient system storage; try again later")
    }
    pub fn too_many_rcpts() -> Reply {
        Reply::new(452, (4, 5, 3), "Too many recipients")
    }
    pub fn sink_failed() -> Reply {
        Reply::new(451, (4, 3, 0), "Temporary failure, message not accepted; try again later")
    }
    pub fn shutting_down(host: &str) -> Reply {
        Reply::new(421, (4, 3, 2), format!("{host} Service shutting down, try again later"))
    }
    pub fn idle_timeout(host: &str) -> Reply {
        Reply::new(421, (4, 4, 2), format!("{host} Idle timeout, closing connection"))
    }
    pub fn too_slow(host: &str) -> Reply {
        Reply::new(421, (4, 4, 2), format!("{host} Transfer too slow, closing connection"))
    }
    pub fn session_expired(host: &str) -> Reply {
        Reply::new(421, (4, 4, 2), format!("{host} Session time limit reached, closing connection"))
    }
    pub fn too_many_errors(host: &str) -> Reply {
        Reply::new(421, (4, 7, 0), format!("{host} Too many errors, closing connection"))
    }
    pub fn tls_injection(host: &str) -> Reply {
        Reply::new(421, (4, 5, 0), format!("{host} Data pipelined after STARTTLS, closing connection"))
    }
    pub fn policy_reject() -> Reply {
        Reply::new(550, (5, 7, 1), "Rejected by policy")
    }
    pub fn policy_tempfail() -> Reply {
        Reply::new(451, (4, 3, 0), "Temporary policy failure")
    }
}
