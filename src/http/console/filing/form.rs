//! The filing form of one kind as the regulation's form lists it: one input per field
//! with its item number and its label in the reader's language, the specialists as a
//! repeating group (rows added and removed by the form's own buttons, no script needed),
//! what was typed kept (except secrets, which are never sent back to the browser), and
//! each problem beside its field in the reader's language.
//!
//! Must not: check a value (the desk's rules do).

use std::collections::BTreeMap;

use desk::form::{Field, Input, SPECIALIST};
use desk::{Kind, Problems};
use maud::{Markup, html};

use super::super::auth::Person;
use super::super::i18n::Lang;
use super::super::view::csrf;

/// What a form was sent with: every text input by name.
pub type Sent = [(String, String)];

/// The desk's language for the console's.
pub fn desk_lang(lang: Lang) -> desk::Lang {
    match lang {
        Lang::En => desk::Lang::En,
        Lang::Ru => desk::Lang::Ru,
        Lang::Kk => desk::Lang::Kk,
    }
}

/// The value typed into `name`, if any.
pub fn value<'a>(sent: &'a Sent, name: &str) -> &'a str {
    sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// The specialists' rows as sent, by row number, each part by name.
pub fn rows(sent: &Sent) -> BTreeMap<usize, BTreeMap<String, String>> {
    let mut rows: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for (key, v) in sent {
        let Some(rest) = key.strip_prefix("f.specialists.") else { continue };
        if let Some((n, part)) = rest.split_once('.')
            && let Ok(n) = n.parse::<usize>()
            && n < 20
        {
            rows.entry(n).or_default().insert(part.to_string(), v.clone());
        }
    }
    rows
}

/// `sent` with the specialists' rows replaced by `rows`, numbered from 0.
pub fn with_rows(sent: &Sent, rows: Vec<BTreeMap<String, String>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        sent.iter().filter(|(k, _)| !k.starts_with("f.specialists.")).cloned().collect();
    for (n, row) in rows.into_iter().enumerate() {
        for (part, _, _, _) in SPECIALIST {
            out.push((format!("f.specialists.{n}.{part}"), row.get(part).cloned().unwrap_or_default()));
        }
    }
    out
}

/// The item number of a field as the kind's appendix numbers it (`3.7`, `4.11`).
fn number(kind: Kind, field: &Field) -> String {
    match (kind, field.item) {
        (_, "") => String::new(),
        (Kind::Waf, item) => format!("3.{item}. "),
        (Kind::Defacement, item) => format!("4.{item}. "),
        (_, item) => format!("{item}. "),
    }
}

/// The problems of `key` beside its input.
fn beside(problems: Option<&Problems>, key: &str, lang: desk::Lang) -> Markup {
    let Some(problems) = problems else { return html! {} };
    html! {
        @for p in problems.0.iter().filter(|p| p.field == key) {
            span.problem data-field=(key) { (p.why.text(lang)) }
        }
    }
}

/// The whole form: applicant, contacts, every field, the signed application.
pub struct Form<'a> {
    pub person: &'a Person,
    pub kind: Kind,
    pub own: Option<String>,
    pub sent: &'a Sent,
    pub problems: Option<&'a Problems>,
    /// A refusal that is no field's (the 30-day wait, the signature).
    pub refusal: Option<String>,
    pub signatures_verified: bool,
}

impl Form<'_> {
    pub fn render(&self) -> Markup {
        let lang = self.person.lang;
        let dl = desk_lang(lang);
        let kind = self.kind;
        let sent = self.sent;
        html! {
            h2 { (kind.name(dl)) }
            @if let Some(r) = &self.refusal { p.problem role="alert" #refusal { (r) } }
            @if let Some(p) = self.problems.filter(|p| !p.is_empty()) {
                ul.problem role="alert" #problems {
                    @for one in &p.0 { li { strong { (desk::form::label(kind, &one.field, dl)) } " (" code { (one.field) } "): " (one.why.text(dl)) } }
                }
            }
            form.filing method="post" action="/requests/new" enctype="multipart/form-data" {
                (csrf(self.person))
                input type="hidden" name="kind" value=(kind);
                label { (lang.t("col.applicant"))
                    @match &self.own {
                        Some(own) => { input name="applicant" value=(own) readonly; }
                        None => { input name="applicant" value=(value(sent, "applicant")) placeholder="operator:NAME | org:BIN" required; }
                    }
                    (beside(self.problems, "applicant", dl))
                }
                label { (lang.t("col.contacts")) input name="contacts" type="text" value=(value(sent, "contacts")) placeholder="it@org.example" required;
                    (beside(self.problems, "contacts", dl)) }
                @for field in desk::form::fields(kind) {
                    (self.field(field))
                }
                @if crate::app::requests::signature_required(kind) {
                    label { (lang.t("desk.signed_application"))
                        input type="file" name="signed" accept=".p7s,.p7m,.cms";
                        @if !self.signatures_verified { span.hint #unverified { (lang.t("desk.signatures_unverified")) } }
                    }
                }
                button type="submit" { (lang.t("desk.file")) }
            }
        }
    }

    fn field(&self, field: &Field) -> Markup {
        let dl = desk_lang(self.person.lang);
        let name = format!("f.{}", field.key);
        let typed = value(self.sent, &name);
        let label = format!("{}{}", number(self.kind, field), field.label(dl));
        html! {
            @match field.input {
                Input::Specialists => { (self.specialists(&label)) }
                Input::Long => { label { (label) textarea name=(name) rows="4" required[field.required] { (typed) } (beside(self.problems, field.key, dl)) } }
                Input::LongSecret => { label { (label) textarea name=(name) rows="4" autocomplete="off" {} (beside(self.problems, field.key, dl)) } }
                Input::Secret => { label { (label) input name=(name) type="password" autocomplete="new-password"; (beside(self.problems, field.key, dl)) } }
                Input::Choice(words) => { label { (label) select name=(name) {
                    @for w in words { option value=(w) selected[*w == typed] { (w) } }
                } (beside(self.problems, field.key, dl)) } }
                _ => { label { (label)
                    input name=(name) value=(typed) required[field.required] type=(match field.input { Input::Date => "date", Input::Number => "number", _ => "text" });
                    (beside(self.problems, field.key, dl))
                } }
            }
        }
    }

    /// The specialists: a row per person, a button to add one and one per row to
    /// remove it (the form is sent back and shown again, nothing is filed).
    fn specialists(&self, label: &str) -> Markup {
        let lang = self.person.lang;
        let dl = desk_lang(lang);
        let rows = rows(self.sent);
        let count = rows.keys().next_back().map_or(1, |n| n + 1);
        html! {
            fieldset.specialists #specialists {
                legend { (label) }
                (beside(self.problems, "specialists", dl))
                @for n in 0..count {
                    div.specialist data-row=(n) {
                        @for (part, en, ru, kk) in SPECIALIST {
                            @let key = format!("specialists.{n}.{part}");
                            @let typed = rows.get(&n).and_then(|r| r.get(part)).map(String::as_str).unwrap_or("");
                            label { (dl.pick(en, ru, kk))
                                input name={ "f." (key) } value=(typed) type=(if part == "email" { "email" } else { "text" });
                                (beside(self.problems, &key, dl))
                            }
                        }
                        @if count > 1 {
                            button.small type="submit" name="op" value={ "remove:" (n) } formnovalidate { (lang.t("desk.remove_specialist")) }
                        }
                    }
                }
                button.small type="submit" name="op" value="add" formnovalidate { (lang.t("desk.add_specialist")) }
            }
        }
    }
}
