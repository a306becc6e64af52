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

/// A JSON response with a fixed body.
pub(crate) async fn json(
    session: &mut Session,
    status: StatusCode,
    body: &'static [u8],
) -> Result<()> {
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
