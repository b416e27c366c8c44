//! A protected site as the binary hands it to the WAF: its domain and aliases, the
//! origin addresses behind it and how to reach them (plain HTTP, or TLS verified
//! against the system roots or a CA of its own unless it says `verify = false`), its
//! certificate and key (PEM), what it asks of the rule engine, its per-client rate limit
//! and its address allow and deny lists. Also [`Site::check`], which names every problem
//! by field.
//!
//! Must not: open files or sockets, or compile rules (`sites` does that when a snapshot
//! is built); the binary reads certificates from wherever it keeps them and passes PEM.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::engine::RuleSettings;

/// One protected site.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The site's name: what browsers send as SNI and Host (lower case, no port).
    pub domain: String,
    /// Other names of the same site (`www.` and the like), served with the same certificate.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The origin servers, tried in turn; unhealthy ones are passed over.
    pub origins: Vec<SocketAddr>,
    /// TLS towards the origins; plain HTTP when absent.
    #[serde(default)]
    pub origin_tls: Option<OriginTls>,
    /// The site's certificate chain (PEM, leaf first), presented to browsers.
    pub certificate_pem: String,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// What the site asks of the rule engine (mode, paranoia, exclusions, body limit...).
    #[serde(default)]
    pub rules: RuleSettings,
    /// Requests per second one client address (an IPv6 client by its /64) may send; none by default.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// When not empty, only clients in these networks reach the site.
    #[serde(default)]
    pub allow: Vec<IpNet>,
    /// Clients in these networks never reach the site (checked before `allow`).
    #[serde(default)]
    pub deny: Vec<IpNet>,
}

/// How the WAF speaks TLS to a site's origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginTls {
    /// Verify the origin's certificate (chain, validity, name). Default true.
    #[serde(default = "yes")]
    pub verify: bool,
    /// Trust this CA (PEM) for the origins instead of the system roots.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// The name the origin's certificate must carry (and the SNI sent); default the site's domain.
    #[serde(default)]
    pub server_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// A per-client request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// One problem of a site, named by its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteProblem {
    /// The site's domain as given.
    pub site: String,
    /// Which field (`origins`, `certificate_pem`, `rules`...).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SiteProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "site {} {}: {}", self.site, self.field, self.message)
    }
}

impl Site {
    /// Every name the site answers to: its domain, then its aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.domain.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The problems of the fields that can be checked alone (names, origins, limits);
    /// the certificate, key and rules are checked when a snapshot is built.
    pub fn check(&self) -> Vec<SiteProblem> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(SiteProblem { site: self.domain.clone(), field: field.to_owned(), message });
        };
        for (i, name) in self.names().enumerate() {
            let field = if i == 0 { "domain".to_owned() } else { format!("aliases[{}]", i - 1) };
            if let Err(why) = check_name(name) {
                problem(&field, why);
            }
        }
        if self.origins.is_empty() {
            problem("origins", "at least one origin address is needed".into());
        }
        for (i, origin) in self.origins.iter().enumerate() {
            if origin.port() == 0 || origin.ip().is_unspecified() {
                problem(&format!("origins[{i}]"), format!("{origin} is not an address to connect to"));
            }
        }
        if let Some(limit) = self.rate_limit
            && (limit.per_second == 0 || limit.burst == 0)
        {
            problem("rate_limit", "per_second and burst must be at least 1".into());
        }
        if let Some(name) = self.origin_tls.as_ref().and_then(|t| t.server_name.as_deref())
            && rustls::pki_types::ServerName::try_from(name).is_err()
        {
            problem("origin_tls.server_name", format!("{name:?} is not a server name"));
        }
        problems
    }

    /// The problems of the certificate and key: they must parse, belong together and
    /// name every one of the site's names (what a snapshot checks, for a caller that
    /// wants to know before it stores them).
    pub fn check_certificate(&self) -> Vec<SiteProblem> {
        match crate::serve::tls::certified_key(&self.certificate_pem, &self.key_pem, self.names()) {
            Ok(_) => Vec::new(),
            Err((field, message)) => {
                vec![SiteProblem { site: self.domain.clone(), field: field.to_owned(), message }]
            }
        }
    }
}

/// A host name as browsers send it: lower-case letters, digits, hyphens and dots, at most 253 bytes.
fn check_name(name: &str) -> Result<(), String> {
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("{name:?} is not a lower-case host name (punycode for other scripts)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(alias: &str) -> Site {
        serde_json::from_value(serde_json::json!({
            "domain": "gov.example.kz",
            "origins": ["192.0.2.10:8080"],
            "certificate_pem": "",
            "key_pem": "",
        }))
        .map(|mut s: Site| {
            if !alias.is_empty() {
                s.aliases = vec![alias.to_owned()];
            }
            s
        })
        .expect("a site")
    }

    #[test]
    fn names_origins_and_limits_are_checked() {
        assert!(site("").check().is_empty());
        let problems = site("WWW.gov.example.kz").check();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "aliases[0]");
        let mut bad = site("");
        bad.origins = vec!["0.0.0.0:80".parse().expect("addr")];
        bad.rate_limit = Some(RateLimit { per_second: 0, burst: 5 });
        let fields: Vec<_> = bad.check().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["origins[0]", "rate_limit"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<Site>(serde_json::json!({
            "domain": "a.kz", "origins": [], "certificate_pem": "", "key_pem": "", "orgins": []
        }))
        .expect_err("refused");
        assert!(err.to_string().contains("orgins"), "{err}");
    }
}
