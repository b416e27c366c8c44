//! The Kazakhstan working-day calendar: weekends, public holidays (a secular holiday on
//! a weekend moves its day off to the next working day; 7 January and Kurban Ait never
//! move), and the government's yearly transfers, all read from an editable text file.
//! Pure: text in, a calendar out; every bad line is reported with its line number.

mod date;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use date::Date;

/// The calendar shipped with perimeter (2025–2027).
/// Kazakhstan's time, UTC+5 (a single zone since 2024-03-01), in seconds east of UTC:
/// the offset every local date and time of the service is in.
pub const ASTANA_OFFSET: i64 = 5 * 3600;

/// Today's date in Kazakhstan.
pub fn today() -> Date {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Date::from_unix(now, ASTANA_OFFSET)
}

pub const KAZAKHSTAN: &str = include_str!("../../data/calendar/kz.cal");

/// Years for which days off are computed.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// Working days and days off.
#[derive(Clone, Debug)]
pub struct Calendar {
    /// Weekdays that are days off, with the reason.
    off: BTreeMap<Date, String>,
    /// Weekend days that are worked.
    worked: BTreeSet<Date>,
    /// Years with one-off entries (religious days, transfers).
    listed_years: BTreeSet<i32>,
}

/// One problem in a calendar file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarError {
    pub source: String,
    pub line: usize,
    pub message: String,
}

/// Every problem found in a calendar file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarErrors(pub Vec<CalendarError>);

impl fmt::Display for CalendarErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{}:{}: {}", e.source, e.line, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for CalendarErrors {}

/// When an entry applies.
#[derive(Clone, Debug, PartialEq, Eq)]
enum When {
    /// Every year within [from, until], month and day (a range expands to several).
    Yearly {
        days: Vec<(u8, u8)>,
        from: i32,
        until: i32,
    },
    Once(Date),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Holiday,
    Fixed,
    Off,
    Work,
}

#[derive(Clone, Debug)]
struct Entry {
    kind: Kind,
    when: When,
    name: String,
}

impl Calendar {
    /// The built-in Kazakhstan calendar.
    pub fn kazakhstan_default() -> Calendar {
        Calendar::parse(KAZAKHSTAN, "kz.cal").expect("the shipped calendar is valid")
    }

    /// Parses a calendar file; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Calendar, CalendarErrors> {
        Calendar::parse_years(text, source, YEARS)
    }

    /// Parses a calendar file and computes days off for `years` only (outside them
    /// every weekday is a working day): the same rules over a shorter span, which is
    /// what a fuzzer needs to run thousands of files a second.
    pub fn parse_years(
        text: &str,
        source: &str,
        years: std::ops::RangeInclusive<i32>,
    ) -> Result<Calendar, CalendarErrors> {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let error = |message: String| CalendarError { source: source.to_string(), line: i + 1, message };
            match parse_line(line) {
                Ok(entry) => {
                    let key = format!("{:?} {:?}", entry.kind, entry.when);
                    match seen.insert(key, i + 1) {
                        Some(first) => errors.push(error(format!("the same entry as line {first}"))),
                        None => entries.push(entry),
                    }
                }
                Err(message) => errors.push(error(message)),
            }
        }
        if errors.is_empty() { Ok(Calendar::compute(&entries, years)) } else { Err(CalendarErrors(errors)) }
    }

    fn compute(entries: &[Entry], years: std::ops::RangeInclusive<i32>) -> Calendar {
        let mut calendar = Calendar { off: BTreeMap::new(), worked: BTreeSet::new(), listed_years: BTreeSet::new() };
        for e in entries {
            if let When::Once(d) = e.when {
                calendar.listed_years.insert(d.year());
            }
        }
        for year in years {
            calendar.compute_year(entries, year);
        }
        calendar
    }

    fn compute_year(&mut self, entries: &[Entry], year: i32) {
        let mut secular: Vec<(Date, &str)> = Vec::new();
        for e in entries {
            for date in e.when.dates_in(year) {
                match e.kind {
                    Kind::Holiday => secular.push((date, &e.name)),
                    Kind::Fixed | Kind::Off => self.mark_off(date, &e.name),
                    Kind::Work => {
                        self.worked.insert(date);
                    }
                }
            }
        }
        secular.sort();
        for (date, name) in &secular {
            self.mark_off(*date, name);
        }
        for (date, name) in secular.iter().filter(|(d, _)| d.is_weekend()) {
            let mut next = date.next();
            while next.is_weekend() || self.off.contains_key(&next) || self.worked.contains(&next) {
                next = next.next();
            }
            self.off.insert(next, format!("{name} (moved from {date})"));
        }
    }

    fn mark_off(&mut self, date: Date, name: &str) {
        if !date.is_weekend() {
            self.off.entry(date).or_insert_with(|| name.to_string());
        }
    }

    /// True for a day people work.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.worked.contains(&date) || (!date.is_weekend() && !self.off.contains_key(&date))
    }

    /// The weekdays off in a year, with their reasons.
    pub fn days_off(&self, year: i32) -> Vec<(Date, String)> {
        let range = Date::new(year, 1, 1).unwrap_or(Date::MIN)..=Date::new(year, 12, 31).unwrap_or(Date::MIN);
        self.off.range(range).map(|(d, r)| (*d, r.clone())).collect()
    }

    /// Working days from `today` (exclusive) through `deadline` (inclusive); negative
    /// (the working days since) once the deadline has passed.
    pub fn working_days_left(&self, today: Date, deadline: Date) -> i64 {
        let count = |from: i64, to: i64| (from..=to).filter(|&d| self.is_working_day(Date::from_days(d))).count();
        if deadline < today {
            return -(count(deadline.to_days() + 1, today.to_days()) as i64);
        }
        count(today.to_days() + 1, deadline.to_days()) as i64
    }

    /// The `n`-th working day after `event` (the day after counts as the first day).
    pub fn add_working_days(&self, event: Date, n: u32) -> Date {
        let mut day = event;
        let mut left = n;
        while left > 0 {
            day = day.next();
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// Whether the file has per-year entries (religious days, transfers) for `year`;
    /// outside such years only the yearly rules apply, which callers may flag.
    pub fn covers(&self, year: i32) -> bool {
        self.listed_years.contains(&year)
    }
}

impl When {
    fn dates_in(&self, year: i32) -> Vec<Date> {
        match self {
            When::Once(d) if d.year() == year => vec![*d],
            When::Once(_) => vec![],
            When::Yearly { days, from, until } if (*from..=*until).contains(&year) => {
                days.iter().filter_map(|(m, d)| Date::new(year, *m, *d)).collect()
            }
            When::Yearly { .. } => vec![],
        }
    }
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let mut words = line.split_whitespace();
    let kind = match words.next() {
        Some("holiday") => Kind::Holiday,
        Some("fixed") => Kind::Fixed,
        Some("off") => Kind::Off,
        Some("work") => Kind::Work,
        Some(other) => return Err(format!("unknown keyword '{other}': use holiday, fixed, off or work")),
        None => return Err("empty line".into()),
    };
    let when_text = words.next().ok_or("a date is missing")?;
    let mut rest: Vec<&str> = words.collect();
    let (mut from, mut until) = (i32::MIN, i32::MAX);
    while let [key @ ("from" | "until"), year, ..] = rest.as_slice() {
        let y: i32 = year.parse().map_err(|_| format!("'{key} {year}': the year must be a number"))?;
        if *key == "from" {
            from = y
        } else {
            until = y
        }
        rest.drain(..2);
    }
    let name = rest.join(" ");
    if name.is_empty() {
        return Err("a name is missing (say what the day is)".into());
    }
    let when = parse_when(when_text, from, until)?;
    check_kind(kind, &when, when_text)?;
    Ok(Entry { kind, when, name })
}

fn parse_when(text: &str, from: i32, until: i32) -> Result<When, String> {
    let explicit_years = from != i32::MIN || until != i32::MAX;
    if text.len() == 10 {
        if explicit_years {
            return Err(format!("'from'/'until' apply to yearly dates, not to {text}"));
        }
        return text.parse::<Date>().map(When::Once);
    }
    let (first, last) = text.split_once("..").unwrap_or((text, text));
    let (fm, fd) = month_day(first)?;
    let (lm, ld) = month_day(last)?;
    if (lm, ld) < (fm, fd) {
        return Err(format!("the range {text} ends before it starts"));
    }
    if from > until {
        return Err(format!("'from {from}' is after 'until {until}'"));
    }
    let mut days = Vec::new();
    let mut cur = Date::new(2024, fm, fd).ok_or(format!("{first} is not a date"))?; // a leap year admits 02-29
    let end = Date::new(2024, lm, ld).ok_or(format!("{last} is not a date"))?;
    while cur <= end {
        days.push((cur.month(), cur.day()));
        cur = cur.next();
    }
    Ok(When::Yearly { days, from, until })
}

fn month_day(text: &str) -> Result<(u8, u8), String> {
    let bad = || format!("'{text}' is not a date: write MM-DD, MM-DD..MM-DD or YYYY-MM-DD");
    let (m, d) = text.split_once('-').ok_or_else(bad)?;
    let (m, d): (u8, u8) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    Date::new(2024, m, d).map(|_| (m, d)).ok_or_else(|| format!("'{text}' is not a day of the year"))
}

fn check_kind(kind: Kind, when: &When, text: &str) -> Result<(), String> {
    match (kind, when) {
        (Kind::Off | Kind::Work, When::Yearly { .. }) => {
            Err(format!("a transfer needs a full date YYYY-MM-DD, not {text}"))
        }
        (Kind::Off, When::Once(d)) if d.is_weekend() => {
            Err(format!("{d} is a {}, already off: 'off' is for weekdays", d.weekday_name()))
        }
        (Kind::Work, When::Once(d)) if !d.is_weekend() => {
            Err(format!("{d} is a {}, already worked: 'work' is for weekend days", d.weekday_name()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
