//! What is wrong with a field of an application, as a value (`Why`) that reads in each
//! of the desk's languages, so that the CLI and the API say it in English and the
//! console beside the field in the reader's language. Every problem names its field.
//!
//! Must not: build a sentence by joining words of two languages; a detail that comes
//! from elsewhere (a parser's message) is quoted, not translated.

use std::fmt;

use policies::calendar::Date;
use serde::ser::SerializeStruct;

use crate::Lang;

/// Why a field is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    NotObject,
    Unknown,
    Missing,
    Empty,
    NotText,
    TooLong { chars: usize, max: usize },
    NotWholeNumber,
    NotDate(String),
    NotList,
    TooMany { max: usize },
    LongItems { count: usize, max: usize },
    NameOne,
    NotIp(String),
    NotSocket(String),
    NotEmail(String),
    NotPhone(String),
    NoDot(String),
    BadDomain(String, String),
    NotPrefix(String),
    PrefixLength(String),
    Bandwidth,
    Before { day: Date, received: Date },
    After { day: Date, received: Date },
    NotRisky(String),
    Risky(String),
    Category(String),
    SayWhatChanged,
    Handle,
    ChangeKind,
    NotSpecialists,
    NoVersion(String),
    NotPem(&'static str),
    Pair(String),
    PairMissing(&'static str),
    UnknownOperator(String),
    Scheme(String),
    PasswordOrKey,
    NotOwner(String),
    UnknownSystem(String),
    MayNotFile { applicant: String, kind: String },
    NoContacts,
    TooManyContacts { count: usize, max: usize },
    Bin(String),
    DomainGrant(String),
    Refused(String),
}

impl Why {
    /// The problem in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        use Why::*;
        let t = |en: &str, ru: &str, kk: &str| lang.pick(en, ru, kk).to_string();
        match self {
            NotObject => t(
                "the fields must be a JSON object",
                "поля должны быть объектом JSON",
                "өрістер JSON нысаны болуы керек",
            ),
            Unknown => {
                t("unknown field for this kind", "лишнее поле для этого вида заявки", "бұл өтінім түріне артық өріс")
            }
            Missing => t("missing: fill it in", "не заполнено", "толтырылмаған"),
            Empty => t("empty: fill it in", "пусто", "бос"),
            NotText => t("must be text", "должно быть текстом", "мәтін болуы керек"),
            TooLong { chars, max } => match lang {
                Lang::En => format!("{chars} characters; at most {max}"),
                Lang::Ru => format!("{chars} символов; не более {max}"),
                Lang::Kk => format!("{chars} таңба; {max} таңбадан аспауы керек"),
            },
            NotWholeNumber => t("must be a whole number", "должно быть целым числом", "бүтін сан болуы керек"),
            NotDate(e) => match lang {
                Lang::En => format!("not a date (YYYY-MM-DD): {e}"),
                Lang::Ru => format!("не дата (ГГГГ-ММ-ДД): {e}"),
                Lang::Kk => format!("күн емес (ЖЖЖЖ-АА-КК): {e}"),
            },
            NotList => t("must be a list of texts", "должно быть списком строк", "мәтіндер тізімі болуы керек"),
            TooMany { max } => match lang {
                Lang::En => format!("more than {max} items"),
                Lang::Ru => format!("больше {max} элементов"),
                Lang::Kk => format!("{max} элементтен көп"),
            },
            LongItems { count, max } => match lang {
                Lang::En => format!("{count} items longer than {max} characters"),
                Lang::Ru => format!("{count} элементов длиннее {max} символов"),
                Lang::Kk => format!("{count} элемент {max} таңбадан ұзын"),
            },
            NameOne => t("name at least one", "укажите хотя бы один", "кемінде біреуін көрсетіңіз"),
            NotIp(v) => quoted(lang, v, "is not an IP address", "не IP-адрес", "IP-мекенжай емес"),
            NotSocket(v) => quoted(lang, v, "is not ADDRESS:PORT", "не АДРЕС:ПОРТ", "МЕКЕНЖАЙ:ПОРТ емес"),
            NotEmail(v) => quoted(
                lang,
                v,
                "is not an e-mail address",
                "не адрес электронной почты",
                "электрондық пошта мекенжайы емес",
            ),
            NotPhone(v) => quoted(
                lang,
                v,
                "is not a phone number (5-20 digits, with +, spaces, '-', '(' or ')')",
                "не номер телефона (5–20 цифр, допустимы +, пробелы, «-», «(» и «)»)",
                "телефон нөмірі емес (5–20 цифр, +, бос орын, «-», «(», «)» рұқсат)",
            ),
            NoDot(v) => quoted(
                lang,
                v,
                "is not a domain name: it has no dot",
                "не доменное имя: нет точки",
                "домендік атау емес: нүкте жоқ",
            ),
            BadDomain(v, why) => match lang {
                Lang::En => format!("'{v}' {why}"),
                Lang::Ru => format!("«{v}» не доменное имя ({why})"),
                Lang::Kk => format!("«{v}» домендік атау емес ({why})"),
            },
            NotPrefix(v) => quoted(lang, v, "is not an address prefix", "не префикс адресов", "мекенжай префиксі емес"),
            PrefixLength(v) => {
                quoted(lang, v, "has a bad prefix length", "неверная длина префикса", "префикс ұзындығы қате")
            }
            Bandwidth => t(
                "bandwidth is counted in 1 Gbit/s units: at least 1",
                "пропускная способность в единицах 1 Гбит/с: не менее 1",
                "өткізу қабілеті 1 Гбит/с бірлікпен: кемінде 1",
            ),
            Before { day, received } => match lang {
                Lang::En => format!("{day} is before the application ({received})"),
                Lang::Ru => format!("{day} раньше даты заявки ({received})"),
                Lang::Kk => format!("{day} өтінім күнінен ({received}) бұрын"),
            },
            After { day, received } => match lang {
                Lang::En => format!("{day} is after the report ({received})"),
                Lang::Ru => format!("{day} позже даты сообщения ({received})"),
                Lang::Kk => format!("{day} хабарлама күнінен ({received}) кейін"),
            },
            NotRisky(c) => quoted(
                lang,
                c,
                "is not a risky service: ask for it in the yearly lists",
                "не рискованный сервис: укажите его в ежегодных перечнях",
                "қауіпті сервис емес: оны жылдық тізімдерде көрсетіңіз",
            ),
            Risky(c) => quoted(
                lang,
                c,
                "is a risky service: it needs its own application",
                "рискованный сервис: на него подаётся отдельная заявка",
                "қауіпті сервис: оған жеке өтінім беріледі",
            ),
            Category(e) => match lang {
                Lang::En => format!("not a category: {e}"),
                Lang::Ru => format!("не категория: {e}"),
                Lang::Kk => format!("санат емес: {e}"),
            },
            SayWhatChanged => t(
                "say what changed (the new domain, address, person or operator)",
                "укажите, что изменилось (новый домен, адрес, лицо или оператор)",
                "не өзгергенін көрсетіңіз (жаңа домен, мекенжай, тұлға немесе оператор)",
            ),
            Handle => t(
                "use 1-64 lowercase letters, digits, '-', '_' or '.'",
                "1–64 строчных латинских букв, цифр, «-», «_» или «.»",
                "1–64 кіші латын әрпі, цифр, «-», «_» немесе «.»",
            ),
            ChangeKind => t(
                "use domain, address, responsible, technical, operator or stopped",
                "укажите domain, address, responsible, technical, operator или stopped",
                "domain, address, responsible, technical, operator немесе stopped көрсетіңіз",
            ),
            NotSpecialists => t(
                "must be a list of people, each {\"name\", \"email\", \"work_phone\", \"mobile\"}",
                "должно быть списком людей: у каждого name, email, work_phone, mobile",
                "адамдар тізімі болуы керек: әрқайсысында name, email, work_phone, mobile",
            ),
            NoVersion(v) => quoted(
                lang,
                v,
                "names no version: write the product and its version, e.g. nginx 1.24.0",
                "без версии: укажите продукт и его версию, например nginx 1.24.0",
                "нұсқасы жоқ: өнімді және нұсқасын жазыңыз, мысалы nginx 1.24.0",
            ),
            NotPem(what) => match lang {
                Lang::En => format!("not PEM: paste the {what} as text starting with -----BEGIN"),
                Lang::Ru => format!("не PEM: вставьте {what} текстом, начинающимся с -----BEGIN"),
                Lang::Kk => format!("PEM емес: {what} мәтінін -----BEGIN деп басталатындай қойыңыз"),
            },
            Pair(why) => match lang {
                Lang::En => format!("the certificate and the private key do not fit: {why}"),
                Lang::Ru => format!("сертификат и закрытый ключ не подходят: {why}"),
                Lang::Kk => format!("сертификат пен жабық кілт сәйкес емес: {why}"),
            },
            PairMissing(other) => match lang {
                Lang::En => format!("give it together with {other}"),
                Lang::Ru => format!("указывается вместе с {other}"),
                Lang::Kk => format!("{other} өрісімен бірге көрсетіледі"),
            },
            UnknownOperator(v) => quoted(
                lang,
                v,
                "is not an operator in the registry",
                "нет среди операторов в реестре",
                "тізілімдегі операторлар арасында жоқ",
            ),
            Scheme(v) => quoted(
                lang,
                v,
                "must be an ftp://, ftps://, sftp:// or ssh:// URL of the site's root",
                "должен быть URL корня сайта со схемой ftp://, ftps://, sftp:// или ssh://",
                "сайт түбірінің ftp://, ftps://, sftp:// немесе ssh:// URL мекенжайы болуы керек",
            ),
            PasswordOrKey => t(
                "give the account's password or its private key (access_key), one of them",
                "укажите пароль учётной записи или её закрытый ключ (access_key), одно из двух",
                "есептік жазбаның құпиясөзін немесе жабық кілтін (access_key) көрсетіңіз, екеуінің бірін",
            ),
            NotOwner(v) => quoted(
                lang,
                v,
                "belongs to another organisation",
                "принадлежит другой организации",
                "басқа ұйымға тиесілі",
            ),
            UnknownSystem(v) => quoted(
                lang,
                v,
                "is not a mail system in the registry",
                "нет среди почтовых систем в реестре",
                "тізілімдегі пошта жүйелері арасында жоқ",
            ),
            MayNotFile { applicant, kind } => match lang {
                Lang::En => format!("{applicant} may not file a {kind} application"),
                Lang::Ru => format!("{applicant} не может подавать заявку вида {kind}"),
                Lang::Kk => format!("{applicant} {kind} түріндегі өтінім бере алмайды"),
            },
            NoContacts => t(
                "name at least one e-mail address to send the answers to",
                "укажите хотя бы один адрес электронной почты для ответов",
                "жауаптар үшін кемінде бір электрондық пошта мекенжайын көрсетіңіз",
            ),
            Bin(e) => match lang {
                Lang::En => format!("not a BIN: {e}"),
                Lang::Ru => format!("не БИН: {e}"),
                Lang::Kk => format!("БСН емес: {e}"),
            },
            DomainGrant(d) => match lang {
                Lang::En => format!("the grant of domain {d} has no application kind: grant its category instead"),
                Lang::Ru => format!("для разрешения домена {d} нет вида заявки: разрешите его категорию"),
                Lang::Kk => format!("{d} доменіне рұқсат үшін өтінім түрі жоқ: оның санатына рұқсат беріңіз"),
            },
            Refused(e) => match lang {
                Lang::En => format!("refused: {e}"),
                Lang::Ru => format!("отказано: {e}"),
                Lang::Kk => format!("бас тартылды: {e}"),
            },
            TooManyContacts { count, max } => match lang {
                Lang::En => format!("{count} addresses; name at most {max}"),
                Lang::Ru => format!("{count} адресов; не более {max}"),
                Lang::Kk => format!("{count} мекенжай; {max} мекенжайдан аспауы керек"),
            },
        }
    }
}

/// `'value' says` in English, `«value» says` in Russian and Kazakh.
fn quoted(lang: Lang, value: &str, en: &str, ru: &str, kk: &str) -> String {
    let shown: String = value.chars().take(80).collect();
    match lang {
        Lang::En => format!("'{shown}' {en}"),
        _ => format!("«{shown}» {}", lang.pick(en, ru, kk)),
    }
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field as forms name it (`specialists.0.email` for a part of a list item).
    pub field: String,
    pub why: Why,
}

impl Problem {
    /// The problem in English.
    pub fn message(&self) -> String {
        self.why.text(Lang::En)
    }
}

impl serde::Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("Problem", 2)?;
        out.serialize_field("field", &self.field)?;
        out.serialize_field("message", &self.message())?;
        out.end()
    }
}

/// Every problem of an application.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, field: &str, why: Why) {
        self.0.push(Problem { field: field.to_string(), why });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems of `field` (and of its parts, `field.…`).
    pub fn of<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a Problem> + 'a {
        self.0
            .iter()
            .filter(move |p| p.field == field || p.field.strip_prefix(field).is_some_and(|r| r.starts_with('.')))
    }

    /// Whether a problem names `field` itself.
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|p| p.field == field)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{}: {}", p.field, p.message())?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_reads_in_each_language_and_serialises_in_english() {
        let why = Why::NotEmail("ivanov.example".into());
        assert_eq!(why.text(Lang::En), "'ivanov.example' is not an e-mail address");
        assert_eq!(why.text(Lang::Ru), "«ivanov.example» не адрес электронной почты");
        assert!(why.text(Lang::Kk).contains("электрондық пошта"));
        let mut p = Problems::default();
        p.push("specialists.0.email", why);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json[0]["message"], "'ivanov.example' is not an e-mail address");
        assert_eq!(p.of("specialists").count(), 1);
        assert_eq!(p.of("specialist").count(), 0);
    }
}
