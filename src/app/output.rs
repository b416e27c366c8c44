//! Instants for people: unix milliseconds shown and read as RFC 3339 in Kazakhstan
//! time, and a Kazakhstan calendar day as its window of milliseconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A unix-millisecond timestamp as RFC 3339 in Kazakhstan time.
pub fn when(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(catalog::reconcile::KZ))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Parses an RFC 3339 instant into unix milliseconds.
pub fn parse_instant(text: &str) -> anyhow::Result<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| anyhow::anyhow!("'{text}' is not an RFC 3339 time such as 2026-03-01T12:00:00+05:00: {e}"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The window [start, end) in unix ms of a Kazakhstan calendar day `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> anyhow::Result<(i64, i64)> {
    let date: policies::calendar::Date = text.parse().map_err(anyhow::Error::msg)?;
    let start = catalog::reconcile::kz_midnight(date);
    Ok((start, start + 86_400_000))
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_kazakhstan_days() {
        let (start, end) = super::parse_day("2026-03-01").unwrap();
        assert_eq!(super::when(start), "2026-03-01T00:00:00+05:00");
        assert_eq!(end - start, 86_400_000);
        assert_eq!(super::parse_instant("2026-02-28T19:00:00Z").unwrap(), start);
        assert!(super::parse_day("2026-02-30").is_err());
    }
}
