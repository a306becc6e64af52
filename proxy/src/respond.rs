//! Small responses the proxy writes itself: token refusals (as the core
//! decided them), 404, 400, 431,
//! 502/504. Written header-then-body so the client's connection stays alive
//! (pingora's `respond_error` closes it, which makes rejected clients
//! reconnect and rejections dearer than passes).

use attestgate::Refusal;
use bytes::Bytes;
use http::StatusCode;
use pingora_core::protocols::http::HttpTask;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

/// gRPC status codes we answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrpcCode {
    /// 4 DEADLINE_EXCEEDED: the upstream did not answer in time.
    DeadlineExceeded = 4,
    /// 8 RESOURCE_EXHAUSTED: the request headers are too large.
    ResourceExhausted = 8,
    /// 12 UNIMPLEMENTED: no route for the method.
    Unimplemented = 12,
    /// 13 INTERNAL: the request could not be forwarded.
    Internal = 13,
    /// 14 UNAVAILABLE.
    Unavailable = 14,
}

/// Whether the request is gRPC or gRPC-Web (the core's rule).
pub(crate) fn is_grpc(session: &Session) -> bool {
    attestgate::is_grpc(&session.req_header().headers)
}

/// The content type of a gRPC answer (the core's rule: gRPC-Web keeps its
/// own).
fn grpc_content_type(session: &Session) -> http::HeaderValue {
    attestgate::grpc_content_type(&session.req_header().headers)
        .unwrap_or_else(|| http::HeaderValue::from_static("application/grpc"))
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
pub(crate) fn settle_request_body(session: &mut Session) {
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

/// A refused token check: the core's [`Refusal`] as it is (status,
/// headers, body). A gRPC refusal has no body: its headers end the stream,
/// which over HTTP/2 is a trailers-only response.
pub(crate) async fn refusal(session: &mut Session, refusal: &Refusal) -> Result<()> {
    settle_request_body(session);
    let headers = refusal.headers();
    let mut resp = ResponseHeader::build(refusal.status(), Some(headers.len() + 1))?;
    for (name, value) in headers {
        resp.insert_header(name, value)?;
    }
    let body = refusal.body();
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    if body.is_empty() {
        // trailers-only: one HEADERS frame with END_STREAM over HTTP/2 (see
        // `grpc` below for why not `write_response_header`)
        session
            .write_response_tasks(vec![HttpTask::Header(Box::new(resp), true)])
            .await?;
    } else {
        session.write_response_header(Box::new(resp), false).await?;
        session
            .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
            .await?;
    }
    Ok(())
}

/// A gRPC "trailers-only" error: `:status 200`, `grpc-status` and a short
/// fixed `grpc-message` in the headers, no body; over HTTP/2 one HEADERS
/// frame with END_STREAM, nothing else on the stream (the form every gRPC
/// client reads as the status). gRPC-Web gets the same with its own
/// content type: the gRPC-Web form of a trailers-only response. The reason
/// is never sent.
pub(crate) async fn grpc(
    session: &mut Session,
    code: GrpcCode,
    message: &'static str,
) -> Result<()> {
    settle_request_body(session);
    let mut resp = ResponseHeader::build(StatusCode::OK, Some(4))?;
    resp.insert_header(http::header::CONTENT_TYPE, grpc_content_type(session))?;
    resp.insert_header("grpc-status", (code as u16).to_string())?;
    resp.insert_header("grpc-message", message)?;
    resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
    // As a task with end-of-stream: Pingora's `write_response_header` sends
    // HTTP/2 HEADERS without END_STREAM and then an empty DATA frame that
    // ends the stream, which strict clients (grpc-go, grpc-core) read as
    // headers without trailers (INTERNAL/UNKNOWN), not as trailers-only.
    session
        .write_response_tasks(vec![HttpTask::Header(Box::new(resp), true)])
        .await?;
    Ok(())
}

/// The gRPC status that stands for an HTTP status the proxy answers with
/// itself, after gRPC's HTTP-to-status mapping where it has one (400
/// INTERNAL, 404 UNIMPLEMENTED, 502/503 UNAVAILABLE), and for 431 and 504
/// the codes gRPC servers use for the same events.
fn grpc_equivalent(status: StatusCode) -> (GrpcCode, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (GrpcCode::Unimplemented, "no route"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            (GrpcCode::ResourceExhausted, "request headers too large")
        }
        StatusCode::BAD_GATEWAY => (GrpcCode::Unavailable, "bad gateway"),
        StatusCode::SERVICE_UNAVAILABLE => (GrpcCode::Unavailable, "service unavailable"),
        StatusCode::GATEWAY_TIMEOUT => (GrpcCode::DeadlineExceeded, "gateway timeout"),
        StatusCode::BAD_REQUEST => (GrpcCode::Internal, "bad request"),
        _ => (GrpcCode::Internal, "request not forwarded"),
    }
}

/// An answer the proxy gives itself, instead of the upstream's (400, 404,
/// 431, 502, 504, …): a small JSON body, or for a gRPC call the gRPC status
/// a client can read (a JSON body would be read as a broken gRPC frame:
/// INTERNAL, "invalid compression flag" or "unexpected EOF").
pub(crate) async fn answer(
    session: &mut Session,
    status: StatusCode,
    body: &'static [u8],
) -> Result<()> {
    if !is_grpc(session) {
        return json(session, status, body).await;
    }
    let (code, message) = grpc_equivalent(status);
    grpc(session, code, message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_answers_map_to_the_grpc_codes_clients_expect() {
        for (status, code) in [
            (400, GrpcCode::Internal),
            (404, GrpcCode::Unimplemented),
            (431, GrpcCode::ResourceExhausted),
            (500, GrpcCode::Internal),
            (502, GrpcCode::Unavailable),
            (503, GrpcCode::Unavailable),
            (504, GrpcCode::DeadlineExceeded),
        ] {
            let (got, message) = grpc_equivalent(StatusCode::from_u16(status).unwrap());
            assert_eq!(got, code, "{status}");
            assert!(!message.is_empty() && message.is_ascii(), "{status}");
        }
    }
}
