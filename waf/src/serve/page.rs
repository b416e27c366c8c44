//! The pages the WAF answers with itself: what happened, in Russian, Kazakh and English
//! (the client's `Accept-Language` puts its first choice of the three first; otherwise
//! Russian, Kazakh, English), and the transaction id to quote to the duty team, which is
//! also on the audit line and in the `X-Waf-Transaction` header.
//!
//! Must not: decide anything or show what matched (an attacker learns nothing from it).

use http::{HeaderValue, Response, StatusCode, header};

use crate::serve::body::{OriginBody, full};

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    Kk,
    En,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::Kk => "kk",
            Lang::En => "en",
        }
    }
}

/// The three languages in the order the client prefers them (`q` weights, then the
/// order written), the ones it did not name after, in the default order.
pub fn languages(accept_language: &str) -> [Lang; 3] {
    let mut ranked: Vec<(u16, usize, Lang)> = Vec::new();
    for (i, item) in accept_language.split(',').take(32).enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
        let lang = match primary.as_str() {
            "ru" => Lang::Ru,
            "kk" => Lang::Kk,
            "en" => Lang::En,
            _ => continue,
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .map_or(1000, quality);
        if q > 0 && !ranked.iter().any(|r| r.2 == lang) {
            ranked.push((q, i, lang));
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut order: Vec<Lang> = ranked.into_iter().map(|r| r.2).collect();
    for lang in [Lang::Ru, Lang::Kk, Lang::En] {
        if !order.contains(&lang) {
            order.push(lang);
        }
    }
    [order[0], order[1], order[2]]
}

/// A `q` value in thousandths (`0.8` → 800); anything unreadable counts as 0.
fn quality(text: &str) -> u16 {
    let q = text.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q));
    q.map_or(0, |q| (q * 1000.0).round() as u16)
}

/// What the page says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The rules or the site's address lists refused the request.
    Refused,
    TooMany,
    TooLarge,
    Unavailable,
    BadRequest,
}

impl Kind {
    /// The kind of page for a status the WAF answers with.
    pub(crate) fn of(status: u16) -> Kind {
        match status {
            429 => Kind::TooMany,
            413 => Kind::TooLarge,
            500..=599 => Kind::Unavailable,
            400 | 408 | 421 | 431 => Kind::BadRequest,
            _ => Kind::Refused,
        }
    }

    fn text(self, lang: Lang) -> (&'static str, &'static str) {
        match (self, lang) {
            (Kind::Refused, Lang::Ru) => ("Запрос отклонён", "Система защиты веб-приложений отклонила этот запрос."),
            (Kind::Refused, Lang::Kk) => {
                ("Сұрау қабылданбады", "Веб-қосымшаларды қорғау жүйесі бұл сұрауды қабылдамады.")
            }
            (Kind::Refused, Lang::En) => ("Request refused", "The web application firewall refused this request."),
            (Kind::TooMany, Lang::Ru) => ("Слишком много запросов", "Повторите попытку немного позже."),
            (Kind::TooMany, Lang::Kk) => ("Сұраулар тым көп", "Сәл кейінірек қайталап көріңіз."),
            (Kind::TooMany, Lang::En) => ("Too many requests", "Please try again a little later."),
            (Kind::TooLarge, Lang::Ru) => {
                ("Запрос слишком велик", "Размер запроса превышает допустимый для этого сайта.")
            }
            (Kind::TooLarge, Lang::Kk) => ("Сұрау тым үлкен", "Сұрау көлемі бұл сайт үшін рұқсат етілгеннен асады."),
            (Kind::TooLarge, Lang::En) => ("Request too large", "The request is larger than this site accepts."),
            (Kind::Unavailable, Lang::Ru) => ("Сервис временно недоступен", "Повторите попытку позже."),
            (Kind::Unavailable, Lang::Kk) => ("Қызмет уақытша қолжетімсіз", "Кейінірек қайталап көріңіз."),
            (Kind::Unavailable, Lang::En) => ("Service temporarily unavailable", "Please try again later."),
            (Kind::BadRequest, Lang::Ru) => ("Некорректный запрос", "Запрос не может быть обработан."),
            (Kind::BadRequest, Lang::Kk) => ("Қате сұрау", "Сұрауды өңдеу мүмкін емес."),
            (Kind::BadRequest, Lang::En) => ("Bad request", "The request cannot be processed."),
        }
    }
}

fn quote_line(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => "Идентификатор запроса (сообщите его дежурной службе):",
        Lang::Kk => "Сұрау идентификаторы (оны кезекші қызметке хабарлаңыз):",
        Lang::En => "Transaction id (quote it to the duty team):",
    }
}

/// The HTML of a page; `transaction` is hex digits, nothing to escape.
pub(crate) fn html(kind: Kind, status: u16, transaction: &str, langs: [Lang; 3]) -> String {
    let mut sections = String::new();
    for lang in langs {
        let (title, text) = kind.text(lang);
        sections.push_str(&format!(
            "<section lang=\"{code}\"><h1>{title}</h1><p>{text}</p><p>{quote} <code class=\"tx\">{transaction}</code></p></section>\n",
            code = lang.code(),
            quote = quote_line(lang),
        ));
    }
    let title = kind.text(langs[0]).0;
    format!(
        "<!DOCTYPE html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\"><title>{status} {title}</title>\n\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\n<body>\n{sections}</body></html>\n",
        code = langs[0].code(),
    )
}

/// The response for a page: its status, no caching, the transaction id in a header.
pub(crate) fn response(status: u16, transaction: &str, accept_language: &str) -> Response<OriginBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    let body = html(Kind::of(status.as_u16()), status.as_u16(), transaction, languages(accept_language));
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(transaction) {
        headers.insert("x-waf-transaction", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_orders_the_three() {
        assert_eq!(languages(""), [Lang::Ru, Lang::Kk, Lang::En]);
        assert_eq!(languages("kk-KZ,kk;q=0.9,ru;q=0.8"), [Lang::Kk, Lang::Ru, Lang::En]);
        assert_eq!(languages("de,en-US;q=0.7,ru;q=0.3"), [Lang::En, Lang::Ru, Lang::Kk]);
        assert_eq!(languages("ru;q=0.5, kk;q=0.9"), [Lang::Kk, Lang::Ru, Lang::En]);
        assert_eq!(languages("en;q=0, kk"), [Lang::Kk, Lang::Ru, Lang::En]);
        assert_eq!(languages("en;q=garbage,ru;q=1.0"), [Lang::Ru, Lang::Kk, Lang::En]);
    }

    #[test]
    fn the_page_names_the_transaction_in_every_language() {
        let page = html(Kind::Refused, 403, "0123456789abcdef", languages("en"));
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{page}");
        assert_eq!(page.matches("0123456789abcdef").count(), 3);
        assert!(page.contains("Запрос отклонён") && page.contains("Сұрау қабылданбады"), "{page}");
        let response = response(429, "00ff", "kk");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-waf-transaction"], "00ff");
    }
}
