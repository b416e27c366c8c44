//! `perimeter waf site set DOMAIN KEY=VALUE…` and `perimeter waf site cert DOMAIN
//! --cert FILE --key FILE`: change a site's settings or its certificate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::read_file;
use crate::app::waf::Manager;
use crate::app::waf::settings::KEYS;
use crate::cli::actor::cli_actor;

#[derive(Args, Debug)]
#[command(after_help = settings_help())]
pub struct SetArgs {
    pub domain: String,
    /// KEY=VALUE pairs, applied together (every problem named at once, nothing half-set).
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
}

fn settings_help() -> String {
    let mut help = String::from(
        "Keys:\n  origins               comma-separated ADDR:PORT\n  aliases               comma-separated names\n  contacts              comma-separated e-mail addresses\n",
    );
    for (key, what) in KEYS {
        help.push_str(&format!("  {key:<21} {what}\n"));
    }
    help
}

#[derive(Args, Debug)]
pub struct CertArgs {
    pub domain: String,
    /// The certificate chain (PEM, leaf first).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Its private key (PEM); sealed in the store, never shown again.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

pub async fn run(manager: &Manager<'_>, a: SetArgs) -> anyhow::Result<ExitCode> {
    let mut pairs = Vec::new();
    for pair in &a.pairs {
        let (key, value) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("'{pair}' is not KEY=VALUE"))?;
        pairs.push((key.trim().to_string(), serde_json::Value::String(value.to_string())));
    }
    let site = manager.set(&cli_actor(), &a.domain, &pairs).await?;
    println!(
        "WAF site {} changed (version {}); a running `perimeter up` applies it within a second",
        site.domain, site.version
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn cert(manager: &Manager<'_>, a: CertArgs) -> anyhow::Result<ExitCode> {
    let pair = (read_file(&a.cert, "certificate")?, read_file(&a.key, "private key")?);
    let site = manager.set_certificate(&cli_actor(), &a.domain, pair).await?;
    println!("WAF site {}: certificate replaced (the key is sealed)", site.domain);
    Ok(ExitCode::SUCCESS)
}
