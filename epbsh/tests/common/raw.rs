//! A raw SMTP client on a TCP socket bound to a chosen loopback address: for what swaks
//! cannot do (hold a session open while something changes, pace bytes, send NULs).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// How long one reply is waited for.
const REPLY_WAIT: Duration = Duration::from_secs(20);

pub struct Raw {
    io: BufReader<TcpStream>,
}

impl Raw {
    /// Connects to `server` from `from_ip` (a 127.0.0.0/8 address, or one of the test's
    /// own namespace; IPv4 or IPv6).
    pub async fn connect(server: SocketAddr, from_ip: &str) -> Raw {
        let from: IpAddr = from_ip.parse().expect("ip");
        let socket = if from.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.expect("socket");
        socket.bind(SocketAddr::new(from, 0)).unwrap_or_else(|e| panic!("bind {from}: {e}"));
        let stream = socket.connect(server).await.unwrap_or_else(|e| panic!("connect {from} -> {server}: {e}"));
        Raw { io: BufReader::new(stream) }
    }

    /// Connects, reads the greeting and says EHLO.
    pub async fn greeted(server: SocketAddr, from_ip: &str) -> Raw {
        let mut c = Raw::connect(server, from_ip).await;
        c.expect("220").await;
        c.send(b"EHLO raw.client.test\r\n").await;
        c.expect("250").await;
        c
    }

    /// Writes `bytes`; false when the server has closed.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        let io = self.io.get_mut();
        io.write_all(bytes).await.is_ok() && io.flush().await.is_ok()
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        assert!(self.try_send(bytes).await, "the server closed the connection");
    }

    /// One whole reply (lines joined by '\n'), or `None` at the end of the connection.
    pub async fn reply(&mut self) -> Option<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(REPLY_WAIT, self.io.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            all.push_str(line.trim_end());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(all);
            }
            all.push('\n');
        }
    }

    /// Reads one reply and checks its start.
    pub async fn expect(&mut self, prefix: &str) -> String {
        let r = self.reply().await.unwrap_or_default();
        assert!(r.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    /// Sends one command line and checks the reply's start.
    pub async fn command(&mut self, line: &str, prefix: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(prefix).await
    }
}
