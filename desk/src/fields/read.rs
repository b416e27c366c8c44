//! Reading an application's JSON object one field at a time, noting every problem
//! instead of stopping at the first. Lenient where the command line is: a number may
//! come as text, a list as one text with commas. Bounded: a text holds at most
//! [`MAX_TEXT`] characters and a list [`MAX_ITEMS`] items (an applicant cannot make the
//! desk store, show and e-mail what it sends without end).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use policies::calendar::Date;
use serde_json::Value;

use super::{ChangeKind, Credentials, Problems};

/// The most characters one text field holds.
pub const MAX_TEXT: usize = 2000;
/// The most items one list field holds.
pub const MAX_ITEMS: usize = 10_000;

pub(super) struct Reader<'a> {
    object: Option<&'a serde_json::Map<String, Value>>,
    seen: BTreeSet<&'static str>,
    problems: Problems,
}

pub(super) fn empty_credentials() -> Credentials {
    Credentials { access: String::new(), login: String::new(), secret: String::new() }
}

impl<'a> Reader<'a> {
    pub(super) fn new(value: &'a Value) -> Reader<'a> {
        let mut problems = Problems::default();
        let object = value.as_object();
        if object.is_none() {
            problems.push("fields", "the fields must be a JSON object");
        }
        Reader { object, seen: BTreeSet::new(), problems }
    }

    /// Every problem found, unknown keys included.
    pub(super) fn finish(mut self) -> Problems {
        if let Some(object) = self.object {
            for key in object.keys().filter(|k| !self.seen.contains(k.as_str())) {
                self.problems.push(key, "unknown field for this kind");
            }
        }
        self.problems
    }

    fn get(&mut self, field: &'static str) -> Option<&'a Value> {
        self.seen.insert(field);
        self.object.and_then(|o| o.get(field)).filter(|v| !v.is_null())
    }

    fn required(&mut self, field: &'static str) -> Option<&'a Value> {
        let value = self.get(field);
        if value.is_none() && self.object.is_some() {
            self.problems.push(field, "missing");
        }
        value
    }

    /// `text` trimmed, or a problem when it is longer than [`MAX_TEXT`].
    fn bounded(&mut self, field: &str, text: &str) -> Option<String> {
        let text = text.trim();
        match text.chars().count() {
            n if n > MAX_TEXT => {
                self.problems.push(field, format!("{n} characters; at most {MAX_TEXT}"));
                None
            }
            _ => Some(text.to_string()),
        }
    }

    fn text_of(&mut self, field: &str, value: &Value) -> Option<String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => self.bounded(field, s),
            Value::String(_) => {
                self.problems.push(field, "empty");
                None
            }
            _ => {
                self.problems.push(field, "must be text");
                None
            }
        }
    }

    pub(super) fn text(&mut self, field: &'static str) -> String {
        self.required(field).and_then(|v| self.text_of(field, v)).unwrap_or_default()
    }

    pub(super) fn optional_text(&mut self, field: &'static str) -> String {
        match self.get(field) {
            Some(Value::String(s)) => self.bounded(field, s).unwrap_or_default(),
            Some(_) => {
                self.problems.push(field, "must be text");
                String::new()
            }
            None => String::new(),
        }
    }

    pub(super) fn number(&mut self, field: &'static str) -> u32 {
        let parsed = match self.required(field) {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
            None => return 0,
        };
        parsed.unwrap_or_else(|| {
            self.problems.push(field, "must be a whole number");
            0
        })
    }

    pub(super) fn date(&mut self, field: &'static str) -> Date {
        let Some(value) = self.required(field) else { return Date::MIN };
        let parsed = self.text_of(field, value).map(|t| t.parse::<Date>());
        match parsed {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.problems.push(field, e);
                Date::MIN
            }
            None => Date::MIN,
        }
    }

    fn list(&mut self, field: &'static str, value: &'a Value) -> Vec<String> {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                Value::String(s) => out.extend(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)),
                _ => self.problems.push(field, "must be a list of texts"),
            }
            if out.len() > MAX_ITEMS {
                self.problems.push(field, format!("more than {MAX_ITEMS} items"));
                return Vec::new();
            }
        }
        let long = out.iter().filter(|t| t.chars().count() > MAX_TEXT).count();
        if long > 0 {
            self.problems.push(field, format!("{long} items longer than {MAX_TEXT} characters"));
            return Vec::new();
        }
        out
    }

    pub(super) fn texts(&mut self, field: &'static str) -> Vec<String> {
        let Some(value) = self.required(field) else { return vec![] };
        let known = self.problems.0.len();
        let items = self.list(field, value);
        if items.is_empty() && self.problems.0.len() == known {
            self.problems.push(field, "name at least one");
        }
        items
    }

    pub(super) fn ips(&mut self, field: &'static str) -> Vec<IpAddr> {
        let texts = self.texts(field);
        self.parse_all(field, texts)
    }

    pub(super) fn optional_ips(&mut self, field: &'static str) -> Vec<IpAddr> {
        let texts = self.get(field).map(|v| self.list(field, v)).unwrap_or_default();
        self.parse_all(field, texts)
    }

    fn parse_all<T: std::str::FromStr>(&mut self, field: &str, texts: Vec<String>) -> Vec<T> {
        let mut out = Vec::new();
        for t in texts {
            match t.parse() {
                Ok(v) => out.push(v),
                Err(_) => self.problems.push(field, format!("'{t}' is not an IP address")),
            }
        }
        out
    }

    pub(super) fn optional_socket(&mut self, field: &'static str) -> Option<SocketAddr> {
        let value = self.get(field)?;
        let text = self.text_of(field, value)?;
        text.parse().map_err(|_| self.problems.push(field, format!("'{text}' is not ADDRESS:PORT"))).ok()
    }

    pub(super) fn change(&mut self, field: &'static str) -> ChangeKind {
        let value = self.required(field).cloned();
        match value.map(serde_json::from_value::<ChangeKind>) {
            Some(Ok(c)) => c,
            Some(Err(_)) => {
                self.problems.push(field, "use domain, address, responsible, technical, operator or stopped");
                ChangeKind::Technical
            }
            None => ChangeKind::Technical,
        }
    }

    pub(super) fn credentials(&mut self, field: &'static str, required: bool) -> Option<Credentials> {
        let value = if required { self.required(field) } else { self.get(field) }?;
        let Some(object) = value.as_object() else {
            self.problems.push(field, "must be an object {\"access\", \"login\", \"secret\"}");
            return None;
        };
        let mut part = |name: &str| match object.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                self.bounded(&format!("{field}.{name}"), s).unwrap_or_default()
            }
            _ => {
                self.problems.push(&format!("{field}.{name}"), "missing or empty");
                String::new()
            }
        };
        let credentials = Credentials { access: part("access"), login: part("login"), secret: part("secret") };
        for key in object.keys().filter(|k| !["access", "login", "secret"].contains(&k.as_str())) {
            self.problems.push(&format!("{field}.{key}"), "unknown field");
        }
        Some(credentials)
    }
}
