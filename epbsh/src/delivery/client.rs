//! A small SMTP client on tokio for delivery: connect, greeting, EHLO (HELO fallback),
//! STARTTLS per the policy of [`super::tls`], one transaction with a result per
//! recipient, or a recipient probe. MAIL and RCPT are pipelined when the server offers
//! PIPELINING; DATA is sent dot-stuffed. Every reply wait is bounded by the command
//! timeout, the content and the reply to the final dot by the (longer) data timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::error::{ClientError, SendError};
use super::reply::{Reply, read_reply};
use super::stream::Stream;
use super::tls::{TlsClient, TlsState};
use crate::envelope::Mailbox;
use crate::hooks::Outcome;

/// Settings shared by all connections of the delivery agent.
pub(crate) struct ClientOptions<'a> {
    pub helo: &'a str,
    pub tls: Option<&'a TlsClient>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// For the content and the reply to the final dot.
    pub data_timeout: Duration,
}

/// What the server announced in its EHLO reply.
#[derive(Debug, Default, Clone, Copy)]
struct Caps {
    pipelining: bool,
    starttls: bool,
    eightbit: bool,
    size: bool,
}

/// A connected, greeted SMTP client ready for a transaction.
pub(crate) struct Client {
    io: BufReader<Stream>,
    caps: Caps,
    limit: Duration,
    data_limit: Duration,
    pub tls: TlsState,
    pub peer: SocketAddr,
    /// The host name it was opened for (and its certificate verified against).
    pub name: String,
}

impl Client {
    /// Connects to `addr`, reads the greeting, says EHLO and upgrades with STARTTLS when
    /// offered (verifying the certificate for `server_name`).
    pub async fn connect(addr: SocketAddr, server_name: &str, opts: &ClientOptions<'_>) -> Result<Client, ClientError> {
        let tcp = timeout(opts.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Connect(addr, io::ErrorKind::TimedOut.into()))?
            .map_err(|e| ClientError::Connect(addr, e))?;
        tcp.set_nodelay(true)?;
        let io = BufReader::new(Stream::Plain(tcp));
        let (limit, data_limit) = (opts.command_timeout, opts.data_timeout);
        let name = server_name.to_string();
        let mut c = Client { io, caps: Caps::default(), limit, data_limit, tls: TlsState::Plain, peer: addr, name };
        let greeting = c.reply("greeting").await?;
        if greeting.code != 220 {
            return Err(ClientError::Refused { stage: "greeting", reply: greeting });
        }
        c.hello(opts.helo).await?;
        if let (true, Some(tls)) = (c.caps.starttls, opts.tls) {
            c.starttls(tls, server_name).await?;
            c.hello(opts.helo).await?;
        }
        Ok(c)
    }

    async fn hello(&mut self, helo: &str) -> Result<(), ClientError> {
        let r = self.command(&format!("EHLO {helo}\r\n"), "EHLO").await?;
        if r.is_positive() {
            self.caps = parse_caps(&r.text);
            return Ok(());
        }
        let r = self.command(&format!("HELO {helo}\r\n"), "HELO").await?;
        if !r.is_positive() {
            return Err(ClientError::Refused { stage: "HELO", reply: r });
        }
        self.caps = Caps::default();
        Ok(())
    }

    async fn starttls(&mut self, tls: &TlsClient, server_name: &str) -> Result<(), ClientError> {
        let r = self.command("STARTTLS\r\n", "STARTTLS").await?;
        if r.code != 220 {
            return Err(ClientError::Tls(format!("STARTTLS offered but refused: {r}")));
        }
        if !self.io.buffer().is_empty() {
            return Err(ClientError::Protocol("data pipelined after the STARTTLS reply".into()));
        }
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| ClientError::Tls(e.to_string()))?;
        let (connector, recorder) = tls.connector().map_err(ClientError::Tls)?;
        let plain = std::mem::replace(self.io.get_mut(), Stream::Gone);
        let Stream::Plain(tcp) = plain else {
            return Err(ClientError::Protocol("STARTTLS twice".into()));
        };
        let stream = timeout(self.limit, connector.connect(name, tcp))
            .await
            .map_err(|_| ClientError::Timeout("TLS handshake"))?
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        *self.io.get_mut() = Stream::Tls(Box::new(stream));
        self.tls = recorder.state();
        Ok(())
    }

    /// Runs one transaction; returns one outcome per recipient, in order.
    pub async fn send(
        &mut self,
        from: Option<&Mailbox>,
        rcpts: &[&Mailbox],
        body: &[u8],
    ) -> Result<Vec<Outcome>, SendError> {
        let early = |error| SendError { error, committed: false };
        let mut outcomes = self.envelope(from, rcpts, body).await.map_err(early)?;
        let accepted: Vec<usize> = (0..rcpts.len()).filter(|&i| outcomes[i] == Outcome::Delivered).collect();
        if accepted.is_empty() {
            self.reset().await.map_err(early)?;
            return Ok(outcomes);
        }
        let r = self.command("DATA\r\n", "DATA").await.map_err(early)?;
        let final_reply = if r.code == 354 {
            // RFC 5321 §4.5.3.2.6: the reply to the final dot may take 10 minutes; giving
            // up sooner makes the next hop receive the message again at the retry.
            let committed = |error| SendError { error, committed: true };
            self.write_within(self.data_limit, &stuffed(body)).await.map_err(committed)?;
            self.reply_within(self.data_limit, "end of data").await.map_err(committed)?
        } else {
            self.reset().await.map_err(early)?;
            r
        };
        for i in accepted {
            outcomes[i] = final_reply.outcome();
        }
        Ok(outcomes)
    }

    /// MAIL and RCPT (pipelined when offered); an accepted recipient is `Delivered` here.
    async fn envelope(
        &mut self,
        from: Option<&Mailbox>,
        rcpts: &[&Mailbox],
        body: &[u8],
    ) -> Result<Vec<Outcome>, ClientError> {
        let mut mail = format!("MAIL FROM:<{}>", from.map(ToString::to_string).unwrap_or_default());
        if self.caps.size {
            mail.push_str(&format!(" SIZE={}", body.len()));
        }
        if self.caps.eightbit && !body.is_ascii() {
            mail.push_str(" BODY=8BITMIME");
        }
        mail.push_str("\r\n");
        let cmds: Vec<String> = rcpts.iter().map(|r| format!("RCPT TO:<{r}>\r\n")).collect();
        let replies = if self.caps.pipelining {
            self.write(format!("{mail}{}", cmds.concat()).as_bytes()).await?;
            let mut v = Vec::with_capacity(cmds.len() + 1);
            for _ in 0..=cmds.len() {
                v.push(self.reply("MAIL/RCPT").await?);
            }
            v
        } else {
            let first = self.command(&mail, "MAIL").await?;
            let mut v = vec![first];
            for c in &cmds {
                if !v[0].is_positive() {
                    break;
                }
                v.push(self.command(c, "RCPT").await?);
            }
            v
        };
        if !replies[0].is_positive() {
            return Ok(vec![replies[0].outcome(); rcpts.len()]);
        }
        Ok(replies[1..].iter().map(Reply::outcome).collect())
    }

    /// Asks whether the server takes `rcpt` (MAIL FROM:<>, RCPT TO, then RSET): its reply
    /// to RCPT; an error when it refuses the null sender or fails.
    pub async fn probe(&mut self, rcpt: &Mailbox) -> Result<Reply, ClientError> {
        let mail = self.command("MAIL FROM:<>\r\n", "MAIL").await?;
        if !mail.is_positive() {
            return Err(ClientError::Refused { stage: "MAIL FROM:<>", reply: mail });
        }
        let answer = self.command(&format!("RCPT TO:<{rcpt}>\r\n"), "RCPT").await?;
        self.reset().await?;
        Ok(answer)
    }

    /// RSET, for a clean state before reuse.
    pub async fn reset(&mut self) -> Result<(), ClientError> {
        let r = self.command("RSET\r\n", "RSET").await?;
        if r.is_positive() { Ok(()) } else { Err(ClientError::Refused { stage: "RSET", reply: r }) }
    }

    /// QUIT and close, ignoring errors.
    pub async fn quit(mut self) {
        let _ = self.command("QUIT\r\n", "QUIT").await;
        let _ = timeout(self.limit, self.io.get_mut().shutdown()).await;
    }

    async fn command(&mut self, line: &str, stage: &'static str) -> Result<Reply, ClientError> {
        self.write(line.as_bytes()).await?;
        self.reply(stage).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.write_within(self.limit, bytes).await
    }

    async fn write_within(&mut self, limit: Duration, bytes: &[u8]) -> Result<(), ClientError> {
        let io = self.io.get_mut();
        let write = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        timeout(limit, write).await.map_err(|_| ClientError::Timeout("write"))?.map_err(ClientError::Io)
    }

    async fn reply(&mut self, stage: &'static str) -> Result<Reply, ClientError> {
        self.reply_within(self.limit, stage).await
    }

    async fn reply_within(&mut self, limit: Duration, stage: &'static str) -> Result<Reply, ClientError> {
        let read = timeout(limit, read_reply(&mut self.io)).await.map_err(|_| ClientError::Timeout(stage))?;
        Ok(read?)
    }
}

fn parse_caps(text: &str) -> Caps {
    let mut caps = Caps::default();
    for line in text.lines().skip(1) {
        let word = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match word.as_str() {
            "PIPELINING" => caps.pipelining = true,
            "STARTTLS" => caps.starttls = true,
            "8BITMIME" => caps.eightbit = true,
            "SIZE" => caps.size = true,
            _ => {}
        }
    }
    caps
}

/// The DATA content: dot-stuffed, ending in CRLF, then the final `.`.
fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    if body.first() == Some(&b'.') {
        out.push(b'.');
    }
    let mut from = 0;
    for lf in memchr::memmem::find_iter(body, b"\n.") {
        out.extend_from_slice(&body[from..=lf]);
        out.push(b'.');
        from = lf + 1;
    }
    out.extend_from_slice(&body[from..]);
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_and_final_dot() {
        assert_eq!(stuffed(b".a\r\nb\r\n..c\r\n"), b"..a\r\nb\r\n...c\r\n.\r\n");
        assert_eq!(stuffed(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(stuffed(b""), b".\r\n");
        assert_eq!(stuffed(b"a\r\n.\r\n."), b"a\r\n..\r\n..\r\n.\r\n");
    }

    #[test]
    fn capabilities() {
        let caps = parse_caps("mx.example Hello\nSIZE 1000\npipelining\nSTARTTLS\n8BITMIME");
        assert!(caps.pipelining && caps.starttls && caps.eightbit && caps.size);
        assert!(!parse_caps("mx.example\nSTARTTLSX").starttls);
    }
}
