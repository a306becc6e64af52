//! A tiny HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opens
//! and records their targets, as a corporate egress proxy would see them.
//! It only tunnels to loopback addresses, and can demand
//! `Proxy-Authorization`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct ConnectProxy {
    pub addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Reads the request head (up to 8 KiB).
async fn head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > 8192 || stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    String::from_utf8(buf).ok()
}

async fn handle(
    mut client: TcpStream,
    auth: Option<String>,
    tunnels: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
) {
    let Some(head) = head(&mut client).await else {
        return;
    };
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default().to_owned();
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let refuse = |status: &'static str| {
        refused.fetch_add(1, Ordering::SeqCst);
        status
    };
    let answer = if method != "CONNECT" {
        Err(refuse("405 Method Not Allowed"))
    } else if auth.as_deref().is_some_and(|want| {
        !lines.any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("proxy-authorization") && v.trim() == want
            })
        })
    }) {
        Err(refuse("407 Proxy Authentication Required"))
    } else {
        match target.parse::<SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => TcpStream::connect(a)
                .await
                .map_err(|_| refuse("502 Bad Gateway")),
            _ => Err(refuse("403 Forbidden")),
        }
    };
    targets.lock().unwrap().push(target.to_owned());
    match answer {
        Err(status) => {
            let _ = client
                .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await;
        }
        Ok(mut upstream) => {
            if client
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            tunnels.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    }
}

impl ConnectProxy {
    /// A proxy that tunnels to any loopback address.
    pub async fn start() -> ConnectProxy {
        ConnectProxy::start_with_auth(None).await
    }

    /// A proxy that demands `Proxy-Authorization: <auth>` (e.g.
    /// `Basic dTpw`), answering 407 otherwise.
    pub async fn start_with_auth(auth: Option<String>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let (t, r, g) = (tunnels.clone(), refused.clone(), targets.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(
                    stream,
                    auth.clone(),
                    t.clone(),
                    r.clone(),
                    g.clone(),
                ));
            }
        });
        ConnectProxy {
            addr,
            tunnels,
            refused,
            targets,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }

    /// Requests refused so far (not CONNECT, no auth, not loopback).
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// The `host:port` of every CONNECT received, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
