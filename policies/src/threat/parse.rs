//! Reading feeds: every line of a feed is checked and every problem is
//! reported with its line; a feed with any problem gives no entries.
//! Lines the formats use for comments (`#`, and `;` in DROP lists) and blank
//! lines are skipped, as are the loopback names every hosts file carries.

use std::net::IpAddr;

use super::{Cidr, FeedEntries, FeedFormat, normalise_url, split_scheme};
use crate::category::{DbError, DbErrors, domain_problem};

/// Names hosts files map to themselves, not threats.
const HOSTS_BOILERPLATE: [&str; 12] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// Parses a whole feed of `format`; `source` names it in problems.
pub fn parse_feed(format: FeedFormat, text: &str, source: &str) -> Result<FeedEntries, DbErrors> {
    let mut entries = FeedEntries::default();
    let mut problems = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r').trim();
        let result = match format {
            FeedFormat::Hosts => hosts_line(line, &mut entries),
            FeedFormat::Domains => domains_line(line, &mut entries),
            FeedFormat::Urls => urls_line(line, &mut entries),
            FeedFormat::Csv => csv_line(line, &mut entries),
            FeedFormat::Cidr => cidr_line(line, &mut entries),
        };
        if let Err(message) = result {
            problems.push(DbError { source: source.to_owned(), line: i + 1, message });
        }
    }
    if problems.is_empty() { Ok(entries) } else { Err(DbErrors(problems)) }
}

/// The line without an inline `#` comment.
fn uncommented(line: &str) -> &str {
    line.split('#').next().unwrap_or_default().trim()
}

/// A domain or an address of a domain list or hosts file.
fn host_entry(name: &str, entries: &mut FeedEntries) -> Result<(), String> {
    let name = name.trim_end_matches('.');
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        entries.nets.push(single(ip));
        return Ok(());
    }
    let domain = name.trim_start_matches("*.").trim_start_matches('.').to_ascii_lowercase();
    match domain_problem(&domain) {
        Some(why) => Err(format!("\"{name}\" {why}")),
        None if !domain.contains('.') => Err(format!("\"{name}\" is a top-level name, not a domain to deny")),
        None => {
            entries.domains.push(domain);
            Ok(())
        }
    }
}

fn hosts_line(line: &str, entries: &mut FeedEntries) -> Result<(), String> {
    let line = uncommented(line);
    if line.is_empty() {
        return Ok(());
    }
    let mut fields = line.split_whitespace();
    let addr = fields.next().unwrap_or_default();
    if addr.parse::<IpAddr>().is_err() {
        return Err(format!("\"{addr}\" is not an address: a hosts file line is ADDRESS NAME…"));
    }
    let mut names = fields.peekable();
    if names.peek().is_none() {
        return Err(format!("\"{line}\" names no host after the address"));
    }
    for name in names.filter(|n| !HOSTS_BOILERPLATE.contains(&n.to_ascii_lowercase().as_str())) {
        host_entry(name, entries)?;
    }
    Ok(())
}

fn domains_line(line: &str, entries: &mut FeedEntries) -> Result<(), String> {
    let line = uncommented(line);
    if line.is_empty() {
        return Ok(());
    }
    if line.split_whitespace().nth(1).is_some() {
        return Err(format!("\"{line}\" holds more than one name (is this a hosts file? name it .hosts)"));
    }
    host_entry(line, entries)
}

fn url_entry(url: &str, entries: &mut FeedEntries) -> Result<(), String> {
    if url.contains(char::is_whitespace) {
        return Err(format!("\"{url}\" is not a URL: it contains a space"));
    }
    let not_url = || format!("\"{url}\" is not a URL (scheme://host/path)");
    let Some((_, rest)) = split_scheme(url) else { return Err(not_url()) };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_ascii_lowercase();
    if let Some(problem) = authority_problem(authority.trim_end_matches('.')) {
        return Err(format!("\"{url}\": the host {problem}"));
    }
    entries.urls.push(normalise_url(url).ok_or_else(not_url)?);
    Ok(())
}

/// Why `host[:port]` of a normalised URL cannot be a host, or `None` when it can: a
/// domain name, an IPv4 address or a bracketed IPv6 one, and a port of 1 to 65535.
fn authority_problem(authority: &str) -> Option<String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if h.ends_with(']') || !h.contains(':') => (h, Some(p)),
        _ => (authority, None),
    };
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p != 0)
    {
        return Some(format!("{authority:?} has no valid port"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let v6 = inner.strip_suffix(']').and_then(|a| a.parse::<std::net::Ipv6Addr>().ok());
        return v6.is_none().then(|| format!("{host:?} is not a bracketed IPv6 address"));
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return None;
    }
    domain_problem(host).map(|problem| format!("{host:?} {problem}"))
}

fn urls_line(line: &str, entries: &mut FeedEntries) -> Result<(), String> {
    if line.is_empty() || line.starts_with('#') {
        return Ok(());
    }
    url_entry(line, entries)
}

/// The fields of one CSV line (double quotes, `""` inside quotes).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let (mut fields, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(field);
    Ok(fields)
}

/// URLhaus CSV: `id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter`.
fn csv_line(line: &str, entries: &mut FeedEntries) -> Result<(), String> {
    if line.is_empty() || line.starts_with('#') {
        return Ok(());
    }
    let fields = csv_fields(line)?;
    if fields.first().is_some_and(|f| f == "id") {
        return Ok(());
    }
    let Some(url) = fields.get(2).filter(|_| fields.len() >= 3) else {
        return Err(format!("{} field(s): a URLhaus line is id,dateadded,url,…", fields.len()));
    };
    url_entry(url, entries)
}

/// Spamhaus DROP: `192.0.2.0/24 ; SBL123`.
fn cidr_line(line: &str, entries: &mut FeedEntries) -> Result<(), String> {
    let line = line.split([';', '#']).next().unwrap_or_default().trim();
    if line.is_empty() {
        return Ok(());
    }
    entries.nets.push(cidr(line)?);
    Ok(())
}

fn single(ip: IpAddr) -> Cidr {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    Cidr { addr: ip, len: if ip.is_ipv4() { 32 } else { 128 } }
}

/// `address/len` with no host bits set, or a bare address.
fn cidr(text: &str) -> Result<Cidr, String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| format!("\"{text}\" is not an address or ADDRESS/LENGTH"))?;
    let Some(len) = len else { return Ok(single(ip)) };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 =
        len.parse().ok().filter(|l| *l <= max).ok_or_else(|| format!("\"{text}\": the length must be 0-{max}"))?;
    let bits = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    };
    let host_bits = bits.checked_shl(u32::from(len)).unwrap_or(0);
    if host_bits != 0 {
        return Err(format!("\"{text}\" has host bits set"));
    }
    Ok(Cidr { addr: ip, len })
}
