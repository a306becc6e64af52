//! One request on the lean path, once the gateway let it through: the
//! route's peer, a connection to it (the held one, an idle one, or a new
//! one), the request head and body, the response head and body. Each
//! phase of the gateway runs as on Pingora's proxy; errors say which side
//! failed, for the same 502/504 and the same counts.

use std::time::Duration;

use http::{Method, Version, header};
use pingora_core::connectors::TransportConnector;
use pingora_core::protocols::Stream;
use pingora_core::protocols::http::HttpTask;
use pingora_core::protocols::http::v1::client::HttpSession as Upstream;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{ProxyHttp, Session};

use super::hop;
use super::upstreams::{Held, Idle};
use crate::gateway::{Ctx, Gateway};

/// How long an idle upstream connection is kept when its peer says not.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// What the client sent failed (read, or refused as sent).
fn down(e: Box<Error>) -> Box<Error> {
    e.into_down()
}

/// What the upstream did failed.
fn up(e: Box<Error>) -> Box<Error> {
    e.into_up()
}

/// Forwards the request and relays the answer; the upstream connection is
/// held for the next request if both sides finished cleanly.
pub(super) async fn exchange(
    gw: &Gateway,
    connector: &TransportConnector,
    idle: &Idle,
    held: &mut Held,
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<()> {
    let peer = gw.upstream_peer(session, ctx).await?;
    let key = pingora_core::upstreams::peer::Peer::reuse_hash(&*peer);
    let reused = held.take(key, idle).or_else(|| idle.take(key));
    let (req, body) = request_for(gw, session, ctx).await?;
    let (req, body) = match reused {
        Some((stream, idle_for)) => {
            // A kept connection the upstream closed as it was taken (its
            // keep-alive ran out: seconds, never less than one; an upstream
            // that closes sooner says `Connection: close`): an idempotent
            // request that nothing was streamed for and nothing answered
            // goes once more, on a new connection (RFC 9110 §9.2.2).
            let again = (idle_for >= RETRY_AFTER_IDLE
                && is_idempotent(&req.method)
                && !matches!(body, Body::Streamed))
            .then(|| (req.clone(), body.clone()));
            let r = attempt(gw, session, ctx, stream, &peer, req, body).await;
            match (r, again) {
                (Err(e), Some(again)) if stale(&e) && session.response_written().is_none() => again,
                (r, _) => return keep(r, held, key, &peer),
            }
        }
        None => (req, body),
    };
    let stream = match connector.new_stream(&*peer).await {
        Ok(s) => s,
        Err(e) => return Err(gw.fail_to_connect(session, &peer, ctx, up(e))),
    };
    let r = attempt(gw, session, ctx, stream, &peer, req, body).await;
    keep(r, held, key, &peer)
}

/// A kept connection idle this long may have been closed by its upstream's
/// keep-alive timer: a request on it keeps a copy for one retry.
const RETRY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Methods a proxy may send twice (RFC 9110 §9.2.2).
fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A failure of a kept connection that says it was closed under us (not a
/// timeout, not a malformed answer).
fn stale(e: &Error) -> bool {
    e.esource() == &pingora_error::ErrorSource::Upstream
        && matches!(
            e.etype(),
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
        )
}

/// The upstream connection, if both sides finished cleanly, held for the
/// client connection's next request.
fn keep(r: Result<Option<Stream>>, held: &mut Held, key: u64, peer: &HttpPeer) -> Result<()> {
    if let Some(s) = r? {
        held.put(key, s, peer.options.idle_timeout.unwrap_or(DEFAULT_IDLE));
    }
    Ok(())
}

/// The request head for the upstream (the gateway's filters applied) and
/// where its body comes from.
async fn request_for(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
) -> Result<(RequestHeader, Body)> {
    let has_body = !session.is_body_empty();
    let mut req = hop::for_upstream(session.req_header()).map_err(down)?;
    gw.upstream_request_filter(session, &mut req, ctx).await?;
    hop::frame_body(&mut req, has_body)?;
    let body = match ctx.take_signed_body() {
        // Read whole for its signature, checked: sent as it was read.
        Some(whole) => Body::Whole(whole),
        None if has_body => Body::Streamed,
        None => Body::Empty,
    };
    Ok((req, body))
}

/// One try on one connection: the request, and the answer relayed. The
/// connection back if it can carry another request.
async fn attempt(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
    stream: Stream,
    peer: &HttpPeer,
    req: RequestHeader,
    body: Body,
) -> Result<Option<Stream>> {
    let mut upstream = Up::new(stream, peer);
    upstream.write_head(req).await?;
    let streamed = match body {
        Body::Whole(whole) => {
            upstream.write_body(&whole).await?;
            false
        }
        Body::Streamed => true,
        Body::Empty => false,
    };
    if !streamed {
        upstream.finish_body().await?;
    }
    let request_done = relay(session, ctx, gw, &mut upstream, !streamed).await?;
    if !request_done {
        // The upstream answered before the request's body ended: the rest
        // of it is not read; neither connection is reused.
        session.set_keepalive(None);
        return Ok(None);
    }
    let mut upstream = upstream.session;
    upstream.respect_keepalive();
    Ok(upstream.reuse().await)
}

/// The upstream's HTTP/1 session; each read and write is bounded by the
/// route's timeouts (Pingora's own, set on the session).
struct Up {
    session: Upstream,
}

impl Up {
    fn new(stream: Stream, peer: &HttpPeer) -> Up {
        let mut session = Upstream::new_with_options(stream, peer);
        session.read_timeout = peer.options.read_timeout;
        session.write_timeout = peer.options.write_timeout;
        Up { session }
    }

    async fn write_head(&mut self, req: RequestHeader) -> Result<()> {
        self.session
            .write_request_header(Box::new(req))
            .await
            .map_err(up)?;
        Ok(())
    }

    async fn write_body(&mut self, chunk: &[u8]) -> Result<()> {
        self.session.write_body(chunk).await.map_err(up)?;
        Ok(())
    }

    async fn finish_body(&mut self) -> Result<()> {
        self.session.finish_body().await.map_err(up)?;
        Ok(())
    }

    async fn read_task(&mut self) -> Result<HttpTask> {
        self.session.read_response_task().await.map_err(up)
    }
}

/// Where the request's body comes from.
#[derive(Clone)]
enum Body {
    Empty,
    /// Read whole for its message signature.
    Whole(bytes::Bytes),
    /// Streamed from the client while the response is awaited.
    Streamed,
}

/// Streams the request body up and the response down, at once: an
/// upstream may answer (a `100`, or its final answer) before the body
/// ends. Returns whether the request's body was all sent.
async fn relay(
    session: &mut Session,
    ctx: &mut Ctx,
    gw: &Gateway,
    upstream: &mut Up,
    sent: bool,
) -> Result<bool> {
    let mut request_done = sent;
    loop {
        tokio::select! {
            biased;
            task = upstream.read_task() => {
                let task = task?;
                if relay_task(gw, session, ctx, task).await? {
                    return Ok(request_done);
                }
            }
            chunk = session.downstream_session.read_request_body(), if !request_done => {
                match chunk.map_err(down)? {
                    Some(chunk) => {
                        upstream.write_body(&chunk).await?;
                    }
                    None => {
                        upstream.finish_body().await?;
                        request_done = true;
                    }
                }
            }
        }
    }
}

/// Relays one part of the response; `true`: it was the last.
async fn relay_task(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
    task: HttpTask,
) -> Result<bool> {
    match task {
        HttpTask::Header(mut head, end) => {
            if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                // Only upgrades go to Pingora's proxy; this request asked for none.
                return Error::e_explain(
                    ErrorType::InvalidHTTPHeader,
                    "101 to a request without upgrade",
                )
                .map_err(up);
            }
            gw.upstream_response_filter(session, &mut head, ctx).await?;
            frame_response(session.req_header().method == Method::HEAD, &mut head, end)?;
            session
                .write_response_header(head, end)
                .await
                .map_err(down)?;
            Ok(end)
        }
        HttpTask::Body(data, end) => {
            session.write_response_body(data, end).await.map_err(down)?;
            Ok(end)
        }
        HttpTask::Done => Ok(true),
        HttpTask::Failed(e) => Err(up(e)),
        // Pingora's HTTP/1 client reads no trailers and no upgraded body here.
        HttpTask::Trailer(_) | HttpTask::UpgradedBody(..) => Ok(false),
    }
}

/// A final response without framing (an HTTP/1.0 upstream's, ended by its
/// close) goes to the client chunked, so its connection can stay open
/// (as Pingora's proxy does).
fn frame_response(head_request: bool, head: &mut ResponseHeader, end: bool) -> Result<()> {
    let no_body = head_request || matches!(head.status.as_u16(), 204 | 304);
    if !no_body
        && !end
        && !head.status.is_informational()
        && !head.headers.contains_key(header::TRANSFER_ENCODING)
        && !head.headers.contains_key(header::CONTENT_LENGTH)
    {
        head.set_version(Version::HTTP_11);
        head.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(())
}
