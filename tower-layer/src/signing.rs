//! Approov message signing in the layer (DESIGN §12): the core decides
//! ([`Verifier::check_signature`], [`Verifier::check_replay_now`]); this
//! only gathers the request's parts.
//!
//! `call()` is synchronous and the body is the inner service's, so:
//! - a signed request **with a body** (`Content-Length` other than 0, or
//!   `Transfer-Encoding`) on a signing route is refused (`signature`):
//!   its `Content-Digest` cannot be checked here, and forwarding it
//!   unchecked would let any body through. Put the proxy in front for
//!   routes that sign bodies;
//! - the replay store must answer at once: `replay = "memory"` (or
//!   `"off"`). With `"redis"` every check counts as Redis unreachable
//!   (`on_redis_error` decides).
//!
//! The scheme is the URI's (`http` when the server gives none, as hyper
//! does); the authority is `Host` (or the URI's, HTTP/2).

use attestgate::{Decision, Verifier, msgsig};
use http::{Request, header};

/// Runs the signature step of `decision` on `req` (nothing when the
/// decision has none).
pub(crate) fn check<B>(verifier: &Verifier, decision: &mut Decision, req: &Request<B>) {
    if !verifier.signature_pending(decision) {
        return;
    }
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body && msgsig::MessageSigning::is_signed(headers) {
        verifier.refuse_unbuffered_body(decision, headers, None);
        return;
    }
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let parts = msgsig::RequestParts {
        method: req.method().as_str(),
        scheme: req.uri().scheme_str().unwrap_or("http"),
        authority,
        path_and_query: req.uri().path_and_query().map_or("/", |p| p.as_str()),
        headers,
    };
    let body: Option<&[u8]> = None;
    if let Some(signed) = verifier.check_signature(decision, &parts, body, None) {
        verifier.check_replay_now(decision, &signed, headers, None);
    }
}
