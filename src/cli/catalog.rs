//! `perimeter catalog import | export | lookup | history`: operators' lists imported
//! and exported, an address looked up, who held an address over time.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use catalog::format::{self, Format};
use catalog::import::{DiffCounts, DiffSummary, MAX_DIFF_LINES};
use catalog::{Disclosure, ImportError, ImportOutcome, ImportRequest};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use store::Store;

use super::actor::cli_actor;
use super::json::{JsonFlag, json};
use crate::app::catalog::{Lookup, export_rows};
use crate::app::output::{parse_day, parse_instant, when};

#[derive(Subcommand, Debug)]
pub enum CatalogCmd {
    /// Replace an operator's list with FILE (CSV or JSON) as a whole, atomically.
    ///
    /// Rows are `prefix,bin[,comment]` (CSV, optional header, '#' comments) or a JSON
    /// array of {"prefix", "bin", "comment"}. A bad file applies nothing and every
    /// problem is listed with its line.
    Import {
        #[arg(long)]
        operator: String,
        file: PathBuf,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
        /// File format (default: from the file name, else CSV).
        #[arg(long, value_enum)]
        format: Option<ListFormat>,
        /// Print only the counts, not every changed prefix.
        #[arg(long)]
        summary: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Write an operator's current list (CSV or JSON) to stdout or a file.
    Export {
        #[arg(long)]
        operator: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: ListFormat,
        /// Output file (default: stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Show which organisation and operator own an address (longest-prefix match).
    Lookup {
        ip: IpAddr,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Who held an address: every assignment covering it, or those valid at a time.
    History {
        ip: IpAddr,
        /// An instant, RFC 3339 (2026-03-01T12:00:00+05:00).
        #[arg(long, conflicts_with = "on")]
        at: Option<String>,
        /// A date in Kazakhstan time (YYYY-MM-DD): everyone who held it that day.
        #[arg(long)]
        on: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ListFormat {
    Csv,
    Json,
}

impl From<ListFormat> for catalog::Format {
    fn from(f: ListFormat) -> catalog::Format {
        match f {
            ListFormat::Csv => catalog::Format::Csv,
            ListFormat::Json => catalog::Format::Json,
        }
    }
}

pub async fn run(store: &Store, cmd: CatalogCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogCmd::Import { operator, file, dry_run, format, summary, json: flag } => {
            let format = format.map(Format::from).or_else(|| Format::from_path(&file)).unwrap_or(Format::Csv);
            import(store, &operator, &file, format, dry_run, summary, flag.json).await
        }
        CatalogCmd::Export { operator, format, output } => {
            let rows = export_rows(store, &operator).await?;
            let bytes = format::write(format.into(), &rows);
            match output {
                Some(path) => {
                    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::Lookup { ip, json: flag } => {
            let snapshot = catalog::publish::load(store).await?;
            let answer = Lookup::new(ip, snapshot.classify(ip));
            if flag.json {
                json(&answer)?
            } else {
                println!("{}", answer.text())
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCmd::History { ip, at, on, json: flag } => history(store, ip, at, on, flag.json).await,
    }
}

async fn import(
    store: &Store,
    operator: &str,
    file: &std::path::Path,
    format: Format,
    dry_run: bool,
    summary: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let input = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (rows, problems) = format::read(format, std::io::BufReader::with_capacity(64 * 1024, input));
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("applying {}", file.display()));
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let actor = cli_actor();
    let request = ImportRequest { actor: &actor, operator, dry_run, disclosure: Disclosure::Full };
    let result = catalog::import(store, &request, rows, problems, &progress).await;
    bar.finish_and_clear();
    match result {
        Ok(outcome) if as_json => json(&outcome).map(|_| ExitCode::SUCCESS),
        Ok(outcome) => {
            print_outcome(&outcome, summary);
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Rejected(problems)) => {
            if as_json {
                let answer =
                    serde_json::json!({ "applied": false, "problems": problems.shown, "more_problems": problems.more });
                json(&answer)?;
            }
            for p in &problems.shown {
                eprintln!("{}", p.located(&file.display().to_string()));
            }
            if problems.more > 0 {
                eprintln!("{}: {} more problem(s) not shown", file.display(), problems.more);
            }
            eprintln!("{}: {} problem(s); nothing was applied", file.display(), problems.total());
            Ok(ExitCode::from(1))
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

fn print_outcome(outcome: &ImportOutcome, summary: bool) {
    let d = &outcome.diff;
    if !summary {
        print_lines(d);
    }
    let counts = format!(
        "added {}, removed {}, moved {}, comment changed {}, unchanged {}",
        d.counts.added, d.counts.removed, d.counts.moved, d.counts.updated, d.unchanged
    );
    match outcome.change {
        Some(id) => println!("{}: {counts}; applied (change #{id})", outcome.operator),
        None if d.counts == (DiffCounts { added: 0, removed: 0, moved: 0, updated: 0 }) => {
            println!("{}: {counts}; nothing to change", outcome.operator)
        }
        None => println!("{}: {counts}; dry run, nothing applied", outcome.operator),
    }
}

fn print_lines(d: &DiffSummary) {
    for l in &d.added {
        println!("+ {} {}", l.prefix, l.bin);
    }
    for l in &d.removed {
        println!("- {} {}", l.prefix, l.bin);
    }
    for l in &d.moved {
        println!("~ {} {} -> {}", l.prefix, l.from_bin.as_deref().unwrap_or("?"), l.bin);
    }
    for l in &d.updated {
        println!("* {} {} (comment changed)", l.prefix, l.bin);
    }
    let c = &d.counts;
    let listed = d.added.len() + d.removed.len() + d.moved.len() + d.updated.len();
    let changed = c.added + c.removed + c.moved + c.updated;
    if changed > listed {
        println!(
            "... and {} more changed prefixes (the first {MAX_DIFF_LINES} of each kind are listed)",
            changed - listed
        );
    }
}

async fn history(
    store: &Store,
    ip: IpAddr,
    at: Option<String>,
    on: Option<String>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let (from, to) = match (at, on) {
        (Some(at), _) => {
            let t = parse_instant(&at)?;
            (t, t + 1)
        }
        (None, Some(day)) => parse_day(&day)?,
        (None, None) => (i64::MIN, i64::MAX),
    };
    let holders = store.holders(ip, from, to).await?;
    if as_json {
        json(&holders)?;
    } else if holders.is_empty() {
        println!("{ip}: no operator's list covered it then");
    }
    if !as_json {
        for a in holders {
            let until = a.valid_to.map_or("now".to_string(), when);
            println!(
                "{}  {} '{}' via {}  from {} until {until}",
                a.prefix,
                a.bin,
                a.organisation,
                a.operator,
                when(a.valid_from)
            );
        }
        let filter = store::BlockFilter { all: true, ip: Some(ip), ..Default::default() };
        for b in store.blocks(&filter).await? {
            let lift = b.lift_reason.clone().unwrap_or_default();
            let state = b.lifted_at.map_or("still blocked".to_string(), |at| format!("lifted {}: {lift}", when(at)));
            println!("{}  blocked ({}) {} by {}: {}; {state}", b.prefix, b.kind, when(b.since), b.actor, b.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}
