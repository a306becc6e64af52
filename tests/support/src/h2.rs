//! An HTTP/2-only client (hyper) on one connection, h2c with prior
//! knowledge or TLS with ALPN h2: requests sent on it share the
//! connection, as streams.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;

use crate::client::Reply;

/// One HTTP/2 connection.
#[derive(Clone)]
pub struct H2Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `http` or `https`, for the request URIs.
    scheme: &'static str,
    authority: String,
}

impl H2Conn {
    /// h2c with prior knowledge to `addr`.
    pub async fn h2c(addr: SocketAddr) -> H2Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        H2Conn::handshake(TokioIo::new(tcp), "http", addr.to_string()).await
    }

    /// TLS with ALPN `h2` only to `addr`, trusting the kit's CA and
    /// checking the name `localhost`. Panics if the server does not pick h2.
    pub async fn tls(addr: SocketAddr) -> H2Conn {
        let mut config = crate::tls::client_config();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        H2Conn::handshake(
            TokioIo::new(tls),
            "https",
            format!("localhost:{}", addr.port()),
        )
        .await
    }

    async fn handshake<T>(io: TokioIo<T>, scheme: &'static str, authority: String) -> H2Conn
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        H2Conn {
            sender,
            scheme,
            authority,
        }
    }

    /// Sends a request for `path` on this connection, as a new stream.
    /// `Err` if the stream was reset or the connection failed.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &'static str,
    ) -> Result<Reply, String> {
        let mut req = ::http::Request::builder()
            .method(method)
            .uri(format!("{}://{}{path}", self.scheme, self.authority))
            .version(::http::Version::HTTP_2);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let mut sender = self.sender.clone();
        sender.ready().await.map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}

/// One call as the HTTP/2 frames showed it (the `h2` crate, no
/// abstraction above it): the response headers, every DATA frame's
/// payload (an empty one too: it is a frame), and the trailers.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: ::http::HeaderMap,
    pub data_frames: Vec<Bytes>,
    pub trailers: Option<::http::HeaderMap>,
}

/// POSTs `body` (one DATA frame, END_STREAM) to `path` over a fresh h2c
/// connection and reads the answer frame by frame. A trailers-only answer
/// is headers, no DATA frame and no trailers.
pub async fn raw_call(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> RawAnswer {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = ::h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap();
    let mut req = ::http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (resp, mut send) = client.send_request(req.body(()).unwrap(), false).unwrap();
    send.send_data(Bytes::from_static(body), true).unwrap();
    let resp = resp.await.unwrap();
    let (parts, mut recv) = resp.into_parts();
    let mut data_frames = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        data_frames.push(chunk);
    }
    let trailers = recv.trailers().await.unwrap();
    RawAnswer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        data_frames,
        trailers,
    }
}
