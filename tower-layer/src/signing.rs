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
//! The request is read through the core's request view
//! ([`attestgate::target::RequestView`]), as the proxy reads it: the
//! scheme is the URI's (`http` when the server gives none, as hyper does
//! for HTTP/1); the authority is `Host`, or HTTP/2's `:authority` (both
//! present must agree); the target is the canonical one (a client that
//! signed a non-canonical path fails). A request without a usable
//! authority is refused (`signature`, `why = request_view`).

use attestgate::target::{RequestView, TargetRules};
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
    // The core's request view, as the proxy builds it: the one authority
    // (`Host`, or HTTP/2's `:authority`; both must agree), the canonical
    // target, the scheme of the URI (`http` when the server gives none).
    let view = match RequestView::of_request(req, None, TargetRules::default()) {
        Ok(v) => v,
        Err(_) => {
            verifier.refuse_request_view(decision, headers, None);
            return;
        }
    };
    let parts = view.signing_parts(headers);
    let body: Option<&[u8]> = None;
    if let Some(signed) = verifier.check_signature(decision, &parts, body, None) {
        verifier.check_replay_now(decision, &signed, headers, None);
    }
}
