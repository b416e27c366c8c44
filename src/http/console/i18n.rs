//! The console's languages: English, Russian and Kazakh, chosen per person (stored with
//! the user) or, before login, from the browser. Every text a page shows comes from the
//! table below by key; a Kazakh text not written yet falls back to the Russian one.
//!
//! Must not: build sentences by concatenating translated words in one language's order.

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
    Kk,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Ru, Lang::Kk, Lang::En];

    /// The language of a code (`en`, `ru`, `kk`); English for anything else.
    pub fn from_code(code: &str) -> Lang {
        match code.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("ru") => Lang::Ru,
            Some("kk") => Lang::Kk,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::Kk => "kk",
        }
    }

    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ru => "Русский",
            Lang::Kk => "Қазақша",
        }
    }

    /// The short name of a weekday, 0 = Monday.
    pub fn weekday(self, day: u8) -> &'static str {
        let names = match self {
            Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            Lang::Ru => ["Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"],
            Lang::Kk => ["Дс", "Сс", "Ср", "Бс", "Жм", "Сн", "Жс"],
        };
        names[usize::from(day % 7)]
    }

    /// The text of `key` in this language; the key itself if the table lacks it (a
    /// unit test keeps every key the pages use in the table).
    pub fn t(self, key: &str) -> &'static str {
        let Ok(i) = TEXTS.binary_search_by(|(k, ..)| (*k).cmp(key)) else {
            return "?";
        };
        let (_, en, ru, kk) = TEXTS[i];
        match self {
            Lang::En => en,
            Lang::Ru => ru,
            Lang::Kk if kk.is_empty() => ru,
            Lang::Kk => kk,
        }
    }
}

/// (key, English, Russian, Kazakh), sorted by key.
const TEXTS: &[(&str, &str, &str, &str)] = &[
    ("action.apply", "Apply", "Применить", "Қолдану"),
    ("action.block", "Block", "Заблокировать", "Бұғаттау"),
    ("action.cancel", "Cancel", "Отмена", "Болдырмау"),
    ("action.delete_held", "Delete held mail", "Удалить задержанную почту", ""),
    ("action.filter", "Show", "Показать", "Көрсету"),
    ("action.lift", "Lift the selected blocks", "Снять выбранные блокировки", ""),
    ("action.logout", "Log out", "Выйти", "Шығу"),
    ("action.resume", "Resume", "Возобновить", "Жалғастыру"),
    ("action.search", "Search", "Найти", "Іздеу"),
    ("action.select_all", "Select all", "Выбрать все", "Барлығын таңдау"),
    ("action.suspend", "Suspend", "Приостановить", "Тоқтата тұру"),
    ("blocks.add", "Block addresses", "Заблокировать адреса", ""),
    ("blocks.blocked", "blocked", "заблокирован", "бұғатталды"),
    ("blocks.include_lifted", "include lifted", "включая снятые", ""),
    ("blocks.lift_reason", "Reason for lifting", "Причина снятия", ""),
    ("blocks.lifted", "block lifted", "блокировка снята", ""),
    ("blocks.targets", "Addresses or prefixes, one per line", "Адреса или префиксы, по одному в строке", ""),
    ("ca.download", "Download", "Скачать", "Жүктеу"),
    ("ca.fingerprint", "SHA-256 fingerprint", "Отпечаток SHA-256", ""),
    ("ca.install", "Installing it on workstations", "Установка на рабочие станции", ""),
    (
        "ca.install_firefox",
        "Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import, then trust it for websites.",
        "Настройки → Приватность и защита → Сертификаты → Просмотр сертификатов → Центры сертификации → Импортировать, затем доверять для сайтов.",
        "",
    ),
    (
        "ca.install_windows",
        "As an administrator (or through Group Policy: Trusted Root Certification Authorities):",
        "От имени администратора (или групповой политикой: Доверенные корневые центры сертификации):",
        "",
    ),
    ("ca.notified", "Operators told", "Уведомлены операторы", ""),
    ("ca.previous", "Previous root", "Предыдущий корневой", ""),
    (
        "ca.restart_hint",
        "The gateways sign with the new root from their next start.",
        "Шлюзы подписывают новым корневым сертификатом после перезапуска.",
        "",
    ),
    ("ca.rotate", "Make a new root", "Создать новый корневой сертификат", ""),
    (
        "ca.rotate_confirm",
        "I understand: every workstation must install the new root before the old one expires",
        "Понимаю: новый корневой сертификат нужно установить на все рабочие станции до истечения старого",
        "",
    ),
    (
        "ca.rotate_hint",
        "The old root stays trusted for the overlap; every operator with a contact is e-mailed the new certificate and its fingerprint (also `perimeter ca rotate`).",
        "Старый сертификат остаётся доверенным на период перекрытия; всем операторам с контактом отправляется новый сертификат и его отпечаток (также `perimeter ca rotate`).",
        "",
    ),
    ("ca.trusted_until", "Trusted until", "Доверен до", ""),
    ("ca.valid_from", "Valid from", "Действителен с", ""),
    ("ca.valid_until", "Valid until", "Действителен до", "Жарамды мерзімі"),
    (
        "calendar.not_covered",
        "The calendar lists no religious holidays or transfers for this year; only the yearly rules apply.",
        "Для этого года в календаре нет религиозных праздников и переносов; действуют только ежегодные правила.",
        "",
    ),
    ("col.action", "Action", "Действие", "Әрекет"),
    ("col.address", "Address", "Адрес", "Мекенжай"),
    ("col.addresses", "Addresses", "Адресов", "Мекенжайлар"),
    ("col.applicant", "Applicant", "Заявитель", "Өтініш беруші"),
    ("col.attempts", "Attempts", "Попыток", ""),
    ("col.by", "By", "Кто", "Кім"),
    ("col.comment", "Comment", "Комментарий", "Түсініктеме"),
    ("col.contacts", "Contacts", "Контакты", "Байланыстар"),
    ("col.created", "Created", "Создано", "Құрылды"),
    ("col.day", "Day", "День", "Күн"),
    ("col.days_left", "Working days left", "Осталось рабочих дней", "Қалған жұмыс күндері"),
    ("col.deadline", "Deadline", "Срок", "Мерзім"),
    ("col.deferred", "Deferred", "Отложено", ""),
    ("col.details", "Details", "Подробности", ""),
    ("col.domains", "Domains", "Домены", "Домендер"),
    ("col.due", "due", "срок", "мерзім"),
    ("col.error", "Error", "Ошибка", "Қате"),
    ("col.field", "Field", "Поле", "Өріс"),
    ("col.first_seen", "First seen", "Впервые", ""),
    ("col.full_name", "Full name", "Полное название", "Толық атауы"),
    ("col.held", "Held", "Задержано", ""),
    ("col.holder", "With", "У кого", "Кімде"),
    ("col.kind", "Kind", "Вид", "Түрі"),
    ("col.last_seen", "Last seen", "Последний раз", ""),
    ("col.lifted", "Lifted", "Снята", ""),
    ("col.line", "Line", "Строка", "Жол"),
    ("col.link", "Link", "Канал", "Арна"),
    ("col.links", "Links", "Каналы", "Арналар"),
    ("col.notice", "Notice", "Уведомление", "Хабарлама"),
    ("col.oldest", "Oldest", "Самое старое", ""),
    ("col.operator", "Operator", "Оператор", "Оператор"),
    ("col.operators", "Operators", "Операторы", "Операторлар"),
    ("col.organisation", "Organisation", "Организация", "Ұйым"),
    ("col.owner", "Owner (BIN)", "Владелец (БИН)", "Иесі (БСН)"),
    ("col.prefix", "Prefix", "Префикс", "Префикс"),
    ("col.prefixes", "Prefixes", "Префиксов", "Префикстер"),
    ("col.problem", "Problem", "Проблема", "Мәселе"),
    ("col.queued", "Queued", "В очереди", ""),
    ("col.reason", "Reason", "Причина", "Себебі"),
    ("col.received", "Received", "Получено", "Алынды"),
    ("col.recipients", "Recipients", "Получатели", "Алушылар"),
    ("col.seen", "Seen", "Раз", ""),
    ("col.sent", "Sent", "Отправлено", "Жіберілді"),
    ("col.servers", "Servers", "Серверы", "Серверлер"),
    ("col.since", "Since", "С", ""),
    ("col.status", "Status", "Состояние", "Күйі"),
    ("col.subject", "Subject", "Объект", "Нысан"),
    ("col.system", "Mail system", "Почтовая система", "Пошта жүйесі"),
    ("col.when", "When", "Когда", "Қашан"),
    ("deface.accept", "Accept this change", "Принять это изменение", "Бұл өзгерісті қабылдау"),
    ("deface.accepted", "accepted by", "принято:", "қабылдаған:"),
    ("deface.change", "Change", "Изменение", "Өзгеріс"),
    ("deface.change.added", "added", "добавлен", "қосылды"),
    ("deface.change.changed", "changed", "изменён", "өзгертілді"),
    ("deface.change.deleted", "deleted", "удалён", "жойылды"),
    ("deface.check_now", "Check now", "Проверить сейчас", "Қазір тексеру"),
    (
        "deface.close_window",
        "Close the window: the site as it is becomes the reference",
        "Закрыть окно: сайт в текущем виде станет эталоном",
        "Терезені жабу: сайттың қазіргі күйі эталон болады",
    ),
    ("deface.confirm_key", "Confirm this host key", "Подтвердить этот ключ сервера", "Осы сервер кілтін растау"),
    ("deface.confirmed", "confirmed by", "подтверждён:", "растаған:"),
    ("deface.diff", "What changed", "Что изменилось", "Не өзгерді"),
    ("deface.events", "Events", "События", "Оқиғалар"),
    ("deface.file", "File", "Файл", "Файл"),
    ("deface.files", "files", "файлов", "файл"),
    ("deface.findings", "Findings", "Обнаруженные изменения", "Анықталған өзгерістер"),
    ("deface.host_key", "SSH host key", "Ключ SSH сервера", "SSH сервер кілті"),
    ("deface.kind.pages", "pages changed", "изменены страницы", "беттер өзгерді"),
    ("deface.kind.unauthorised", "unauthorised change", "несанкционированное изменение", "рұқсатсыз өзгеріс"),
    (
        "deface.kind.window",
        "change in a maintenance window",
        "изменение в окне обслуживания",
        "қызмет көрсету терезесіндегі өзгеріс",
    ),
    ("deface.last_check", "Last check", "Последняя проверка", "Соңғы тексеру"),
    (
        "deface.no_reference",
        "not taken yet (at the first check)",
        "ещё не снят (при первой проверке)",
        "әлі алынған жоқ (бірінші тексеруде)",
    ),
    ("deface.open_findings", "Findings not accepted", "Непринятые изменения", "Қабылданбаған өзгерістер"),
    ("deface.open_window", "Open a maintenance window", "Открыть окно обслуживания", "Қызмет көрсету терезесін ашу"),
    ("deface.outcome.accepted", "accepted", "принято", "қабылданды"),
    ("deface.outcome.partly_restored", "partly put back", "восстановлено частично", "ішінара қалпына келтірілді"),
    (
        "deface.outcome.recorded",
        "recorded, not put back",
        "записано, не восстановлено",
        "жазылды, қалпына келтірілмеді",
    ),
    (
        "deface.outcome.restored",
        "put back from the reference",
        "восстановлено из эталона",
        "эталоннан қалпына келтірілді",
    ),
    ("deface.pages", "pages", "страниц", "бет"),
    ("deface.reference", "Reference copy", "Эталонная копия", "Эталондық көшірме"),
    ("deface.restored", "put back", "восстановлено", "қалпына келтірілді"),
    ("deface.since", "Since", "С", "Бастап"),
    ("deface.state.changed", "changed", "изменён", "өзгертілген"),
    ("deface.state.host-key-changed", "host key changed", "ключ сервера изменился", "сервер кілті өзгерді"),
    ("deface.state.new", "new: reference not taken yet", "новый: эталон ещё не снят", "жаңа: эталон әлі алынған жоқ"),
    ("deface.state.protected", "protected", "защищён", "қорғалған"),
    ("deface.state.restoring", "restoring", "восстанавливается", "қалпына келтірілуде"),
    ("deface.state.unreachable", "unreachable", "недоступен", "қолжетімсіз"),
    ("deface.state.window", "maintenance window open", "открыто окно обслуживания", "қызмет көрсету терезесі ашық"),
    ("deface.window", "Maintenance window", "Окно обслуживания", "Қызмет көрсету терезесі"),
    (
        "deface.window.closed",
        "closed: changes are put back",
        "закрыто: изменения откатываются",
        "жабық: өзгерістер қайтарылады",
    ),
    (
        "deface.window.open",
        "open: changes are recorded, not put back",
        "открыто: изменения записываются, не откатываются",
        "ашық: өзгерістер жазылады, қайтарылмайды",
    ),
    ("desk.add_specialist", "Add a specialist", "Добавить специалиста", "Маман қосу"),
    ("desk.applicant", "the applicant", "заявитель", "өтініш беруші"),
    ("desk.attach", "Attach a file", "Приложить файл", "Файл тіркеу"),
    ("desk.attachment", "Attachment", "Вложение", "Тіркеме"),
    ("desk.cannot_file", "You do not file applications.", "Вы не подаёте заявки.", "Сіз өтініш бермейсіз."),
    ("desk.conditions", "Technical conditions", "Технические условия", "Техникалық шарттар"),
    ("desk.duty", "the duty team", "дежурная смена", "кезекші ауысым"),
    ("desk.file", "File", "Подать", "Беру"),
    ("desk.new", "File an application", "Подать заявку", "Өтініш беру"),
    ("desk.number", "Number", "Номер", "Нөмір"),
    ("desk.overdue", "overdue", "просрочено", "мерзімі өтті"),
    ("desk.remove_specialist", "Remove", "Удалить", "Жою"),
    ("desk.resubmit_from", "New application from", "Повторная заявка с", "Қайта өтініш беру күні"),
    ("desk.sealed", "sealed, never shown", "запечатано, не показывается", "мөрленген, көрсетілмейді"),
    (
        "desk.signatures_unverified",
        "Signatures are not verified: [desk] trust_anchors is not set.",
        "Подписи не проверяются: не задан [desk] trust_anchors.",
        "Қолтаңбалар тексерілмейді: [desk] trust_anchors берілмеген.",
    ),
    (
        "desk.signed_application",
        "The application signed with the organisation's digital signature (.p7s)",
        "Заявка, подписанная ЭЦП организации (.p7s)",
        "Ұйымның ЭЦҚ-мен қол қойылған өтінім (.p7s)",
    ),
    ("desk.signed_by", "signed by", "подписано", "қол қойған"),
    ("desk.timeline", "Timeline", "Ход рассмотрения", "Қарау барысы"),
    ("desk.valid_through", "In force through", "Действует по", "Қолданылу мерзімі"),
    ("diff.added", "added", "добавлено", "қосылды"),
    ("diff.moved", "moved to another organisation", "передано другой организации", ""),
    ("diff.removed", "removed", "удалено", "жойылды"),
    ("diff.unchanged", "unchanged", "без изменений", "өзгеріссіз"),
    ("diff.updated", "comment changed", "изменён комментарий", ""),
    ("filter.any", "any", "любой", "кез келген"),
    ("filter.from", "From", "С", ""),
    ("filter.to", "To", "По", ""),
    ("kind.auto", "automatic", "автоматическая", "автоматты"),
    ("kind.manual", "manual", "ручная", "қолмен"),
    ("list.contains", "Covers address", "Содержит адрес", ""),
    ("list.export", "Export", "Выгрузить", "Экспорттау"),
    ("list.more_than", "more than", "более", ""),
    ("list.none", "Nothing here.", "Ничего нет.", "Ештеңе жоқ."),
    ("list.title", "The list", "Список", "Тізім"),
    ("login.incomplete", "Enter your name and password.", "Введите имя и пароль.", "Атыңыз бен құпия сөзді енгізіңіз."),
    ("login.name", "Name", "Имя", "Аты"),
    ("login.password", "Password", "Пароль", "Құпия сөз"),
    (
        "login.refused",
        "Wrong name or password. After too many wrong passwords an account is locked for a while; the duty team can \
         unlock it.",
        "Неверное имя или пароль. После нескольких неверных паролей подряд учётная запись блокируется на время; дежурная \
         смена может её разблокировать.",
        "Аты немесе құпия сөзі қате. Бірнеше рет қате құпия сөзден кейін тіркелгі біраз уақытқа бұғатталады; \
         кезекші топ оны аша алады.",
    ),
    (
        "login.slow_down",
        "Too many attempts; wait a minute and try again.",
        "Слишком много попыток; подождите минуту.",
        "Әрекет тым көп; бір минут күтіңіз.",
    ),
    ("login.submit", "Log in", "Войти", "Кіру"),
    ("login.title", "Log in", "Вход", "Кіру"),
    (
        "login.welcome",
        "The perimeter console for the duty team and operators.",
        "Консоль периметра для дежурной смены и операторов.",
        "Кезекші ауысым мен операторларға арналған периметр консолі. Қош келдіңіз!",
    ),
    ("lookup.history", "Who held it", "Кому принадлежал", ""),
    ("lookup.on", "On the day", "На дату", "Күні"),
    ("mail.active", "active", "работает", "белсенді"),
    ("mail.delete_reason", "Reason (after review)", "Причина (после проверки)", ""),
    ("mail.disconnect_at", "Disconnection agreed for", "Отключение назначено на", ""),
    ("mail.disconnected", "disconnected", "отключена", "ажыратылған"),
    ("mail.history", "History", "История", "Тарих"),
    ("mail.learnt", "windows learnt:", "изучено окон:", ""),
    ("mail.queue", "Mail queue", "Почтовая очередь", ""),
    (
        "mail.relay_off",
        "The mail relay is not running in this process.",
        "Почтовый шлюз не запущен в этом процессе.",
        "",
    ),
    ("mail.reviewed", "I reviewed the held mail", "Я проверил задержанную почту", ""),
    ("mail.suspended", "suspended", "приостановлена", "тоқтатылған"),
    (
        "mail.traffic",
        "Traffic watch: this window against the learnt baseline",
        "Наблюдение за трафиком: текущее окно против изученной нормы",
        "",
    ),
    ("mail.window_since", "Window since", "Окно с", ""),
    ("nav.audit", "Audit", "Аудит", "Аудит"),
    ("nav.blocks", "Blocks", "Блокировки", "Бұғаттаулар"),
    ("nav.ca", "Root CA", "Корневой сертификат", "Түбірлік сертификат"),
    ("nav.calendar", "Calendar", "Календарь", "Күнтізбе"),
    ("nav.deface", "Protected sites", "Защита от дефейса", "Дефейстен қорғау"),
    ("nav.list", "My list", "Мой список", "Менің тізімім"),
    ("nav.lookup", "Address search", "Поиск адреса", "Мекенжай іздеу"),
    ("nav.mail", "Mail systems", "Почтовые системы", "Пошта жүйелері"),
    ("nav.notices", "Notices", "Уведомления", "Хабарламалар"),
    ("nav.operators", "Operators", "Операторы", "Операторлар"),
    ("nav.organisations", "Organisations", "Организации", "Ұйымдар"),
    ("nav.policies", "Policies", "Политики", "Саясаттар"),
    ("nav.requests", "Requests", "Заявки", "Өтінімдер"),
    ("nav.today", "Today", "Сегодня", "Бүгін"),
    ("nav.unknown", "Unknown addresses", "Неизвестные адреса", "Белгісіз мекенжайлар"),
    ("nav.waf", "WAF sites", "Сайты под WAF", "WAF сайттары"),
    ("page.first", "First page", "Первая страница", "Бірінші бет"),
    ("page.next", "Next", "Дальше", "Келесі"),
    ("page.prev", "Previous", "Назад", "Алдыңғы"),
    ("policies.apply_by", "Apply by", "Применить до", ""),
    ("policies.categories", "Categories", "Категории", "Санаттар"),
    ("policies.default", "Open to every organisation", "Открыто всем организациям", ""),
    ("policies.granted", "Granted", "Применена", ""),
    ("policies.grants", "Risky-service grants", "Разрешения на рискованные сервисы", ""),
    ("policies.pending", "pending", "ожидает", "күтуде"),
    ("policies.received", "Received", "Получена", ""),
    ("policies.valid_through", "Valid through", "Действует по", ""),
    ("role.auditor", "auditor", "аудитор", "аудитор"),
    ("role.duty", "duty team", "дежурная смена", "кезекші ауысым"),
    ("role.operator", "operator", "оператор", "оператор"),
    ("role.organisation", "organisation", "организация", "ұйым"),
    ("status.blocked", "blocked", "заблокирован", "бұғатталған"),
    ("status.failed", "not sent", "не отправлено", "жіберілмеді"),
    ("status.noticed", "noticed", "уведомлён", "хабарланған"),
    ("status.open", "new", "новый", "жаңа"),
    ("status.pending", "waiting to be sent", "ожидает отправки", ""),
    ("status.sent", "sent", "отправлено", "жіберілді"),
    ("today.blocked_today", "Blocked today", "Заблокировано сегодня", "Бүгін бұғатталды"),
    ("today.ca", "Root certificate", "Корневой сертификат", "Түбірлік сертификат"),
    ("today.due", "Deadlines in the next three working days", "Сроки в ближайшие три рабочих дня", ""),
    ("today.lapsing", "Policies lapsing within 30 days", "Политики, истекающие в течение 30 дней", ""),
    ("today.new_unknown", "New unknown addresses", "Новые неизвестные адреса", "Жаңа белгісіз мекенжайлар"),
    ("today.overdue", "Requests overdue", "Просроченные заявки", ""),
    ("today.requests_overdue", "Desk applications overdue", "Просроченные заявки в реестре", ""),
    ("today.suspended", "Suspended mail systems", "Приостановленные почтовые системы", ""),
    ("today.undelivered", "Notices not sent", "Неотправленные уведомления", ""),
    ("upload.applied", "The list was applied.", "Список применён.", "Тізім қолданылды."),
    ("upload.check", "Check the list", "Проверить список", "Тізімді тексеру"),
    ("upload.confirm", "Apply this change", "Применить изменения", "Өзгерісті қолдану"),
    (
        "upload.dry_run",
        "checked; nothing is applied until you confirm.",
        "проверен; ничего не применено до подтверждения.",
        "",
    ),
    (
        "upload.hint",
        "CSV (prefix,bin,comment) or JSON. The whole list is replaced; you see the difference first.",
        "CSV (prefix,bin,comment) или JSON. Список заменяется целиком; сначала вы увидите разницу.",
        "",
    ),
    ("upload.nothing", "The list is the same as the current one.", "Список совпадает с текущим.", ""),
    ("upload.problems", "problem(s); nothing was applied", "проблем(ы); ничего не применено", ""),
    ("upload.resolved", "Unknown addresses now covered:", "Неизвестных адресов теперь покрыто:", ""),
    ("upload.title", "Upload a list", "Загрузка списка", "Тізімді жүктеу"),
    ("waf.action.blocked", "refused by the rules", "отклонён правилами", "ережелермен қабылданбады"),
    ("waf.action.matched", "matched, passed", "совпадение, пропущен", "сәйкестік, өткізілді"),
    ("waf.action.refused", "refused (other reason)", "отклонён (другая причина)", "қабылданбады (басқа себеп)"),
    ("waf.answer", "Answer", "Ответ", "Жауап"),
    ("waf.application", "Application", "Заявка", "Өтінім"),
    ("waf.cert.kept", "kept (the key is sealed)", "есть (ключ зашифрован)", "бар (кілт шифрланған)"),
    (
        "waf.cert.none",
        "none yet: the site is not served",
        "нет: сайт не обслуживается",
        "жоқ: сайтқа қызмет көрсетілмейді",
    ),
    ("waf.certificate", "Certificate", "Сертификат", "Сертификат"),
    ("waf.client", "Client", "Клиент", "Клиент"),
    ("waf.confirm", "Confirm the exclusion", "Подтвердить исключение", "Ерекшелікті растау"),
    ("waf.decline", "Decline", "Отклонить", "Қабылдамау"),
    ("waf.down", "down", "недоступен", "қолжетімсіз"),
    (
        "waf.events",
        "Refused and matched requests",
        "Отклонённые и совпавшие запросы",
        "Қабылданбаған және сәйкес келген сұраулар",
    ),
    ("waf.exclusions", "Exclusions", "Исключения", "Ерекшеліктер"),
    ("waf.found", "found", "найдено", "табылды"),
    ("waf.from", "From (day)", "С (день)", "Бастап (күн)"),
    ("waf.healthy", "healthy", "доступен", "қолжетімді"),
    ("waf.matched", "Matched data", "Совпавшие данные", "Сәйкес деректер"),
    ("waf.mode", "Mode", "Режим", "Режим"),
    ("waf.mode.block", "block", "блокировать", "бұғаттау"),
    ("waf.mode.detect", "detect only", "только обнаруживать", "тек анықтау"),
    (
        "waf.off",
        "The WAF does not run in this service.",
        "Межсетевой экран приложений не запущен в этой службе.",
        "Қолданбалар желіаралық экраны бұл қызметте іске қосылмаған.",
    ),
    ("waf.origins", "Origins", "Серверы сайта", "Сайт серверлері"),
    ("waf.paranoia", "Paranoia", "Уровень паранойи", "Паранойя деңгейі"),
    ("waf.patches", "Virtual patches", "Виртуальные патчи", "Виртуалды патчтар"),
    ("waf.path", "Path", "Путь", "Жол"),
    ("waf.proposal.confirmed", "confirmed", "подтверждено", "расталды"),
    ("waf.proposal.declined", "declined", "отклонено", "қабылданбады"),
    ("waf.proposal.proposed", "proposed", "предложено", "ұсынылды"),
    ("waf.proposals", "Proposed exclusions", "Предложенные исключения", "Ұсынылған ерекшеліктер"),
    ("waf.propose", "Exclusion", "Исключение", "Ерекшелік"),
    ("waf.propose_exclusion", "Propose an exclusion of", "Предложить исключение", "Ерекшелік ұсыну"),
    ("waf.request", "Request", "Запрос", "Сұрау"),
    ("waf.rule", "Rule", "Правило", "Ереже"),
    ("waf.rules", "Rules", "Правила", "Ережелер"),
    ("waf.score", "Score", "Оценка", "Ұпай"),
    ("waf.site", "Site", "Сайт", "Сайт"),
    ("waf.state.refused", "last change refused", "последнее изменение отклонено", "соңғы өзгеріс қабылданбады"),
    ("waf.state.serving", "protected", "защищён", "қорғалған"),
    ("waf.state.unavailable", "WAF unavailable", "WAF недоступен", "WAF қолжетімсіз"),
    ("waf.state.waiting", "not served yet", "ещё не обслуживается", "әлі қызмет көрсетілмейді"),
    ("waf.target", "Target", "Цель", "Нысана"),
    ("waf.to", "To (day)", "По (день)", "Дейін (күн)"),
    ("waf.top_clients", "Top clients", "Частые клиенты", "Жиі клиенттер"),
    ("waf.top_rules", "Top rules", "Частые правила", "Жиі ережелер"),
    ("waf.transaction", "Transaction", "Транзакция", "Транзакция"),
    ("waf.unavailable", "The WAF is unavailable", "WAF недоступен", "WAF қолжетімсіз"),
    (
        "waf.window",
        "only the audit log's last 32 MiB is read",
        "прочитаны только последние 32 МиБ журнала",
        "журналдың соңғы 32 МиБ ғана оқылды",
    ),
    ("watch.bounces", "bounces", "возвраты", ""),
    ("watch.domains", "domains", "домены", "домендер"),
    ("watch.messages", "messages", "письма", "хаттар"),
    ("watch.recipients", "recipients", "получатели", "алушылар"),
    ("watch.rejected", "refused", "отклонено", ""),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_complete_in_english_and_russian() {
        for pair in TEXTS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} must come before {}", pair[1].0, pair[0].0);
        }
        for (key, en, ru, _) in TEXTS {
            assert!(!en.is_empty() && !ru.is_empty(), "{key} needs English and Russian");
        }
    }

    /// Every literal key a console page asks for is in the table, and so is every key
    /// built from a known prefix and value.
    #[test]
    fn every_key_the_pages_use_exists() {
        let sources = [
            include_str!("auth.rs"),
            include_str!("audit.rs"),
            include_str!("catalog.rs"),
            include_str!("desk.rs"),
            include_str!("filing.rs"),
            include_str!("mail.rs"),
            include_str!("rules.rs"),
            include_str!("system.rs"),
            include_str!("today.rs"),
            include_str!("view.rs"),
            include_str!("waf.rs"),
        ];
        let mut missing = Vec::new();
        for source in sources {
            for piece in source.split("t(\"").skip(1).chain(source.split("(lang, \"").skip(1)) {
                let key = piece.split('"').next().unwrap_or_default();
                if key.contains('.') && !key.contains(' ') && lookup(key).is_none() {
                    missing.push(key.to_string());
                }
            }
        }
        let built = [
            (
                "nav",
                &[
                    "today",
                    "unknown",
                    "notices",
                    "blocks",
                    "mail",
                    "requests",
                    "operators",
                    "organisations",
                    "lookup",
                    "audit",
                    "ca",
                    "policies",
                    "calendar",
                    "list",
                    "waf",
                    "deface",
                ][..],
            ),
            ("role", &["duty", "auditor", "operator", "organisation"]),
            ("kind", &["auto", "manual"]),
            ("status", &["open", "noticed", "blocked", "pending", "sent", "failed"]),
            ("mail", &["active", "suspended", "disconnected"]),
            ("watch", &["messages", "recipients", "domains", "rejected", "bounces"]),
            ("waf.state", &["serving", "waiting", "refused", "unavailable"]),
            ("waf.action", &["blocked", "matched", "refused"]),
            ("waf.proposal", &["proposed", "confirmed", "declined"]),
            (
                "deface.state",
                &["new", "protected", "changed", "restoring", "window", "unreachable", "host-key-changed"],
            ),
            ("deface.kind", &["unauthorised", "window", "pages"]),
            ("deface.outcome", &["restored", "partly_restored", "recorded", "accepted"]),
            ("deface.change", &["added", "changed", "deleted"]),
        ];
        for (prefix, values) in built {
            for v in values {
                let key = format!("{prefix}.{v}");
                if lookup(&key).is_none() {
                    missing.push(key);
                }
            }
        }
        assert!(missing.is_empty(), "keys missing from the table: {missing:?}");
    }

    fn lookup(key: &str) -> Option<usize> {
        TEXTS.binary_search_by(|(k, ..)| (*k).cmp(key)).ok()
    }

    #[test]
    fn kazakh_falls_back_to_russian() {
        assert_eq!(Lang::Kk.t("action.delete_held"), Lang::Ru.t("action.delete_held"));
        assert_eq!(Lang::Kk.t("nav.today"), "Бүгін");
        assert_eq!(Lang::from_code("ru-RU"), Lang::Ru);
        assert_eq!(Lang::from_code("de"), Lang::En);
    }
}
