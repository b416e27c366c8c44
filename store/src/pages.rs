//! Keyset pagination for the console's long lists: a page is asked for by the key of the
//! row it starts after (or ends before), never by an offset, so page 5,000 of a million
//! rows costs what page 1 costs. The queries live in the module of their subject; this
//! module holds the page types, a small SQL builder for optional filters, and the
//! audit trail's filter.
//!
//! Must not: count or read rows beyond the page it returns (plus one to know more exist).

use serde::{Deserialize, Serialize};

/// Which page of a list: after a key (next), before a key (previous), or the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: i64) -> PageRequest {
        PageRequest { after: None, before: None, limit }
    }

    fn size(&self) -> i64 {
        self.limit.clamp(1, 1000)
    }
}

/// One page of rows, with the keys that ask for its neighbours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// `after` for the next page, when there is one.
    pub next: Option<i64>,
    /// `before` for the previous page, when there is one.
    pub prev: Option<i64>,
}

/// Which changes of the audit trail to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuditFilter {
    /// Exact subject (`operator:NAME`, `block:PREFIX`, `mail:NAME`, ...).
    pub subject: Option<String>,
    /// Exact actor (`user:NAME`, `token:NAME`, `cli:NAME`, `reconciler`, ...).
    pub actor: Option<String>,
    /// Action, or its beginning (`block.` lists both `block.add` and `block.lift`).
    pub action: Option<String>,
    /// From this instant (unix ms, inclusive).
    pub from: Option<i64>,
    /// Until this instant (unix ms, exclusive).
    pub to: Option<i64>,
}

/// A bound value of a query being built.
pub(crate) enum Value {
    Int(i64),
    Text(String),
}

/// A SELECT with optional conditions and a keyset over one integer column.
pub(crate) struct Keyset {
    select: String,
    conditions: Vec<String>,
    values: Vec<Value>,
    column: &'static str,
    descending: bool,
}

impl Keyset {
    /// `select` up to (not including) WHERE; rows ordered by `column`, newest first
    /// when `descending`.
    pub(crate) fn new(select: impl Into<String>, column: &'static str, descending: bool) -> Keyset {
        Keyset { select: select.into(), conditions: Vec::new(), values: Vec::new(), column, descending }
    }

    /// Adds a condition with `?` standing for the next bound value.
    pub(crate) fn filter(&mut self, condition: &str, value: Value) -> &mut Keyset {
        self.values.push(value);
        let mark = format!("${}", self.values.len());
        self.conditions.push(condition.replace('?', &mark));
        self
    }

    /// Adds `column IN (...)` over the given values (at least one).
    pub(crate) fn filter_in(&mut self, column: &str, values: Vec<Value>) -> &mut Keyset {
        let first = self.values.len() + 1;
        let marks: Vec<String> = (first..first + values.len()).map(|i| format!("${i}")).collect();
        self.values.extend(values);
        self.conditions.push(format!("{column} IN ({})", marks.join(", ")));
        self
    }

    /// Adds a condition without a value.
    pub(crate) fn condition(&mut self, condition: &str) -> &mut Keyset {
        self.conditions.push(condition.to_string());
        self
    }

    /// Runs the query for one page; `key` reads a row's keyset column.
    pub(crate) async fn page<T>(
        mut self,
        pool: &sqlx::AnyPool,
        page: &PageRequest,
        read: impl Fn(&sqlx::any::AnyRow) -> crate::Result<T>,
        key: impl Fn(&T) -> i64,
    ) -> crate::Result<Page<T>> {
        let backwards = page.before.is_some() && page.after.is_none();
        // Walking backwards flips the comparison and the order, then the rows.
        let forward_op = if self.descending { "<" } else { ">" };
        let backward_op = if self.descending { ">" } else { "<" };
        let column = self.column;
        match (page.after, page.before) {
            (Some(after), _) => self.filter(&format!("{column} {forward_op} ?"), Value::Int(after)),
            (None, Some(before)) => self.filter(&format!("{column} {backward_op} ?"), Value::Int(before)),
            (None, None) => &mut self,
        };
        let ascending = self.descending == backwards;
        let size = page.size();
        let mut sql = self.select.clone();
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY {column} {} LIMIT {}", if ascending { "ASC" } else { "DESC" }, size + 1));
        let mut query = sqlx::query(&sql);
        for v in self.values {
            query = match v {
                Value::Int(i) => query.bind(i),
                Value::Text(t) => query.bind(t),
            };
        }
        let fetched = query.fetch_all(pool).await?;
        let more = fetched.len() as i64 > size;
        let mut rows = fetched.iter().take(size as usize).map(read).collect::<crate::Result<Vec<T>>>()?;
        if backwards {
            rows.reverse();
        }
        let (first, last) = (rows.first().map(&key), rows.last().map(&key));
        let (next, prev) = if backwards {
            (last, if more { first } else { None })
        } else {
            (if more { last } else { None }, if page.after.is_some() { first } else { None })
        };
        Ok(Page { rows, next, prev })
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(crate) fn like_prefix(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_match_text_literally() {
        assert_eq!(super::like_prefix("10.0_%"), "10.0\\_\\%%");
    }
}
