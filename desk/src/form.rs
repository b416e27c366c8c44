//! The forms as people fill them: for each kind, its fields in the order of the
//! regulation's form, each with its item number, what sort of input it takes, whether
//! it is required, and its label in Russian, Kazakh and English (the regulation's words).
//! The keys are those of [`Fields`](crate::Fields); a specialist's parts are keyed
//! `specialists.N.name`, `.email`, `.work_phone`, `.mobile`.
//!
//! Must not: check a value (the fields' rules do) or render anything.

use crate::{Kind, Lang};

/// What sort of input a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Text,
    Number,
    Date,
    /// Several values, comma-separated.
    List,
    /// A long text pasted whole (a PEM certificate).
    Long,
    /// A secret: sealed on filing, never shown again.
    Secret,
    /// A long secret (a PEM private key).
    LongSecret,
    /// The technical specialists: a repeating group of [`SPECIALIST`] parts.
    Specialists,
    /// One of a few words.
    Choice(&'static [&'static str]),
}

/// One field of a form.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub key: &'static str,
    /// The item of the regulation's form (`3.7`), if it numbers it.
    pub item: &'static str,
    pub input: Input,
    pub required: bool,
    en: &'static str,
    ru: &'static str,
    kk: &'static str,
}

impl Field {
    pub fn label(&self, lang: Lang) -> &'static str {
        lang.pick(self.en, self.ru, self.kk)
    }
}

const fn f(
    key: &'static str,
    item: &'static str,
    input: Input,
    required: bool,
    en: &'static str,
    ru: &'static str,
    kk: &'static str,
) -> Field {
    Field { key, item, input, required, en, ru, kk }
}

/// The parts of one specialist, with their labels (English, Russian, Kazakh).
pub const SPECIALIST: [(&str, &str, &str, &str); 4] = [
    ("name", "Full name", "Фамилия, имя, отчество", "Тегі, аты, әкесінің аты"),
    ("email", "E-mail", "Электронная почта", "Электрондық пошта"),
    ("work_phone", "Work phone", "Рабочий телефон", "Жұмыс телефоны"),
    ("mobile", "Mobile phone", "Мобильный телефон", "Ұялы телефон"),
];

use Input::*;

const RESOURCE: [Field; 10] = [
    f(
        "site",
        "1",
        Text,
        true,
        "Domain name of the web resource",
        "Доменное имя веб-ресурса",
        "Веб-ресурстың домендік атауы",
    ),
    f(
        "addresses",
        "1",
        List,
        true,
        "IP addresses of the web resource",
        "IP-адреса веб-ресурса",
        "Веб-ресурстың IP-мекенжайлары",
    ),
    f(
        "operator",
        "2",
        Text,
        true,
        "Telecom operator connecting the resource",
        "Оператор связи, через которого подключён ресурс",
        "Ресурс арқылы қосылған байланыс операторы",
    ),
    f(
        "web_server",
        "3",
        Text,
        true,
        "Web server, with version",
        "Веб-сервер с указанием версии",
        "Веб-сервер, нұсқасы көрсетіліп",
    ),
    f(
        "balancer",
        "4",
        Text,
        false,
        "Load balancer, with version",
        "Балансировщик нагрузки с указанием версии",
        "Жүктеме теңгерушісі, нұсқасы көрсетіліп",
    ),
    f(
        "dbms",
        "5",
        Text,
        true,
        "DBMS, with version (none if it has none)",
        "СУБД с указанием версии (none, если нет)",
        "ДҚБЖ, нұсқасы көрсетіліп (жоқ болса none)",
    ),
    f(
        "cms",
        "6",
        Text,
        true,
        "Content management system, with version (none if it has none)",
        "Система управления контентом с указанием версии (none, если нет)",
        "Контентті басқару жүйесі, нұсқасы көрсетіліп (жоқ болса none)",
    ),
    f(
        "certificate",
        "7",
        Long,
        false,
        "SSL certificate, PEM (when the site uses HTTPS)",
        "SSL-сертификат, PEM (если сайт работает по HTTPS)",
        "SSL-сертификат, PEM (сайт HTTPS арқылы жұмыс істесе)",
    ),
    f(
        "private_key",
        "7",
        LongSecret,
        false,
        "Private key of the certificate, PEM",
        "Закрытый ключ сертификата, PEM",
        "Сертификаттың жабық кілті, PEM",
    ),
    f(
        "app_server",
        "8",
        Text,
        false,
        "Application server, with version",
        "Сервер приложений с указанием версии",
        "Қосымшалар сервері, нұсқасы көрсетіліп",
    ),
];

const SPECIALISTS: Field =
    f("specialists", "9", Specialists, true, "Technical specialists", "Технические специалисты", "Техникалық мамандар");

const WAF: [Field; 11] = [
    RESOURCE[0],
    RESOURCE[1],
    RESOURCE[2],
    RESOURCE[3],
    RESOURCE[4],
    RESOURCE[5],
    RESOURCE[6],
    RESOURCE[7],
    RESOURCE[8],
    RESOURCE[9],
    SPECIALISTS,
];

const DEFACEMENT: [Field; 16] = [
    RESOURCE[0],
    RESOURCE[1],
    RESOURCE[2],
    RESOURCE[3],
    RESOURCE[4],
    RESOURCE[5],
    RESOURCE[6],
    RESOURCE[7],
    RESOURCE[8],
    RESOURCE[9],
    f(
        "access",
        "9",
        Text,
        true,
        "Access to the site's root directory (ftp://, ftps://, sftp:// or ssh:// URL)",
        "Доступ к корневому каталогу сайта (URL ftp://, ftps://, sftp:// или ssh://)",
        "Сайттың түбірлік каталогына қолжетімділік (ftp://, ftps://, sftp:// немесе ssh:// URL)",
    ),
    Field { item: "10", ..SPECIALISTS },
    f(
        "login",
        "11",
        Text,
        true,
        "Account that reads and writes the root directory",
        "Учётная запись с правами чтения и записи корневого каталога",
        "Түбірлік каталогты оқу және жазу құқығы бар есептік жазба",
    ),
    f("password", "11", Secret, false, "The account's password", "Пароль учётной записи", "Есептік жазбаның құпиясөзі"),
    f(
        "access_key",
        "11",
        LongSecret,
        false,
        "Or the account's private key, PEM",
        "Или закрытый ключ учётной записи, PEM",
        "Немесе есептік жазбаның жабық кілті, PEM",
    ),
    f(
        "pages",
        "",
        List,
        false,
        "Pages to watch (none: the home page)",
        "Контролируемые страницы (если не указаны — главная)",
        "Бақыланатын беттер (көрсетілмесе — басты бет)",
    ),
];

const OPERATOR_LINK: [Field; 5] = [
    f("object_name", "", Text, true, "Object", "Наименование объекта", "Нысанның атауы"),
    f("object_address", "", Text, true, "Object's address", "Адрес объекта", "Нысанның мекенжайы"),
    f("main_gbps", "", Number, true, "Main channel, Gbit/s", "Основной канал, Гбит/с", "Негізгі арна, Гбит/с"),
    f("backup_gbps", "", Number, true, "Backup channel, Gbit/s", "Резервный канал, Гбит/с", "Резервтік арна, Гбит/с"),
    f("planned", "", Date, true, "Planned connection date", "Планируемая дата подключения", "Жоспарланған қосылу күні"),
];

const YEARLY_LISTS: [Field; 2] = [
    f("categories", "", List, true, "Resource categories", "Категории ресурсов", "Ресурстар санаттары"),
    f(
        "networks",
        "",
        List,
        true,
        "Network addresses (prefixes)",
        "Сетевые адреса (префиксы)",
        "Желілік мекенжайлар (префикстер)",
    ),
];

const RISKY_SERVICE: [Field; 2] = [
    f("category", "", Text, true, "Service (category)", "Сервис (категория)", "Сервис (санат)"),
    f("purpose", "", Text, true, "Purpose", "Цель использования", "Пайдалану мақсаты"),
];

const CHANGES: &[&str] = &["domain", "address", "responsible", "technical", "operator", "stopped"];

const RESOURCE_CHANGE: [Field; 4] = [
    f("resource", "", Text, true, "Resource", "Ресурс", "Ресурс"),
    f("change", "", Choice(CHANGES), true, "What changed", "Что изменилось", "Не өзгерді"),
    f("changed_on", "", Date, true, "Date of the change", "Дата изменения", "Өзгеріс күні"),
    f("details", "", Text, false, "Details", "Подробности", "Толығырақ"),
];

const INCIDENT: [Field; 4] = [
    f("summary", "", Text, true, "Summary", "Краткое описание", "Қысқаша сипаттама"),
    f("observed_on", "", Date, true, "Date observed", "Дата обнаружения", "Анықталған күні"),
    f("addresses", "", List, false, "IP addresses", "IP-адреса", "IP-мекенжайлар"),
    f("details", "", Text, false, "Details", "Подробности", "Толығырақ"),
];

const MAIL_CONNECTION: [Field; 6] = [
    f(
        "system",
        "",
        Text,
        true,
        "Mail system's handle",
        "Идентификатор почтовой системы",
        "Пошта жүйесінің сәйкестендіргіші",
    ),
    f("domains", "", List, true, "Mail domains", "Почтовые домены", "Пошта домендері"),
    f(
        "servers",
        "",
        List,
        true,
        "IP addresses of the mail servers",
        "IP-адреса почтовых серверов",
        "Пошта серверлерінің IP-мекенжайлары",
    ),
    f(
        "deliver_to",
        "",
        Text,
        false,
        "Delivery address (ADDRESS:PORT)",
        "Адрес доставки (АДРЕС:ПОРТ)",
        "Жеткізу мекенжайы (МЕКЕНЖАЙ:ПОРТ)",
    ),
    f(
        "owner",
        "4",
        Text,
        false,
        "Domain owner, when not the applicant",
        "Владелец домена, если это не заявитель",
        "Домен иесі, егер ол өтініш беруші болмаса",
    ),
    Field { item: "6", ..SPECIALISTS },
];

const MAIL_DISCONNECTION: [Field; 3] = [
    f(
        "system",
        "",
        Text,
        true,
        "Mail system's handle",
        "Идентификатор почтовой системы",
        "Пошта жүйесінің сәйкестендіргіші",
    ),
    f("reason", "", Text, true, "Reason for the disconnection", "Основание отключения", "Ажырату негізі"),
    f(
        "on",
        "",
        Date,
        false,
        "Agreed date of the disconnection",
        "Согласованная дата отключения",
        "Келісілген ажырату күні",
    ),
];

/// The fields of `kind`'s form, in the order of the regulation's form.
pub fn fields(kind: Kind) -> &'static [Field] {
    match kind {
        Kind::OperatorLink => &OPERATOR_LINK,
        Kind::YearlyLists => &YEARLY_LISTS,
        Kind::RiskyService => &RISKY_SERVICE,
        Kind::Waf => &WAF,
        Kind::Defacement => &DEFACEMENT,
        Kind::ResourceChange => &RESOURCE_CHANGE,
        Kind::Incident => &INCIDENT,
        Kind::MailConnection => &MAIL_CONNECTION,
        Kind::MailDisconnection => &MAIL_DISCONNECTION,
    }
}

/// The label of a field of `kind` in `lang`, the key itself when the form lacks it.
pub fn label(kind: Kind, key: &str, lang: Lang) -> String {
    if let Some(f) = fields(kind).iter().find(|f| f.key == key) {
        return f.label(lang).to_string();
    }
    let mut parts = key.splitn(3, '.');
    if let (Some("specialists"), Some(at), Some(part)) = (parts.next(), parts.next(), parts.next())
        && let Some((_, en, ru, kk)) = SPECIALIST.iter().find(|(k, ..)| *k == part)
    {
        let n = at.parse::<usize>().map_or(0, |n| n + 1);
        return format!("{} {n}: {}", SPECIALISTS.label(lang), lang.pick(en, ru, kk));
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_form_and_appendix_items_are_numbered() {
        for kind in Kind::ALL {
            assert!(!fields(kind).is_empty(), "{kind}");
        }
        let waf: Vec<(&str, &str)> = fields(Kind::Waf).iter().map(|f| (f.key, f.item)).collect();
        assert_eq!(waf[7], ("certificate", "7"));
        assert_eq!(waf[10], ("specialists", "9"));
        assert_eq!(label(Kind::Waf, "specialists.1.email", Lang::Ru), "Технические специалисты 2: Электронная почта");
        assert_eq!(label(Kind::Defacement, "access", Lang::En).split(' ').next(), Some("Access"));
    }
}
