//! Command-line parser: one CRLF-stripped line in, one [`Command`] or the
//! error [`Reply`] out. Only printable US-ASCII is accepted (no SMTPUTF8).

use super::address::{self, Path, PathError};
use super::reply::{Reply, fixed};

const MAX_SIZE_DIGITS: usize = 20;

/// BODY= values of MAIL FROM (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    SevenBit,
    EightBitMime,
}

/// ESMTP parameters of MAIL FROM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MailParams {
    pub size: Option<u64>,
    pub body: Option<Body>,
}

impl MailParams {
    pub fn is_empty(&self) -> bool {
        self.size.is_none() && self.body.is_none()
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Ehlo(String),
    Helo(String),
    Mail(Path, MailParams),
    Rcpt(Path),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    /// Known but not offered here (EXPN, AUTH, BDAT, ETRN, TURN, ...).
    NotImplemented,
}

/// Parses one command line (without its CRLF).
pub(crate) fn parse(line: &[u8]) -> Result<Command, Reply> {
    if !line.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t') {
        return Err(fixed::bad_chars());
    }
    let line = std::str::from_utf8(line).map_err(|_| fixed::bad_chars())?;
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => hello(arg, "EHLO hostname").map(Command::Ehlo),
        "HELO" => hello(arg, "HELO hostname").map(Command::Helo),
        "MAIL" => mail(arg),
        "RCPT" => rcpt(arg),
        "DATA" => bare(arg, Command::Data, "DATA"),
        "RSET" => bare(arg, Command::Rset, "RSET"),
        "QUIT" => bare(arg, Command::Quit, "QUIT"),
        "STARTTLS" => bare(arg, Command::StartTls, "STARTTLS"),
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" if !arg.trim().is_empty() => Ok(Command::Vrfy),
        "VRFY" => Err(fixed::syntax("VRFY string")),
        "EXPN" | "AUTH" | "BDAT" | "ETRN" | "ATRN" | "TURN" | "BURL" | "SEND" | "SOML" | "SAML" | "VERB" => {
            Ok(Command::NotImplemented)
        }
        _ => Err(fixed::unknown_command()),
    }
}

fn bare(arg: &str, cmd: Command, name: &str) -> Result<Command, Reply> {
    if arg.trim().is_empty() { Ok(cmd) } else { Err(fixed::syntax(name)) }
}

fn hello(arg: &str, usage: &str) -> Result<String, Reply> {
    match arg.split_whitespace().next() {
        Some(host) if host.len() <= 255 => Ok(host.to_string()),
        _ => Err(fixed::syntax(usage)),
    }
}

/// Strips `keyword:` (case-insensitive) and optional spaces after the colon.
fn after_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| arg[keyword.len()..].trim_start_matches(' '))
}

fn path_error(e: PathError, syntax: Reply) -> Reply {
    match e {
        PathError::Syntax => syntax,
        PathError::SourceRoute => fixed::source_route(),
    }
}

fn mail(arg: &str) -> Result<Command, Reply> {
    let rest = after_keyword(arg, "FROM:").ok_or_else(|| fixed::syntax("MAIL FROM:<address>"))?;
    let (path, params) = address::parse_path(rest).map_err(|e| path_error(e, fixed::bad_sender()))?;
    if path == Path::Postmaster {
        return Err(fixed::bad_sender());
    }
    Ok(Command::Mail(path, mail_params(params)?))
}

fn mail_params(s: &str) -> Result<MailParams, Reply> {
    if !s.is_empty() && !s.starts_with(' ') {
        return Err(fixed::bad_sender());
    }
    let mut p = MailParams::default();
    for item in s.split(' ').filter(|x| !x.is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" if p.size.is_none() => p.size = Some(size_value(value)?),
            "BODY" if p.body.is_none() => p.body = Some(body_value(value)?),
            "SIZE" | "BODY" => return Err(fixed::syntax("duplicate parameter")),
            _ => return Err(fixed::unsupported_param()),
        }
    }
    Ok(p)
}

fn size_value(v: &str) -> Result<u64, Reply> {
    if v.is_empty() || v.len() > MAX_SIZE_DIGITS || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fixed::syntax("SIZE=<digits>"));
    }
    // 20 digits may exceed u64: saturate, it is only compared to a limit.
    Ok(v.parse::<u64>().unwrap_or(u64::MAX))
}

fn body_value(v: &str) -> Result<Body, Reply> {
    match v.to_ascii_uppercase().as_str() {
        "7BIT" => Ok(Body::SevenBit),
        "8BITMIME" => Ok(Body::EightBitMime),
        _ => Err(fixed::syntax("BODY=7BIT|8BITMIME")),
    }
}

fn rcpt(arg: &str) -> Result<Command, Reply> {
    let rest = after_keyword(arg, "TO:").ok_or_else(|| fixed::syntax("RCPT TO:<address>"))?;
    let (path, params) = address::parse_path(rest).map_err(|e| path_error(e, fixed::bad_rcpt()))?;
    match (path, params.trim()) {
        (Path::Null, _) => Err(fixed::bad_rcpt()),
        (path, "") => Ok(Command::Rcpt(path)),
        _ if !params.starts_with(' ') => Err(fixed::bad_rcpt()),
        _ => Err(fixed::unsupported_param()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Mailbox;

    fn code(line: &str) -> u16 {
        parse(line.as_bytes()).err().map_or(0, |r| r.code)
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse(b"ehlo client.example"), Ok(Command::Ehlo("client.example".into())));
        let mb = Mailbox::new("a", "b.example");
        let p = MailParams { size: Some(1000), body: Some(Body::EightBitMime) };
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example> size=1000 BODY=8bitmime"),
            Ok(Command::Mail(Path::Mailbox(mb.clone()), p))
        );
        assert_eq!(parse(b"MAIL FROM: <>"), Ok(Command::Mail(Path::Null, MailParams::default())));
        assert_eq!(parse(b"Rcpt To:<a@b.example>"), Ok(Command::Rcpt(Path::Mailbox(mb))));
        assert_eq!(parse(b"RCPT TO:<Postmaster>"), Ok(Command::Rcpt(Path::Postmaster)));
        assert_eq!(parse(b"QUIT"), Ok(Command::Quit));
        assert_eq!(parse(b"EXPN list"), Ok(Command::NotImplemented));
    }

    #[test]
    fn error_codes() {
        assert_eq!(code("FOO"), 500);
        assert_eq!(code("MAIL FROM:<a@b> X=1"), 555);
        assert_eq!(code("MAIL FROM:<a@b> SIZE=abc"), 501);
        assert_eq!(code("MAIL FROM:<a@b>SIZE=1"), 501);
        assert_eq!(code("MAIL TO:<a@b>"), 501);
        assert_eq!(code("MAIL FROM:<postmaster>"), 501);
        assert_eq!(code("RCPT TO:<>"), 501);
        assert_eq!(code("RCPT TO:<a@b> NOTIFY=NEVER"), 555);
        assert_eq!(code("RCPT TO:<@relay.example:victim@outside.example>"), 553);
        assert_eq!(code("DATA now"), 501);
        assert_eq!(code("EHLO"), 501);
        assert_eq!(code("MAIL FROM:<a\u{1}@b>"), 500);
        for nul in ["NOOP \0", "EHLO a\0b", "MAIL FROM:<a\0@b.example>", "RCPT TO:<a@b.example>\0", "\0QUIT"] {
            assert_eq!(code(nul), 500, "{nul:?}");
        }
        assert_eq!(parse(b"MAIL FROM:<a@b> SIZE=99999999999999999999").map(|_| ()), Ok(()));
    }
}
