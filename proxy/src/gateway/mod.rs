//! The Pingora phases, each short, in the order Pingora calls them. The
//! token rules live in the core crate (`attestgate::Verifier`), so the
//! proxy and the tower layer decide alike; each phase here translates.
//!
//! - `request_filter`: limits and the canonical request ([`admit`]), the
//!   served pins, the route, then the core's decision ([`token`],
//!   [`Verifier::decide`]; message signatures in [`signing`]): a refusal is
//!   written as the core made it; nothing here decides.
//! - `upstream_peer`: the route's prebuilt peer, nothing from the request.
//! - `upstream_request_filter`: token header removal, claim headers, the
//!   forwarded headers ([`forwarded`]), then the token's query parameter
//!   removed and secrets substituted, passing requests only
//!   ([`substitute`]).
//! - `upstream_response_filter`: drops response headers that echo a secret.
//! - `fail_to_connect` / `fail_to_proxy`: no retries; 502/504 with a small
//!   body ([`errors`]).
//! - `request_summary` / `logging`: what Pingora's error lines show of a
//!   request, and the access line ([`log`]).
//!
//! [`Verifier::decide`]: attestgate::Verifier::decide

mod admit;
mod errors;
mod forwarded;
pub(crate) mod inbound;
mod log;
mod ratelimit;
mod signing;
mod substitute;
mod token;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use attestgate::{Outcome, Reason, Secret};
use http::{HeaderName, HeaderValue, StatusCode};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::respond;
use crate::routes::{Route, RouteTable};
use inbound::Inbound;

/// The proxy's logic; one per worker thread (each runs its own
/// single-threaded Pingora service), sharing everything it holds.
#[derive(Clone)]
pub(crate) struct Gateway {
    /// Routes, ordered for matching.
    pub(crate) routes: Arc<RouteTable>,
    /// Cap on the request headers' total size.
    pub(crate) max_header_bytes: usize,
    /// One log line per request.
    pub(crate) access_log: bool,
    /// How requests are made canonical before anything reads them.
    pub(crate) inbound: Arc<Inbound>,
    /// Route prefixes match ignoring ASCII case.
    pub(crate) path_case_insensitive: bool,
    /// `[pins]`: the signed pin config and the report endpoint.
    pub(crate) pins: Option<Arc<crate::pins::PinsEndpoint>>,
}

/// Requests being processed now, for draining on shutdown. One counter per
/// process: the binary runs one server.
pub(crate) static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Per-request state.
pub(crate) struct Ctx {
    route: Option<usize>,
    /// A token was checked and passed: only then may secrets be
    /// substituted.
    secrets_allowed: bool,
    /// Claim headers for the upstream.
    claims: Vec<(HeaderName, HeaderValue)>,
    /// The address picked for a route with `resolve_interval`.
    upstream_addr: Option<std::net::SocketAddr>,
    outcome: Option<Outcome>,
    reason: Option<Reason>,
    /// Secrets substituted into this request, to scrub from the response.
    secrets: Vec<Arc<Secret>>,
    /// The query after substitution, if a query parameter was replaced.
    query: Option<zeroize::Zeroizing<String>>,
    /// When the request arrived (`attestgate_request_duration_seconds`).
    start: Instant,
    /// The body buffered for its message signature, forwarded in its place.
    signed_body: Option<bytes::Bytes>,
    /// The request as everything after canonicalisation reads it.
    view: Option<attestgate::target::RequestView>,
}

impl Ctx {
    /// The body read whole for its message signature, to forward in place
    /// of the client's stream.
    pub(crate) fn take_signed_body(&mut self) -> Option<bytes::Bytes> {
        self.signed_body.take()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the client connected over TLS.
fn is_tls(session: &Session) -> bool {
    session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .is_some()
}

impl Gateway {
    /// Answers itself in the core's form ([`attestgate::Refusal::own`]: a
    /// small JSON body, a gRPC status to a gRPC call) and counts nothing (not a token outcome).
    async fn refuse(&self, session: &mut Session, status: StatusCode) -> Result<bool> {
        respond::answer(session, status).await?;
        Ok(true)
    }

    /// The route `request_filter` selected.
    fn route(&self, ctx: &Ctx) -> Option<&Route> {
        ctx.route.and_then(|i| self.routes.get(i))
    }

    /// `request_filter`'s first half: limits and the canonical request,
    /// the served pins, the route. `true`: answered (nothing else runs).
    pub(crate) async fn front(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if let Err(status) = self.admit(session, ctx) {
            return self.refuse(session, status).await;
        }
        if let Some(p) = &self.pins
            && p.handle(session).await?
        {
            return Ok(true);
        }
        if self.select_route(ctx).is_none() {
            return self.refuse(session, StatusCode::NOT_FOUND).await;
        }
        Ok(false)
    }

    /// `request_filter`'s second half, on the route `front` selected: the
    /// core's decision. `true`: answered (refused).
    pub(crate) async fn check(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let Some(route) = self.route(ctx) else {
            return Error::e_explain(ErrorType::InternalError, "no route selected");
        };
        let Some(verifier) = &route.verifier else {
            // No [token] section: every route is token = "off".
            ctx.outcome = Some(Outcome::Allowed);
            route.metrics.outcome(Outcome::Allowed);
            return Ok(false);
        };
        self.check_token(session, ctx, route, verifier).await
    }

    /// Whether the lean HTTP/1 path can forward this request (after
    /// `front` selected its route): no upgrade, and the route's peer for it
    /// speaks HTTP/1 only. Otherwise Pingora's proxy serves it.
    pub(crate) fn fits_lean(&self, session: &Session, ctx: &Ctx) -> bool {
        let req = session.req_header();
        if req.version != http::Version::HTTP_11 && req.version != http::Version::HTTP_10 {
            return false;
        }
        if req.headers.contains_key(http::header::UPGRADE) {
            return false;
        }
        self.route(ctx).is_some_and(|r| {
            r.peers.for_request(req).options.alpn == pingora_core::protocols::ALPN::H1
        })
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        // Called once the request's head is read: the connection is busy.
        crate::conns::request_head_read();
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Ctx {
            route: None,
            secrets_allowed: false,
            claims: Vec::new(),
            upstream_addr: None,
            outcome: None,
            reason: None,
            secrets: Vec::new(),
            query: None,
            start: Instant::now(),
            signed_body: None,
            view: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if self.front(session, ctx).await? {
            return Ok(true);
        }
        self.check(session, ctx).await
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        match self.route(ctx) {
            Some(route) => {
                let mut peer = route.peers.for_request(session.req_header()).clone();
                // resolve_interval: the next of the addresses found, skipping
                // those that refused connections since the last resolve.
                if let Some(addr) = route.addresses.as_ref().and_then(|a| a.pick()) {
                    peer._address = addr.into();
                    ctx.upstream_addr = Some(addr);
                }
                Ok(Box::new(peer))
            }
            None => Error::e_explain(ErrorType::InternalError, "no route selected"),
        }
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(route) = self.route(ctx) else {
            return Error::e_explain(ErrorType::InternalError, "no route selected");
        };
        if let Some(v) = &route.verifier
            && !route.forward_token
        {
            upstream.remove_header(v.header_name());
        }
        for (name, value) in std::mem::take(&mut ctx.claims) {
            upstream.insert_header(name, value)?;
        }
        forwarded::set(session, upstream, route, ctx.view.as_ref())?;
        substitute::apply(upstream, route, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // A signed body was read whole and checked: it goes in place of
        // the tail Pingora replays from its retry buffer.
        if let Some(whole) = ctx.signed_body.take() {
            *body = Some(whole);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // The standard reason phrase, never the upstream's text (which may
        // hold anything, a secret included).
        response.set_reason_phrase(None)?;
        if ctx.secrets.is_empty() {
            return Ok(());
        }
        let leaking: Vec<http::HeaderName> = response
            .headers
            .iter()
            .filter(|(_, v)| {
                ctx.secrets
                    .iter()
                    .any(|s| attestgate::substitute::contains_secret(v.as_bytes(), s))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for name in leaking {
            tracing::warn!(header = %name, "dropping a response header that echoes a substituted secret");
            response.remove_header(&name);
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let (Some(addr), Some(route)) = (ctx.upstream_addr, self.route(ctx))
            && errors::is_connect_failure(&e)
            && let Some(a) = &route.addresses
        {
            a.refused(addr);
        }
        // One upstream per route: retrying the same address only multiplies
        // the wait (and a non-idempotent request must never be sent twice).
        e.set_retry(false);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (code, kind) = errors::status_of(e);
        if let (Some(kind), Some(route)) = (kind, self.route(ctx)) {
            route.metrics.upstream_error(kind);
        }
        if code > 0 {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            // The connection closes after this answer: say so, so the
            // client does not send its next request into a closing socket.
            session.set_keepalive(None);
            if respond::answer(session, status).await.is_err() {
                tracing::debug!("could not send the error response; the client is gone");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// What Pingora's own error lines (`Fail to proxy: …`) show of the
    /// request: the method, the target with every query value redacted (a
    /// `query_param` token travels there) and the canonical authority.
    fn request_summary(&self, session: &Session, ctx: &Ctx) -> String {
        log::summary(session, ctx)
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        // Upstream failures are counted and answered; keep the log for the
        // unexpected.
        matches!(error.etype(), ErrorType::HTTPStatus(_))
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let route = self.route(ctx);
        if let Some(r) = route {
            r.metrics.request_seconds(ctx.start.elapsed().as_secs_f64());
        }
        if self.access_log {
            log::access(session, e, ctx, route);
        }
    }
}
