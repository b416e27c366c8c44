//! The languages the desk speaks to people: the regulation's own, Russian and Kazakh, and
//! English. Field labels, problems and the technical conditions are written in each.
//!
//! Must not: choose a language for anyone (the caller knows who reads).

/// A language of the desk's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ru,
    Kk,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Ru, Lang::Kk, Lang::En];

    /// The text among three (English, Russian, Kazakh) in this language.
    pub fn pick<'a>(self, en: &'a str, ru: &'a str, kk: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Ru => ru,
            Lang::Kk => kk,
        }
    }
}
