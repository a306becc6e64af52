//! Small responses the proxy writes itself: rejections, 404, 400, 431,
//! 502/504. Written header-then-body so the client's connection stays alive
//! (pingora's `respond_error` closes it, which makes rejected clients
//! reconnect and rejections dearer than passes).

use bytes::Bytes;
use http::StatusCode;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

/// gRPC status codes we answer with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum GrpcCode {
    /// 16 UNAUTHENTICATED.
    Unauthenticated = 16,
    /// 14 UNAVAILABLE.
    Unavailable = 14,
}

/// Whether the request is gRPC (`content-type: application/grpc*`).
pub(crate) fn is_grpc(session: &Session) -> bool {
    session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// After answering without the upstream, how long Pingora may go on reading
/// a body the client announced (and we never use) so that the connection
/// can serve the next request; a body not done by then closes it.
const DRAIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// Before answering without the upstream: the answer goes out at once, never
/// after waiting for a body the client announced.
/// - No body: the connection stays.
/// - `Expect: 100-continue`: the client waits for our word before sending
///   the body; it gets the final answer (never `100`) and `Connection:
///   close`, so it sends nothing more.
/// - Otherwise: afterwards, what arrives within [`DRAIN_WINDOW`] is read
///   off and dropped (nothing read here goes anywhere); a body not done by
///   then closes the connection.
fn settle_request_body(session: &mut Session) {
    let req = session.req_header();
    let has_body = req.headers.contains_key(http::header::TRANSFER_ENCODING)
        || req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let expects = req
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects {
        session.set_keepalive(None);
    } else {
        // Pingora would close a connection answered before its body is
        // read; reading it off afterwards (bounded) keeps it for the next
        // request, and a refused client costs no reconnect.
        session.set_close_on_response_before_downstream_finish(false);
        session.set_total_drain_timeout(Some(DRAIN_WINDOW));
    }
}

/// A JSON response with a fixed body.
pub(crate) async fn json(
    session: &mut Session,
    status: StatusCode,
    body: &'static [u8],
) -> Result<()> {
    settle_request_body(session);
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(body)), true)
        .await?;
    Ok(())
}

/// A gRPC "trailers-only" error: HTTP 200 with `grpc-status` in the headers
/// and no body. The message is generic: the reason is never sent.
pub(crate) async fn grpc(session: &mut Session, code: GrpcCode) -> Result<()> {
    settle_request_body(session);
    let mut resp = ResponseHeader::build(StatusCode::OK, Some(4))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/grpc")?;
    resp.insert_header("grpc-status", (code as u16).to_string())?;
    let message = match code {
        GrpcCode::Unauthenticated => "unauthenticated",
        GrpcCode::Unavailable => "unavailable",
    };
    resp.insert_header("grpc-message", message)?;
    resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
    session.write_response_header(Box::new(resp), true).await?;
    Ok(())
}

/// A failed token check: the configured status with `{}`, or a gRPC error.
pub(crate) async fn rejection(session: &mut Session, status: StatusCode) -> Result<()> {
    if is_grpc(session) {
        let code = if status == StatusCode::SERVICE_UNAVAILABLE {
            GrpcCode::Unavailable
        } else {
            GrpcCode::Unauthenticated
        };
        grpc(session, code).await
    } else {
        json(session, status, b"{}").await
    }
}
