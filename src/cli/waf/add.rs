//! `perimeter waf site add DOMAIN --origin ADDR:PORT …`: protects a site.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use waf::OriginTls;

use super::read_file;
use crate::app::waf::settings::SiteSettings;
use crate::app::waf::{Manager, SiteInput};
use crate::cli::actor::cli_actor;

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The site's domain, as browsers send it (lower case; punycode for other scripts).
    pub domain: String,
    /// An origin server (repeat for several; tried in turn, unhealthy ones passed over).
    #[arg(long = "origin", value_name = "ADDR:PORT", required = true)]
    pub origins: Vec<SocketAddr>,
    /// Another name of the site, served with the same certificate (repeat).
    #[arg(long = "alias", value_name = "NAME")]
    pub aliases: Vec<String>,
    /// The site's certificate chain (PEM, leaf first) ...
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// ... and its private key (PEM); sealed in the store, never shown again.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// detect records only; block refuses.
    #[arg(long, default_value = "block", value_parser = ["detect", "block"])]
    pub mode: String,
    /// The CRS paranoia level, 1 to 4.
    #[arg(long, default_value_t = 1)]
    pub paranoia: u8,
    /// Speak TLS to the origins (verified against the system roots unless --origin-ca
    /// or --origin-no-verify).
    #[arg(long)]
    pub origin_tls: bool,
    /// Trust this CA (PEM) for the origins' certificates.
    #[arg(long, value_name = "FILE", requires = "origin_tls")]
    pub origin_ca: Option<PathBuf>,
    /// Accept any origin certificate.
    #[arg(long, requires = "origin_tls")]
    pub origin_no_verify: bool,
    /// BIN of the organisation whose site it is (its people read the site's events).
    #[arg(long, value_name = "BIN")]
    pub owner: Option<String>,
    /// A technical contact (repeat).
    #[arg(long = "contact", value_name = "EMAIL")]
    pub contacts: Vec<String>,
}

pub async fn run(manager: &Manager<'_>, a: AddArgs) -> anyhow::Result<ExitCode> {
    let certificate = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => Some((read_file(c, "certificate")?, read_file(k, "private key")?)),
        _ => None,
    };
    let origin_tls = match a.origin_tls {
        false => None,
        true => Some(OriginTls {
            verify: !a.origin_no_verify,
            ca_pem: a.origin_ca.as_deref().map(|p| read_file(p, "origin CA")).transpose()?,
            server_name: None,
        }),
    };
    let mut settings = SiteSettings::default();
    settings.set("mode", &a.mode.clone().into()).map_err(anyhow::Error::msg)?;
    settings.rules.paranoia = a.paranoia;
    let owner = a
        .owner
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: policies::BinError| anyhow::anyhow!("--owner: {e}"))?;
    let input = SiteInput {
        domain: a.domain,
        aliases: a.aliases,
        origins: a.origins,
        origin_tls,
        certificate,
        settings,
        owner,
        application: None,
        contacts: a.contacts,
    };
    let site = manager.add(&cli_actor(), input).await?;
    let served = match site.key_kept {
        true => "a running `perimeter up` serves it within a second",
        false => "no certificate yet: it is served once `perimeter waf site cert` gives one",
    };
    println!("WAF site {} added ({} origin(s)); {served}", site.domain, site.origins.len());
    Ok(ExitCode::SUCCESS)
}
