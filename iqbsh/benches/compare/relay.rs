//! The plain TCP relay a spliced transfer is compared with: read the CONNECT
//! head, connect to the origin on loopback, answer 200, then
//! `copy_bidirectional`; nothing else (no policy, no logging, no SNI peek).

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Starts the relay on the current runtime; returns its address.
pub async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = serve(tcp).await;
            });
        }
    });
    addr
}

async fn serve(tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut reader = BufReader::new(tcp);
    let mut head = String::new();
    reader.read_line(&mut head).await?;
    let port: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad CONNECT line"))?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 || line == "\r\n" {
            break;
        }
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", port)).await?;
    upstream.set_nodelay(true)?;
    let mut client = reader.into_inner();
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
