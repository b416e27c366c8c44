//! The working-day calendar in force: the built-in Kazakhstan calendar, or the file
//! named in `[calendar] file`, which is read again when it changes (checked at every
//! reconciler pass). A file with errors is refused whole and the previous calendar
//! stays in force. `[calendar]` in the configuration.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context;
use arc_swap::ArcSwap;
use catalog::reconcile::WorkingDays;
use policies::calendar::Calendar;

use serde::{Deserialize, Serialize};

use super::problem::ConfigProblems;

/// The working-day calendar.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// A calendar file to use instead of the built-in Kazakhstan calendar.
    pub file: Option<PathBuf>,
}

impl CalendarConfig {
    /// A calendar file must read without errors.
    pub fn validate(&self, problems: &mut ConfigProblems) {
        if let Err(e) = open(self) {
            problems.add("calendar.file", format!("{e:#}"));
        }
    }
}

/// A calendar that follows its file: the reconciler asks it day by day, the request
/// desk takes the whole calendar in force (so editing the file moves the due days of
/// open applications).
pub struct Following {
    path: Option<PathBuf>,
    current: ArcSwap<Calendar>,
    loaded: Mutex<Option<SystemTime>>,
}

impl WorkingDays for Following {
    fn calendar(&self) -> Arc<Calendar> {
        self.current()
    }
}

impl Following {
    /// Reads the file again if it changed; a file with errors keeps the calendar in force.
    fn refresh(&self) {
        let Some(path) = &self.path else { return };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if modified.is_none() || *loaded == modified {
            return;
        }
        *loaded = modified;
        match read(path) {
            Ok(calendar) => {
                self.current.store(Arc::new(calendar));
                tracing::info!(file = %path.display(), "calendar reloaded");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "calendar not reloaded; the previous one stays in force")
            }
        }
    }
}

fn read(path: &std::path::Path) -> anyhow::Result<Calendar> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read calendar file {}", path.display()))?;
    let name = path.display().to_string();
    Calendar::parse(&text, &name).map_err(|e| anyhow::anyhow!("calendar file {name} has errors:\n{e}"))
}

/// The configured calendar; a file with errors is refused with every error.
pub fn open(config: &CalendarConfig) -> anyhow::Result<Calendar> {
    match &config.file {
        None => Ok(Calendar::kazakhstan_default()),
        Some(path) => read(path),
    }
}

/// The configured calendar as the reconciler sees it.
pub fn load(config: &CalendarConfig) -> anyhow::Result<Arc<dyn WorkingDays>> {
    Ok(Arc::new(Following::open(config)?))
}

impl Following {
    /// The configured calendar, following its file from now on.
    pub fn open(config: &CalendarConfig) -> anyhow::Result<Following> {
        let modified = config.file.as_ref().and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        Ok(Following {
            path: config.file.clone(),
            current: ArcSwap::from_pointee(open(config)?),
            loaded: Mutex::new(modified),
        })
    }

    /// The calendar in force now (read again first if its file changed).
    pub fn current(&self) -> Arc<Calendar> {
        self.refresh();
        self.current.load_full()
    }
}
