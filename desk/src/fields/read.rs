//! Reading an application's JSON object one field at a time, noting every problem
//! instead of stopping at the first. Lenient where the command line and forms are: a
//! number may come as text, a list as one text with commas, a list of people as an
//! object keyed `0`, `1`, … (what a form's `specialists.0.name` inputs make). Bounded: a
//! text holds at most [`MAX_TEXT`] characters (a PEM text its own bound) and a list
//! [`MAX_ITEMS`] items (an applicant cannot make the desk store, show and e-mail what it
//! sends without end).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use policies::calendar::Date;
use serde_json::{Map, Value};

use super::{ChangeKind, Specialist};
use crate::{Problems, Why};

/// The most characters one text field holds.
pub const MAX_TEXT: usize = 2000;
/// The most items one list field holds.
pub const MAX_ITEMS: usize = 10_000;
/// The most specialists one application names.
const MAX_SPECIALISTS: usize = 20;

pub(super) struct Reader<'a> {
    object: Option<&'a Map<String, Value>>,
    seen: BTreeSet<&'static str>,
    problems: Problems,
}

impl<'a> Reader<'a> {
    pub(super) fn new(value: &'a Value) -> Reader<'a> {
        let mut problems = Problems::default();
        let object = value.as_object();
        if object.is_none() {
            problems.push("fields", Why::NotObject);
        }
        Reader { object, seen: BTreeSet::new(), problems }
    }

    /// Every problem found, unknown keys included.
    pub(super) fn finish(mut self) -> Problems {
        if let Some(object) = self.object {
            for key in object.keys().filter(|k| !self.seen.contains(k.as_str())) {
                self.problems.push(key, Why::Unknown);
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
            self.problems.push(field, Why::Missing);
        }
        value
    }

    /// `text` trimmed, or a problem when it is longer than `max` characters.
    fn bounded(&mut self, field: &str, text: &str, max: usize) -> Option<String> {
        let text = text.trim();
        match text.chars().count() {
            n if n > max => {
                self.problems.push(field, Why::TooLong { chars: n, max });
                None
            }
            _ => Some(text.to_string()),
        }
    }

    fn text_of(&mut self, field: &str, value: &Value, max: usize) -> Option<String> {
        match value {
            Value::String(s) if !s.trim().is_empty() => self.bounded(field, s, max),
            Value::String(_) => {
                self.problems.push(field, Why::Empty);
                None
            }
            _ => {
                self.problems.push(field, Why::NotText);
                None
            }
        }
    }

    pub(super) fn text(&mut self, field: &'static str) -> String {
        self.required(field).and_then(|v| self.text_of(field, v, MAX_TEXT)).unwrap_or_default()
    }

    /// An optional text; an empty one is none.
    pub(super) fn optional(&mut self, field: &'static str) -> Option<String> {
        self.optional_bounded(field, MAX_TEXT)
    }

    fn optional_bounded(&mut self, field: &'static str, max: usize) -> Option<String> {
        match self.get(field)? {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => self.bounded(field, s, max),
            _ => {
                self.problems.push(field, Why::NotText);
                None
            }
        }
    }

    /// An optional PEM text of at most `max` characters (a certificate chain, a key).
    pub(super) fn pem(&mut self, field: &'static str, max: usize) -> Option<String> {
        self.optional_bounded(field, max)
    }

    pub(super) fn optional_text(&mut self, field: &'static str) -> String {
        self.optional(field).unwrap_or_default()
    }

    pub(super) fn number(&mut self, field: &'static str) -> u32 {
        let parsed = match self.required(field) {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
            None => return 0,
        };
        parsed.unwrap_or_else(|| {
            self.problems.push(field, Why::NotWholeNumber);
            0
        })
    }

    fn date_of(&mut self, field: &'static str, value: &Value) -> Option<Date> {
        match self.text_of(field, value, MAX_TEXT)?.parse::<Date>() {
            Ok(d) => Some(d),
            Err(e) => {
                self.problems.push(field, Why::NotDate(e));
                None
            }
        }
    }

    pub(super) fn date(&mut self, field: &'static str) -> Date {
        self.required(field).and_then(|v| self.date_of(field, v)).unwrap_or(Date::MIN)
    }

    pub(super) fn optional_date(&mut self, field: &'static str) -> Option<Date> {
        match self.get(field)? {
            Value::String(s) if s.trim().is_empty() => None,
            v => self.date_of(field, v),
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
                _ => self.problems.push(field, Why::NotList),
            }
            if out.len() > MAX_ITEMS {
                self.problems.push(field, Why::TooMany { max: MAX_ITEMS });
                return Vec::new();
            }
        }
        let long = out.iter().filter(|t| t.chars().count() > MAX_TEXT).count();
        if long > 0 {
            self.problems.push(field, Why::LongItems { count: long, max: MAX_TEXT });
            return Vec::new();
        }
        out
    }

    pub(super) fn texts(&mut self, field: &'static str) -> Vec<String> {
        let Some(value) = self.required(field) else { return vec![] };
        let known = self.problems.0.len();
        let items = self.list(field, value);
        if items.is_empty() && self.problems.0.len() == known {
            self.problems.push(field, Why::NameOne);
        }
        items
    }

    pub(super) fn optional_texts(&mut self, field: &'static str) -> Vec<String> {
        self.get(field).map(|v| self.list(field, v)).unwrap_or_default()
    }

    pub(super) fn ips(&mut self, field: &'static str) -> Vec<IpAddr> {
        let texts = self.texts(field);
        self.parse_all(field, texts)
    }

    pub(super) fn optional_ips(&mut self, field: &'static str) -> Vec<IpAddr> {
        let texts = self.optional_texts(field);
        self.parse_all(field, texts)
    }

    fn parse_all<T: std::str::FromStr>(&mut self, field: &str, texts: Vec<String>) -> Vec<T> {
        let mut out = Vec::new();
        for t in texts {
            match t.parse() {
                Ok(v) => out.push(v),
                Err(_) => self.problems.push(field, Why::NotIp(t)),
            }
        }
        out
    }

    pub(super) fn optional_socket(&mut self, field: &'static str) -> Option<SocketAddr> {
        let value = self.get(field)?;
        let text = self.text_of(field, value, MAX_TEXT)?;
        text.parse().map_err(|_| self.problems.push(field, Why::NotSocket(text.clone()))).ok()
    }

    pub(super) fn change(&mut self, field: &'static str) -> ChangeKind {
        let value = self.required(field).cloned();
        match value.map(serde_json::from_value::<ChangeKind>) {
            Some(Ok(c)) => c,
            Some(Err(_)) => {
                self.problems.push(field, Why::ChangeKind);
                ChangeKind::Technical
            }
            None => ChangeKind::Technical,
        }
    }

    /// The technical specialists: at least one, each a `{name, email, work_phone,
    /// mobile}` object with every part filled in.
    pub(super) fn specialists(&mut self, field: &'static str) -> Vec<Specialist> {
        let Some(value) = self.required(field) else { return Vec::new() };
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(o) if o.keys().all(|k| k.parse::<usize>().is_ok()) => {
                let mut keyed: Vec<(usize, &Value)> = o.iter().map(|(k, v)| (k.parse().unwrap_or(0), v)).collect();
                keyed.sort_by_key(|(i, _)| *i);
                keyed.into_iter().map(|(_, v)| v).collect()
            }
            one @ Value::Object(_) => vec![one],
            _ => {
                self.problems.push(field, Why::NotSpecialists);
                return Vec::new();
            }
        };
        if items.len() > MAX_SPECIALISTS {
            self.problems.push(field, Why::TooMany { max: MAX_SPECIALISTS });
            return Vec::new();
        }
        // A row of a form left wholly empty is no specialist; the others keep their
        // place, so a problem names the row it was typed in.
        let rows: Vec<(usize, &Value)> = items.into_iter().enumerate().filter(|(_, v)| !blank(v)).collect();
        if rows.is_empty() {
            self.problems.push(field, Why::NameOne);
        }
        rows.into_iter().map(|(at, item)| self.specialist(field, at, item)).collect()
    }

    fn specialist(&mut self, field: &str, at: usize, item: &Value) -> Specialist {
        let Some(object) = item.as_object() else {
            self.problems.push(&format!("{field}.{at}"), Why::NotSpecialists);
            return Specialist::default();
        };
        let mut part = |name: &str| {
            let key = format!("{field}.{at}.{name}");
            match object.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => self.bounded(&key, s, MAX_TEXT).unwrap_or_default(),
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    self.problems.push(&key, Why::Missing);
                    String::new()
                }
                Some(_) => {
                    self.problems.push(&key, Why::NotText);
                    String::new()
                }
            }
        };
        let specialist = Specialist {
            name: part("name"),
            email: part("email"),
            work_phone: part("work_phone"),
            mobile: part("mobile"),
        };
        const PARTS: [&str; 4] = ["name", "email", "work_phone", "mobile"];
        for key in object.keys().filter(|k| !PARTS.contains(&k.as_str())) {
            self.problems.push(&format!("{field}.{at}.{key}"), Why::Unknown);
        }
        specialist.check(at, &mut self.problems);
        specialist
    }
}

/// An object whose every value is empty text (a form's unused row).
fn blank(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.values().all(|v| v.as_str().is_some_and(|s| s.trim().is_empty())))
}
