//! DATA (reserve memory, receive, check, ask the policy again, hand to the sink,
//! answer 250 only after it is durable) and STARTTLS (upgrade, refuse pipelined
//! input, reset state).

use std::net::IpAddr;

use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::io::{AsyncRead, AsyncWrite};

use super::data::{self, DataLimits, DataOutcome, Reader};
use super::policy::{Policy, Sink, SinkError};
use super::reply::{Reply, fixed};
use super::session::{Flow, Session, SessionEnd, Transaction};
use super::wire::WireError;
use crate::envelope::Envelope;
use crate::metrics::bump;

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
        let received_at = OffsetDateTime::now_utc();
        let header = self.trace_header(received_at);
        let limits = DataLimits { max_size: self.cfg.max_message_size, max_line: self.cfg.max_line_length };
        let hint = usize::try_from(tx.size.unwrap_or(0)).unwrap_or(usize::MAX);
        let Some(reader) = Reader::new(header.as_bytes(), hint, limits, &self.cfg.data_memory) else {
            self.refuse_message(fixed::no_memory());
            return Ok(Flow::Continue);
        };
        self.wire.reply(&fixed::start_data());
        self.wire.start_transfer();
        let (outcome, _held_until_stored) = data::read_body(&mut self.wire, reader).await?;
        let reply = match outcome {
            DataOutcome::Body(message) => self.deliver(tx, received_at, message, header.len()).await,
            DataOutcome::TooBig => fixed::too_big(),
            DataOutcome::LineTooLong => fixed::line_too_long(),
            DataOutcome::BareLineEnding => fixed::bare_cr_lf_in_data(),
            DataOutcome::Nul => fixed::nul_in_data(),
            DataOutcome::TooManyHops => fixed::too_many_hops(),
            DataOutcome::NoMemory => fixed::no_memory(),
        };
        match reply.code {
            250 => self.send(reply),
            _ => self.refuse_message(reply),
        }
        Ok(Flow::Continue)
    }

    /// Answers a refusal of the whole message and counts it.
    fn refuse_message(&mut self, reply: Reply) {
        bump(&self.cfg.metrics.messages_refused);
        self.send(reply);
    }

    /// Hands the message (trace header and content) to the sink.
    async fn deliver(&mut self, tx: Transaction, received_at: OffsetDateTime, message: Bytes, header: usize) -> Reply {
        let helo = self.hello.as_ref().map(|h| h.name.clone()).unwrap_or_default();
        let mut envelope = Envelope {
            sender: tx.sender,
            recipients: tx.recipients,
            received_at,
            client_ip: self.peer,
            helo,
            system_id: None,
        };
        if let Some(r) = self.policy.on_data(&mut envelope, message.len() - header).await.refusal() {
            return r;
        }
        match self.sink.store(envelope, message).await {
            Ok(id) => Reply::new(250, (2, 0, 0), format!("OK: queued as {id}")),
            Err(SinkError::Refused(verdict)) => verdict.refusal().unwrap_or_else(fixed::sink_failed),
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "sink refused message; answering 451");
                fixed::sink_failed()
            }
        }
    }

    /// The RFC 5321 §4.4 `Received:` trace header that starts the stored message.
    fn trace_header(&self, received_at: OffsetDateTime) -> String {
        let (helo, esmtp) = self.hello.as_ref().map_or(("", false), |h| (h.name.as_str(), h.esmtp));
        let proto = match (esmtp, self.wire.is_tls()) {
            (false, _) => "SMTP",
            (true, false) => "ESMTP",
            (true, true) => "ESMTPS",
        };
        let date = received_at.format(&Rfc2822).unwrap_or_default();
        received(helo, self.peer, &self.cfg.hostname, proto, &date)
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
