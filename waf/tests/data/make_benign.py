#!/usr/bin/env python3
"""Writes benign.jsonl: ordinary requests to government web sites of Kazakhstan, the
traffic the WAF must pass at paranoia 1 (waf/tests/engine_corpus.rs reads it).

Forms, searches and JSON in Kazakh and Russian, PDF and DOCX uploads as multipart,
pages and assets with the cookies of common CMSs (1C-Bitrix, WordPress, Joomla, Drupal)
and of web analytics. Written for the project; deterministic (a fixed seed), so the
file only changes when this script does:

    python3 waf/tests/data/make_benign.py > waf/tests/data/benign.jsonl
"""

import base64
import io
import json
import random
import urllib.parse
import zipfile

R = random.Random(17)

UA = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 YaBrowser/24.6.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
]
LANG = ["ru-RU,ru;q=0.9,kk;q=0.8,en;q=0.7", "kk-KZ,kk;q=0.9,ru;q=0.8", "ru,en;q=0.9", "kk,ru;q=0.9,en-US;q=0.8"]

SEARCH_RU = [
    "справка о несудимости", "как получить паспорт", "адресная справка онлайн", "регистрация по месту жительства",
    "пособие по уходу за ребёнком", "записаться к врачу", "электронная цифровая подпись", "выписка из ЕГРН",
    "налог на имущество физических лиц", "постановка на учёт в очередь на жильё", "замена водительского удостоверения",
    "график приёма граждан", "вакансии государственной службы", "конкурс на занятие должности",
    "субсидии для фермеров 2024", "перечень документов для ИП", "телефон доверия", "обращение к акиму",
    "тарифы на коммунальные услуги", "расписание автобусов Астана", "получение свидетельства о рождении",
    "пенсионные накопления ЕНПФ", "как восстановить СНИЛС", "детский сад очередь проверить", "ремонт дорог план",
    "приём документов в школу", "материнский капитал", "льготы многодетным семьям", "утеря документов что делать",
    "государственная пошлина размер", "лицензия на образовательную деятельность", "карта памяти города",
    "публичные слушания проект", "бюджет района на 2025 год", "отчёт о деятельности за полугодие",
    "закуп лекарственных средств", "справка об отсутствии задолженности", "поверка счётчиков воды",
    "вывоз мусора жалоба", "ветеринарная справка форма 2", "проездной для студентов", "открытые данные",
]
SEARCH_KK = [
    "мемлекеттік қызметтер", "жер учаскесі", "тұрғылықты жері бойынша тіркеу", "балаға жәрдемақы",
    "жұмыс орындары", "әкімге өтініш", "адрестік анықтама", "төлқұжат алу", "көпбалалы отбасыларға көмек",
    "зейнетақы жинақтары", "мектепке құжат қабылдау", "балабақша кезегі", "салық берешегі жоқ туралы анықтама",
    "азаматтарды қабылдау кестесі", "ауыл шаруашылығына субсидия", "электрондық цифрлық қолтаңба",
    "коммуналдық қызметтер тарифтері", "жол жөндеу жоспары", "қоғамдық тыңдаулар", "ашық деректер",
    "денсаулық сақтау басқармасы", "ұлттық бірыңғай тестілеу", "өңірлік даму бағдарламасы", "мемлекеттік сатып алу",
    "құрылысқа рұқсат", "жастар саясаты", "мәдениет үйі іс-шаралары", "спорт секциялары", "ветеринарлық анықтама",
    "жүргізуші куәлігін ауыстыру", "неке қию", "туу туралы куәлік", "мүгедектігі бар адамдарға көмек",
]
TEXT_RU = [
    "Прошу рассмотреть моё обращение по вопросу ремонта подъезда в доме № 14 по улице Кенесары.",
    "Добрый день! Подскажите, пожалуйста, какие документы нужны для оформления пособия?",
    "В нашем дворе уже третий месяц не вывозят мусор, просим принять меры.",
    "Благодарю сотрудников ЦОН за быстрое и вежливое обслуживание — всё сделали за 15 минут.",
    "Прошу предоставить информацию о сроках строительства школы в микрорайоне «Нурсат».",
    "Заявление на участие в конкурсе (приложение: резюме, копия диплома, справка с места работы).",
    "Сообщаю о неисправности уличного освещения на перекрёстке пр. Абая и ул. Сейфуллина.",
    "Прошу разъяснить порядок получения земельного участка под ИЖС; очередь № 2451.",
    "Ребёнок стоит в очереди в детский сад с 2022 года, номер заявки 45-118/2022. Когда ожидать место?",
    "Жалоба на качество воды: вода мутная, с запахом, просим провести проверку.",
    "Уважаемый аким! Жители села просят отремонтировать дорогу до районного центра (около 12 км).",
    "Прошу выдать справку о составе семьи для предоставления в банк по месту требования.",
    "Как записаться на приём к руководителю управления? Телефон 8 (7172) 55-00-00 не отвечает.",
    "Объём работ: 100% — выполнено, акт приёмки от 12.03.2024 г. подписан обеими сторонами.",
    "Мой ИИН указан выше; прошу направить ответ на электронную почту, а копию — по адресу регистрации.",
]
TEXT_KK = [
    "Құрметті әкім! Ауылымыздағы жолды жөндеуді сұраймыз, көктемде өту мүмкін емес.",
    "Сәлеметсіз бе! Балаға жәрдемақы рәсімдеу үшін қандай құжаттар қажет екенін айтып беріңізші.",
    "Үйіміздің кіреберісін жөндеу мәселесі бойынша өтінішімді қарауыңызды сұраймын.",
    "ХҚКО қызметкерлеріне жылдам әрі сыпайы қызмет көрсеткені үшін алғыс айтамын.",
    "Ауладағы қоқыс үш айдан бері шығарылмайды, шара қолдануларыңызды сұраймыз.",
    "Жер учаскесін алу тәртібін түсіндіріп беруіңізді сұраймын; кезек нөмірі 2451.",
    "Су сапасына шағым: су лай, иісі бар, тексеру жүргізуді сұраймыз.",
    "Балабақшаға кезекте 2022 жылдан бері тұрмыз, өтінім нөмірі 45-118/2022.",
    "Мектеп құрылысының мерзімі туралы ақпарат беруіңізді сұраймын («Нұрсат» шағын ауданы).",
    "Отбасы құрамы туралы анықтама беруіңізді сұраймын, банкке ұсыну үшін қажет.",
    "Көше жарығы істемейді: Абай даңғылы мен Сейфуллин көшесінің қиылысы.",
    "Жауапты электрондық поштаға жіберуіңізді, көшірмесін тіркелген мекенжайға жолдауыңызды сұраймын.",
]
SURNAMES = ["Ахметов", "Сейткалиева", "Иванов", "Нурланова", "Жумабеков", "Петрова", "Омарова", "Қасымов",
            "Сәрсенбаев", "Ким", "Әбдіқадырова", "Смагулов", "Тургунбаева", "Ермеков", "Бекмұхамбетова"]
NAMES = ["Айгерім", "Нұрлан", "Алексей", "Дана", "Ерлан", "Мария", "Әсел", "Бауыржан", "Гүлнар", "Сергей",
         "Мадина", "Қайрат", "Жанар", "Дмитрий", "Ләззат"]
PATRONYMICS = ["Серікұлы", "Ивановна", "Болатұлы", "Сергеевич", "Маратқызы", "Николаевна", "", ""]
CITIES = ["Астана", "Алматы", "Шымкент", "Қарағанды", "Ақтөбе", "Павлодар", "Өскемен", "Семей", "Атырау", "Қостанай",
          "Тараз", "Петропавл", "Орал", "Түркістан", "Көкшетау"]
STREETS = ["ул. Кенесары", "пр. Абая", "Сейфуллин көшесі", "ул. Пушкина", "Достық даңғылы", "мкр. Самал-2",
           "Бейбітшілік көшесі", "ул. Жамбыла", "Республика даңғылы", "ул. Ауэзова"]
SECTIONS = ["news", "press", "documents", "services", "structure", "contacts", "vacancies", "npa", "budget",
            "anticorruption", "appeals", "events", "photo", "video", "faq", "open-data", "procurement"]
ASSETS = ["/bitrix/templates/main/css/style.css", "/bitrix/js/main/core/core.min.js", "/upload/iblock/3f2/banner.jpg",
          "/wp-content/themes/gov/style.css?ver=6.5.4", "/wp-includes/js/jquery/jquery.min.js?ver=3.7.1",
          "/media/system/js/core.min.js?fdd9f2ea9a76e3c5d7d9f1a2", "/templates/cassiopeia/css/template.min.css",
          "/sites/default/files/css/css_Xh2.css", "/core/misc/drupal.js?v=10.2.6", "/static/fonts/PTSans.woff2",
          "/favicon.ico", "/robots.txt", "/static/img/gerb.png", "/upload/medialibrary/8b1/flag.svg"]


def hexs(n):
    return "".join(R.choice("0123456789abcdef") for _ in range(n))


def alnum(n):
    return "".join(R.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def iin():
    return "".join(R.choice("0123456789") for _ in range(12))


def phone():
    return R.choice(["+7 (701) ", "+7 (777) ", "8 (705) ", "+7 707 "]) + f"{R.randint(100, 999)}-{R.randint(10, 99)}-{R.randint(10, 99)}"


def email():
    return R.choice(["aigerim", "n.zhumabekov", "ivanov.a", "dana_77", "erlan.s", "madina.k"]) + str(R.randint(1, 999)) + \
        R.choice(["@mail.ru", "@gmail.com", "@inbox.kz", "@yandex.kz", "@gov.kz"])


def person():
    return " ".join(x for x in [R.choice(SURNAMES), R.choice(NAMES), R.choice(PATRONYMICS)] if x)


def address():
    return f"г. {R.choice(CITIES)}, {R.choice(STREETS)}, д. {R.randint(1, 120)}, кв. {R.randint(1, 300)}"


def cookies():
    """The cookies a browser holds for a site built on a common CMS, plus analytics."""
    kind = R.choice(["bitrix", "wordpress", "joomla", "drupal", "plain"])
    jar = []
    if kind == "bitrix":
        jar += [f"PHPSESSID={alnum(26)}", f"BITRIX_SM_GUEST_ID={R.randint(1000, 999999)}",
                f"BITRIX_SM_LAST_VISIT={R.randint(10, 28)}.0{R.randint(1, 9)}.2024%20{R.randint(10, 23)}%3A{R.randint(10, 59)}%3A{R.randint(10, 59)}",
                f"BITRIX_SM_SALE_UID={R.randint(100, 99999)}", "BITRIX_CONVERSION_CONTEXT_s1=%7B%22ID%22%3A2%2C%22EXPIRE%22%3A1718657940%2C%22UNIQUE%22%3A%5B%22conversion_visit_day%22%5D%7D",
                f"BX_USER_ID={hexs(32)}", "BITRIX_SM_LOGIN=ivanov", "BITRIX_SM_SOUND_LOGIN_PLAYED=Y"]
    elif kind == "wordpress":
        jar += ["wordpress_test_cookie=WP%20Cookie%20check", f"wp-settings-time-1={R.randint(1700000000, 1720000000)}",
                "wp-settings-1=libraryContent%3Dbrowse%26editor%3Dtinymce%26mfold%3Do",
                f"wordpress_logged_in_{hexs(32)}=editor%7C{R.randint(1718000000, 1719000000)}%7C{alnum(43)}%7C{hexs(64)}",
                f"wp_lang=ru_RU"]
    elif kind == "joomla":
        jar += [f"{hexs(32)}={alnum(26)}", "joomla_user_state=logged_in", f"joomla_remember_me_{hexs(32)}={alnum(16)}.{alnum(20)}"]
    elif kind == "drupal":
        jar += [f"SSESS{hexs(32)}={alnum(22)}-{alnum(20)}", "Drupal.visitor.name=%D0%90%D0%B9%D0%B3%D0%B5%D1%80%D0%B8%D0%BC",
                "has_js=1", "cookie-agreed=2"]
    if R.random() < 0.8:
        jar += [f"_ga=GA1.1.{R.randint(100000000, 999999999)}.{R.randint(1700000000, 1720000000)}",
                f"_ga_{alnum(10).upper()}=GS1.1.{R.randint(1718000000, 1719000000)}.3.1.{R.randint(1718000000, 1719000000)}.0.0.0",
                f"_ym_uid={R.randint(10**18, 10**19 - 1)}", "_ym_d=1718012345", "_ym_isad=2"]
    if R.random() < 0.5:
        jar.append(f"lang={R.choice(['ru', 'kk', 'en'])}")
    R.shuffle(jar)
    return "; ".join(jar)


def base_headers(accept="text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"):
    h = [["User-Agent", R.choice(UA)], ["Accept", accept], ["Accept-Language", R.choice(LANG)],
         ["Accept-Encoding", "gzip, deflate, br"]]
    if R.random() < 0.85:
        h.append(["Cookie", cookies()])
    if R.random() < 0.6:
        h.append(["Referer", f"https://portal.example.kz/{R.choice(['ru', 'kk'])}/{R.choice(SECTIONS)}/"])
    return h


def q(text):
    return urllib.parse.quote_plus(text)


def page():
    lang = R.choice(["ru", "kk", "en"])
    path = f"/{lang}/{R.choice(SECTIONS)}/"
    roll = R.random()
    if roll < 0.3:
        path += f"{R.randint(2019, 2025)}/{R.randint(1, 12):02d}/{R.randint(1000, 99999)}/"
    elif roll < 0.5:
        path += f"detail.php?ID={R.randint(1, 90000)}"
    elif roll < 0.65:
        path += f"?PAGEN_1={R.randint(2, 40)}"
    elif roll < 0.8:
        path = f"/{lang}/{R.choice(SECTIONS)}/{R.choice(['o-nas', 'rukovodstvo', 'struktura', 'kontakty', 'priem-grazhdan'])}.html"
    return {"name": "page", "method": "GET", "uri": path, "headers": base_headers()}


def asset():
    accept = R.choice(["text/css,*/*;q=0.1", "*/*", "image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "font/woff2"])
    return {"name": "asset", "method": "GET", "uri": R.choice(ASSETS), "headers": base_headers(accept)}


def search():
    term = R.choice(SEARCH_RU + SEARCH_KK)
    lang = "kk" if term in SEARCH_KK else "ru"
    form = R.choice([
        [("q", term)],
        [("q", term), ("where", ""), ("how", "r")],
        [("s", term)],
        [("searchword", term), ("searchphrase", "all"), ("Itemid", str(R.randint(100, 999)))],
        [("search_api_fulltext", term), ("page", str(R.randint(0, 5)))],
        [("query", term), ("date_from", "01.01.2024"), ("date_to", "31.12.2024"), ("section", R.choice(SECTIONS))],
    ])
    path = R.choice([f"/{lang}/search/", "/search/index.php", "/", f"/{lang}/search", "/index.php"])
    qs = urllib.parse.urlencode(form)
    return {"name": f"search-{lang}", "method": "GET", "uri": f"{path}?{qs}", "headers": base_headers()}


def form_post():
    kk = R.random() < 0.5
    fields = [
        ("sessid", hexs(32)),
        ("FIO", person()),
        ("IIN", iin()),
        ("PHONE", phone()),
        ("EMAIL", email()),
        ("ADDRESS", address()),
        ("TOPIC", R.choice(SEARCH_KK if kk else SEARCH_RU)),
        ("MESSAGE", " ".join(R.sample(TEXT_KK if kk else TEXT_RU, R.randint(1, 3)))),
        ("AGREE", "Y"),
    ]
    if R.random() < 0.3:
        fields.append(("web_form_submit", "Жіберу" if kk else "Отправить"))
    if R.random() < 0.3:
        fields.insert(0, ("_wpnonce", hexs(10)))
        fields.append(("_wp_http_referer", "/ru/obratnaya-svyaz/"))
    body = urllib.parse.urlencode(fields)
    h = base_headers()
    h += [["Content-Type", "application/x-www-form-urlencoded"], ["Origin", "https://portal.example.kz"]]
    path = R.choice(["/ru/appeals/new/", "/kk/appeals/new/", "/feedback/", "/wp-admin/admin-post.php",
                     "/index.php?option=com_contact&task=contact.submit", "/bitrix/services/main/ajax.php?action=form.submit"])
    return {"name": "form-kk" if kk else "form-ru", "method": "POST", "uri": path, "headers": h, "body": body}


def json_api():
    kk = R.random() < 0.5
    kind = R.choice(["appeal", "search", "booking", "profile", "list"])
    if kind == "appeal":
        doc = {"applicant": {"fullName": person(), "iin": iin(), "phone": phone(), "email": email()},
               "address": address(), "category": R.choice(["ЖКХ", "Дороги", "Образование", "Денсаулық", "Әлеуметтік көмек"]),
               "text": " ".join(R.sample(TEXT_KK if kk else TEXT_RU, R.randint(1, 2))), "attachments": [],
               "consent": True, "channel": "web"}
    elif kind == "search":
        doc = {"query": R.choice(SEARCH_KK if kk else SEARCH_RU), "page": R.randint(1, 9), "size": 20,
               "filters": {"lang": "kk" if kk else "ru", "type": R.choice(["news", "npa", "service"])}}
    elif kind == "booking":
        doc = {"serviceId": R.randint(1, 400), "date": f"2024-0{R.randint(1, 9)}-{R.randint(10, 28)}",
               "time": f"{R.randint(9, 17)}:{R.choice(['00', '15', '30', '45'])}", "office": f"ЦОН {R.choice(CITIES)}",
               "visitor": {"name": person(), "iin": iin()}, "comment": R.choice(["", "Буду с ребёнком", "Мүгедектер арбасымен келемін"])}
    elif kind == "profile":
        doc = {"id": R.randint(1, 10**6), "lastName": R.choice(SURNAMES), "firstName": R.choice(NAMES),
               "middleName": R.choice(PATRONYMICS), "birthDate": f"19{R.randint(50, 99)}-0{R.randint(1, 9)}-1{R.randint(0, 9)}",
               "city": R.choice(CITIES), "notifications": {"sms": R.random() < 0.5, "email": True}, "language": "kk" if kk else "ru"}
    else:
        doc = {"items": [{"id": R.randint(1, 9999), "title": R.choice(SEARCH_KK + SEARCH_RU), "status": R.choice(["new", "in_work", "done"])}
                         for _ in range(R.randint(2, 8))], "total": R.randint(10, 500)}
    body = json.dumps(doc, ensure_ascii=R.random() < 0.3)
    h = base_headers("application/json, text/plain, */*")
    h += [["Content-Type", R.choice(["application/json", "application/json;charset=UTF-8"])],
          ["X-Requested-With", "XMLHttpRequest"], ["Origin", "https://portal.example.kz"]]
    if R.random() < 0.4:
        h.append(["X-CSRF-Token", alnum(40)])
    path = R.choice(["/api/v1/appeals", "/api/v1/search", "/api/v2/booking", "/api/v1/profile", "/rest/items/list",
                     "/wp-json/gov/v1/feedback", "/bitrix/services/main/ajax.php?mode=class&c=gov%3Aappeal&action=save"])
    return {"name": "json-kk" if kk else "json-ru", "method": R.choice(["POST", "POST", "POST"]), "uri": path,
            "headers": h, "body": body}


def pdf_bytes():
    text = R.choice(TEXT_RU + TEXT_KK)
    stream = bytes(R.getrandbits(8) for _ in range(R.randint(200, 1500)))
    head = (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
            b"4 0 obj\n<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n")
    info = ("5 0 obj\n<< /Title (" + text[:40] + ") /Producer (LibreOffice 7.5) >>\nendobj\n").encode("utf-8")
    return head + stream + b"\nendstream\nendobj\n" + info + b"trailer\n<< /Root 1 0 R /Size 6 >>\n%%EOF\n"


def docx_bytes():
    buf = io.BytesIO()
    paragraphs = "".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in R.sample(TEXT_RU + TEXT_KK, 3))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' + paragraphs + "</w:body></w:document>")
    return buf.getvalue()


def upload():
    boundary = "----WebKitFormBoundary" + alnum(16)
    kind = R.choice(["pdf", "docx"])
    name = R.choice(["Заявление", "Өтініш", "Справка_о_доходах", "Анықтама", "Резюме Ахметов А.", "scan_001", "Копия диплома"])
    if kind == "pdf":
        content, ctype, fname = pdf_bytes(), "application/pdf", name + ".pdf"
    else:
        content, ctype, fname = docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", name + ".docx"
    fields = [("FIO", person()), ("IIN", iin()), ("COMMENT", R.choice(TEXT_RU + TEXT_KK)), ("sessid", hexs(32))]
    parts = []
    for k, v in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="FILE"; filename="{fname}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
                 + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    h = base_headers()
    h += [["Content-Type", f"multipart/form-data; boundary={boundary}"], ["Origin", "https://portal.example.kz"]]
    path = R.choice(["/ru/appeals/upload/", "/kk/vacancies/apply/", "/upload/documents/", "/wp-admin/async-upload.php",
                     "/bitrix/services/main/ajax.php?action=main.fileupload"])
    return {"name": f"upload-{kind}", "method": "POST", "uri": path, "headers": h,
            "body_b64": base64.b64encode(body).decode()}


def misc():
    roll = R.random()
    if roll < 0.4:
        h = base_headers("application/json, text/javascript, */*; q=0.01") + [["X-Requested-With", "XMLHttpRequest"]]
        return {"name": "xhr", "method": "GET", "uri": f"/api/v1/news?lang={R.choice(['ru', 'kk'])}&limit=10&offset={R.randint(0, 90)}", "headers": h}
    if roll < 0.6:
        return {"name": "head", "method": "HEAD", "uri": f"/ru/{R.choice(SECTIONS)}/", "headers": base_headers()}
    if roll < 0.8:
        h = [["User-Agent", R.choice(UA)], ["Accept", "*/*"], ["Origin", "https://egov.example.kz"],
             ["Access-Control-Request-Method", "POST"], ["Access-Control-Request-Headers", "content-type,x-csrf-token"]]
        return {"name": "preflight", "method": "OPTIONS", "uri": "/api/v1/appeals", "headers": h}
    return {"name": "download", "method": "GET", "uri": f"/upload/iblock/{hexs(3)}/{R.choice(['prikaz', 'postanovlenie', 'reshenie', 'buyryq'])}_{R.randint(1, 999)}.pdf",
            "headers": base_headers("application/pdf,*/*")}


def main():
    plan = [(page, 220), (asset, 100), (search, 300), (form_post, 250), (json_api, 200), (upload, 100), (misc, 80)]
    for make, count in plan:
        for _ in range(count):
            print(json.dumps(make(), ensure_ascii=False))


main()
