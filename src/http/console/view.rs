//! The console's page frame and the small pieces every page uses: the navigation by
//! role, times in Astana time with the day of the week, filters kept in the URL,
//! keyset page links, CSRF fields, and CSV downloads.
//!
//! Must not: read the store; pages bring what they show.

use axum::response::{Html, Response};
use maud::{DOCTYPE, Markup, html};
use policies::calendar::Date;
use store::{Page, UserRole};

use super::auth::Person;
use super::i18n::Lang;

/// A whole page for a logged-in person: header, navigation for the role, the body.
pub fn page(person: &Person, title: &str, active: &str, body: Markup) -> Html<String> {
    let lang = person.lang;
    let nav: Vec<(&str, String)> = match person.role() {
        UserRole::Operator { operator } => vec![
            ("list", format!("/operators/{operator}")),
            ("unknown", "/unknown".into()),
            ("notices", "/notices".into()),
            ("blocks", "/blocks".into()),
            ("requests", "/requests".into()),
            ("organisations", "/organisations".into()),
            ("lookup", "/lookup".into()),
            ("audit", "/audit".into()),
            ("ca", "/ca".into()),
        ],
        UserRole::Organisation { .. } => {
            vec![
                ("requests", "/requests".into()),
                ("waf", "/waf".into()),
                ("deface", "/deface".into()),
                ("ca", "/ca".into()),
            ]
        }
        UserRole::Duty | UserRole::Auditor => vec![
            ("today", "/today".into()),
            ("unknown", "/unknown".into()),
            ("notices", "/notices".into()),
            ("blocks", "/blocks".into()),
            ("mail", "/mail".into()),
            ("waf", "/waf".into()),
            ("deface", "/deface".into()),
            ("requests", "/requests".into()),
            ("operators", "/operators".into()),
            ("organisations", "/organisations".into()),
            ("lookup", "/lookup".into()),
            ("audit", "/audit".into()),
            ("ca", "/ca".into()),
            ("policies", "/policies".into()),
            ("calendar", "/calendar".into()),
        ],
    };
    let body = html! {
        header.top {
            a.brand href="/" { "perimeter" }
            nav {
                @for (key, href) in &nav {
                    a href=(href) class=[(*key == active).then_some("active")] { (lang.t(&format!("nav.{key}"))) }
                }
                a href="/api/v1/openapi.json" { "API" }
            }
            div.who {
                span.person { (person.name()) " · " (lang.t(&format!("role.{}", person.role().kind()))) }
                form.inline method="post" action="/lang" {
                    (csrf(person))
                    input type="hidden" name="back" value=(if active == "list" { "/".to_string() } else { format!("/{active}") });
                    select name="lang" data-autosubmit {
                        @for l in Lang::ALL {
                            option value=(l.code()) selected[l == lang] { (l.native_name()) }
                        }
                    }
                    button.small type="submit" { (lang.t("action.apply")) }
                }
                form.inline method="post" action="/logout" {
                    (csrf(person))
                    button.small type="submit" { (lang.t("action.logout")) }
                }
            }
        }
        main { h1 { (title) } (body) }
    };
    Html(bare(lang, title, body).into_string())
}

/// The document around a body: no navigation (login and error pages).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — perimeter" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body { (body) }
        }
    }
}

/// The hidden field that carries the session's CSRF token.
pub fn csrf(person: &Person) -> Markup {
    html! { input type="hidden" name="csrf" value=(person.csrf()); }
}

/// An instant in Astana time with the day of the week: `Tue 2026-12-01 14:05`.
pub fn when(lang: Lang, ms: i64) -> String {
    let local = ms + policies::calendar::ASTANA_OFFSET * 1000;
    let date = Date::from_days(local.div_euclid(86_400_000));
    let minutes = local.rem_euclid(86_400_000) / 60_000;
    format!("{} {:02}:{:02}", day(lang, date), minutes / 60, minutes % 60)
}

/// A date with the day of the week: `Tue 2026-12-01`.
pub fn day(lang: Lang, date: Date) -> String {
    format!("{} {date}", lang.weekday(date.weekday()))
}

/// A stored `YYYY-MM-DD` with its day of the week, or the text as it is.
pub fn day_text(lang: Lang, text: &str) -> String {
    text.parse::<Date>().map_or_else(|_| text.to_string(), |d| day(lang, d))
}

/// An optional filter value from a form: empty means not set.
pub fn given(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `path?k=v&...` for the filters that are set.
pub fn link(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let set: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
    if set.is_empty() {
        return path.to_string();
    }
    format!("{path}?{}", serde_urlencoded::to_string(&set).unwrap_or_default())
}

/// Links to the previous and next pages, the filters kept.
pub fn pager<T>(lang: Lang, path: &str, filters: &[(&str, Option<String>)], page: &Page<T>) -> Markup {
    let with = |key: &'static str, value: i64| {
        let mut pairs = filters.to_vec();
        pairs.push((key, Some(value.to_string())));
        link(path, &pairs)
    };
    html! {
        nav.pager {
            @if page.prev.is_some() || page.next.is_some() { a href=(link(path, filters)) { (lang.t("page.first")) } }
            @if let Some(prev) = page.prev { a rel="prev" href=(with("before", prev)) { "← " (lang.t("page.prev")) } }
            @if let Some(next) = page.next { a rel="next" href=(with("after", next)) { (lang.t("page.next")) " →" } }
            a.csv href=(link(path, &[filters, &[("format", Some("csv".to_string()))]].concat())) { "CSV" }
        }
    }
}

/// A CSV download: a header row, then the rows, each field quoted when it must be.
pub fn csv(filename: &str, header_row: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Response {
    let mut out = String::new();
    let mut line = |fields: &mut dyn Iterator<Item = String>| {
        let quoted: Vec<String> = fields
            .map(|f| {
                // A leading =, +, - or @ would be a formula in a spreadsheet.
                let f = if f.starts_with(['=', '+', '-', '@']) { format!("'{f}") } else { f };
                if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f }
            })
            .collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    };
    line(&mut header_row.iter().map(|h| h.to_string()));
    for row in rows {
        line(&mut row.into_iter());
    }
    crate::http::api::download("text/csv; charset=utf-8", filename, out)
}

/// Working days from `today` (exclusive) through `deadline` (inclusive); negative once
/// the deadline has passed.
pub fn working_days_left(calendar: &policies::calendar::Calendar, today: Date, deadline: Date) -> i64 {
    calendar.working_days_left(today, deadline)
}

/// Rows of a list page for a CSV export: every page through to the end, at most `cap` rows.
pub const EXPORT_CAP: usize = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_astana_times_with_the_weekday() {
        // 2026-03-01T00:00:00+05:00 was a Sunday.
        let ms = 1_772_305_200_000;
        assert_eq!(when(Lang::En, ms), "Sun 2026-03-01 00:00");
        assert_eq!(when(Lang::Ru, ms + 14 * 3_600_000 + 5 * 60_000), "Вс 2026-03-01 14:05");
    }

    #[test]
    fn links_keep_only_the_filters_that_are_set() {
        let l = link("/blocks", &[("operator", Some("a b".into())), ("kind", None), ("all", Some("true".into()))]);
        assert_eq!(l, "/blocks?operator=a+b&all=true");
        assert_eq!(link("/x", &[("a", None)]), "/x");
    }

    #[test]
    fn working_days_skip_weekends() {
        let cal = policies::calendar::Calendar::kazakhstan_default();
        let fri: Date = "2026-11-20".parse().unwrap();
        let next_fri: Date = "2026-11-27".parse().unwrap();
        assert_eq!(working_days_left(&cal, fri, next_fri), 5);
        assert_eq!(working_days_left(&cal, next_fri, fri), -5);
        assert_eq!(working_days_left(&cal, fri, fri), 0);
    }
}
