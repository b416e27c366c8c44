//! `perimeter config check | example`: check the configuration (every problem with its
//! section and key) and print it with every default filled in, or print the example.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Check the configuration (from --config): every problem with its section and key,
    /// or the configuration with every default filled in.
    Check,
    /// Print a commented example configuration.
    Example,
}

pub fn run(config: &Config, cmd: ConfigCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCmd::Check => match config.validate() {
            Ok(()) => {
                print!("{}", toml::to_string_pretty(config)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                eprintln!("{problems}");
                Ok(ExitCode::FAILURE)
            }
        },
        ConfigCmd::Example => {
            print!("{}", include_str!("../../perimeter.example.toml"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
