//! Reading category lists: host-name normalisation and validation, the squidGuard/UT1
//! `domains` file format and the simple `domain,category[,category…]` CSV.

use super::Category;

/// A host name as the database compares it: lower-case, no trailing dot. `None` for an
/// IP literal (never matched against domain entries) or an empty name.
pub fn normalise_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.');
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// Why a listed domain is refused, or `None` when it is a valid domain name.
pub fn domain_problem(domain: &str) -> Option<String> {
    if domain.parse::<std::net::IpAddr>().is_ok() {
        return Some("is an IP address, not a domain name".into());
    }
    if domain.chars().any(char::is_whitespace) {
        return Some("is not a domain name: contains a space".into());
    }
    if domain.len() > 253 {
        return Some("is not a domain name: longer than 253 characters".into());
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Some("is not a domain name: an empty or over-long label".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("is not a domain name: a label starts or ends with '-'".into());
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Some(format!("is not a domain name: '{c}' is not allowed (use the xn-- form for IDNs)"));
        }
    }
    None
}

/// One line's worth of content: comments and surrounding blanks removed.
fn content(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

/// Lines of a text file with their 1-based numbers, a BOM and CR endings tolerated.
pub fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines().enumerate().map(|(i, l)| (i + 1, content(l.trim_end_matches('\r'))))
}

/// Problems of a file: (line, message).
pub type Problems = Vec<(usize, String)>;

/// A UT1 `domains` file: one domain per line, an optional leading dot.
pub fn ut1(text: &str) -> (Vec<(usize, String)>, Problems) {
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for (line, entry) in numbered_lines(text) {
        if entry.is_empty() {
            continue;
        }
        let domain = entry.trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
        match domain_problem(&domain) {
            None => rows.push((line, domain)),
            Some(why) => problems.push((line, format!("\"{entry}\" {why}"))),
        }
    }
    (rows, problems)
}

/// A CSV row: line, domain, categories.
pub type CsvRow = (usize, String, Vec<Category>);

/// A CSV of `domain,category[,category…]` with an optional `domain,…` header as its first
/// entry.
pub fn csv(text: &str) -> (Vec<CsvRow>, Problems) {
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    let mut first = true;
    for (line, entry) in numbered_lines(text) {
        if entry.is_empty() {
            continue;
        }
        // Only the first entry may be the header: a later `domain,…` line is a row.
        if std::mem::take(&mut first) && entry.starts_with("domain,") {
            continue;
        }
        let mut fields = entry.split([',', ';']).map(str::trim);
        let domain = fields.next().unwrap_or("").trim_start_matches('.').to_ascii_lowercase();
        if let Some(why) = domain_problem(&domain) {
            problems.push((line, format!("\"{domain}\" {why}")));
            continue;
        }
        let (mut cats, before) = (Vec::new(), problems.len());
        for f in fields.filter(|f| !f.is_empty()) {
            match Category::new(f) {
                Ok(c) => cats.push(c),
                Err(e) => problems.push((line, e.to_string())),
            }
        }
        if problems.len() > before {
            continue;
        }
        if cats.is_empty() {
            problems.push((line, format!("\"{domain}\" has no category: write domain,category")));
            continue;
        }
        rows.push((line, domain, cats));
    }
    (rows, problems)
}
