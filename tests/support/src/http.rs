//! A hyper server on 127.0.0.1:0 answering with a closure.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A request as the server saw it, body collected.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: ::http::Method,
    pub uri: ::http::Uri,
    pub version: ::http::Version,
    pub headers: ::http::HeaderMap,
    pub body: Bytes,
}

impl SeenRequest {
    /// Reads a request whole.
    pub async fn collect(req: ::http::Request<Incoming>) -> SeenRequest {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        SeenRequest {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }
}

pub type Response = ::http::Response<Full<Bytes>>;
pub type BoxFut = Pin<Box<dyn Future<Output = Response> + Send>>;
pub type Handler = Arc<dyn Fn(SeenRequest) -> BoxFut + Send + Sync>;

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    scheme: &'static str,
    stop: watch::Sender<bool>,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a connection while it is open.
struct Open(Arc<std::sync::atomic::AtomicUsize>);

impl Open {
    fn new(n: &Arc<std::sync::atomic::AtomicUsize>) -> Open {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Open(n.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Serves one connection until it ends or the server stops.
async fn serve<S>(stream: S, handler: Handler, mut stopped: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: ::http::Request<Incoming>| {
        let handler = handler.clone();
        async move {
            let seen = SeenRequest::collect(req).await;
            Ok::<_, Infallible>(handler(seen).await)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = stopped.changed() => {}
    }
}

impl TestServer {
    /// Starts a server (HTTP/1 and h2c) whose answers come from `handler`.
    pub async fn start(handler: Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::start_on(listener, handler)
    }

    /// Starts on a listener the caller bound.
    pub fn start_on(listener: TcpListener, handler: Handler) -> TestServer {
        TestServer::start_with(listener, None, handler)
    }

    /// Starts on a listener the caller bound, over TLS when `tls` is given
    /// (a handshake that fails, e.g. without a required client
    /// certificate, closes that connection).
    pub fn start_with(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) -> TestServer {
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = watch::channel(false);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = open.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.changed() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let handler = handler.clone();
                let stopped = stopped.clone();
                let acceptor = acceptor.clone();
                let counted = Open::new(&counter);
                tokio::spawn(async move {
                    let _counted = counted;
                    match acceptor {
                        None => serve(stream, handler, stopped).await,
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                serve(tls, handler, stopped).await;
                            }
                        }
                    }
                });
            }
        });
        TestServer {
            addr,
            scheme,
            stop,
            open,
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A response with a status, headers and body.
pub fn response(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response {
    let mut r = ::http::Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::new(body.into())).unwrap()
}

/// A free loopback port (bound, then released). Only for servers that must
/// be given a port number rather than a listener; the race is small.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
