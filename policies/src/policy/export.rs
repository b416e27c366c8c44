//! The policy book written back in the policy file's TOML format: the import and
//! export format beside the request desk, which is where policies now come from.
//! Parsing what is written gives the same book.

use std::fmt::Write;

use super::book::{GrantTarget, OrgPolicy, PolicyBook};

/// A TOML string literal.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| quoted(&i.to_string())).collect();
    format!("[{}]", items.join(", "))
}

impl PolicyBook {
    /// The book in the policy file's format, organisations by BIN.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("[default]\n");
        let _ = writeln!(out, "categories = {}", list(&self.default_categories));
        let _ = writeln!(out, "allow_uncategorised = {}", self.allow_uncategorised);
        let mut orgs: Vec<&OrgPolicy> = self.organisations().collect();
        orgs.sort_by(|a, b| a.bin.cmp(&b.bin));
        for org in orgs {
            write_org(&mut out, org);
        }
        out
    }
}

fn write_org(out: &mut String, org: &OrgPolicy) {
    let _ = writeln!(out, "\n[[organisation]]\nbin = {}", quoted(&org.bin));
    if !org.name.is_empty() {
        let _ = writeln!(out, "name = {}", quoted(&org.name));
    }
    let _ = writeln!(out, "received = {}", org.received);
    if let Some(granted) = org.granted {
        let _ = writeln!(out, "granted = {granted}");
    }
    let _ = writeln!(out, "categories = {}", list(&org.categories));
    for g in &org.grants {
        let target = match &g.target {
            GrantTarget::Category(c) => format!("category = {}", quoted(c.as_str())),
            GrantTarget::Domain(d) => format!("domain = {}", quoted(d)),
        };
        let _ = writeln!(
            out,
            "  [[organisation.grant]]\n  {target}\n  request = {}\n  granted = {}",
            quoted(&g.request),
            g.granted
        );
    }
}
