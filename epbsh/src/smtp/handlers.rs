//! Command handlers for EHLO/HELO, MAIL, RCPT and the simple commands
//! (RSET, NOOP, QUIT, VRFY, HELP); DATA and STARTTLS live in `transfer`.

use tokio::io::{AsyncRead, AsyncWrite};

use super::address::{Path, has_routing_chars};
use super::command::{Command, MailParams};
use super::policy::{Policy, Sink};
use super::reply::{Reply, fixed};
use super::session::{Flow, Hello, Session, SessionEnd, Transaction};
use super::wire::WireError;
use crate::envelope::Mailbox;
use crate::metrics::bump;

impl<S, P, K> Session<S, P, K>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    P: Policy,
    K: Sink,
{
    pub(crate) async fn handle(&mut self, cmd: Command) -> Result<Flow, WireError> {
        match cmd {
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::Mail(path, params) => self.mail(path, params).await,
            Command::Rcpt(path) => self.rcpt(path).await?,
            Command::Data => return self.data().await,
            Command::StartTls => return self.starttls().await,
            Command::Rset => {
                self.tx = None;
                self.send(fixed::ok());
            }
            Command::Noop => self.send(fixed::ok()),
            Command::Vrfy => self.send(fixed::vrfy()),
            Command::Help => self.send(fixed::help()),
            Command::NotImplemented => self.send(fixed::not_implemented()),
            Command::Quit => {
                self.send(fixed::bye());
                return Ok(Flow::End(SessionEnd::Quit));
            }
        }
        Ok(Flow::Continue)
    }

    fn hello(&mut self, name: String, esmtp: bool) {
        self.tx = None;
        let host = &self.cfg.hostname;
        if !esmtp {
            self.send(Reply::plain(250, host.clone()));
            self.hello = Some(Hello { name, esmtp });
            return;
        }
        let mut lines = vec![
            Reply::plain(250, format!("{host} Hello {name} [{}]", self.peer)),
            Reply::plain(250, format!("SIZE {}", self.cfg.max_message_size)),
            Reply::plain(250, "PIPELINING"),
            Reply::plain(250, "8BITMIME"),
        ];
        if self.cfg.tls.is_some() && !self.wire.is_tls() {
            lines.push(Reply::plain(250, "STARTTLS"));
        }
        lines.push(Reply::plain(250, "ENHANCEDSTATUSCODES"));
        self.wire.reply_multi(&lines);
        self.hello = Some(Hello { name, esmtp });
    }

    async fn mail(&mut self, path: Path, params: MailParams) {
        let Some(hello) = &self.hello else {
            return self.send(fixed::bad_sequence("send EHLO/HELO first"));
        };
        if self.tx.is_some() {
            return self.send(fixed::bad_sequence("nested MAIL command"));
        }
        if !hello.esmtp && !params.is_empty() {
            return self.send(fixed::unsupported_param());
        }
        if params.size.is_some_and(|s| s > self.cfg.max_message_size as u64) {
            return self.send(fixed::too_big());
        }
        if params.size.is_some_and(|s| s > self.cfg.data_memory.available() as u64) {
            return self.send(fixed::no_memory());
        }
        let sender = match path {
            Path::Null => None,
            Path::Mailbox(m) => Some(m),
            Path::Postmaster => return self.send(fixed::bad_sender()),
        };
        match self.policy.on_mail_from(sender.as_ref(), self.peer).await.refusal() {
            Some(r) => self.send(r),
            None => {
                self.tx = Some(Transaction { sender, recipients: Vec::new(), size: params.size });
                self.send(fixed::sender_ok());
            }
        }
    }

    /// Resolves a forward-path; `<postmaster>` means this gateway's own postmaster.
    fn recipient(&self, path: Path) -> Result<Mailbox, Reply> {
        match path {
            Path::Null => Err(fixed::bad_rcpt()),
            Path::Postmaster => Ok(Mailbox::new("postmaster", &self.cfg.hostname)),
            Path::Mailbox(m) if has_routing_chars(m.local()) => Err(fixed::routing_chars()),
            Path::Mailbox(m) => Ok(m),
        }
    }

    async fn rcpt(&mut self, path: Path) -> Result<(), WireError> {
        match self.check_rcpt(path).await? {
            Ok(rcpt) => {
                if let Some(tx) = &mut self.tx
                    && !tx.recipients.contains(&rcpt)
                {
                    tx.recipients.push(rcpt);
                }
                self.send(fixed::rcpt_ok());
            }
            Err(r) => {
                bump(&self.cfg.metrics.recipients_refused);
                self.send(r);
            }
        }
        Ok(())
    }

    /// The recipient, or the refusal to answer; the policy's check (which may ask the
    /// recipient's server) ends when the shutdown grace does.
    async fn check_rcpt(&mut self, path: Path) -> Result<Result<Mailbox, Reply>, WireError> {
        let Some(tx) = &self.tx else {
            return Ok(Err(fixed::bad_sequence("need MAIL before RCPT")));
        };
        if tx.recipients.len() >= self.cfg.max_recipients {
            return Ok(Err(fixed::too_many_rcpts()));
        }
        let rcpt = match self.recipient(path) {
            Ok(rcpt) => rcpt,
            Err(r) => return Ok(Err(r)),
        };
        let verdict = self.wire.unless_cut(self.policy.on_rcpt_to(tx.sender.as_ref(), &rcpt, self.peer)).await?;
        Ok(match verdict.refusal() {
            Some(r) => Err(r),
            None => Ok(rcpt),
        })
    }
}
