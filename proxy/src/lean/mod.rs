//! The lean HTTP/1 path: an HTTP/1.1 client's requests for an HTTP/1
//! upstream, served in the client connection's own task on Pingora's
//! HTTP/1 server and client sessions, without `pingora-proxy`'s per-request
//! machinery (a boxed request future, two joined halves and a channel
//! between them, a watcher task per idle upstream connection).
//!
//! Every rule is the gateway's, run in the same order as on Pingora's
//! proxy: `front` (limits, canonical request, pins, route), `check` (the
//! core's decision, message signatures, rate limits), `upstream_peer`,
//! `upstream_request_filter`, `upstream_response_filter`, `fail_to_*` and
//! `logging`. What this path does itself is what `pingora-proxy` did
//! around them: the request head for an HTTP/1 upstream ([`hop`]), the
//! body streamed both ways ([`exchange`]), the upstream connection kept
//! for the next request ([`upstreams`]).
//!
//! A request it does not take (an upgrade, or a route whose peer for it
//! speaks HTTP/2) is handed to Pingora's proxy with the connection: the
//! bytes read for it were recorded ([`Ctl::start_recording`]) and are
//! read again by Pingora's parser, and the connection stays there.

mod exchange;
mod hop;
mod upstreams;

use http::Method;
use pingora_core::connectors::{ConnectorOptions, TransportConnector};
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_error::{Error, ErrorType};
use pingora_proxy::{ProxyHttp, Session};

use crate::conns::ctl::Ctl;
use crate::conns::stream::ConnStream;
use crate::gateway::{Ctx, Gateway};
use upstreams::{Held, Idle};

/// One worker's lean path.
pub(crate) struct Lean {
    gateway: Gateway,
    connector: TransportConnector,
    idle: Idle,
}

/// A connection for Pingora's proxy, with the bytes already read from it.
pub(crate) struct HandOver {
    pub(crate) stream: Stream,
    pub(crate) read: Vec<u8>,
}

/// How a request ended.
enum Step {
    /// Answered (`None`), or failed with this error.
    Done(Option<Box<Error>>),
    /// Pingora's proxy serves it.
    HandOver,
}

impl Lean {
    pub(crate) fn new(gateway: Gateway, connect: ConnectorOptions) -> Lean {
        Lean {
            gateway,
            connector: TransportConnector::new(Some(connect)),
            idle: Idle::default(),
        }
    }

    /// Serves the connection's requests; `Some`: the rest is Pingora's.
    pub(crate) async fn serve(
        &self,
        stream: Stream,
        ctl: &Ctl,
        shutdown: &ShutdownWatch,
    ) -> Option<HandOver> {
        let mut held = Held::default();
        let r = self.requests(stream, ctl, shutdown, &mut held).await;
        held.release(&self.idle);
        r
    }

    async fn requests(
        &self,
        mut stream: Stream,
        ctl: &Ctl,
        shutdown: &ShutdownWatch,
        held: &mut Held,
    ) -> Option<HandOver> {
        loop {
            let mut session = Session::new_h1(stream);
            // No timer of Pingora's on the reads: the sweeper bounds the
            // head (`request_header_timeout`) and the idle time between
            // requests (`keepalive_timeout`), and closes an idle connection
            // told to close.
            session.set_keepalive(Some(0));
            ctl.start_recording();
            let read = session.downstream_session.read_request().await;
            if !Self::readable(&mut session, read).await {
                return None;
            }
            if *shutdown.borrow() {
                // A graceful close: this request is answered with
                // `Connection: close`.
                session.set_keepalive(None);
            }
            let mut ctx = self.gateway.new_ctx();
            match self.request(&mut session, &mut ctx, held, ctl).await {
                Step::HandOver => return hand_over(session, ctl),
                Step::Done(None) => self.gateway.logging(&mut session, None, &mut ctx).await,
                Step::Done(Some(e)) => {
                    self.failed(&mut session, &e, &mut ctx).await;
                    self.gateway.logging(&mut session, Some(&e), &mut ctx).await;
                    ctl.request_done();
                    return None;
                }
            }
            drop(ctx);
            ctl.request_done();
            stream = match session.downstream_session.finish().await {
                // Pipelining is off (as on Pingora's proxy): a client that
                // sent its next request early is answered and closed.
                Ok(Some(reusable)) => reusable.into_parts().0,
                _ => return None,
            };
        }
    }

    /// Whether a request head was read; a malformed one is answered 400
    /// and a CONNECT 405 (as Pingora's proxy does), and the connection
    /// closes.
    async fn readable(session: &mut Session, read: pingora_error::Result<bool>) -> bool {
        let status = match read {
            Ok(true) if session.req_header().method != Method::CONNECT => return true,
            Ok(true) => Some(405),
            Ok(false) => None,
            Err(e) if matches!(e.etype(), ErrorType::InvalidHTTPHeader) => Some(400),
            Err(_) => None,
        };
        if let Some(status) = status
            && session
                .downstream_session
                .respond_error(status)
                .await
                .is_err()
        {
            tracing::debug!("could not answer a malformed request; the client is gone");
        }
        session.downstream_session.shutdown().await;
        false
    }

    async fn request(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        held: &mut Held,
        ctl: &Ctl,
    ) -> Step {
        let front = self.gateway.front(session, ctx).await;
        // Nothing read from here on is recorded (a body, drained or
        // forwarded, may be large); a hand-over takes what was.
        ctl.stop_recording();
        match front {
            Err(e) => return Step::Done(Some(e)),
            Ok(true) => return Step::Done(None),
            Ok(false) => {}
        }
        if !self.gateway.fits_lean(session, ctx) {
            return Step::HandOver;
        }
        match self.gateway.check(session, ctx).await {
            Err(e) => return Step::Done(Some(e)),
            Ok(true) => return Step::Done(None),
            Ok(false) => {}
        }
        let r = exchange::exchange(
            &self.gateway,
            &self.connector,
            &self.idle,
            held,
            session,
            ctx,
        )
        .await;
        Step::Done(r.err())
    }

    /// A request that failed: answered 502/504/400 (or not at all: the
    /// client is gone) as on Pingora's proxy, and its error logged with
    /// the request's redacted summary.
    async fn failed(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) {
        if !self.gateway.suppress_error_log(session, ctx, e) {
            tracing::error!(
                "Fail to proxy: {e}, {}",
                self.gateway.request_summary(session, ctx)
            );
        }
        self.gateway.fail_to_proxy(session, e, ctx).await;
    }
}

/// The connection, with what was read for the request, for Pingora's
/// proxy.
fn hand_over(session: Session, ctl: &Ctl) -> Option<HandOver> {
    ctl.stop_recording();
    let ServerSession::H1(h1) = *session.downstream_session else {
        return None;
    };
    let mut conn = h1.into_inner().into_any().downcast::<ConnStream>().ok()?;
    let read = conn.take_recorded();
    Some(HandOver { stream: conn, read })
}
