//! The `[deface]` section of the configuration file: where reference copies live, how
//! often sites are checked, and the bounds every site is held to. Defaults are named
//! functions, documented once here.
//!
//! Must not: hold anything per site (sites are records in the store).

use std::path::PathBuf;
use std::time::Duration;

use policies::duration;
use serde::{Deserialize, Serialize};

/// `[deface]`: defaults for every protected site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaceConfig {
    /// Where reference copies and evidence are kept; `deface` under the service's data
    /// directory when absent (the binary resolves it).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// How often each site is checked (incremental: size and modification time).
    #[serde(default = "default_cycle", with = "duration::one")]
    pub cycle: Duration,
    /// How often a check hashes every file again, whatever its size and time say.
    #[serde(default = "default_full_hash", with = "duration::one")]
    pub full_hash_every: Duration,
    /// The most bytes of files one site's reference copy may hold.
    #[serde(default = "default_max_site_bytes")]
    pub max_site_bytes: u64,
    /// The most files one site's reference copy may hold (and one listing may show).
    #[serde(default = "default_max_site_files")]
    pub max_site_files: u64,
    /// A file larger than this is not copied: it is reported, left in place.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// How many times a file that changes while it is copied is read again.
    #[serde(default = "default_copy_attempts")]
    pub copy_attempts: u32,
    /// Same-site links followed from the listed pages, in hops.
    #[serde(default = "default_page_depth")]
    pub page_depth: u32,
    /// The most pages watched per site (listed and linked).
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// The most bytes read of one page.
    #[serde(default = "default_max_page_bytes")]
    pub max_page_bytes: u64,
    /// Connecting, authenticating, one SFTP request, one page: each within this.
    #[serde(default = "default_timeout", with = "duration::one")]
    pub timeout: Duration,
    /// Sites checked at the same time.
    #[serde(default = "default_parallel")]
    pub parallel: u32,
    /// Extra roots (PEM) trusted for sites' HTTPS besides the system's.
    #[serde(default)]
    pub extra_roots: Option<PathBuf>,
}

/// 60 s: a change is found within a minute.
pub fn default_cycle() -> Duration {
    Duration::from_secs(60)
}
/// 1 h: a change that kept size and time is found within an hour.
pub fn default_full_hash() -> Duration {
    Duration::from_secs(3600)
}
/// 2 GiB per site.
pub fn default_max_site_bytes() -> u64 {
    2 << 30
}
/// 100,000 files per site.
pub fn default_max_site_files() -> u64 {
    100_000
}
/// 64 MiB per file.
pub fn default_max_file_bytes() -> u64 {
    64 << 20
}
/// 3 reads of a file that keeps changing.
pub fn default_copy_attempts() -> u32 {
    3
}
/// 1 hop of same-site links.
pub fn default_page_depth() -> u32 {
    1
}
/// 50 pages per site.
pub fn default_max_pages() -> u32 {
    50
}
/// 4 MiB per page.
pub fn default_max_page_bytes() -> u64 {
    4 << 20
}
/// 20 s per step.
pub fn default_timeout() -> Duration {
    Duration::from_secs(20)
}
/// 16 sites at once.
pub fn default_parallel() -> u32 {
    16
}

impl Default for DefaceConfig {
    fn default() -> Self {
        DefaceConfig {
            data_dir: None,
            cycle: default_cycle(),
            full_hash_every: default_full_hash(),
            max_site_bytes: default_max_site_bytes(),
            max_site_files: default_max_site_files(),
            max_file_bytes: default_max_file_bytes(),
            copy_attempts: default_copy_attempts(),
            page_depth: default_page_depth(),
            max_pages: default_max_pages(),
            max_page_bytes: default_max_page_bytes(),
            timeout: default_timeout(),
            parallel: default_parallel(),
            extra_roots: None,
        }
    }
}

impl DefaceConfig {
    /// Every problem of the section, each naming its key.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.cycle < Duration::from_secs(1) {
            problems.push("deface.cycle: at least 1s".to_string());
        }
        if self.full_hash_every < self.cycle {
            problems.push("deface.full_hash_every: at least deface.cycle".to_string());
        }
        for (key, value) in [
            ("max_site_bytes", self.max_site_bytes),
            ("max_site_files", self.max_site_files),
            ("max_file_bytes", self.max_file_bytes),
            ("max_page_bytes", self.max_page_bytes),
            ("copy_attempts", u64::from(self.copy_attempts)),
            ("max_pages", u64::from(self.max_pages)),
            ("parallel", u64::from(self.parallel)),
        ] {
            if value == 0 {
                problems.push(format!("deface.{key}: at least 1"));
            }
        }
        if self.timeout < Duration::from_secs(1) {
            problems.push("deface.timeout: at least 1s".to_string());
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_from_an_empty_section_and_junk_is_refused() {
        let c: DefaceConfig = toml::from_str("").unwrap();
        assert_eq!(c, DefaceConfig::default());
        assert_eq!(c.cycle, Duration::from_secs(60));
        let c: DefaceConfig = toml::from_str("cycle = \"10s\"\nfull_hash_every = \"5m\"").unwrap();
        assert_eq!((c.cycle, c.full_hash_every), (Duration::from_secs(10), Duration::from_secs(300)));
        let junk = toml::from_str::<DefaceConfig>("cycles = \"10s\"").unwrap_err().to_string();
        assert!(junk.contains("unknown field `cycles`"), "{junk}");
    }

    #[test]
    fn check_names_every_bad_key() {
        let c = DefaceConfig { cycle: Duration::from_millis(10), parallel: 0, ..DefaceConfig::default() };
        let problems = c.check().unwrap_err();
        assert!(problems.iter().any(|p| p.starts_with("deface.cycle")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("deface.parallel")), "{problems:?}");
    }
}
