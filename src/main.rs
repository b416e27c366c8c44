//! The `perimeter` binary: command line, configuration, the `up` service with its
//! control-plane HTTP API and the console, and the administrative commands.

mod api;
mod calendar;
mod cli;
pub mod cmd;
mod config;
mod console;
mod feeds;
mod gate;
mod mail;
mod output;
mod requests;
mod signals;
mod systemd;
mod web;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Everything this process creates (the SQLite catalog and its journal, the CA, the
    // spool, logs, exports) is readable by its owner only.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
