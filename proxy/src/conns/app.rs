//! Where a connection enters: admitted into its worker's pool (or refused
//! at the cap), its stream wrapped, and its HTTP handled by the wrapped
//! application (the proxy, or the admin) with a shutdown signal of its own.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora_core::listeners::{ConnectionFilter, PreTlsProcess};
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::http::v2::server::H2Options;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::server::ShutdownWatch;
use pingora_core::upstreams::peer::{Tracer, Tracing};
use pingora_error::{Error, ErrorType};

use super::Pool;
use super::ctl::{self, Ctl, Phase};
use super::stream::ConnStream;

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
}

impl<A> Guarded<A> {
    pub(crate) fn new(app: Arc<A>, pool: Arc<Pool>, worker: usize) -> Guarded<A> {
        Guarded { app, pool, worker }
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
        let conn = Arc::new(PerConn {
            app: self.app.clone(),
            ctl: ctl.clone(),
            h2_send_timeout: self.pool.send_timeout,
        });
        let stream: Stream = Box::new(ConnStream::new(stream, ctl));
        // Pingora's HTTP/1 keep-alive loop and HTTP/2 stream loop, run for
        // this connection alone; it hands nothing back to reuse.
        ServerApp::process_new(&conn, stream, &own_shutdown).await;
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

/// The wrapped application, for one connection: each HTTP/1 request runs
/// with the connection as the current one (for [`ctl::request_head_read`]),
/// each HTTP/2 stream is counted while it runs.
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
        if session.is_http2() {
            let _open = self.ctl.stream_started();
            // A stream waiting for the client's flow-control window is not
            // a socket write: Pingora's own per-stream write timeout bounds
            // it, and resets the stream (releasing its upstream).
            session.set_write_timeout(Some(self.h2_send_timeout));
            return self.app.process_new_http(session, shutdown).await;
        }
        let reuse = ctl::with_current(
            self.ctl.clone(),
            self.app.process_new_http(session, shutdown),
        )
        .await;
        self.ctl.request_done();
        reuse
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.app.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.app.server_options()
    }

    async fn http_cleanup(&self) {}
}
