//! `perimeter deface`: defacement protection of registered sites (rule 18). Add a site
//! (its SFTP access, its secret read from a file, its pages and masks, its owner), list
//! and show them with their findings, remove one, check one now, accept a change, open
//! and close a maintenance window, confirm a host key. Acts on the store as the other
//! verbs do; a check, an acceptance or a closing window connects to the site from here.
//! Secrets are read from files, never from the command line, and never printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use deface::{Deface, NewSite, SiteDetail, SiteView};
use store::DefaceOwner;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::output::when;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum DefaceCmd {
    /// Protected sites: add, list, show, remove.
    #[command(subcommand)]
    Site(SiteCmd),
    /// Check a site now (one cycle: files and pages; an unauthorised change is put back).
    Check { domain: String },
    /// Accept the newest change not yet accepted: what was put back is made as it was
    /// found and becomes the reference.
    Accept {
        domain: String,
        /// A finding's number (`deface site show`), instead of the newest.
        #[arg(long)]
        finding: Option<i64>,
    },
    /// Open a maintenance window (changes recorded, not put back), or close it (the site
    /// as it is becomes the reference).
    Window { domain: String, action: WindowAction },
    /// Confirm the site's SSH host key: the one pinned at the first connection, or a new
    /// one (`--key`) after a change was checked with the site's owner.
    Hostkey {
        domain: String,
        action: HostkeyAction,
        /// The key to trust, `TYPE BASE64` as in known_hosts (default: the pinned one).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SiteCmd {
    /// Protect a site; its reference copy is taken at its first check.
    Add(AddArgs),
    /// Every protected site with its state.
    List(JsonFlag),
    /// One site: state, last check, reference, host key, findings and events.
    Show {
        domain: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Stop protecting a site: its record, findings, events and reference copy go.
    Remove { domain: String },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The site's domain, e.g. www.minfin.gov.kz.
    domain: String,
    /// Access to the document root: sftp://USER@HOST[:PORT]/PATH.
    #[arg(long, value_name = "URL")]
    sftp: String,
    /// A file with the account's private key (OpenSSH format, Ed25519 or ECDSA).
    #[arg(long, value_name = "FILE", conflicts_with = "password_file", required_unless_present = "password_file")]
    key: Option<PathBuf>,
    /// A file with the account's password (its first line).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// A page watched, https://DOMAIN/... (repeat; default: the home page).
    #[arg(long = "page", value_name = "URL")]
    pages: Vec<String>,
    /// What is dynamic on a page: 'URL SELECTOR' or 'URL re:REGEX' (repeat).
    #[arg(long = "mask", value_name = "'URL SELECTOR'")]
    masks: Vec<String>,
    /// Where its pages are fetched (repeat; default: the domain's DNS).
    #[arg(long = "address", value_name = "IP")]
    addresses: Vec<std::net::IpAddr>,
    /// Files not watched: folders the CMS writes to (glob, relative to the root; repeat).
    #[arg(long = "exclude", value_name = "PATTERN")]
    exclude: Vec<String>,
    /// BIN of the owner organisation, for whom incidents are filed.
    #[arg(long, value_name = "BIN")]
    org: Option<String>,
    /// A technical contact e-mailed with each finding (repeat).
    #[arg(long = "contact", value_name = "EMAIL")]
    contacts: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum WindowAction {
    Open,
    Close,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum HostkeyAction {
    Confirm,
}

pub async fn run(config: &Config, cmd: DefaceCmd) -> anyhow::Result<ExitCode> {
    let store = config.open_store().await?;
    let desk = Arc::new(config.desk(store.clone())?);
    let deface = crate::app::deface::open(&config.deface, &config.data_dir, desk.clone())?;
    let actor = cli_actor();
    match cmd {
        DefaceCmd::Site(SiteCmd::Add(args)) => {
            let (site, owner) = new_site(args)?;
            let sealer = desk.sealer()?;
            let record = crate::app::deface::sites::protect((&store, &sealer), &actor, site, owner).await?;
            println!("{} protected; its reference is taken at its first check", record.domain);
        }
        DefaceCmd::Site(SiteCmd::List(flag)) => list(&deface, flag).await?,
        DefaceCmd::Site(SiteCmd::Show { domain, json: flag }) => {
            let detail = deface.site(&domain).await?;
            let owner = store.deface_owner(&domain).await?;
            match flag.json {
                true => json(&serde_json::json!({ "site": detail, "owner": owner }))?,
                false => print_detail(&detail, &owner),
            }
        }
        DefaceCmd::Site(SiteCmd::Remove { domain }) => {
            deface.remove_site(&actor, &domain).await?;
            println!("{domain} is no longer protected; its reference copy is removed");
        }
        DefaceCmd::Check { domain } => {
            let r = deface.check_now(&domain).await?;
            println!(
                "{}: {} ({} files checked, {} differ, {} pages differ)",
                r.domain, r.state, r.files_checked, r.changes, r.page_changes
            );
            if let Some(f) = &r.finding {
                println!("finding {}: {} ({})", f.id, f.kind, f.outcome);
            }
            for e in &r.events {
                println!("event: {e}");
            }
        }
        DefaceCmd::Accept { domain, finding } => {
            let f = deface.accept(&actor, &domain, finding).await?;
            println!("finding {} of {domain} accepted: its changes are the reference", f.id);
        }
        DefaceCmd::Window { domain, action } => {
            let open = matches!(action, WindowAction::Open);
            deface.window(&actor, &domain, open).await?;
            match open {
                true => println!("maintenance window of {domain} open: changes are recorded, not put back"),
                false => println!("maintenance window of {domain} closed: the site as it is is the reference"),
            }
        }
        DefaceCmd::Hostkey { domain, action: HostkeyAction::Confirm, key } => {
            let key = match key {
                Some(k) => k,
                None => store.deface_site(&domain).await?.host_key.ok_or_else(|| {
                    anyhow::anyhow!("{domain} has no host key pinned yet: it is pinned at its first check")
                })?,
            };
            deface.confirm_host_key(&actor, &domain, &key).await?;
            println!("host key {} of {domain} confirmed", deface::service::fingerprint(&key).unwrap_or(key));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The site and its owner from the flags; the secret read from its file.
fn new_site(args: AddArgs) -> anyhow::Result<(NewSite, DefaceOwner)> {
    let secret = match (&args.key, &args.password_file) {
        (Some(path), _) => read_secret(path)?,
        (None, Some(path)) => {
            let text = read_secret(path)?;
            let first = text.lines().next().unwrap_or("").to_string();
            anyhow::ensure!(!first.is_empty(), "--password-file {}: the first line is empty", path.display());
            first
        }
        (None, None) => anyhow::bail!("give --key FILE or --password-file FILE"),
    };
    let mut site = NewSite::from_application(&args.domain, &args.addresses, &args.sftp, "", &secret, &args.pages, 0)?;
    site.application_id = None;
    site.spec.exclude = args.exclude;
    for m in &args.masks {
        let (url, mask) = m
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow::anyhow!("--mask '{m}': write 'URL SELECTOR' or 'URL re:REGEX'"))?;
        site.mask(url, mask.trim())?;
    }
    Ok((site, DefaceOwner { org: args.org, contacts: args.contacts }))
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read the secret from {}: {e}", path.display()))
}

fn access_of(view: &SiteView) -> String {
    view.record
        .spec
        .get("access")
        .and_then(|a| serde_json::from_value::<deface::Access>(a.clone()).ok())
        .map_or_else(String::new, |a| a.url())
}

async fn list(deface: &Deface, flag: JsonFlag) -> anyhow::Result<()> {
    let sites = deface.sites().await?;
    if flag.json {
        return json(&sites);
    }
    for s in sites {
        let r = &s.record;
        let last = r.last_check.map_or_else(|| "never".to_string(), when);
        println!("{:<32} {:<17} last check {:<25} {} open findings", r.domain, r.state, last, s.open_findings);
    }
    Ok(())
}

fn print_detail(d: &SiteDetail, owner: &DefaceOwner) {
    let r = &d.site.record;
    println!("site         {}\naccess       {}", r.domain, access_of(&d.site));
    println!(
        "state        {} since {}{}",
        r.state,
        when(r.state_since),
        r.state_detail.as_ref().map_or(String::new(), |x| format!(": {x}"))
    );
    println!("window       {}", if r.window_open { "open" } else { "closed" });
    println!("last check   {}", r.last_check.map_or_else(|| "never".to_string(), when));
    println!(
        "reference    {} files, {} bytes, {} pages{}",
        r.reference_files,
        r.reference_bytes,
        r.reference_pages,
        r.reference_at.map_or(String::new(), |t| format!(", taken {}", when(t)))
    );
    let confirmed =
        r.host_key_confirmed_by.as_ref().map_or(" (not confirmed)".to_string(), |by| format!(" (confirmed by {by})"));
    println!("host key     {}{}", d.site.host_key_fingerprint.as_deref().unwrap_or("not pinned yet"), confirmed);
    println!("owner        {}\ncontacts     {}", owner.org.as_deref().unwrap_or("none"), owner.contacts.join(" "));
    println!("findings:");
    for f in &d.findings {
        println!("  {:>5}  {}  {:<12} {}", f.id, when(f.detected_at), f.kind, f.outcome);
        for file in f.files.as_array().into_iter().flatten() {
            let s = |k: &str| file.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            println!("         {} {}: {}", s("change"), s("path"), s("action"));
        }
    }
    println!("events:");
    for e in &d.events {
        println!("  {}  {:<18} {}", when(e.at), e.kind, e.detail.lines().next().unwrap_or(""));
    }
}
