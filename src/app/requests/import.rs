//! `perimeter policy import`: the policy file's organisations become applications at
//! the desk, so that the desk is where policies live and the file an import and export
//! format. Each organisation's yearly lists take the networks the catalog holds for it
//! (the file does not name them). Every problem of every organisation is reported and
//! then nothing is imported; otherwise all of it is, in one transaction.
//!
//! Must not: send e-mails for imported applications (nothing happened to them today).

use std::path::Path;

use anyhow::Context;
use policies::policy::PolicyBook;
use store::Store;

/// How many networks of one organisation an imported application lists at most.
const MAX_NETWORKS: i64 = 10_000;

/// What an import recorded.
#[derive(Debug, Default, serde::Serialize)]
pub struct Imported {
    pub organisations: usize,
    pub applications: Vec<i64>,
}

/// Imports the organisations of the policy file at `path`, with `contacts` as the
/// applications' contacts.
pub async fn policy_file(store: &Store, actor: &str, path: &Path, contacts: &[String]) -> anyhow::Result<Imported> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let book = PolicyBook::parse(&text, &path.display().to_string()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut orgs: Vec<_> = book.organisations().collect();
    orgs.sort_by(|a, b| a.bin.cmp(&b.bin));
    let (mut applications, mut problems) = (Vec::new(), Vec::new());
    for org in &orgs {
        let networks = match org.bin.parse() {
            Ok(bin) => store.organisation_networks(&bin, MAX_NETWORKS).await?,
            Err(_) => Vec::new(),
        };
        match desk::policy::from_policy(org, &networks, contacts) {
            Ok(made) => applications.extend(made),
            Err(p) => {
                problems.extend(p.0.iter().map(|p| format!("organisation {}: {}: {}", org.bin, p.field, p.message())))
            }
        }
    }
    anyhow::ensure!(problems.is_empty(), "nothing imported; the file has problems:\n{}", problems.join("\n"));
    let ids = store.import_applications(actor, &applications).await?;
    Ok(Imported { organisations: orgs.len(), applications: ids })
}
