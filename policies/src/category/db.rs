//! [`CategoryDb`]: domains to categories with suffix matching on label boundaries
//! (`bank.kz` covers `www.bank.kz`, not `notbank.kz`; the longest listed suffix wins),
//! built from UT1 directories, CSV files and the shipped defaults by a [`Builder`]
//! that applies a file whole or not at all.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::parse::{csv, normalise_host, ut1};
use super::{BadCategory, Category};

/// The category database; immutable once built.
#[derive(Debug)]
pub struct CategoryDb {
    by_suffix: HashMap<String, Box<[Category]>>,
    /// `[ip-literal]`, the categories of every host written as an address.
    literal: Box<[Category]>,
}

/// One problem in a list file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub source: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

/// Every problem of a refused file (nothing of it was added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbErrors(pub Vec<DbError>);

impl fmt::Display for DbErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbErrors {}

/// Collects lists, then builds a [`CategoryDb`].
#[derive(Debug, Default)]
pub struct Builder {
    entries: HashMap<String, BTreeSet<Category>>,
    aliases: HashMap<String, String>,
}

/// Well-known UT1 (Université Toulouse Capitole blacklist) list names mapped onto ours.
const UT1_ALIASES: &[(&str, &str)] = &[
    ("bank", "finance"),
    ("financial", "finance"),
    ("vpn", "vpn"),
    ("strict_redirector", "anonymizers"),
    ("redirector", "anonymizers"),
    ("remote-control", "remote-access"),
    ("update", "os-updates"),
    ("sports", "sports"),
    ("press", "news"),
    ("social_networks", "social"),
    ("audio-video", "streaming"),
    ("filehosting", "file-sharing"),
    ("webmail", "webmail"),
    ("games", "games"),
    ("gambling", "gambling"),
    ("adult", "adult"),
    ("malware", "malware"),
    ("phishing", "phishing"),
];

impl Builder {
    /// Maps UT1 list names onto this project's categories (`bank` → `finance`, …).
    pub fn with_ut1_aliases(mut self) -> Builder {
        for (from, to) in UT1_ALIASES {
            self.aliases.insert((*from).into(), (*to).into());
        }
        self
    }

    /// Files named `from` (a UT1 directory name) are read as category `to`.
    pub fn alias(&mut self, from: &str, to: &str) -> Result<(), BadCategory> {
        Category::new(to)?;
        self.aliases.insert(from.to_string(), to.to_string());
        Ok(())
    }

    /// Adds the content of a UT1 `<category>/domains` file; returns how many domains.
    pub fn add_ut1_domains(&mut self, category: &str, text: &str, source: &str) -> Result<usize, DbErrors> {
        let name = self.aliases.get(category).map_or(category, String::as_str);
        let category = Category::new(name).map_err(|e| located(source, 0, e.to_string()))?;
        let (rows, problems) = ut1(text);
        if !problems.is_empty() {
            return Err(errors(source, problems));
        }
        let n = rows.len();
        for (_, domain) in rows {
            self.entries.entry(domain).or_default().insert(category.clone());
        }
        Ok(n)
    }

    /// Adds a CSV of `domain,category[,category…]`; returns how many rows.
    pub fn add_csv(&mut self, text: &str, source: &str) -> Result<usize, DbErrors> {
        let (rows, problems) = csv(text);
        if !problems.is_empty() {
            return Err(errors(source, problems));
        }
        let n = rows.len();
        for (_, domain, cats) in rows {
            self.entries.entry(domain).or_default().extend(cats);
        }
        Ok(n)
    }

    /// Adds the curated lists shipped with perimeter (the seven exempt categories).
    pub fn add_defaults(&mut self) -> &mut Builder {
        for (category, text) in SHIPPED {
            let source = format!("policies/data/categories/{category}/domains");
            self.add_ut1_domains(category, text, &source).expect("the shipped category lists are valid");
        }
        self
    }

    pub fn build(self) -> CategoryDb {
        let by_suffix = self.entries.into_iter().map(|(d, c)| (d, c.into_iter().collect())).collect();
        let literal = Box::new([Category::new(super::IP_LITERAL).expect("a valid slug")]);
        CategoryDb { by_suffix, literal }
    }
}

const SHIPPED: [(&str, &str); 7] = [
    ("finance", include_str!("../../data/categories/finance/domains")),
    ("government", include_str!("../../data/categories/government/domains")),
    ("health", include_str!("../../data/categories/health/domains")),
    ("privacy", include_str!("../../data/categories/privacy/domains")),
    ("videoconferencing", include_str!("../../data/categories/videoconferencing/domains")),
    ("antivirus-updates", include_str!("../../data/categories/antivirus-updates/domains")),
    ("os-updates", include_str!("../../data/categories/os-updates/domains")),
];

fn located(source: &str, line: usize, message: String) -> DbErrors {
    DbErrors(vec![DbError { source: source.to_string(), line, message }])
}

fn errors(source: &str, problems: Vec<(usize, String)>) -> DbErrors {
    DbErrors(
        problems.into_iter().map(|(line, message)| DbError { source: source.to_string(), line, message }).collect(),
    )
}

impl Default for CategoryDb {
    fn default() -> CategoryDb {
        Builder::default().build()
    }
}

impl CategoryDb {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The shipped curated lists alone.
    pub fn defaults() -> CategoryDb {
        let mut b = Builder::default();
        b.add_defaults();
        b.build()
    }

    /// The categories of `host` from its longest listed suffix; empty when none is
    /// listed; `ip-literal` alone when `host` is an IP literal.
    pub fn lookup(&self, host: &str) -> &[Category] {
        let bare = host.trim().trim_end_matches('.');
        let bare = bare.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(bare);
        if bare.parse::<std::net::IpAddr>().is_ok() {
            return &self.literal;
        }
        let Some(host) = normalise_host(host) else { return &[] };
        let mut rest = host.as_str();
        loop {
            if let Some(c) = self.by_suffix.get(rest) {
                return c;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return &[],
            }
        }
    }

    /// Whether `host` carries an exempt category (its TLS passes undecrypted).
    pub fn is_exempt(&self, host: &str) -> bool {
        self.lookup(host).iter().any(Category::is_exempt)
    }

    /// How many domains are listed.
    pub fn len(&self) -> usize {
        self.by_suffix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_suffix.is_empty()
    }
}
