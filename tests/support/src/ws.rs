//! A real WebSocket echo server (tokio-tungstenite) that records the
//! handshake request headers it got, and a client to reach it (or the
//! proxy in front of it).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, accept_hdr_async, client_async};

pub use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The text message the server sends first, right after the handshake.
pub const WELCOME: &str = "welcome";

/// A running echo server: sends [`WELCOME`], then echoes every text and
/// binary message back until the client closes.
pub struct WsUpstream {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<http::HeaderMap>>>,
}

impl WsUpstream {
    pub async fn start() -> WsUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    // tungstenite's callback type fixes the large error.
                    #[allow(clippy::result_large_err)]
                    let callback = |req: &Request, resp: Response| {
                        record.lock().unwrap().push(req.headers().clone());
                        Ok(resp)
                    };
                    let Ok(ws) = accept_hdr_async(tcp, callback).await else {
                        return;
                    };
                    echo(ws).await;
                });
            }
        });
        WsUpstream { addr, seen }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The handshake headers of every connection so far.
    pub fn handshakes(&self) -> Vec<http::HeaderMap> {
        self.seen.lock().unwrap().clone()
    }
}

async fn echo(mut ws: WebSocketStream<TcpStream>) {
    use futures_util::{SinkExt, StreamExt};
    if ws.send(Message::text(WELCOME)).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        let reply = match msg {
            Message::Text(_) | Message::Binary(_) => msg,
            Message::Close(_) => break,
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
    let _ = ws.close(None).await;
}

/// Opens a WebSocket to `ws://{addr}{path}` with extra handshake headers.
/// `Err` carries the HTTP answer when the upgrade was refused.
pub async fn connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocketStream<TcpStream>, Box<tungstenite::Error>> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    client_async(req, tcp)
        .await
        .map(|(ws, _)| ws)
        .map_err(Box::new)
}

/// The same over TLS to `addr` (`wss://localhost:PORT`), trusting the
/// kit's CA; ALPN `http/1.1`, as browsers offer for WebSocket.
pub async fn connect_tls(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>, Box<tungstenite::Error>> {
    use tungstenite::client::IntoClientRequest;
    let mut config = crate::tls::client_config();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let mut req = format!("wss://localhost:{}{path}", addr.port())
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    client_async(req, tls)
        .await
        .map(|(ws, _)| ws)
        .map_err(Box::new)
}
