//! The technical conditions of an operator's link as the document the operator receives
//! and prints (IQBSH appendix 2): an A4 PDF, first in Russian, then in Kazakh, item by
//! item, made with krilla (fonts embedded and subset) in DejaVu Sans, which has every
//! Cyrillic and Kazakh letter (ә ғ қ ң ө ұ ү һ і). The font ships in the repository
//! (`fonts/`, its licence beside it) and is compiled into the binary.
//!
//! Must not: decide what the conditions say (the desk's record does) or read a file.

use desk::conditions::{Line, validity};
use desk::{Conditions, Fields, Lang};
use krilla::Document;
use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

const FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

/// A4 in points, its margin, and the text's sizes.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const SIZE: f32 = 10.5;
const TITLE: f32 = 14.0;
/// Characters on one line of body text (DejaVu Sans at 10.5 pt across the text width,
/// with room to spare for wide capitals).
const LINE_CHARS: usize = 82;

/// What the document is about: the application and its conditions.
pub struct Subject<'a> {
    pub request: i64,
    pub received: policies::calendar::Date,
    pub operator: &'a str,
    pub fields: &'a Fields,
    pub conditions: &'a Conditions,
}

/// The file name the document is attached under.
pub fn file_name(conditions: &Conditions) -> String {
    let number: String =
        conditions.number.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("technical-conditions-{number}-{}.pdf", conditions.issued)
}

/// The PDF of the conditions, in Russian then Kazakh.
pub fn render(subject: &Subject<'_>) -> Result<Vec<u8>, String> {
    let font = Font::new(FONT.into(), 0).ok_or("the embedded font cannot be read")?;
    let mut document = Document::new();
    for lang in [Lang::Ru, Lang::Kk] {
        let settings = PageSettings::from_wh(WIDTH, HEIGHT).ok_or("bad page size")?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut pen = Pen { surface: &mut surface, font: font.clone(), y: MARGIN };
        write(&mut pen, lang, subject);
        surface.finish();
        page.finish();
    }
    let title = format!("Технические условия № {}", subject.conditions.number);
    document.set_metadata(Metadata::new().title(title).language("ru".into()).creator("perimeter".into()));
    document.finish().map_err(|e| format!("the PDF could not be made: {e:?}"))
}

/// Writes lines down a page.
struct Pen<'a, 'b> {
    surface: &'a mut Surface<'b>,
    font: Font,
    y: f32,
}

impl Pen<'_, '_> {
    fn line(&mut self, text: &str, size: f32) {
        self.y += size * 1.45;
        let at = Point::from_xy(MARGIN, self.y);
        self.surface.draw_text(at, self.font.clone(), size, text, false, TextDirection::Auto);
    }

    /// A paragraph wrapped at word boundaries, indented by `indent` characters after
    /// the first line.
    fn paragraph(&mut self, text: &str, indent: usize) {
        for (i, line) in wrap(text, LINE_CHARS - indent).iter().enumerate() {
            let pad = if i == 0 { String::new() } else { " ".repeat(indent) };
            self.line(&format!("{pad}{line}"), SIZE);
        }
    }

    fn gap(&mut self) {
        self.y += SIZE * 0.8;
    }
}

fn write(pen: &mut Pen<'_, '_>, lang: Lang, s: &Subject<'_>) {
    let c = s.conditions;
    let (title, to, request, issued) = match lang {
        Lang::Kk => (
            format!("ТЕХНИКАЛЫҚ ШАРТТАР № {}", c.number),
            "Интернетке қол жеткізудің бірыңғай шлюзіне байланыс операторының арналарын қосуға",
            format!("{} күнгі № {} өтінім бойынша", s.received, s.request),
            format!("Берілген күні: {}", c.issued),
        ),
        _ => (
            format!("ТЕХНИЧЕСКИЕ УСЛОВИЯ № {}", c.number),
            "на подключение каналов оператора связи к единому шлюзу доступа к Интернету",
            format!("по заявке № {} от {}", s.request, s.received),
            format!("Выданы: {}", c.issued),
        ),
    };
    pen.line(&title, TITLE);
    pen.paragraph(to, 0);
    pen.line(&request, SIZE);
    pen.line(&issued, SIZE);
    pen.gap();
    let (object, operator) = match s.fields {
        Fields::OperatorLink { object_name, object_address, main_gbps, backup_gbps, .. } => (
            match lang {
                Lang::Kk => format!(
                    "{object_name}, {object_address}; негізгі арна {main_gbps} Гбит/с, резервтік арна {backup_gbps} Гбит/с"
                ),
                _ => format!(
                    "{object_name}, {object_address}; основной канал {main_gbps} Гбит/с, резервный канал {backup_gbps} Гбит/с"
                ),
            },
            s.operator.to_string(),
        ),
        _ => (String::new(), s.operator.to_string()),
    };
    let mut lines = vec![
        Line { number: "2.1", title: lang.pick("Object", "Объект", "Нысан"), text: object },
        Line {
            number: "2.2", title: lang.pick("Operator", "Оператор связи", "Байланыс операторы"), text: operator
        },
    ];
    lines.extend(c.items.lines(lang));
    lines.extend(validity(lang, c.issued, c.expires));
    for l in lines {
        pen.paragraph(&format!("{}. {}: {}", l.number, l.title, l.text), 5);
        pen.gap();
    }
}

/// `text` in lines of at most `width` characters, broken between words (a word longer
/// than a line is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            lines.push(word.drain(..width).collect());
        }
        let word: String = word.into_iter().collect();
        let len = current.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_within_the_line_and_long_ones_are_cut() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert!(wrap("", 5).is_empty());
    }
}
