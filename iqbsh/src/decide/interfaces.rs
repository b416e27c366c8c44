//! The host's own addresses, as the kernel knows them: every address of
//! every interface, read with one netlink `RTM_GETADDR` dump (a route netlink
//! socket through rustix; the messages are read here, a few fixed headers), at
//! start and again each time the kernel announces that an address was added
//! or removed (the `RTMGRP_IPV4_IFADDR` and `RTMGRP_IPV6_IFADDR` groups), so an address
//! given to the host later is the gateway's own within moments. Loopback
//! addresses are left out: the destination policy's deny list closes them,
//! and a deliberate `allow` of loopback (the tests') stays possible.
//!
//! Must not: block an async worker (the dump runs on the blocking pool; the
//! watch socket is non-blocking and polled by tokio).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use std::os::fd::OwnedFd;

use arc_swap::ArcSwap;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
/// Header sizes: `nlmsghdr` and `ifaddrmsg`.
const NLMSG_HDR: usize = 16;
const IFADDRMSG: usize = 8;

/// The host's addresses (loopback left out), kept current. Cheap to clone; clones share.
#[derive(Debug, Clone, Default)]
pub struct LocalAddrs(Arc<ArcSwap<Vec<IpAddr>>>);

impl LocalAddrs {
    /// A set holding `addrs` (for a policy that does not follow the host's).
    pub(crate) fn fixed(addrs: Vec<IpAddr>) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(addrs)))
    }

    /// The addresses now.
    pub fn current(&self) -> Arc<Vec<IpAddr>> {
        self.0.load_full()
    }

    /// Reads the host's addresses now and follows their changes until `stop`.
    pub(crate) async fn follow(stop: watch::Receiver<bool>) -> io::Result<Self> {
        let watch = Watch::bind()?;
        let addrs = Self::fixed(read_blocking().await?);
        tokio::spawn(watch.run(addrs.clone(), stop));
        Ok(addrs)
    }
}

/// A route netlink socket bound to `groups` (0: none).
fn route_socket(groups: u32, flags: SocketFlags) -> io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(AddressFamily::NETLINK, SocketType::RAW, flags | SocketFlags::CLOEXEC, None)?;
    rustix::net::bind(&fd, &SocketAddrNetlink::new(0, groups))?;
    Ok(fd)
}

/// The socket the kernel announces address changes on.
struct Watch(AsyncFd<OwnedFd>);

impl Watch {
    fn bind() -> io::Result<Self> {
        let fd = route_socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, SocketFlags::NONBLOCK)?;
        // Deprecated because a borrowed descriptor could be closed under it; this one is
        // owned by the AsyncFd and closed only with it (as the gate's sampling sockets are).
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Self(fd))
    }

    /// Reads the addresses again after every announcement (a burst is read once).
    async fn run(self, addrs: LocalAddrs, mut stop: watch::Receiver<bool>) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let ready = tokio::select! {
                ready = self.0.readable() => ready,
                _ = stop.changed() => return,
            };
            let Ok(mut guard) = ready else { return };
            // Drain what is queued; the content does not matter, only that something changed.
            while let Ok(Ok(_)) =
                guard.try_io(|fd| Ok(rustix::net::recv(fd.get_ref(), &mut buf[..], RecvFlags::empty())?))
            {}
            match read_blocking().await {
                Ok(now) => addrs.0.store(Arc::new(now)),
                Err(e) => tracing::warn!(error = %e, "cannot read the host's addresses again; keeping the last ones"),
            }
        }
    }
}

async fn read_blocking() -> io::Result<Vec<IpAddr>> {
    tokio::task::spawn_blocking(read).await.map_err(io::Error::other)?
}

/// Every address of every interface of the host (its network namespace), loopback left out.
pub fn read() -> io::Result<Vec<IpAddr>> {
    let socket = route_socket(0, SocketFlags::empty())?;
    let mut request = Vec::with_capacity(NLMSG_HDR + IFADDRMSG);
    request.extend_from_slice(&((NLMSG_HDR + IFADDRMSG) as u32).to_ne_bytes());
    request.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(&[0u8; IFADDRMSG]);
    rustix::net::send(&socket, &request, SendFlags::empty())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    // A dump of a host's addresses is a few datagrams; the bound only stops a kernel that never says done.
    for _ in 0..10_000 {
        let (n, _) = rustix::net::recv(&socket, &mut buf[..], RecvFlags::empty())?;
        if parse(&buf[..n], &mut out)? {
            out.retain(|ip: &IpAddr| !ip.is_loopback());
            out.sort();
            out.dedup();
            return Ok(out);
        }
    }
    Err(io::Error::other("the kernel's address dump never ended"))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Adds the addresses in one datagram of the dump to `out`; `true` at its end.
fn parse(mut b: &[u8], out: &mut Vec<IpAddr>) -> io::Result<bool> {
    while b.len() >= NLMSG_HDR {
        let len = u32_at(b, 0) as usize;
        if len < NLMSG_HDR || len > b.len() {
            return Err(io::Error::other("a malformed netlink message"));
        }
        match u16_at(b, 4) {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => return Err(io::Error::other("the kernel refused the address dump")),
            RTM_NEWADDR if len >= NLMSG_HDR + IFADDRMSG => out.extend(address(&b[NLMSG_HDR..len])),
            _ => {}
        }
        b = b.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Ok(false)
}

/// The local address of one `ifaddrmsg` and its attributes (`IFA_LOCAL`, else `IFA_ADDRESS`,
/// which on a point-to-point link is the peer's).
fn address(msg: &[u8]) -> Option<IpAddr> {
    let mut attrs = &msg[IFADDRMSG..];
    let (mut local, mut address) = (None, None);
    while attrs.len() >= 4 {
        let (len, kind) = (usize::from(u16_at(attrs, 0)), u16_at(attrs, 2));
        if len < 4 || len > attrs.len() {
            break;
        }
        let ip = match &attrs[4..len] {
            v4 if v4.len() == 4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v4).ok()?))),
            v6 if v6.len() == 16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v6).ok()?))),
            _ => None,
        };
        match kind {
            IFA_LOCAL => local = ip,
            IFA_ADDRESS => address = ip,
            _ => {}
        }
        attrs = attrs.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    local.or(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `RTM_NEWADDR` message with the given attributes.
    fn message(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![2u8, 24, 0, 0, 1, 0, 0, 0];
        for (kind, value) in attrs {
            body.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let mut msg = Vec::new();
        msg.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&RTM_NEWADDR.to_ne_bytes());
        msg.extend_from_slice(&[0u8; 10]);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn a_dump_gives_local_addresses_and_ends_at_done() {
        let mut datagram = message(&[(IFA_ADDRESS, &[198, 51, 100, 2]), (IFA_LOCAL, &[198, 51, 100, 1])]);
        let v6: [u8; 16] = "2001:db8::7".parse::<Ipv6Addr>().expect("v6").octets();
        datagram.extend(message(&[(IFA_ADDRESS, &v6)]));
        let mut out = Vec::new();
        assert!(!parse(&datagram, &mut out).expect("parses"), "no end yet");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(out, vec![ip("198.51.100.1"), ip("2001:db8::7")], "IFA_LOCAL wins over a peer's IFA_ADDRESS");
        let mut done = vec![0u8; NLMSG_HDR];
        done[..4].copy_from_slice(&(NLMSG_HDR as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert!(parse(&done, &mut out).expect("parses"));
        let mut bad = message(&[]);
        bad[0] = 200;
        assert!(parse(&bad, &mut Vec::new()).is_err(), "a length past the datagram");
    }

    #[test]
    fn the_kernel_dump_of_this_host_parses_and_leaves_loopback_out() {
        let addrs = read().expect("the kernel answers");
        assert!(addrs.iter().all(|ip| !ip.is_loopback()), "{addrs:?}");
    }
}
