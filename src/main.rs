//! The `perimeter` binary, in three layers with arrows down only: `app/` (what `up`
//! runs and the helpers they share, one room per subject with its configuration
//! section), `http/` (the API and the console, on top of `app/`) and `cli/` (one file
//! per verb: its flags and its action). `config.rs` assembles the sections of the
//! rooms into the one configuration file. `scripts/imports --check` keeps the arrows
//! pointing down.

mod app;
mod cli;
mod config;
mod http;

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
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
