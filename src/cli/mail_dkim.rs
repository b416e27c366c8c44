//! `perimeter mail dkim keygen | list | rotate`: the DKIM keys the relay signs connected
//! systems' mail with. `keygen` and `rotate` write the key files and print the DNS TXT
//! record to publish; the running relay reads them at the store change they record.
//!
//! Must not: print a private key.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use epbsh::auth::keys::{Algorithm, DomainKeys, KeyInfo, KeyState};

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::mail::dkim::{self, KeyRequest};
use crate::config::Config;
use store::Store;

#[derive(Subcommand, Debug)]
pub enum DkimCmd {
    /// Make the first key of a connected system's domain (it signs at once) and print
    /// the TXT record to publish.
    Keygen(KeyArgs),
    /// Every connected domain with its keys and their state ("not signed" where no key
    /// signs it).
    List(JsonFlag),
    /// Make a new key that signs from a later moment; the older keys stop signing then
    /// and their records are listed for removal after the grace period.
    Rotate {
        #[command(flatten)]
        key: KeyArgs,
        /// When the new key starts signing, from now: time to publish its record.
        #[arg(long, default_value = "2d", value_parser = policies::duration::parse)]
        signs_in: Duration,
        /// How long the old records stay published after the new key took over.
        #[arg(long, default_value = "7d", value_parser = policies::duration::parse)]
        grace: Duration,
    },
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    /// A domain of a connected mail system.
    domain: String,
    /// The selector (default sYYYYMMDD of the day the key signs from).
    #[arg(long)]
    selector: Option<String>,
    /// ed25519 or rsa2048 (RSA is what every receiver verifies; Ed25519 is smaller).
    #[arg(long, default_value = "rsa2048", value_parser = parse_algorithm)]
    algorithm: Algorithm,
}

fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    text.parse().map_err(|e: epbsh::auth::KeyError| e.to_string())
}

impl KeyArgs {
    fn request(&self) -> KeyRequest<'_> {
        KeyRequest { domain: &self.domain, selector: self.selector.as_deref(), algorithm: self.algorithm }
    }
}

pub async fn run(config: &Config, store: &Store, cmd: DkimCmd) -> anyhow::Result<ExitCode> {
    let dir = dkim::keys_dir(&config.relay, &config.data_dir);
    match cmd {
        DkimCmd::Keygen(args) => {
            let key = dkim::keygen(store, &dir, &cli_actor(), &args.request()).await?;
            println!(
                "key {} of {} made ({}); it signs now. Publish this TXT record:",
                key.selector,
                key.domain,
                alg(&key)
            );
            print_record(&key);
        }
        DkimCmd::Rotate { key, signs_in, grace } => {
            let r = dkim::rotate(store, &dir, &cli_actor(), &key.request(), (signs_in, grace)).await?;
            println!(
                "key {} of {} made ({}); it signs from {}. Publish this TXT record before then:",
                r.new.selector,
                r.new.domain,
                alg(&r.new),
                r.new.meta.signs_from
            );
            print_record(&r.new);
            for old in &r.retired {
                let after = old.meta.remove_record_after.map(|t| t.to_string()).unwrap_or_default();
                println!("key {} stops signing then; remove {} from DNS after {after}", old.selector, old.record_name);
            }
        }
        DkimCmd::List(flag) => {
            let (listing, problems) = dkim::list(store, &dir).await?;
            if flag.json {
                json(&serde_json::json!({ "domains": listing, "problems": problems }))?;
            } else {
                listing.iter().for_each(print_domain);
                problems.iter().for_each(|p| eprintln!("not used: {p}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn alg(key: &KeyInfo) -> &'static str {
    match key.meta.algorithm {
        Algorithm::Ed25519 => "ed25519",
        Algorithm::Rsa2048 => "rsa2048",
    }
}

fn print_record(key: &KeyInfo) {
    println!("{} IN TXT \"{}\"", key.record_name, key.record);
}

fn print_domain(d: &DomainKeys) {
    if d.keys.is_empty() || !d.signed {
        println!("{:<30} not signed{}", d.domain, if d.keys.is_empty() { " (no key)" } else { "" });
    } else {
        println!("{:<30} signed", d.domain);
    }
    for (k, state) in &d.keys {
        let state = match state {
            KeyState::Signing => "signing".to_string(),
            KeyState::Pending => format!("pending, signs from {}", k.meta.signs_from),
            KeyState::Retiring => format!(
                "retiring, keep its record until {}",
                k.meta.remove_record_after.map(|t| t.to_string()).unwrap_or_default()
            ),
            KeyState::RemoveRecord => "remove its record from DNS".to_string(),
        };
        println!("  {:<16} {:<8} {state}\n  {:<16} {}", k.selector, alg(k), "", k.record_name);
    }
}
