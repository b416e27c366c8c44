//! Technical conditions for an operator's link, item by item as appendix 2 of the IQBSH
//! rules lists them: the number; the object and the operator (from the application,
//! items 2.1 and 2.2); the connection point (2.3); the interface (2.4); main and backup
//! over independent physical channels (2.5); patch cords between the optical shelves
//! (2.6), labelled with their owner (2.7); works agreed with the duty team beforehand
//! (2.8); validity of 60 calendar days (2.9) and its extension (2.10). Items 2.4–2.8
//! default to the regulation's text in each language; the duty team may write its own,
//! which is then used as written.
//!
//! Must not: render a document (the binary does) or count days (`clock` does).

use serde::{Deserialize, Serialize};

use crate::Lang;
use crate::clock::{CONDITIONS_VALID_DAYS, EXTEND_AHEAD_DAYS};

/// The items of technical conditions the duty team writes (2.3–2.8); an item left
/// `None` is the regulation's text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Items {
    /// 2.3: where the operator's channels are connected (rack, shelf, ports).
    #[serde(default)]
    pub connection_point: String,
    /// 2.4: the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// 2.5: main and backup over independent physical channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<String>,
    /// 2.6: patch cords between the optical shelves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_cords: Option<String>,
    /// 2.7: patch cords labelled with their owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labelling: Option<String>,
    /// 2.8: works agreed with the duty team beforehand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub works: Option<String>,
}

/// One item of the document: its number in appendix 2, its title and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub number: &'static str,
    pub title: &'static str,
    pub text: String,
}

/// The regulation's interface (2.4), the same in every language.
pub const INTERFACE: &str = "10G, full-duplex, SM";

impl Items {
    /// The items with their texts trimmed; an empty one is the regulation's text.
    pub fn trimmed(&self) -> Items {
        let own = |o: &Option<String>| o.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
        Items {
            connection_point: self.connection_point.trim().to_string(),
            interface: own(&self.interface),
            channels: own(&self.channels),
            patch_cords: own(&self.patch_cords),
            labelling: own(&self.labelling),
            works: own(&self.works),
        }
    }

    /// Items 2.4–2.8 with their text in `lang` (the duty team's own where written).
    pub fn lines(&self, lang: Lang) -> Vec<Line> {
        let own = |o: &Option<String>, default: String| o.clone().filter(|t| !t.trim().is_empty()).unwrap_or(default);
        let t = |en: &str, ru: &str, kk: &str| lang.pick(en, ru, kk).to_string();
        vec![
            Line {
                number: "2.3",
                title: lang.pick("Connection point", "Точка подключения", "Қосылу нүктесі"),
                text: self.connection_point.clone(),
            },
            Line {
                number: "2.4",
                title: lang.pick("Interface", "Интерфейс", "Интерфейс"),
                text: own(&self.interface, INTERFACE.to_string()),
            },
            Line {
                number: "2.5",
                title: lang.pick("Channels", "Каналы", "Арналар"),
                text: own(
                    &self.channels,
                    t(
                        "The main and the backup channel are organised over independent physical communication channels.",
                        "Основной и резервный каналы организуются по независимым физическим каналам связи.",
                        "Негізгі және резервтік арналар тәуелсіз физикалық байланыс арналары арқылы ұйымдастырылады.",
                    ),
                ),
            },
            Line {
                number: "2.6",
                title: lang.pick("Patch cords", "Патч-корды", "Патч-корттар"),
                text: own(
                    &self.patch_cords,
                    t(
                        "SC-LC patch cords between the optical shelves are laid in corrugated pipe along the existing structures.",
                        "Патч-корды SC-LC между оптическими кроссами прокладываются в гофрированной трубе по существующим конструкциям.",
                        "Оптикалық кросстар арасындағы SC-LC патч-корттары қолданыстағы конструкциялар бойымен гофрленген құбырда төселеді.",
                    ),
                ),
            },
            Line {
                number: "2.7",
                title: lang.pick("Labelling", "Маркировка", "Таңбалау"),
                text: own(
                    &self.labelling,
                    t(
                        "The patch cords are labelled with the name of their owner.",
                        "Патч-корды маркируются с указанием их владельца.",
                        "Патч-корттар олардың иесінің атауы көрсетіліп таңбаланады.",
                    ),
                ),
            },
            Line {
                number: "2.8",
                title: lang.pick("Works", "Работы", "Жұмыстар"),
                text: own(
                    &self.works,
                    t(
                        "Works are agreed with the duty team of the gateway beforehand.",
                        "Работы заранее согласовываются с дежурной сменой шлюза.",
                        "Жұмыстар шлюздің кезекші ауысымымен алдын ала келісіледі.",
                    ),
                ),
            },
        ]
    }
}

/// Items 2.9 and 2.10 in `lang`: valid `issued`–`expires`, and how to extend them.
pub fn validity(lang: Lang, issued: policies::calendar::Date, expires: policies::calendar::Date) -> [Line; 2] {
    let (days, ahead) = (CONDITIONS_VALID_DAYS, EXTEND_AHEAD_DAYS);
    let text = match lang {
        Lang::En => format!("{days} calendar days: from {issued} through {expires}."),
        Lang::Ru => format!("{days} календарных дней: с {issued} по {expires} включительно."),
        Lang::Kk => format!("{days} күнтізбелік күн: {issued} бастап {expires} қоса алғанда."),
    };
    let extension = match lang {
        Lang::En => format!(
            "Extended on the operator's request made at least {ahead} days before they expire; otherwise they lapse."
        ),
        Lang::Ru => format!(
            "Продлеваются по обращению оператора не позднее чем за {ahead} дней до истечения срока; иначе утрачивают силу."
        ),
        Lang::Kk => format!(
            "Оператордың өтініші бойынша мерзімі өткенге дейін кемінде {ahead} күн бұрын ұзартылады; әйтпесе күшін жояды."
        ),
    };
    [
        Line {
            number: "2.9", title: lang.pick("Validity", "Срок действия", "Қолданылу мерзімі"), text
        },
        Line { number: "2.10", title: lang.pick("Extension", "Продление", "Ұзарту"), text: extension },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regulation_text_stands_unless_the_duty_team_writes_its_own() {
        let items = Items { connection_point: "rack 4, shelf 2, ports 7-8".into(), ..Items::default() };
        let ru = items.lines(Lang::Ru);
        assert_eq!(ru[0].text, "rack 4, shelf 2, ports 7-8");
        assert_eq!(ru[1].text, INTERFACE);
        assert!(ru[3].text.contains("гофрированной трубе"), "{}", ru[3].text);
        let kk = items.lines(Lang::Kk);
        assert!(kk[3].text.contains("гофрленген құбырда"), "{}", kk[3].text);
        let own = Items { interface: Some("2x10G LACP".into()), ..items };
        assert_eq!(own.lines(Lang::Kk)[1].text, "2x10G LACP");
        let [valid, _] = validity(Lang::Ru, "2026-03-03".parse().unwrap(), "2026-05-02".parse().unwrap());
        assert!(valid.text.contains("60 календарных дней"), "{}", valid.text);
    }
}
