//! What a site asks of the rule engine (part of a site's configuration) and the checks
//! that keep every value safe to write into SecLang text.
//!
//! Must not: compile anything (that is `compile`), read files.

use serde::{Deserialize, Serialize};

/// `detect` records only; `block` refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Detect,
    Block,
}

/// What happens to a request body larger than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Refused with 413.
    Refuse,
    /// The first `body_limit` bytes are inspected, the request passes on their verdict.
    InspectPart,
}

/// A rule switched off for a site: everywhere (`target: None`) or for one target only,
/// such as `ARGS:comment` or `REQUEST_COOKIES:/^wordpress_/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    pub rule: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// What a site asks of the rule engine (part of a site's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    pub mode: Mode,
    /// 1..=4 (CRS paranoia level).
    pub paranoia: u8,
    /// CRS inbound anomaly threshold (default 5: one critical match).
    pub inbound_threshold: u32,
    /// CRS outbound anomaly threshold (default 4).
    pub outbound_threshold: u32,
    pub exclusions: Vec<Exclusion>,
    /// Default: the CRS's `GET HEAD POST OPTIONS`.
    pub allowed_methods: Vec<String>,
    /// Default: the CRS 3.3 list.
    pub allowed_content_types: Vec<String>,
    /// Request body bytes inspected (default 8 MiB).
    pub body_limit: u64,
    pub over_body_limit: OverLimit,
    /// Response phases 3 and 4 (the data-leakage rules); default off.
    pub inspect_responses: bool,
    /// The site's own SecRule text (virtual patches), each loaded and checked apart.
    pub patches: Vec<String>,
}

/// The CRS 3.3 default of `tx.allowed_methods`.
pub fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST", "OPTIONS"].map(String::from).to_vec()
}

/// The CRS 3.3 default of `tx.allowed_request_content_type`.
pub fn default_content_types() -> Vec<String> {
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/related",
        "text/xml",
        "application/xml",
        "application/soap+xml",
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    ]
    .map(String::from)
    .to_vec()
}

/// 8 MiB: a scanned PDF or a DOCX with pictures.
pub const DEFAULT_BODY_LIMIT: u64 = 8 << 20;
/// The largest body limit a site may set (libmodsecurity keeps the body in memory).
pub const MAX_BODY_LIMIT: u64 = 64 << 20;

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            mode: Mode::Block,
            paranoia: 1,
            inbound_threshold: 5,
            outbound_threshold: 4,
            exclusions: Vec::new(),
            allowed_methods: default_methods(),
            allowed_content_types: default_content_types(),
            body_limit: DEFAULT_BODY_LIMIT,
            over_body_limit: OverLimit::Refuse,
            inspect_responses: false,
            patches: Vec::new(),
        }
    }
}

/// A setting that cannot be used: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

/// The variables an exclusion may name (the request side of SecLang's collections).
const TARGET_COLLECTIONS: &[&str] = &[
    "ARGS",
    "ARGS_GET",
    "ARGS_POST",
    "ARGS_NAMES",
    "ARGS_GET_NAMES",
    "ARGS_POST_NAMES",
    "REQUEST_COOKIES",
    "REQUEST_COOKIES_NAMES",
    "REQUEST_HEADERS",
    "REQUEST_HEADERS_NAMES",
    "REQUEST_BODY",
    "REQUEST_URI",
    "REQUEST_FILENAME",
    "REQUEST_BASENAME",
    "QUERY_STRING",
    "FILES",
    "FILES_NAMES",
    "XML",
];

/// `COLLECTION` or `COLLECTION:key` with a key of printable ASCII other than `"`, `'`,
/// `,`, `|` and space (they would end the target inside the rule text).
pub fn check_target(target: &str) -> Result<(), String> {
    let (collection, key) = match target.split_once(':') {
        Some((c, k)) => (c, Some(k)),
        None => (target, None),
    };
    if !TARGET_COLLECTIONS.contains(&collection) {
        return Err(format!("{collection:?} is not one of {}", TARGET_COLLECTIONS.join(", ")));
    }
    if let Some(key) = key {
        if key.is_empty() || key.len() > 256 {
            return Err("the key after ':' must have 1 to 256 characters".into());
        }
        if let Some(bad) = key.chars().find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | ',' | '|')) {
            return Err(format!("the key may not contain {bad:?}"));
        }
    }
    Ok(())
}

impl RuleSettings {
    /// Every problem, each with its field; empty when the settings can be compiled.
    pub fn check(&self) -> Vec<Invalid> {
        let mut problems = Vec::new();
        if !(1..=4).contains(&self.paranoia) {
            problems.push(invalid("paranoia", format!("{} is not 1, 2, 3 or 4", self.paranoia)));
        }
        for (field, value) in
            [("inbound_threshold", self.inbound_threshold), ("outbound_threshold", self.outbound_threshold)]
        {
            if !(1..=10_000).contains(&value) {
                problems.push(invalid(field, format!("{value} is not between 1 and 10000")));
            }
        }
        if !(1..=MAX_BODY_LIMIT).contains(&self.body_limit) {
            problems.push(invalid(
                "body_limit",
                format!("{} is not between 1 and {MAX_BODY_LIMIT} bytes", self.body_limit),
            ));
        }
        if self.allowed_methods.is_empty() {
            problems.push(invalid("allowed_methods", "at least one method"));
        }
        for (i, method) in self.allowed_methods.iter().enumerate() {
            if method.is_empty()
                || method.len() > 32
                || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
            {
                problems.push(invalid(
                    format!("allowed_methods[{i}]"),
                    format!("{method:?} is not a method name (A-Z, '-', '_')"),
                ));
            }
        }
        for (i, ty) in self.allowed_content_types.iter().enumerate() {
            let ok = ty.len() <= 128
                && ty.split_once('/').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                && ty.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/+-.".contains(&b));
            if !ok {
                problems.push(invalid(
                    format!("allowed_content_types[{i}]"),
                    format!("{ty:?} is not a lower-case media type"),
                ));
            }
        }
        for (i, exclusion) in self.exclusions.iter().enumerate() {
            if exclusion.rule == 0 {
                problems.push(invalid(format!("exclusions[{i}].rule"), "0 is not a rule id"));
            }
            if let Some(target) = &exclusion.target
                && let Err(problem) = check_target(target)
            {
                problems.push(invalid(format!("exclusions[{i}].target"), problem));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_refused() {
        assert!(RuleSettings::default().check().is_empty());
        let parsed: RuleSettings = serde_json::from_str(r#"{"mode":"detect","paranoia":2}"#).unwrap();
        assert_eq!(parsed.mode, Mode::Detect);
        assert_eq!(parsed.allowed_methods, default_methods());
        assert!(serde_json::from_str::<RuleSettings>(r#"{"paranioa":2}"#).is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let settings = RuleSettings {
            paranoia: 5,
            allowed_methods: vec!["GET\"".into()],
            exclusions: vec![Exclusion { rule: 942100, target: Some("ARGS:a\" \"id:1".into()) }],
            ..RuleSettings::default()
        };
        let fields: Vec<String> = settings.check().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["paranoia", "allowed_methods[0]", "exclusions[0].target"]);
        assert!(check_target("ARGS:comment").is_ok());
        assert!(check_target("REQUEST_COOKIES:/^wordpress_/").is_ok());
        assert!(check_target("TX:foo").is_err());
    }
}
