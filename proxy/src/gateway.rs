//! The Pingora phases. Each is short and delegates: the token rules live in
//! the core crate (`attestgate::Verifier`), so the proxy and the tower layer
//! decide alike.
//!
//! - `request_filter`: limits, the canonical request, route, then the
//!   core's decision ([`Verifier::decide`]): a refusal is written as the
//!   core made it; nothing here decides.
//! - `upstream_peer`: the route's prebuilt peer, nothing from the request.
//! - `upstream_request_filter`: `Host`, token header and query parameter
//!   removal, claim headers, secret substitution (passing requests only).
//! - `upstream_response_filter`: drops response headers that echo a secret.
//! - `fail_to_connect` / `fail_to_proxy`: no retries; 502/504 with a small body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use attestgate::substitute::SubstituteError;
use attestgate::target::BodyHint;
use attestgate::{Outcome, Reason, RequestParts, Secret, UpstreamErrorKind};
use http::{HeaderName, HeaderValue, StatusCode, header};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::inbound::Inbound;
use crate::respond;
use crate::routes::RouteTable;

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

/// Total size of the request line's target and headers, as sent.
fn header_bytes(req: &RequestHeader) -> usize {
    req.headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.raw_path().len()
}

impl Gateway {
    /// Answers itself in the core's form ([`attestgate::Refusal::own`]: a
    /// small JSON body, a gRPC status to a gRPC call) and counts nothing (not a token outcome).
    async fn refuse(&self, session: &mut Session, status: StatusCode) -> Result<bool> {
        respond::answer(session, status).await?;
        Ok(true)
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
        let req = session.req_header();
        if header_bytes(req) > self.max_header_bytes {
            return self
                .refuse(session, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                .await;
        }
        // Only WebSocket upgrades are tunnelled (DESIGN §8), and only with
        // GET (RFC 6455): an exempt OPTIONS or HEAD never opens a tunnel.
        if !attestgate::target::upgrade_allowed(req.version, &req.method, &req.headers) {
            tracing::debug!(target: "attestgate::reject", "upgrade other than a websocket GET refused");
            return self.refuse(session, StatusCode::BAD_REQUEST).await;
        }
        let tls = is_tls(session);
        let view = match self.inbound.canonicalize(session.req_header_mut(), tls) {
            Ok(view) => ctx.view.insert(view),
            Err(why) => {
                tracing::debug!(target: "attestgate::reject", why = why.as_str(), "request target or host refused");
                return self.refuse(session, StatusCode::BAD_REQUEST).await;
            }
        };
        if let Some(p) = &self.pins
            && p.handle(session).await?
        {
            return Ok(true);
        }
        let Some(index) = self.routes.find(
            view.host().name(),
            view.target().path(),
            self.path_case_insensitive,
        ) else {
            return self.refuse(session, StatusCode::NOT_FOUND).await;
        };
        ctx.route = Some(index);
        let Some(route) = self.routes.get(index) else {
            return self.refuse(session, StatusCode::NOT_FOUND).await;
        };
        let Some(verifier) = &route.verifier else {
            // No [token] section: every route is token = "off".
            ctx.outcome = Some(Outcome::Allowed);
            route.metrics.outcome(Outcome::Allowed);
            return Ok(false);
        };
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let body = if session.is_body_empty() {
            BodyHint::Empty
        } else {
            BodyHint::Present
        };
        let req = session.req_header();
        let mut decision = verifier.decide(RequestParts {
            method: &req.method,
            uri: &req.uri,
            headers: &req.headers,
            client,
            body,
        });
        ctx.signed_body = crate::signing::check(session, &mut decision, ctx.view.as_ref()).await?;
        let req = session.req_header();
        ctx.outcome = Some(decision.outcome());
        ctx.reason = decision.reason();
        if let Some(refusal) = decision.refusal() {
            respond::refusal(session, refusal).await?;
            return Ok(true);
        }
        if decision.secrets_allowed() {
            // A substituted header must be unambiguous.
            if attestgate::secrets::apply::ambiguous(&route.substitutions, &req.headers) {
                return self.refuse(session, StatusCode::BAD_REQUEST).await;
            }
            ctx.secrets_allowed = true;
        }
        if let Some(token) = decision.token()
            && !route.forward_claims.is_empty()
        {
            let names: Vec<&str> = route.claim_names.iter().map(String::as_str).collect();
            ctx.claims = route
                .forward_claims
                .iter()
                .zip(token.claims_as_headers(&names))
                .filter_map(|(h, v)| Some((h.clone(), v?)))
                .collect();
        }
        Ok(false)
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        match ctx.route.and_then(|i| self.routes.get(i)) {
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
        let Some(route) = ctx.route.and_then(|i| self.routes.get(i)) else {
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
        // Tell the upstream who asked, without trusting what the client
        // said: the authority of the request view (`Host` or HTTP/2's
        // `:authority`, canonical), the scheme it connected with.
        match ctx
            .view
            .as_ref()
            .and_then(|v| HeaderValue::from_str(v.authority()).ok())
        {
            Some(host) => upstream.insert_header("x-forwarded-host", host)?,
            None => {
                upstream.remove_header("x-forwarded-host");
            }
        }
        upstream.insert_header(header::HOST, route.upstream_host.clone())?;
        let proto = if is_tls(session) { "https" } else { "http" };
        upstream.insert_header("x-forwarded-proto", proto)?;
        if let Some(ip) = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
        {
            let xff = match upstream
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prev) => format!("{prev}, {ip}"),
                None => ip,
            };
            upstream.insert_header("x-forwarded-for", xff)?;
        }

        // The token's query parameter never reaches the upstream (whether
        // or not it was the token's source).
        if let Some(param) = route
            .verifier
            .as_ref()
            .and_then(|v| v.policy().query_param.as_deref())
            && let Some(q) = upstream.uri.query()
            && let Some(rest) = attestgate::query::without(q, param)
        {
            ctx.query = Some(zeroize::Zeroizing::new(rest));
        }
        let mut substituted = 0u64;
        if ctx.secrets_allowed {
            let query = ctx
                .query
                .as_deref()
                .map(String::as_str)
                .or(upstream.uri.query());
            let applied =
                attestgate::secrets::apply::apply(&route.substitutions, &upstream.headers, query)
                    .map_err(|e| match e {
                    SubstituteError::Repeated => {
                        Error::explain(ErrorType::HTTPStatus(400), "substituted parameter repeated")
                    }
                    SubstituteError::NotAHeaderValue => Error::explain(
                        ErrorType::InternalError,
                        "substituted value is not a header value",
                    ),
                })?;
            substituted = applied.count() as u64;
            for (name, value) in applied.headers {
                upstream.insert_header(name, value)?;
            }
            if applied.query.is_some() {
                ctx.query = applied.query;
            }
            ctx.secrets = applied.secrets;
        }
        // The target is the canonical one request_filter wrote; only a
        // substituted or removed query parameter changes it.
        if let Some(q) = &ctx.query {
            let target = zeroize::Zeroizing::new(if q.is_empty() {
                upstream.uri.path().to_owned()
            } else {
                format!("{}?{}", upstream.uri.path(), q.as_str())
            });
            let uri = http::Uri::try_from(target.as_str())
                .map_err(|_| Error::explain(ErrorType::HTTPStatus(400), "request target"))?;
            upstream.set_uri(uri);
        }
        if substituted > 0 {
            route.metrics.substituted(substituted);
        }
        Ok(())
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
        if let (Some(addr), Some(route)) = (
            ctx.upstream_addr,
            ctx.route.and_then(|i| self.routes.get(i)),
        ) && matches!(
            e.etype(),
            ErrorType::ConnectRefused
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectTimedout
                | ErrorType::ConnectError
        ) && let Some(a) = &route.addresses
        {
            a.refused(addr);
        }
        // One upstream per route: retrying the same address only multiplies
        // the wait (and a non-idempotent request must never be sent twice).
        e.set_retry(false);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let (code, kind) = match e.etype() {
            ErrorType::HTTPStatus(code) => (*code, None),
            ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => {
                (504, Some(UpstreamErrorKind::Timeout))
            }
            ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if e.esource() == &ErrorSource::Upstream =>
            {
                (504, Some(UpstreamErrorKind::Timeout))
            }
            ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError => {
                (502, Some(UpstreamErrorKind::Connect))
            }
            _ => match e.esource() {
                ErrorSource::Upstream => (502, Some(UpstreamErrorKind::Other)),
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                        (0, None)
                    }
                    _ => (400, None),
                },
                ErrorSource::Internal | ErrorSource::Unset => (500, None),
            },
        };
        if let (Some(kind), Some(route)) = (kind, ctx.route.and_then(|i| self.routes.get(i))) {
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
        let req = session.req_header();
        match &ctx.view {
            Some(v) => format!(
                "{} {}, Host: {}",
                req.method,
                attestgate::redact::target(req.uri.path_and_query().map_or("/", |p| p.as_str())),
                v.authority()
            ),
            None => format!(
                "{} {}",
                req.method,
                attestgate::redact::target(&String::from_utf8_lossy(req.raw_path()))
            ),
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        // Upstream failures are counted and answered; keep the log for the
        // unexpected.
        matches!(error.etype(), ErrorType::HTTPStatus(_))
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let route = ctx.route.and_then(|i| self.routes.get(i));
        if let Some(r) = route {
            r.metrics.request_seconds(ctx.start.elapsed().as_secs_f64());
        }
        if !self.access_log {
            return;
        }
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let req = session.req_header();
        let route = route.map_or("-", |r| &*r.name);
        tracing::info!(
            target: "attestgate::access",
            route,
            method = %req.method,
            path = req.uri.path(),
            status,
            outcome = ctx.outcome.map_or("-", Outcome::as_str),
            reason = ctx.reason.map_or("-", Reason::as_str),
            error = e.map(|e| e.etype().as_str()).unwrap_or("-"),
            micros = ctx.start.elapsed().as_micros() as u64,
            "request"
        );
    }
}
