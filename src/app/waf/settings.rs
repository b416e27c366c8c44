//! A protected site's settings as the store keeps them (one JSON document: the rule
//! settings, the rate limit, the address lists) and the one way to change them by name:
//! `KEY=VALUE` from the CLI, a JSON object from the API and a console form all go
//! through [`SiteSettings::set`]. Also the `waf::Site` a stored record becomes.
//!
//! Must not: store anything, or decide whether a rule loads (the engine does).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waf::engine::{Exclusion, Mode, OverLimit, RuleSettings};
use waf::{OriginTls, RateLimit, Site};

/// The settings of a site that are not its names, origins or certificate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteSettings {
    pub rules: RuleSettings,
    pub rate_limit: Option<RateLimit>,
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

/// The keys `set` knows, with what each takes (shown when a key is unknown).
pub const KEYS: &[(&str, &str)] = &[
    ("mode", "detect or block"),
    ("paranoia", "1 to 4"),
    ("inbound_threshold", "anomaly score that refuses a request (default 5)"),
    ("outbound_threshold", "the same for responses (default 4)"),
    ("allowed_methods", "comma-separated methods, e.g. GET,HEAD,POST"),
    ("allowed_content_types", "comma-separated media types"),
    ("body_limit", "request body bytes inspected"),
    ("over_body_limit", "refuse or inspect_part"),
    ("inspect_responses", "true or false"),
    ("rate_limit", "PER_SECOND/BURST, or off"),
    ("allow", "comma-separated networks that alone reach the site; empty for all"),
    ("deny", "comma-separated networks refused"),
];

/// A value as text: a JSON string as it is, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &Value) -> Result<T, String> {
    let t = text(value);
    t.parse().map_err(|_| format!("{key}: '{t}' is not a whole number"))
}

fn list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(text).filter(|s| !s.is_empty()).collect(),
        other => text(other).split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    }
}

fn networks(key: &str, value: &Value) -> Result<Vec<IpNet>, String> {
    list(value)
        .iter()
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{key}: '{n}' is not a network such as 203.0.113.0/24"))
        })
        .collect()
}

impl SiteSettings {
    /// The settings stored as `value` (an empty object: the defaults).
    pub fn from_json(value: &Value) -> Result<SiteSettings, String> {
        serde_json::from_value(value.clone()).map_err(|e| format!("the stored settings do not read: {e}"))
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Sets `key` to `value`; the error names the key and what it takes.
    pub fn set(&mut self, key: &str, value: &Value) -> Result<(), String> {
        let r = &mut self.rules;
        let t = text(value);
        match key {
            "mode" => {
                r.mode = match t.as_str() {
                    "detect" => Mode::Detect,
                    "block" => Mode::Block,
                    _ => return Err(format!("mode: '{t}' is not detect or block")),
                }
            }
            "paranoia" => r.paranoia = number(key, value)?,
            "inbound_threshold" => r.inbound_threshold = number(key, value)?,
            "outbound_threshold" => r.outbound_threshold = number(key, value)?,
            "allowed_methods" => r.allowed_methods = list(value).into_iter().map(|m| m.to_ascii_uppercase()).collect(),
            "allowed_content_types" => r.allowed_content_types = list(value),
            "body_limit" => r.body_limit = number(key, value)?,
            "over_body_limit" => {
                r.over_body_limit = match t.as_str() {
                    "refuse" => OverLimit::Refuse,
                    "inspect_part" => OverLimit::InspectPart,
                    _ => return Err(format!("over_body_limit: '{t}' is not refuse or inspect_part")),
                }
            }
            "inspect_responses" => {
                r.inspect_responses = match t.as_str() {
                    "true" | "on" | "yes" => true,
                    "false" | "off" | "no" => false,
                    _ => return Err(format!("inspect_responses: '{t}' is not true or false")),
                }
            }
            "rate_limit" => self.rate_limit = rate_limit(&t)?,
            "allow" => self.allow = networks(key, value)?,
            "deny" => self.deny = networks(key, value)?,
            _ => {
                let known = KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
                return Err(format!("unknown setting '{key}': use one of {known}"));
            }
        }
        Ok(())
    }

    /// Adds an exclusion of `rule` (on `target`); one already there changes nothing.
    pub fn exclude(&mut self, rule: u32, target: Option<&str>) -> bool {
        let exclusion = Exclusion { rule, target: target.map(String::from) };
        if self.rules.exclusions.contains(&exclusion) {
            return false;
        }
        self.rules.exclusions.push(exclusion);
        true
    }

    /// Every problem of the rule settings, each as `field: problem`.
    pub fn problems(&self) -> Vec<String> {
        self.rules.check().into_iter().map(|p| format!("{}: {}", p.field, p.problem)).collect()
    }
}

/// `PER_SECOND/BURST` (or `PER_SECOND`, burst twice it), or `off`.
fn rate_limit(text: &str) -> Result<Option<RateLimit>, String> {
    if matches!(text, "off" | "none" | "") {
        return Ok(None);
    }
    let bad = || format!("rate_limit: '{text}' is not PER_SECOND/BURST (e.g. 50/100) or off");
    let (rate, burst) = match text.split_once('/') {
        Some((r, b)) => (r.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?),
        None => {
            let r: u32 = text.parse().map_err(|_| bad())?;
            (r, r.saturating_mul(2))
        }
    };
    if rate == 0 || burst == 0 {
        return Err(bad());
    }
    Ok(Some(RateLimit { per_second: rate, burst }))
}

/// The site a stored record becomes, with its key opened.
pub fn site_of(record: &store::WafSiteRecord, key_pem: String) -> Result<Site, String> {
    let settings = SiteSettings::from_json(&record.settings)?;
    let origin_tls = record
        .origin_tls
        .as_ref()
        .map(|v| serde_json::from_value::<OriginTls>(v.clone()))
        .transpose()
        .map_err(|e| format!("the stored origin TLS settings do not read: {e}"))?;
    Ok(Site {
        domain: record.domain.clone(),
        aliases: record.aliases.clone(),
        origins: record.origins.clone(),
        origin_tls,
        certificate_pem: record.certificate.clone().unwrap_or_default(),
        key_pem,
        rules: settings.rules,
        rate_limit: settings.rate_limit,
        allow: settings.allow,
        deny: settings.deny,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_are_set_by_name_and_bad_values_named() {
        let mut s = SiteSettings::default();
        s.set("mode", &json!("detect")).unwrap();
        s.set("paranoia", &json!(2)).unwrap();
        s.set("allowed_methods", &json!("get, post")).unwrap();
        s.set("rate_limit", &json!("50/100")).unwrap();
        s.set("deny", &json!("198.51.100.7, 203.0.113.0/24")).unwrap();
        assert_eq!((s.rules.mode, s.rules.paranoia), (Mode::Detect, 2));
        assert_eq!(s.rules.allowed_methods, ["GET", "POST"]);
        assert_eq!(s.rate_limit, Some(RateLimit { per_second: 50, burst: 100 }));
        assert_eq!(s.deny.len(), 2);
        assert!(s.set("mode", &json!("loud")).unwrap_err().contains("detect or block"));
        assert!(s.set("paranioa", &json!(2)).unwrap_err().contains("unknown setting 'paranioa'"));
        assert!(s.set("allow", &json!("not-a-net")).unwrap_err().contains("allow: 'not-a-net'"));
        s.set("paranoia", &json!("7")).unwrap();
        assert_eq!(s.problems(), ["paranoia: 7 is not 1, 2, 3 or 4"]);
        assert!(s.exclude(942100, Some("ARGS:q")) && !s.exclude(942100, Some("ARGS:q")));
        let back = SiteSettings::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert!(SiteSettings::from_json(&json!({ "rulez": {} })).is_err());
    }
}
