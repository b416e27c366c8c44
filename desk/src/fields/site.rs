//! The parts of the forms that several kinds share: the protected site's items (appendix
//! 3 items 3.1–3.8 of the IQBSH rules, the same as appendix 4 items 4.1–4.8) and the
//! technical specialists (appendix 3 item 3.9, appendix 4 item 4.10, the EPBSH
//! connection form), with their checks.
//!
//! Must not: look anything up; whether the operator exists and whether the certificate
//! fits its key are asked of the caller's [`Registry`](super::Registry).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::read::Reader;
use super::{Registry, check_domain, plausible_email};
use crate::{Problems, Why};

/// The most characters of a certificate chain in PEM.
pub const MAX_CERTIFICATE: usize = 64 * 1024;
/// The most characters of a private key in PEM (RSA-4096 and Ed25519 both fit).
pub const MAX_KEY: usize = 16 * 1024;

/// A site to protect, items 3.1–3.8 (4.1–4.8) as the WAF and defacement services create
/// it from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// 3.1: the site's domain.
    pub site: String,
    /// 3.1: its addresses.
    pub addresses: Vec<IpAddr>,
    /// 3.2: the operator that connects it through the gateway (a registry handle).
    #[serde(default)]
    pub operator: String,
    /// 3.3: web server with version.
    #[serde(default)]
    pub web_server: String,
    /// 3.4: balancer with version, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<String>,
    /// 3.5: DBMS with version (`none` when it has none).
    #[serde(default)]
    pub dbms: String,
    /// 3.6: CMS with version (`none` when it has none).
    #[serde(default)]
    pub cms: String,
    /// 3.7: the site's certificate (PEM) when it uses HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// 3.7: its private key; sealed on filing, only the mask stays here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// 3.8: application server with version, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_server: Option<String>,
}

/// A technical specialist of the applicant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Specialist {
    pub name: String,
    pub email: String,
    pub work_phone: String,
    pub mobile: String,
}

impl Resource {
    pub(super) fn read(r: &mut Reader<'_>) -> Resource {
        Resource {
            site: r.text("site"),
            addresses: r.ips("addresses"),
            operator: r.text("operator"),
            web_server: r.text("web_server"),
            balancer: r.optional("balancer"),
            dbms: r.text("dbms"),
            cms: r.text("cms"),
            certificate: r.pem("certificate", MAX_CERTIFICATE),
            private_key: r.pem("private_key", MAX_KEY),
            app_server: r.optional("app_server"),
        }
    }

    /// The items' rules: a domain, versions named, a known operator, and a certificate
    /// and key that are a pair naming the site.
    pub(super) fn check(&self, registry: &dyn Registry, p: &mut Problems) {
        check_domain("site", &self.site, p);
        if !self.operator.is_empty() && !registry.operator_exists(&self.operator) {
            p.push("operator", Why::UnknownOperator(self.operator.clone()));
        }
        let products = [
            ("web_server", Some(&self.web_server), false),
            ("balancer", self.balancer.as_ref(), false),
            ("dbms", Some(&self.dbms), true),
            ("cms", Some(&self.cms), true),
            ("app_server", self.app_server.as_ref(), false),
        ];
        for (field, value, may_be_none) in products {
            let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
            let none = may_be_none && value.eq_ignore_ascii_case("none");
            if !none && !names_a_version(value) {
                p.push(field, Why::NoVersion(value.clone()));
            }
        }
        self.check_pair(registry, p);
    }

    fn check_pair(&self, registry: &dyn Registry, p: &mut Problems) {
        match (&self.certificate, &self.private_key) {
            (Some(cert), Some(key)) => {
                let mut pem = true;
                if !cert.contains("-----BEGIN CERTIFICATE-----") {
                    p.push("certificate", Why::NotPem("certificate"));
                    pem = false;
                }
                if !is_private_key(key) {
                    p.push("private_key", Why::NotPem("private key"));
                    pem = false;
                }
                if pem && let Err(why) = registry.key_pair(cert, key, &self.site) {
                    p.push("certificate", Why::Pair(why));
                }
            }
            (Some(_), None) => p.push("private_key", Why::PairMissing("certificate")),
            (None, Some(_)) => p.push("certificate", Why::PairMissing("private_key")),
            (None, None) => {}
        }
    }
}

/// Whether a PEM text holds a private key (PKCS#8, PKCS#1, SEC1 or OpenSSH).
pub(super) fn is_private_key(text: &str) -> bool {
    text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----")
}

/// Whether a product is named with its version: a letter, and a word that starts with
/// a digit (`nginx 1.24.0`, `Apache/2.4.58`, `PostgreSQL 15`).
fn names_a_version(text: &str) -> bool {
    text.chars().any(char::is_alphabetic)
        && text.split([' ', '/', '-', '_', '(']).any(|w| w.starts_with(|c: char| c.is_ascii_digit()))
}

impl Specialist {
    /// The rules of one specialist, `at` their place in the list.
    pub(super) fn check(&self, at: usize, p: &mut Problems) {
        let field = |part: &str| format!("specialists.{at}.{part}");
        if !self.email.is_empty() && !plausible_email(&self.email) {
            p.push(&field("email"), Why::NotEmail(self.email.clone()));
        }
        for (part, phone) in [("work_phone", &self.work_phone), ("mobile", &self.mobile)] {
            if !phone.is_empty() && !plausible_phone(phone) {
                p.push(&field(part), Why::NotPhone(phone.clone()));
            }
        }
    }
}

/// A phone number: 5–20 digits, with `+`, spaces, `-`, `(` and `)` between them.
fn plausible_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits) && text.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_phones_are_recognised() {
        for yes in ["nginx 1.24.0", "Apache/2.4.58", "PostgreSQL 15", "1C-Bitrix 23.0"] {
            assert!(names_a_version(yes), "{yes}");
        }
        for no in ["nginx", "latest", "15"] {
            assert!(!names_a_version(no), "{no}");
        }
        assert!(plausible_phone("+7 (7172) 55-00-11") && !plausible_phone("call me") && !plausible_phone("123"));
    }
}
