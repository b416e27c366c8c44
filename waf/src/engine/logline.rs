//! Reads back the text log line libmodsecurity 3 writes for each matched rule
//! (`RuleMessage::log` of 3.0.x): `ModSecurity: Warning. <match> [file "…"] [line "…"]
//! [id "…"] [rev "…"] [msg "…"] [data "…"] [severity "…"] [ver "…"] [maturity "…"]
//! [accuracy "…"] [tag "…"]… [hostname "…"] [uri "…"] [unique_id "…"] [ref "…"]`.
//!
//! The line is not a safe format: `<match>` holds the matched value and `uri` the
//! request's path, both chosen by the client and written with their quotes and brackets
//! (only bytes outside printable ASCII become `\xNN`), so a client can write a whole fake
//! `[id "…"]` block into them. The reader therefore never searches from the left. It
//! rebuilds the tail exactly from what the transaction itself passed to the engine (the
//! server address, the path as the engine decodes it, the transaction id), finds it from
//! the right, and reads the fields between the `[file` block and that tail from the right,
//! where `data`, `ver` and the tags are escaped by the engine (no `"` inside) and `id`,
//! `line`, `severity`, `maturity` and `accuracy` are digits. The one field left
//! unescaped in between, `msg`, comes from the rule's own text (CRS's messages expand
//! only scores and names, never a raw value at paranoia 1 and 2).
//!
//! Must not: allocate in proportion to anything but the line; panic on any input (it has
//! a fuzz target, `fuzz/fuzz_targets/waf_logline.rs`).

use super::MAX_DATA;

/// What the transaction passed to the engine, to recognise the line's tail.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The transaction id given to `msc_new_transaction_with_id`.
    pub tx_id: &'a str,
    /// The client address given to `msc_process_connection` (a disruptive rule's line,
    /// which comes with the intervention, starts with `[client ADDRESS] `).
    pub client: &'a str,
    /// The server address given to `msc_process_connection`.
    pub server: &'a str,
    /// The URI given to `msc_process_uri`.
    pub uri: &'a [u8],
}

/// One matched rule as the engine logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub id: u32,
    pub message: String,
    pub data: String,
    pub severity: u8,
    /// `Access denied` rather than `Warning`.
    pub disruptive: bool,
}

/// Why a line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("the line is not printable ASCII")]
    NotAscii,
    #[error("the line does not start as a rule message")]
    Prefix,
    #[error("the line does not end with this transaction's host, uri and id")]
    Tail,
    #[error("the field {0} is missing or malformed")]
    Field(&'static str),
}

const WARNING: &str = "ModSecurity: Warning. ";
const DENIED: &str = "ModSecurity: Access denied with code ";

/// libmodsecurity's `toHexIfNeeded`: bytes outside 32..=126 (and, with `spec`, `"` and
/// `\`) become `\xNN`.
pub fn hex_if_needed(bytes: &[u8], spec: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if !(32..=126).contains(&b) || (spec && (b == b'"' || b == b'\\')) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// libmodsecurity's `limitTo`: at most `amount` bytes, then how many were left out.
pub fn limit_to(amount: usize, bytes: &[u8]) -> Vec<u8> {
    if bytes.len() <= amount {
        return bytes.to_vec();
    }
    let mut out = bytes[..amount].to_vec();
    out.extend_from_slice(format!(" ({} characters omitted)", bytes.len() - amount).as_bytes());
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path as the engine keeps it for the log: the URI before `#`, `%XX`-decoded
/// (`utils::uri_decode`), up to the first `?` of the decoded text.
pub fn uri_path_decoded(uri: &[u8]) -> Vec<u8> {
    let uri = uri.split(|&b| b == b'#').next().unwrap_or_default();
    let mut out = Vec::with_capacity(uri.len());
    let mut i = 0;
    while i < uri.len() {
        if uri[i] == b'%'
            && i + 2 < uri.len()
            && let (Some(h), Some(l)) = (hex_digit(uri[i + 1]), hex_digit(uri[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(uri[i]);
        i += 1;
    }
    if let Some(q) = out.iter().position(|&b| b == b'?') {
        out.truncate(q);
    }
    out
}

/// The part of the line after `[accuracy …]` and the tags, as the engine writes it for
/// this transaction, up to the `ref` value.
fn tail(expect: &Expect<'_>) -> String {
    let uri = limit_to(200, &uri_path_decoded(expect.uri));
    format!(
        " [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"] [ref \"",
        hex_if_needed(expect.server.as_bytes(), false),
        hex_if_needed(&uri, false),
        hex_if_needed(expect.tx_id.as_bytes(), false),
    )
}

/// Splits `… [name "value"]` at the end of `head`; the value may not hold `"`.
fn strip_field<'a>(head: &'a str, name: &'static str) -> Result<(&'a str, &'a str), LineError> {
    let body = head.strip_suffix("\"]").ok_or(LineError::Field(name))?;
    let open = format!(" [{name} \"");
    let start = body.rfind(&open).ok_or(LineError::Field(name))?;
    let value = &body[start + open.len()..];
    if value.contains('"') {
        return Err(LineError::Field(name));
    }
    Ok((&head[..start], value))
}

fn strip_number<'a>(head: &'a str, name: &'static str) -> Result<(&'a str, u32), LineError> {
    let (rest, value) = strip_field(head, name)?;
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::Field(name));
    }
    Ok((rest, value.parse().map_err(|_| LineError::Field(name))?))
}

/// Reverses `\xNN` escapes and reads the bytes as UTF-8 (lossy).
pub fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let (Some(h), Some(l)) =
                (bytes.get(i + 2).copied().and_then(hex_digit), bytes.get(i + 3).copied().and_then(hex_digit))
        {
            out.push(h << 4 | l);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// At most `max` characters, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Reads the `[file …] … [msg "…"]` block at the end of `head`: the last `[msg "` whose
/// left side is a well-formed `[file "…"] [line "N"] [id "N"] [rev "…"]`.
fn strip_rule_block(head: &str) -> Result<(u32, &str), LineError> {
    let body = head.strip_suffix("\"]").ok_or(LineError::Field("msg"))?;
    let mut search = body.len();
    while let Some(start) = body[..search].rfind(" [msg \"") {
        let message = &body[start + 7..];
        let left = &head[..start];
        let block = strip_field(left, "rev")
            .and_then(|(rest, _)| strip_number(rest, "id"))
            .and_then(|(rest, id)| strip_number(rest, "line").map(|(rest, _)| (rest, id)))
            .and_then(|(rest, id)| strip_field(rest, "file").map(|_| id));
        if let Ok(id) = block {
            return Ok((id, message));
        }
        search = start;
    }
    Err(LineError::Field("msg"))
}

/// Reads one line the engine logged during the transaction described by `expect`.
pub fn parse(line: &[u8], expect: &Expect<'_>) -> Result<LogLine, LineError> {
    if !line.iter().all(|b| (32..=126).contains(b)) {
        return Err(LineError::NotAscii);
    }
    let line = std::str::from_utf8(line).map_err(|_| LineError::NotAscii)?;
    let client = format!("[client {}] ", hex_if_needed(expect.client.as_bytes(), false));
    let line = line.strip_prefix(&client).unwrap_or(line);
    let disruptive = if line.starts_with(WARNING) {
        false
    } else if line.starts_with(DENIED) {
        true
    } else {
        return Err(LineError::Prefix);
    };
    let tail = tail(expect);
    let at = line.rfind(&tail).ok_or(LineError::Tail)?;
    let reference = line[at + tail.len()..].strip_suffix("\"]").ok_or(LineError::Tail)?;
    if reference.contains('"') {
        return Err(LineError::Tail);
    }
    let mut head = &line[..at];
    while let Ok((rest, _)) = strip_field(head, "tag") {
        head = rest;
    }
    let (head, _) = strip_number(head, "accuracy")?;
    let (head, _) = strip_number(head, "maturity")?;
    let (head, _) = strip_field(head, "ver")?;
    let (head, severity) = strip_number(head, "severity")?;
    let (head, data) = strip_field(head, "data")?;
    let (id, message) = strip_rule_block(head)?;
    Ok(LogLine {
        id,
        message: shorten(&unescape(message), 512),
        data: shorten(&unescape(data), MAX_DATA),
        severity: u8::try_from(severity).map_err(|_| LineError::Field("severity"))?,
        disruptive,
    })
}

/// The fields of a rule message, to write a line the way libmodsecurity 3.0.9 does
/// (tests and the fuzz target check the reader against it).
#[derive(Debug, Clone, Default)]
pub struct Written<'a> {
    pub matched: &'a [u8],
    pub file: &'a str,
    pub line: u32,
    pub id: u32,
    pub message: &'a str,
    pub data: &'a [u8],
    pub severity: u8,
    pub tags: &'a [&'a str],
    pub disruptive_status: Option<u16>,
}

/// Writes the line as `RuleMessage::log` of 3.0.9 does for the transaction `expect`.
pub fn write(fields: &Written<'_>, expect: &Expect<'_>) -> Vec<u8> {
    let mut line: Vec<u8> = match fields.disruptive_status {
        Some(code) => format!("[client {}] {DENIED}{code} (phase 2). ", expect.client).into_bytes(),
        None => WARNING.as_bytes().to_vec(),
    };
    line.extend_from_slice(fields.matched);
    let data = hex_if_needed(&limit_to(200, fields.data), true);
    line.extend_from_slice(
        format!(
            " [file \"{}\"] [line \"{}\"] [id \"{}\"] [rev \"\"] [msg \"{}\"] [data \"{data}\"] [severity \"{}\"] [ver \"OWASP_CRS/3.3.4\"] [maturity \"0\"] [accuracy \"0\"]",
            fields.file, fields.line, fields.id, fields.message, fields.severity
        )
        .as_bytes(),
    );
    for tag in fields.tags {
        line.extend_from_slice(format!(" [tag \"{}\"]", hex_if_needed(tag.as_bytes(), true)).as_bytes());
    }
    line.extend_from_slice(b" [hostname \"");
    line.extend_from_slice(expect.server.as_bytes());
    line.extend_from_slice(b"\"] [uri \"");
    line.extend_from_slice(&limit_to(200, &uri_path_decoded(expect.uri)));
    line.extend_from_slice(b"\"] [unique_id \"");
    line.extend_from_slice(expect.tx_id.as_bytes());
    line.extend_from_slice(b"\"] [ref \"o0,5v10,5\"]");
    hex_if_needed(&line, false).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECT: Expect<'static> =
        Expect { tx_id: "tx-1", client: "198.51.100.7", server: "192.0.2.1", uri: b"/search?q=1" };

    fn written(matched: &'static [u8]) -> Written<'static> {
        Written {
            matched,
            file: "/usr/share/modsecurity-crs/rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf",
            line: 46,
            id: 942100,
            message: "SQL Injection Attack Detected via libinjection",
            data: "Matched Data: s&sos found within ARGS:q: 1' or '1'='1".as_bytes(),
            severity: 2,
            tags: &["application-multi", "attack-sqli"],
            disruptive_status: None,
        }
    }

    #[test]
    fn reads_a_crs_line() {
        let line = write(&written(b"detected SQLi using libinjection."), &EXPECT);
        let parsed = parse(&line, &EXPECT).unwrap();
        assert_eq!(parsed.id, 942100);
        assert_eq!(parsed.severity, 2);
        assert_eq!(parsed.message, "SQL Injection Attack Detected via libinjection");
        assert_eq!(parsed.data, "Matched Data: s&sos found within ARGS:q: 1' or '1'='1");
        assert!(!parsed.disruptive);
        let denied = Written { disruptive_status: Some(403), ..written(b"x") };
        assert!(parse(&write(&denied, &EXPECT), &EXPECT).unwrap().disruptive);
    }

    #[test]
    fn a_fake_block_in_the_value_or_the_path_is_not_read() {
        let fake = b" [file \"x\"] [line \"1\"] [id \"1\"] [rev \"\"] [msg \"";
        let line = write(&written(fake), &EXPECT);
        assert_eq!(parse(&line, &EXPECT).unwrap().id, 942100);
        let uri = "/a%22]%20[file%20%22x%22]%20[line%20%221%22]%20[id%20%221%22]%20[rev%20%22%22]%20[msg%20%22m%22]%20[data%20%22%22]%20[severity%20%220%22]%20[ver%20%22%22]%20[maturity%20%220%22]%20[accuracy%20%220%22]%20[hostname%20%22192.0.2.1%22]%20[uri%20%22";
        let expect = Expect { uri: uri.as_bytes(), ..EXPECT };
        let line = write(&written(b"x"), &expect);
        assert_eq!(parse(&line, &expect).unwrap().id, 942100);
    }

    #[test]
    fn cyrillic_data_comes_back_as_text_and_is_shortened() {
        let mut fields = written(b"x");
        let long = "поиск ".repeat(60);
        fields.data = long.as_bytes();
        let expect = Expect { uri: "/поиск?q=1".as_bytes(), ..EXPECT };
        let parsed = parse(&write(&fields, &expect), &expect).unwrap();
        assert!(parsed.data.starts_with("поиск поиск"));
        assert!(parsed.data.chars().count() <= MAX_DATA + 1);
    }

    #[test]
    fn another_transactions_line_or_garbage_is_refused() {
        let line = write(&written(b"x"), &EXPECT);
        let other = Expect { tx_id: "tx-2", ..EXPECT };
        assert_eq!(parse(&line, &other), Err(LineError::Tail));
        assert_eq!(parse(b"hello", &EXPECT), Err(LineError::Prefix));
        assert_eq!(parse("ModSecurity: Warning. é".as_bytes(), &EXPECT), Err(LineError::NotAscii));
    }

    #[test]
    fn the_path_is_decoded_as_the_engine_does() {
        assert_eq!(uri_path_decoded(b"/a%20b%3Fc?d#e"), b"/a b");
        assert_eq!(uri_path_decoded(b"/x%2"), b"/x%2");
        assert_eq!(uri_path_decoded(b"/x%41"), b"/xA");
        assert_eq!(uri_path_decoded(b"/p#frag?x"), b"/p");
    }
}
