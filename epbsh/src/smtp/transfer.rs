//! DATA (receive, check, hand to the sink, answer 250 only after it is
//! durable) and STARTTLS (upgrade, refuse pipelined input, reset state).

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::io::{AsyncRead, AsyncWrite};

use super::data::{self, DataOutcome};
use super::policy::{Policy, Sink};
use super::reply::{Reply, fixed};
use super::session::{Flow, Session, SessionEnd, Transaction};
use super::wire::WireError;
use crate::envelope::Envelope;

impl<S, P, K> Session<S, P, K>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    P: Policy,
    K: Sink,
{
    pub(crate) async fn data(&mut self) -> Result<Flow, WireError> {
        let Some(tx) = self.tx.take_if(|tx| !tx.recipients.is_empty()) else {
            let r = if self.tx.is_some() {
                fixed::no_valid_rcpt()
            } else {
                fixed::bad_sequence("need MAIL and RCPT before DATA")
            };
            self.send(r);
            return Ok(Flow::Continue);
        };
        self.wire.reply(&fixed::start_data());
        let outcome = data::read_body(&mut self.wire, self.cfg.max_message_size, self.cfg.max_line_length).await?;
        let reply = match outcome {
            DataOutcome::Body(body) => self.deliver(tx, body).await,
            DataOutcome::TooBig => fixed::too_big(),
            DataOutcome::LineTooLong => fixed::line_too_long(),
            DataOutcome::BareLineEnding => fixed::bare_cr_lf_in_data(),
        };
        self.send(reply);
        Ok(Flow::Continue)
    }

    async fn deliver(&mut self, tx: Transaction, body: Bytes) -> Reply {
        let received_at = OffsetDateTime::now_utc();
        let helo = self.hello.as_ref().map(|h| h.name.clone()).unwrap_or_default();
        let envelope = Envelope {
            sender: tx.sender,
            recipients: tx.recipients,
            received_at,
            client_ip: self.peer,
            helo,
            system_id: None,
        };
        if let Some(r) = self.policy.on_data(&envelope, body.len()).await.refusal() {
            return r;
        }
        let body = self.with_trace_header(&envelope, body);
        match self.sink.store(envelope, body).await {
            Ok(id) => Reply::new(250, (2, 0, 0), format!("OK: queued as {id}")),
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "sink refused message; answering 451");
                fixed::sink_failed()
            }
        }
    }

    /// Prepends the RFC 5321 §4.4 `Received:` trace header.
    fn with_trace_header(&self, env: &Envelope, body: Bytes) -> Bytes {
        let esmtp = self.hello.as_ref().is_some_and(|h| h.esmtp);
        let proto = match (esmtp, self.wire.is_tls()) {
            (false, _) => "SMTP",
            (true, false) => "ESMTP",
            (true, true) => "ESMTPS",
        };
        let date = env.received_at.format(&Rfc2822).unwrap_or_default();
        let header = received(&env.helo, env.client_ip, &self.cfg.hostname, proto, &date);
        let mut out = BytesMut::with_capacity(header.len() + body.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&body);
        out.freeze()
    }

    pub(crate) async fn starttls(&mut self) -> Result<Flow, WireError> {
        let Some(acceptor) = self.cfg.tls.clone() else {
            self.send(fixed::not_implemented());
            return Ok(Flow::Continue);
        };
        if self.wire.is_tls() {
            self.send(fixed::bad_sequence("TLS already active"));
            return Ok(Flow::Continue);
        }
        if self.wire.has_buffered_input() {
            // Anything after the STARTTLS line was sent in plaintext and
            // would otherwise be read as if it came through TLS.
            self.wire.reply(&fixed::tls_injection(&self.cfg.hostname));
            return Ok(Flow::End(SessionEnd::TlsInjection));
        }
        self.wire.reply(&fixed::tls_ready());
        if let Err(e) = self.wire.upgrade(&acceptor).await {
            tracing::info!(peer = %self.peer, error = ?e, "TLS handshake failed");
            return Ok(Flow::End(SessionEnd::TlsFailed));
        }
        self.hello = None;
        self.tx = None;
        Ok(Flow::Continue)
    }
}

fn received(helo: &str, ip: IpAddr, host: &str, proto: &str, date: &str) -> String {
    format!("Received: from {helo} ([{ip}])\r\n\tby {host} with {proto};\r\n\t{date}\r\n")
}
