//! An application's fields as people type them, for the CLI (`--set KEY=VALUE`) and the
//! console's filing form alike: `a.b=…` sets part `b` of object `a` (a credential's
//! `credentials.login`), a repeated key becomes a list; and the content type of an
//! attached file guessed from its name when none is given.
//!
//! Must not: check the fields (the desk's rules do, and name every problem).

use serde_json::{Map, Value};

/// Adds `value` under `key` to `object`.
pub fn set(object: &mut Map<String, Value>, key: &str, value: Value) {
    if let Some((outer, inner)) = key.split_once('.') {
        let entry = object.entry(outer.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(nested) = entry {
            set(nested, inner, value);
        }
        return;
    }
    match object.get_mut(key) {
        Some(Value::Array(items)) => items.push(value),
        Some(first) => *first = Value::Array(vec![first.take(), value]),
        None => {
            object.insert(key.to_string(), value);
        }
    }
}

/// A `--set` value: a number, list or object written as JSON is taken as such, anything
/// else as text.
pub fn typed(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Array(_) | Value::Object(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// The content type of a file by its name's extension.
pub fn guess_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "p7s" => "application/pkcs7-signature",
        "p7m" => "application/pkcs7-mime",
        "csv" => "text/csv",
        _ => "text/plain",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    #[test]
    fn dotted_keys_nest_and_repeated_keys_make_lists() {
        let mut fields = Map::new();
        for (k, v) in [("credentials.login", "waf"), ("networks", "192.0.2.0/24"), ("networks", "198.51.100.0/24")] {
            super::set(&mut fields, k, Value::String(v.into()));
        }
        super::set(&mut fields, "main_gbps", super::typed("2"));
        let expected = json!({"credentials": {"login": "waf"}, "networks": ["192.0.2.0/24", "198.51.100.0/24"],
            "main_gbps": 2});
        assert_eq!(Value::Object(fields), expected);
    }
}
