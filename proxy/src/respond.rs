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

/// Largest request body read and dropped so that a refused client keeps
/// its connection; a larger (or unsized) body closes it instead.
const MAX_DRAIN: u64 = 64 * 1024;

/// Before answering without the upstream: read off a small request body so
/// the connection can serve the next request, or mark the connection to
/// close. Nothing read here goes anywhere.
async fn settle_request_body(session: &mut Session) {
    let req = session.req_header();
    let te = req.headers.contains_key(http::header::TRANSFER_ENCODING);
    let len = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match (te, len) {
        (false, None | Some(0)) => {}
        (false, Some(n)) if n <= MAX_DRAIN => {
            if session.drain_request_body().await.is_err() {
                session.set_keepalive(None);
            }
        }
        _ => session.set_keepalive(None),
    }
}

/// A JSON response with a fixed body.
pub(crate) async fn json(
    session: &mut Session,
    status: StatusCode,
    body: &'static [u8],
) -> Result<()> {
    settle_request_body(session).await;
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
    settle_request_body(session).await;
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
