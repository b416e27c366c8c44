//! Notice e-mails to operators: a plain-language summary (English, Russian, Kazakh),
//! the addresses as an attached CSV, the deadline as a date and how to fix it; sent
//! over real SMTP with lettre.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use store::{NoticeAddress, PendingNotice};

/// Sends notices; the reconciler depends only on this.
pub trait Mailer: Send + Sync {
    /// Sends one message; `Err` carries the SMTP server's answer or the transport error.
    fn send(&self, message: Message) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// SMTP delivery through one relay (`smtp://host:port`, `smtps://…`, with
/// `?tls=required` for STARTTLS).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// Whether `url` names an SMTP relay this mailer can use (nothing is started).
    pub fn check_url(url: &str) -> Result<(), String> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map(|_| ()).map_err(|e| format!("SMTP URL '{url}': {e}"))
    }

    /// A mailer whose every SMTP exchange gives up after `timeout`.
    pub fn new(url: &str, timeout: std::time::Duration) -> Result<SmtpMailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP URL '{url}': {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpMailer { transport })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, message: Message) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move { self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string()) })
    }
}

/// The e-mail for a notice whose deadline is `deadline_day` (YYYY-MM-DD, end of day,
/// Astana time).
pub fn compose(notice: &PendingNotice, from: &Mailbox, deadline_day: &str) -> Result<Message, String> {
    let n = notice.addresses.len();
    let subject =
        format!("[perimeter] {n} unregistered address(es) on {}'s links: register by {deadline_day}", notice.operator);
    let mut builder =
        Message::builder().from(from.clone()).subject(subject).message_id(Some(notice.message_id.clone()));
    for to in &notice.recipients {
        let mailbox: Mailbox = to.parse().map_err(|e| format!("recipient '{to}': {e}"))?;
        builder = builder.to(mailbox);
    }
    let file = format!("unregistered-{}-notice-{}.csv", notice.operator, notice.id);
    let body = MultiPart::mixed().singlepart(SinglePart::plain(text(notice, deadline_day))).singlepart(
        Attachment::new(file)
            .body(csv(&notice.addresses), ContentType::parse("text/csv; charset=utf-8").map_err(|e| e.to_string())?),
    );
    builder.multipart(body).map_err(|e| format!("building notice {}: {e}", notice.id))
}

fn text(notice: &PendingNotice, deadline: &str) -> String {
    let (n, op, name) = (notice.addresses.len(), &notice.operator, &notice.operator_full_name);
    format!(
        "Dear colleagues at {name},\n\n\
         The Internet access gateway has seen traffic from {n} source address(es) that are not in your \
         IP list in the catalog. They are listed in the attached CSV file (address, link, first seen, \
         last seen, times seen).\n\n\
         Deadline: {deadline} (end of day, Astana time, UTC+5): five working days counted from the day \
         after this notice. Register each address under the organisation that uses it by then. Addresses \
         still missing after the deadline are blocked at the gateway; a block is lifted as soon as your \
         updated list covers the address.\n\n\
         How to fix: add the prefixes to your list and upload the whole list, with\n\
         \x20 perimeter catalog import --operator {op} LIST.csv\n\
         or PUT /api/v1/operators/{op}/prefixes with your operator token. A dry run \
         (--dry-run or ?dry_run=true) shows the change first.\n\n\
         ---\n\n\
         Уважаемые коллеги! Шлюз доступа к сети Интернет зафиксировал трафик с {n} адрес(ов), \
         отсутствующих в вашем списке IP-адресов в каталоге (перечень во вложенном CSV-файле). \
         Внесите их в каталог до {deadline} включительно (по времени Астаны): пять рабочих дней со дня, \
         следующего за днём уведомления. Адреса, не внесённые в срок, блокируются; блокировка снимается, \
         как только обновлённый список покрывает адрес.\n\n\
         ---\n\n\
         Құрметті әріптестер! Интернетке қол жеткізу шлюзі каталогтағы IP-мекенжайлар тізіміңізде жоқ \
         {n} мекенжайдан трафик тіркеді (тізім тіркелген CSV файлында). Оларды {deadline} қоса алғанда \
         (Астана уақытымен) каталогқа енгізіңіз: хабарламадан кейінгі күннен бастап бес жұмыс күні. \
         Мерзімінде енгізілмеген мекенжайлар бұғатталады; жаңартылған тізім мекенжайды қамтыған бойда \
         бұғат алынады.\n"
    )
}

/// The attached list: one row per address.
pub fn csv(addresses: &[NoticeAddress]) -> String {
    let mut out = String::from("address,link,first_seen,last_seen,times_seen\r\n");
    for a in addresses {
        let when = |ms| crate::reconcile::rfc3339_kz(ms);
        out.push_str(&format!("{},{},{},{},{}\r\n", a.ip, a.link, when(a.first_seen), when(a.last_seen), a.seen));
    }
    out
}
