//! The access-log writer: a dedicated thread that formats records and
//! appends them to buffered files, flushing whenever its queue runs empty.
//!
//! Must not: run on the async workers; it blocks on the disk by design.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::{Msg, Record, json_line, squid_line};
use crate::config::ConfigError;

/// One open log file and its format.
struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
    format: fn(&Record) -> String,
}

impl Sink {
    fn open(path: PathBuf, field: &str, format: fn(&Record) -> String) -> Result<Self, ConfigError> {
        let file = open_append(&path)
            .map_err(|e| ConfigError::one(format!("{field} {}", path.display()), format!("cannot open: {e}")))?;
        Ok(Self { path, out: BufWriter::with_capacity(64 * 1024, file), format })
    }

    fn write(&mut self, record: &Record) {
        let mut line = (self.format)(record);
        line.push('\n');
        if let Err(e) = self.out.write_all(line.as_bytes()) {
            tracing::error!(path = %self.path.display(), error = %e, "access log write failed");
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            tracing::error!(path = %self.path.display(), error = %e, "access log flush failed");
        }
    }

    fn reopen(&mut self) {
        self.flush();
        match open_append(&self.path) {
            Ok(file) => self.out = BufWriter::with_capacity(64 * 1024, file),
            Err(e) => tracing::error!(path = %self.path.display(), error = %e, "access log reopen failed"),
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The configured log files.
pub(super) struct Files(Vec<Sink>);

impl Files {
    /// Opens (creating, appending) the Squid-format and JSON files.
    pub(super) fn open((squid, json): (Option<PathBuf>, Option<PathBuf>)) -> Result<Self, ConfigError> {
        let mut sinks = Vec::new();
        if let Some(path) = squid {
            sinks.push(Sink::open(path, "access_log.squid", squid_line)?);
        }
        if let Some(path) = json {
            sinks.push(Sink::open(path, "access_log.json", json_line)?);
        }
        Ok(Self(sinks))
    }
}

/// Starts the writer thread; it ends when every sender is gone.
pub(super) fn spawn(mut files: Files, mut rx: mpsc::Receiver<Msg>) -> Result<(), ConfigError> {
    let run = move || {
        while let Some(msg) = rx.blocking_recv() {
            handle(&mut files, msg);
            while let Ok(msg) = rx.try_recv() {
                handle(&mut files, msg);
            }
            files.0.iter_mut().for_each(Sink::flush);
        }
    };
    std::thread::Builder::new()
        .name("iqbsh-access-log".into())
        .spawn(run)
        .map(drop)
        .map_err(|e| ConfigError::one("access_log", format!("cannot start the writer thread: {e}")))
}

fn handle(files: &mut Files, msg: Msg) {
    match msg {
        Msg::Record(record) => files.0.iter_mut().for_each(|s| s.write(&record)),
        Msg::Flush(done) => {
            files.0.iter_mut().for_each(Sink::flush);
            let _ = done.send(());
        }
        Msg::Reopen => files.0.iter_mut().for_each(Sink::reopen),
    }
}
