//! The working-day calendar file (`policies::calendar::Calendar::parse`): a refused file
//! names lines that exist; an accepted one gives days off that are weekdays and counts
//! working days onto working days. Days off are computed for 2024–2026 only (the
//! rules are the same every year; the century the service computes costs 30 times more).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policies::calendar::{Calendar, Date};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Calendar::parse_years(text, "fuzz.cal", 2024..=2026) {
        Ok(calendar) => {
            for year in [2024, 2025, 2026] {
                for (day, why) in calendar.days_off(year) {
                    assert!(!day.is_weekend() && !calendar.is_working_day(day), "{day} {why}");
                }
            }
            let event = Date::new(2025, 12, 20).expect("a date");
            let due = calendar.add_working_days(event, 10);
            assert!(due > event && calendar.is_working_day(due));
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without a reason");
            let lines = text.lines().count();
            assert!(errors.0.iter().all(|e| e.line >= 1 && e.line <= lines), "{errors}");
        }
    }
});
