//! Where a connection enters: admitted into its worker's pool (or refused
//! at the cap), its stream wrapped, and its HTTP handled by the wrapped
//! application (the proxy, or the admin) with a shutdown signal of its own.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora_core::listeners::{ConnectionFilter, PreTlsProcess};
use pingora_core::protocols::ALPN;
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::http::v2::server::H2Options;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::server::ShutdownWatch;
use pingora_core::upstreams::peer::{Tracer, Tracing};
use pingora_error::{Error, ErrorType};

use super::Pool;
use super::ctl::{self, Ctl, Phase};
use super::stream::{ConnStream, H2_PREFACE};
use crate::lean::Lean;

/// Keeps a connection in its pool's table for as long as its socket lives:
/// Pingora calls `on_disconnected` from the socket's drop, before the
/// descriptor is closed.
struct Registration {
    pool: Arc<Pool>,
    worker: usize,
    ctl: Arc<Ctl>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("worker", &self.worker)
            .field("ctl", &self.ctl)
            .finish()
    }
}

impl Tracing for Registration {
    fn on_connected(&self) {}

    fn on_disconnected(&self) {
        self.pool.remove(self.worker, &self.ctl);
    }

    fn boxed_clone(&self) -> Box<dyn Tracing> {
        // A copy must not unregister the connection a second time.
        Box::new(Detached)
    }
}

#[derive(Debug)]
struct Detached;

impl Tracing for Detached {
    fn on_connected(&self) {}
    fn on_disconnected(&self) {}
    fn boxed_clone(&self) -> Box<dyn Tracing> {
        Box::new(Detached)
    }
}

/// Registers `l4` in `pool` for as long as its socket lives.
fn register(pool: &Arc<Pool>, worker: usize, l4: &mut L4Stream, phase: Phase) -> Option<Arc<Ctl>> {
    let ctl = pool.register(worker, l4.as_raw_fd(), phase)?;
    l4.tracer = Some(Tracer(Box::new(Registration {
        pool: pool.clone(),
        worker,
        ctl: ctl.clone(),
    })));
    Some(ctl)
}

/// The accept loop's filter: applies the cap to each new connection
/// before anything else (a task, a TLS handshake) is spent on it.
pub(crate) struct Admission {
    pub(crate) pool: Arc<Pool>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission")
    }
}

#[async_trait]
impl ConnectionFilter for Admission {
    async fn should_accept(&self, _peer: Option<&std::net::SocketAddr>) -> bool {
        self.pool.reserve().await
    }
}

/// TLS listeners: a connection is registered (and its deadline starts)
/// before its handshake, so a handshake that never ends is bounded too.
pub(crate) struct TlsRegister {
    pub(crate) pool: Arc<Pool>,
    pub(crate) worker: usize,
}

#[async_trait]
impl PreTlsProcess for TlsRegister {
    async fn process(&self, stream: &mut L4Stream) -> pingora_error::Result<()> {
        match register(&self.pool, self.worker, stream, Phase::Handshake) {
            Some(_) => Ok(()),
            None => Error::e_explain(ErrorType::InternalError, "no such worker"),
        }
    }
}

/// One worker's application: every connection it accepts is bounded.
pub(crate) struct Guarded<A> {
    app: Arc<A>,
    pool: Arc<Pool>,
    worker: usize,
    /// The proxy's lean HTTP/1 path, which serves an HTTP/1 connection
    /// first (`app` serves what it hands over, and HTTP/2).
    lean: Option<Lean>,
}

impl<A> Guarded<A> {
    pub(crate) fn new(app: Arc<A>, pool: Arc<Pool>, worker: usize) -> Guarded<A> {
        Guarded {
            app,
            pool,
            worker,
            lean: None,
        }
    }

    /// HTTP/1 connections go to `lean` first.
    pub(crate) fn with_lean(mut self, lean: Lean) -> Guarded<A> {
        self.lean = Some(lean);
        self
    }

    /// The connection's entry: TLS ones were registered before their
    /// handshake; plain ones are registered now.
    fn enter(&self, stream: Stream) -> Option<(Stream, Arc<Ctl>)> {
        if stream.get_ssl_digest().is_some() {
            let ctl = self.pool.lookup(self.worker, stream.id())?;
            ctl.handshake_done();
            return Some((stream, ctl));
        }
        if !stream.as_any().is::<L4Stream>() {
            self.pool.unreserve();
            tracing::warn!("a connection of an unexpected kind was closed");
            return None;
        }
        let mut l4 = stream.into_any().downcast::<L4Stream>().ok()?;
        let ctl = register(&self.pool, self.worker, &mut l4, Phase::Waiting)?;
        Some((l4, ctl))
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let (stream, ctl) = self.enter(stream)?;
        if *shutdown.borrow() {
            ctl.signal_graceful();
        }
        let own_shutdown = ctl.subscribe();
        let _entry = ctl::serve_in_this_task(&ctl);
        let mut stream: Stream = Box::new(ConnStream::new(stream, ctl.clone()));
        if self.is_h2(&mut stream).await? {
            // Pingora's HTTP/2 loop, for this connection alone: each stream
            // runs in a task of its own, counted by `PerConn`.
            let conn = Arc::new(PerConn {
                app: self.app.clone(),
                ctl,
                h2_send_timeout: self.pool.send_timeout,
            });
            ServerApp::process_new(&conn, stream, &own_shutdown).await;
            return None;
        }
        self.http1(stream, &ctl, &own_shutdown).await;
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> Guarded<A> {
    /// Whether the connection speaks HTTP/2: by ALPN over TLS, by its
    /// preface with h2c on (Pingora's own rule). `None`: it closed.
    async fn is_h2(&self, stream: &mut Stream) -> Option<bool> {
        if stream.get_ssl_digest().is_some() {
            return Some(matches!(stream.selected_alpn_proto(), Some(ALPN::H2)));
        }
        if !self.app.server_options().is_some_and(|o| o.h2c) {
            return Some(false);
        }
        let mut buf = [0u8; H2_PREFACE.len()];
        let peeked = stream.try_peek(&mut buf).await.ok()?;
        Some(peeked && buf == *H2_PREFACE)
    }

    /// Pingora's HTTP/1 keep-alive loop (as in its `ServerApp` for HTTP
    /// apps), with the connection marked idle after each request.
    async fn http1(&self, stream: Stream, ctl: &Ctl, shutdown: &ShutdownWatch) {
        let (stream, read) = match &self.lean {
            Some(lean) => match lean.serve(stream, ctl, shutdown).await {
                Some(h) => (h.stream, h.read),
                None => return,
            },
            None => (stream, Vec::new()),
        };
        let mut session = ServerSession::new_http1(stream);
        if !read.is_empty() {
            // What the lean path read of the request it handed over: read
            // again, by Pingora's parser.
            session.set_pipelined_prefix(bytes::BytesMut::from(&read[..]));
        }
        // Pingora's idle limit; ours (`keepalive_timeout`) is the sweeper's.
        session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
        session.set_keepalive_reuses_remaining(
            self.app
                .server_options()
                .and_then(|o| o.keepalive_request_limit),
        );
        let mut reuse = self.app.process_new_http(session, shutdown).await;
        ctl.request_done();
        while let Some((stream, settings)) = reuse.map(ReusedHttpStream::consume) {
            let mut session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            reuse = self.app.process_new_http(session, shutdown).await;
            ctl.request_done();
        }
    }
}

/// The wrapped application for one HTTP/2 connection: each stream is
/// counted while it runs, and may wait for the client's window at most
/// `send_timeout`.
struct PerConn<A> {
    app: Arc<A>,
    ctl: Arc<Ctl>,
    h2_send_timeout: std::time::Duration,
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for PerConn<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let _open = self.ctl.stream_started();
        // A stream waiting for the client's flow-control window is not a
        // socket write: Pingora's own per-stream write timeout bounds it,
        // and resets the stream (releasing its upstream).
        session.set_write_timeout(Some(self.h2_send_timeout));
        self.app.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.app.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.app.server_options()
    }

    async fn http_cleanup(&self) {}
}
