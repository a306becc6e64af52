//! What the logs show of a request: the summary in Pingora's own error
//! lines, and the access line (`attestgate::access`). Neither holds a token
//! or a secret: query values are redacted, the path is the canonical one.

use attestgate::{Outcome, Reason};
use pingora_error::Error;
use pingora_proxy::Session;

use super::Ctx;
use crate::routes::Route;

/// The method, the target with every query value redacted (a
/// `query_param` token travels there) and the canonical authority.
pub(super) fn summary(session: &Session, ctx: &Ctx) -> String {
    let req = session.req_header();
    match &ctx.view {
        Some(v) => format!(
            "{} {}, Host: {}",
            req.method,
            attestgate::redact::target(req.uri.path_and_query().map_or("/", |p| p.as_str())),
            v.authority()
        ),
        None => format!(
            "{} {}",
            req.method,
            attestgate::redact::target(&String::from_utf8_lossy(req.raw_path()))
        ),
    }
}

/// One line per request.
pub(super) fn access(session: &Session, e: Option<&Error>, ctx: &Ctx, route: Option<&Route>) {
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    let req = session.req_header();
    let route = route.map_or("-", |r| &*r.name);
    tracing::info!(
        target: "attestgate::access",
        route,
        method = %req.method,
        path = req.uri.path(),
        status,
        outcome = ctx.outcome.map_or("-", Outcome::as_str),
        reason = ctx.reason.map_or("-", Reason::as_str),
        error = e.map(|e| e.etype().as_str()).unwrap_or("-"),
        micros = ctx.start.elapsed().as_micros() as u64,
        "request"
    );
}
