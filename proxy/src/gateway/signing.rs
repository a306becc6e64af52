//! Approov message signing in the proxy: the core decides (the decision's
//! [`attestgate::SignatureStep`]); this module only buffers the body the check needs and hands it to Pingora to
//! forward once the check passed.
//!
//! Called from `request_filter`, before any byte goes upstream (Pingora
//! connects only after `request_filter`). The body is read whole, at most
//! `max_body_bytes` (413 `{}` beyond it, nothing forwarded).
//!
//! Pingora forwards a body it has read itself; one read here is marked
//! done, so it would send nothing. It does send its retry buffer (64 KiB)
//! first, so the last ≤ 64 KiB of the body are read with that buffer on;
//! `request_body_filter` then swaps that tail for the whole body. A body
//! without `Content-Length` (chunked, HTTP/2 without it) cannot know its
//! tail in advance: on a signed route it is limited to 64 KiB (413 beyond).

use attestgate::target::RequestView;
use attestgate::{Decision, SignedBody};
use bytes::{Bytes, BytesMut};
use http::header;
use pingora_error::Result;
use pingora_proxy::Session;

/// Pingora's retry buffer (its `BODY_BUF_LIMIT`, HTTP/1 and HTTP/2).
const RETRY_BUFFER: u64 = 64 * 1024;

/// Runs the signature step of `decision` (nothing when it has none):
/// reads the body if the check needs it, then lets the core finish the
/// step. On a pass, returns the body to forward instead of what Pingora
/// would read.
pub(crate) async fn check(
    session: &mut Session,
    decision: &mut Decision,
    view: Option<&RequestView>,
) -> Result<Option<Bytes>> {
    let Some(step) = decision.pending_signature() else {
        return Ok(None);
    };
    let read = match step.body_limit() {
        Some(limit) => match read_body(session, limit).await? {
            Some(b) => Some(b),
            None => {
                session.set_keepalive(None);
                None
            }
        },
        None => None,
    };
    let body = match (&read, step.body_limit()) {
        (Some(b), _) => SignedBody::Whole(&b[..]),
        (None, Some(_)) => SignedBody::TooLarge,
        (None, None) => SignedBody::None,
    };
    // The view: scheme as connected, the one authority (`Host` or
    // `:authority`), the canonical target; the same for HTTP/1 and HTTP/2.
    step.finish(view, &session.req_header().headers, body).await;
    Ok(read.filter(|_| decision.refusal().is_none()))
}

fn content_length(session: &Session) -> Option<u64> {
    session
        .req_header()
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The whole body, or `None` when it is over `limit` (or, without
/// `Content-Length`, over the retry buffer).
async fn read_body(session: &mut Session, limit: u64) -> Result<Option<Bytes>> {
    let declared = content_length(session);
    let limit = match declared {
        Some(n) if n > limit => return Ok(None),
        Some(_) => limit,
        None => limit.min(RETRY_BUFFER),
    };
    // A client waiting for `100 Continue` gets it from us (the upstream
    // is not asked yet); the upstream then gets no `Expect`: the body is
    // already here.
    let expects = session
        .req_header()
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects {
        session.write_continue_response().await?;
        session.req_header_mut().remove_header(&header::EXPECT);
    }
    let mut buf = BytesMut::new();
    let mut buffering = false;
    loop {
        let read = buf.len() as u64;
        if !buffering && declared.is_none_or(|n| n.saturating_sub(read) <= RETRY_BUFFER) {
            session.enable_retry_buffering();
            buffering = true;
        }
        match session.read_request_body().await? {
            Some(chunk) => {
                if read + chunk.len() as u64 > limit {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk);
            }
            // Pingora forwards only what its retry buffer holds: a tail
            // that missed it (a read larger than the buffer) cannot be
            // forwarded, so it is refused like an oversized body.
            None if !buf.is_empty() && session.get_retry_buffer().is_none() => {
                tracing::debug!("signed body's tail missed the retry buffer; refused as too large");
                return Ok(None);
            }
            None => return Ok(Some(buf.freeze())),
        }
    }
}
