//! Approov message signing in the layer: the core decides (the decision's
//! [`attestgate::SignatureStep`], finished without waiting); this only
//! gathers the request's parts.
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
use attestgate::{Decision, SignedBody};
use http::Request;

/// Runs the signature step of `decision` on `req` (nothing when the
/// decision has none).
pub(crate) fn check<B>(decision: &mut Decision, req: &Request<B>) {
    let Some(step) = decision.pending_signature() else {
        return;
    };
    // A body the check needs cannot be buffered here.
    let body = if step.body_limit().is_some() {
        SignedBody::Unbuffered
    } else {
        SignedBody::None
    };
    // The core's request view, as the proxy builds it: the one authority
    // (`Host`, or HTTP/2's `:authority`; both must agree), the canonical
    // target, the scheme of the URI (`http` when the server gives none).
    let view = RequestView::of_request(req, None, TargetRules::default()).ok();
    step.finish_now(view.as_ref(), req.headers(), body);
}
