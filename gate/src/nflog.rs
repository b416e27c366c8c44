//! The nftables backend's sampling channel: a netlink socket bound to the NFLOG group its
//! `log group N` rule writes to; each message carries the packet's first bytes, the
//! interface it came in on and the rule's prefix (none for unknown sources, `ungranted`
//! or `spoofed` for catalogued sources dropped by policy). Packets are parsed with pnet into a [`Sample`].
//!
//! Must not: block an async worker (the socket is non-blocking and polled by tokio).

use std::net::IpAddr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{ConfigCmd, ConfigMode, PacketNla, ULogMessage, config_request};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{Socket, constants::NETLINK_NETFILTER};
use tokio::io::unix::AsyncFd;

use super::GateError;
use super::sample::{Noted, Sample, noted_of, source_of};

/// Bytes of each logged packet copied to us: enough for either IP header.
const COPY: u32 = 64;

pub struct Nflog {
    socket: AsyncFd<Socket>,
    buf: Vec<u8>,
}

fn nl_err(what: &'static str) -> impl Fn(std::io::Error) -> GateError {
    move |e| GateError::Nft(format!("NFLOG {what}: {e}"))
}

impl Nflog {
    /// Binds to `group` (must be called inside a tokio runtime).
    pub fn bind(group: u16) -> Result<Nflog, GateError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(nl_err("socket"))?;
        socket.bind_auto().map_err(nl_err("bind"))?;
        let _ = socket.set_rx_buf_sz(1 << 20);
        // Deprecated for borrowed descriptors; the AsyncFd owns this socket (see
        // `sample::read_ring`).
        #[allow(deprecated)]
        let socket = AsyncFd::new(socket).map_err(nl_err("poll"))?;
        let mut nflog = Nflog { socket, buf: vec![0; 65536] };
        let bind = config_request(
            NetfilterProtoFamily::Unspec,
            group,
            vec![ConfigCmd::Bind.into(), ConfigMode::new_packet(COPY).into()],
        );
        nflog.request(bind)?;
        nflog.socket.get_ref().set_non_blocking(true).map_err(nl_err("non-blocking"))?;
        Ok(nflog)
    }

    /// Sends a config request and checks the kernel's acknowledgement.
    fn request(&mut self, msg: NetlinkMessage<NetfilterMessage>) -> Result<(), GateError> {
        let mut out = vec![0; msg.header.length as usize];
        msg.serialize(&mut out);
        let socket = self.socket.get_ref();
        socket.send(&out, 0).map_err(nl_err("send"))?;
        let n = socket.recv(&mut &mut self.buf[..], 0).map_err(nl_err("receive"))?;
        let reply = NetlinkMessage::<NetfilterMessage>::deserialize(&self.buf[..n])
            .map_err(|e| GateError::Nft(format!("NFLOG reply: {e}")))?;
        match reply.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => {
                Err(GateError::Nft(format!("NFLOG bind refused: {}", e.to_io())))
            }
            _ => Ok(()),
        }
    }

    /// The samples of the next batch of messages (waits for one); None when the kernel
    /// dropped messages because the socket's buffer was full.
    pub async fn next(&mut self) -> Result<Option<Vec<Sample>>, GateError> {
        loop {
            let mut guard = self.socket.readable().await.map_err(nl_err("poll"))?;
            let buf = &mut self.buf;
            match guard.try_io(|s| s.get_ref().recv(&mut &mut buf[..], 0)) {
                Ok(Ok(n)) => return Ok(Some(parse_batch(&self.buf[..n]))),
                // ENOBUFS: messages were dropped; the reader counts it and carries on.
                Ok(Err(e)) if e.raw_os_error() == Some(105) => return Ok(None),
                Ok(Err(e)) => return Err(nl_err("receive")(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Every packet sample in one datagram of netlink messages.
fn parse_batch(mut bytes: &[u8]) -> Vec<Sample> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let Ok(msg) = NetlinkMessage::<NetfilterMessage>::deserialize(bytes) else { break };
        let len = (msg.header.length as usize).max(16);
        if let NetlinkPayload::InnerMessage(NetfilterMessage {
            inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
            ..
        }) = &msg.payload
            && let Some(sample) = sample_of(nlas)
        {
            out.push(sample);
        }
        bytes = bytes.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    out
}

fn sample_of(nlas: &[PacketNla]) -> Option<Sample> {
    let mut ifindex = 0;
    let mut ip: Option<IpAddr> = None;
    let (mut prefix, mut what) = (String::new(), Noted::Unknown);
    for nla in nlas {
        match nla {
            PacketNla::IfIndexInDev(i) => ifindex = *i,
            PacketNla::Prefix(p) => prefix = p.to_string_lossy().into_owned(),
            _ => {}
        }
    }
    for nla in nlas {
        if let PacketNla::Payload(p) = nla {
            ip = source_of(p);
            what = noted_of(&prefix, p).unwrap_or(Noted::Unknown);
        }
    }
    ip.map(|ip| Sample { ip, ifindex, what })
}
