//! `perimeter calendar check | show | deadline`: the working-day calendar in force.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use policies::calendar::{Calendar, Date};

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum CalendarCmd {
    /// Check a calendar file (every error with its line); nothing is changed.
    Check { file: PathBuf },
    /// The weekdays off in a year under the calendar in force.
    Show { year: i32 },
    /// The deadline of a notice sent on DATE: the fifth working day after it.
    Deadline { date: String },
}

pub fn run(config: &Config, cmd: CalendarCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CalendarCmd::Check { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match Calendar::parse(&text, &file.display().to_string()) {
                Ok(_) => println!("{}: valid", file.display()),
                Err(errors) => {
                    eprint!("{errors}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        CalendarCmd::Show { year } => {
            let calendar = crate::app::calendar::open(&config.calendar)?;
            if !calendar.covers(year) {
                eprintln!(
                    "note: the calendar lists no religious days or transfers for {year}; only the yearly rules apply"
                );
            }
            for (day, why) in calendar.days_off(year) {
                println!("{day} {:<9} {why}", day.weekday_name());
            }
        }
        CalendarCmd::Deadline { date } => {
            let calendar = crate::app::calendar::open(&config.calendar)?;
            let day: Date = date.parse().map_err(anyhow::Error::msg)?;
            println!("{}", calendar.add_working_days(day, catalog::reconcile::DEADLINE_WORKING_DAYS));
        }
    }
    Ok(ExitCode::SUCCESS)
}
