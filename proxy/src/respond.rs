//! Small responses the proxy writes itself: token refusals and its own
//! answers (404, 400, 431, 502/504), each in the form the core's
//! [`Refusal`] gives. Written header-then-body so the client's connection stays alive
//! (pingora's `respond_error` closes it, which makes rejected clients
//! reconnect and rejections dearer than passes).

use attestgate::Refusal;
use bytes::Bytes;
use http::StatusCode;
use pingora_core::protocols::http::HttpTask;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

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

/// A refused request: the core's [`Refusal`] as it is (status, headers,
/// body). A gRPC refusal has no body: its headers end the stream, which
/// over HTTP/2 is a trailers-only response.
pub(crate) async fn refusal(session: &mut Session, refusal: &Refusal) -> Result<()> {
    settle_request_body(session);
    let headers = refusal.headers();
    let mut resp = ResponseHeader::build(refusal.status(), Some(headers.len() + 1))?;
    for (name, value) in headers {
        resp.insert_header(name, value)?;
    }
    let body = refusal.body();
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    if refusal.is_trailers_only() {
        // As a task with end-of-stream: Pingora's `write_response_header`
        // sends HTTP/2 HEADERS without END_STREAM and then an empty DATA
        // frame that ends the stream, which strict clients (grpc-go,
        // grpc-core) read as headers without trailers (INTERNAL/UNKNOWN),
        // not as trailers-only.
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

/// An answer the proxy gives itself, instead of the upstream's (400, 404,
/// 431, 502, 504, …), in the core's form ([`Refusal::own`]): a small JSON
/// body, or for a gRPC call the gRPC status a client can read.
pub(crate) async fn answer(session: &mut Session, status: StatusCode) -> Result<()> {
    let own = Refusal::own(status, &session.req_header().headers);
    refusal(session, &own).await
}
