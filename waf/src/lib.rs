//! The web application firewall of rule 17 (appendix 3): a reverse proxy in front of the
//! protected government sites that decides every request with the OWASP Core Rule Set,
//! run by libmodsecurity 3, before a byte reaches the site.
//!
//! Must not: touch the store (it reads a snapshot of its sites that the binary gives it);
//! decide by hand what is an attack (only the rule engine does).

pub mod engine;
