//! The calendar rules, derived from the shipped data and checked against the days off
//! Kazakhstan actually had, plus every kind of bad line.

use super::*;

fn d(text: &str) -> Date {
    text.parse().unwrap()
}

#[test]
fn weekday_days_off_in_2025_follow_from_the_rules_and_the_transfer() {
    let calendar = Calendar::kazakhstan_default();
    let derived: Vec<String> = calendar.days_off(2025).iter().map(|(d, _)| d.to_string()[5..].to_string()).collect();
    let official = [
        "01-01", "01-02", "01-03", "01-07", "03-10", "03-21", "03-24", "03-25", "05-01", "05-07", "05-09", "06-06",
        "07-07", "09-01", "10-27", "12-16",
    ];
    assert_eq!(derived, official);
    assert!(calendar.is_working_day(d("2025-01-05")), "Sunday 5 January 2025 was worked");
}

#[test]
fn moves_in_2026_and_2027() {
    let calendar = Calendar::kazakhstan_default();
    // 2026-03-08 is a Sunday: Monday 9 March is off.
    assert!(!calendar.is_working_day(d("2026-03-09")));
    // Nauryz 2026: Sat 21, Sun 22, Mon 23 → 23, 24, 25 off; Thursday 26 is worked.
    for day in ["2026-03-23", "2026-03-24", "2026-03-25"] {
        assert!(!calendar.is_working_day(d(day)), "{day}");
    }
    assert!(calendar.is_working_day(d("2026-03-26")));
    // Constitution Day 2026 (Sunday 30 August) moves to Monday 31; from 2027 it is 15 March.
    assert!(!calendar.is_working_day(d("2026-08-31")));
    assert!(calendar.is_working_day(d("2027-08-30")), "30 August 2027 is a Monday and no longer a holiday");
    assert!(!calendar.is_working_day(d("2027-03-15")));
    // 7 January 2024-style rule: 7 January on a weekend never moves (2029-01-07 is a Sunday).
    assert!(calendar.is_working_day(d("2029-01-08")));
    assert!(calendar.covers(2026) && !calendar.covers(2030));
}

#[test]
fn deadlines_count_working_days_from_the_next_day() {
    let calendar = Calendar::kazakhstan_default();
    // Notice on Friday 2026-03-20: the next working days are 26, 27, 30, 31 March, 1 April.
    assert_eq!(calendar.add_working_days(d("2026-03-20"), 5), d("2026-04-01"));
    // Notice on a Saturday: Monday is the first day.
    assert_eq!(calendar.add_working_days(d("2026-11-21"), 5), d("2026-11-27"));
    // Notice on 30 April 2025 (Wed): 1 May off, Fri 2, Mon 5, Tue 6, 7 May off, Thu 8, 9 May off, Mon 12.
    assert_eq!(calendar.add_working_days(d("2025-04-30"), 5), d("2025-05-12"));
}

#[test]
fn working_days_left_counts_what_add_working_days_adds() {
    let calendar = Calendar::kazakhstan_default();
    for day in ["2026-03-20", "2026-11-21", "2025-04-30"] {
        let deadline = calendar.add_working_days(d(day), 5);
        assert_eq!(calendar.working_days_left(d(day), deadline), 5, "{day}");
    }
    // Past the deadline of Friday 27 November 2026: Monday and Tuesday have passed.
    assert_eq!(calendar.working_days_left(d("2026-12-01"), d("2026-11-27")), -2);
    assert_eq!(calendar.working_days_left(d("2026-11-27"), d("2026-11-27")), 0);
}

#[test]
fn dates_round_trip_and_know_their_weekday() {
    assert_eq!(d("2026-11-23").weekday_name(), "Monday");
    assert_eq!(d("2000-02-29").to_string(), "2000-02-29");
    assert_eq!(Date::from_days(d("2026-11-23").to_days()), d("2026-11-23"));
    assert_eq!(Date::from_days(0), d("1970-01-01"));
    assert!("2025-02-29".parse::<Date>().is_err());
    assert!("2025-2-28".parse::<Date>().is_err());
    // 23:30 and 00:30 local at UTC+5 across midnight.
    let local = 5 * 3600;
    let monday = d("2026-11-23").midnight_unix(local);
    assert_eq!(Date::from_unix(monday - 1800, local), d("2026-11-22"));
    assert_eq!(Date::from_unix(monday + 1800, local), d("2026-11-23"));
}

#[test]
fn every_bad_line_is_reported_with_its_number() {
    let text = "holiday 01-01 New Year\n\
                holday 01-02 Typo\n\
                holiday 02-30 Nonsense\n\
                off 2025-01-04 Saturday off\n\
                work 2025-01-06 Monday worked\n\
                holiday 03-23..03-21 Backwards\n\
                fixed 2025-02-29 No such day\n\
                holiday 01-01 New Year\n\
                off 01-03 No year\n\
                holiday 05-05\n\
                holiday 2025-05-05 from 2024 One-off with years\n";
    let errors = Calendar::parse(text, "kz.cal").unwrap_err();
    let lines: Vec<usize> = errors.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "{errors}");
    let shown = errors.to_string();
    assert!(shown.contains("kz.cal:2: unknown keyword 'holday'"), "{shown}");
    assert!(shown.contains("kz.cal:4: 2025-01-04 is a Saturday, already off"), "{shown}");
    assert!(shown.contains("kz.cal:8: the same entry as line 1"), "{shown}");
    assert!(shown.contains("kz.cal:7: 2025-02-29 does not exist"), "{shown}");
}

#[test]
fn a_shorter_span_gives_the_same_days_off_within_it_and_none_outside() {
    let full = Calendar::kazakhstan_default();
    let short = Calendar::parse_years(KAZAKHSTAN, "kz.cal", 2025..=2026).unwrap();
    for year in [2025, 2026] {
        assert_eq!(short.days_off(year), full.days_off(year), "{year}");
    }
    assert!(short.days_off(2024).is_empty() && !full.days_off(2024).is_empty());
    assert!(short.days_off(2027).is_empty() && !full.days_off(2027).is_empty());
}
