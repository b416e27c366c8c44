//! The WAF's events as the duty team and the sites' owners read them: the audit log's
//! JSON lines (one per transaction refused or matched), read from the end of the file
//! within a bounded window, filtered (site, rule, client, path, time, action), counted
//! into the top rules and clients, and a transaction found by the id its block page shows.
//!
//! Must not: read more than [`WINDOW`] bytes per question, or write the log (the WAF
//! does).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The most bytes of the log's end one question reads.
pub const WINDOW: u64 = 32 << 20;

/// One matched rule of an event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EventRule {
    pub id: u32,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub severity: Option<u8>,
}

/// One audit line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// RFC 3339, UTC, as written.
    pub time: String,
    /// Unix milliseconds of `time`.
    #[serde(default)]
    pub at: i64,
    pub transaction: String,
    pub site: String,
    pub client: IpAddr,
    pub method: String,
    pub uri: String,
    pub status: u16,
    pub mode: String,
    /// `blocked`, `matched` or `refused`.
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub score: u32,
    #[serde(default)]
    pub outbound_score: u32,
    #[serde(default)]
    pub rules: Vec<EventRule>,
    #[serde(default)]
    pub engine_ms: f64,
    #[serde(default)]
    pub origin: Option<SocketAddr>,
}

/// Which events a question asks for; every part given must hold.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only these sites (an organisation's own); `None`: every site.
    pub sites: Option<Vec<String>>,
    pub rule: Option<u32>,
    pub client: Option<IpNet>,
    /// The request path starts with this.
    pub path: Option<String>,
    /// Unix milliseconds, from (inclusive) and to (exclusive).
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub action: Option<String>,
    pub transaction: Option<String>,
}

impl EventFilter {
    fn admits(&self, e: &Event) -> bool {
        let path = e.uri.split('?').next().unwrap_or_default();
        self.sites.as_ref().is_none_or(|s| s.contains(&e.site))
            && self.rule.is_none_or(|r| e.rules.iter().any(|m| m.id == r))
            && self.client.is_none_or(|c| c.contains(&e.client))
            && self.path.as_ref().is_none_or(|p| path.starts_with(p.as_str()))
            && self.from.is_none_or(|f| e.at >= f)
            && self.to.is_none_or(|t| e.at < t)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.transaction.as_ref().is_none_or(|t| *t == e.transaction)
    }
}

/// How often something appears among the events found.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Top<T> {
    pub key: T,
    /// A rule's message; empty for a client.
    pub label: String,
    pub count: u64,
}

/// The answer to a question.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Events {
    /// Newest first, at most the limit asked.
    pub events: Vec<Event>,
    /// How many events matched in the window (more than `events` when limited).
    pub matched: u64,
    pub top_rules: Vec<Top<u32>>,
    pub top_clients: Vec<Top<IpAddr>>,
    /// Whether the window began after the log's start (older events were not read).
    pub window_cut: bool,
}

/// The events of `path` that `filter` admits, the newest `limit` of them, with the ten
/// most frequent rules and clients among all it admits. A log not written yet has none.
pub fn read(path: &Path, filter: &EventFilter, limit: usize) -> std::io::Result<Events> {
    let (text, window_cut) = match tail(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Events::default()),
        Err(e) => return Err(std::io::Error::new(e.kind(), format!("the WAF audit log {}: {e}", path.display()))),
    };
    let mut found = Events { window_cut, ..Events::default() };
    let (mut rules, mut clients) = (HashMap::<u32, (String, u64)>::new(), HashMap::<IpAddr, u64>::new());
    for line in text.lines().rev() {
        let Some(event) = parse(line) else { continue };
        if !filter.admits(&event) {
            continue;
        }
        found.matched += 1;
        for m in event.rules.iter().filter(|m| m.id != 0) {
            let entry = rules.entry(m.id).or_insert_with(|| (m.message.clone(), 0));
            entry.1 += 1;
        }
        *clients.entry(event.client).or_default() += 1;
        if found.events.len() < limit {
            found.events.push(event);
        }
    }
    found.top_rules = top(rules.into_iter().map(|(id, (label, n))| (id, label, n)));
    found.top_clients = top(clients.into_iter().map(|(ip, n)| (ip, String::new(), n)));
    Ok(found)
}

/// The transaction `id`, if the window holds it.
pub fn find(path: &Path, id: &str) -> std::io::Result<Option<Event>> {
    let filter = EventFilter { transaction: Some(id.to_string()), ..EventFilter::default() };
    Ok(read(path, &filter, 1)?.events.into_iter().next())
}

fn top<T: Ord + Clone>(counts: impl Iterator<Item = (T, String, u64)>) -> Vec<Top<T>> {
    let mut all: Vec<Top<T>> = counts.map(|(key, label, count)| Top { key, label, count }).collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    all.truncate(10);
    all
}

/// One line read, its time in milliseconds; `None` for a line that is not an event.
fn parse(line: &str) -> Option<Event> {
    let mut event: Event = serde_json::from_str(line).ok()?;
    let t = time::OffsetDateTime::parse(&event.time, &time::format_description::well_known::Rfc3339).ok()?;
    event.at = (t.unix_timestamp_nanos() / 1_000_000) as i64;
    Some(event)
}

/// The last [`WINDOW`] bytes of the file, from its first whole line.
fn tail(path: &Path) -> std::io::Result<(String, bool)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(WINDOW).read_to_end(&mut bytes)?;
    if start > 0 {
        let first = bytes.iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| i + 1);
        bytes.drain(..first);
    }
    Ok((String::from_utf8_lossy(&bytes).into_owned(), start > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tx: &str, site: &str, client: &str, uri: &str, rules: &[u32], time: &str) -> String {
        let rules: Vec<_> =
            rules.iter().map(|id| serde_json::json!({"id": id, "message": format!("rule {id}"), "data": ""})).collect();
        serde_json::json!({
            "time": time, "transaction": tx, "site": site, "client": client, "method": "POST", "uri": uri,
            "status": 403, "mode": "block", "action": "blocked", "score": 5, "outbound_score": 0,
            "rules": rules, "engine_ms": 1.5
        })
        .to_string()
    }

    #[test]
    fn events_are_filtered_counted_and_found_by_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let lines = [
            line("t1", "a.kz", "203.0.113.2", "/search?q=1", &[942100, 949110], "2026-12-07T10:00:00Z"),
            "not json".to_string(),
            line("t2", "a.kz", "203.0.113.3", "/login", &[941100, 949110], "2026-12-07T11:00:00Z"),
            line("t3", "b.kz", "203.0.113.2", "/search", &[942100], "2026-12-07T12:00:00Z"),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let all = read(&path, &EventFilter::default(), 2).unwrap();
        assert_eq!((all.matched, all.events.len(), all.events[0].transaction.as_str()), (3, 2, "t3"));
        assert_eq!((all.top_rules[0].key, all.top_rules[0].count), (942100, 2));
        assert_eq!(all.top_clients[0].key.to_string(), "203.0.113.2");
        let only_a =
            EventFilter { sites: Some(vec!["a.kz".into()]), path: Some("/search".into()), ..Default::default() };
        let a = read(&path, &only_a, 10).unwrap();
        assert_eq!(a.events.iter().map(|e| e.transaction.as_str()).collect::<Vec<_>>(), ["t1"]);
        let by_rule = EventFilter { rule: Some(941100), ..Default::default() };
        assert_eq!(read(&path, &by_rule, 10).unwrap().matched, 1);
        let late = EventFilter { from: Some(all.events[1].at), ..Default::default() };
        assert_eq!(read(&path, &late, 10).unwrap().matched, 2);
        assert_eq!(find(&path, "t2").unwrap().map(|e| e.uri), Some("/login".into()));
        assert!(find(&path, "nope").unwrap().is_none());
        assert_eq!(read(&dir.path().join("missing"), &EventFilter::default(), 5).unwrap().matched, 0);
    }
}
