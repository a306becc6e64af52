//! The first checks of `request_filter`, before anything reads the request:
//! the size of its head, the upgrades allowed, and the canonical request
//! (docs/DECISIONS.md, "The canonical request"). Then the route.

use http::StatusCode;
use pingora_http::RequestHeader;
use pingora_proxy::Session;

use super::{Ctx, Gateway, is_tls};
use crate::routes::Route;

impl Gateway {
    /// Admits the request's head and makes it canonical (the view is kept
    /// in `ctx`), or says which status refuses it.
    pub(super) fn admit(&self, session: &mut Session, ctx: &mut Ctx) -> Result<(), StatusCode> {
        let req = session.req_header();
        if header_bytes(req) > self.max_header_bytes {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        // Only WebSocket upgrades are tunnelled (docs/DECISIONS.md, "HTTP/2,
        // gRPC and WebSocket"), and only with GET (RFC 6455): an exempt
        // OPTIONS or HEAD never opens a tunnel.
        if !attestgate::target::upgrade_allowed(req.version, &req.method, &req.headers) {
            tracing::debug!(target: "attestgate::reject", "upgrade other than a websocket GET refused");
            return Err(StatusCode::BAD_REQUEST);
        }
        let tls = is_tls(session);
        match self.inbound.canonicalize(session.req_header_mut(), tls) {
            Ok(view) => {
                ctx.view = Some(view);
                Ok(())
            }
            Err(why) => {
                tracing::debug!(target: "attestgate::reject", why = why.as_str(), "request target or host refused");
                Err(StatusCode::BAD_REQUEST)
            }
        }
    }

    /// The route for the canonical host and path, noted in `ctx`.
    pub(super) fn select_route(&self, ctx: &mut Ctx) -> Option<&Route> {
        let view = ctx.view.as_ref()?;
        let index = self.routes.find(
            view.host().name(),
            view.target().path(),
            self.path_case_insensitive,
        )?;
        ctx.route = Some(index);
        self.routes.get(index)
    }
}

/// Total size of the request line's target and headers, as sent.
fn header_bytes(req: &RequestHeader) -> usize {
    req.headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.raw_path().len()
}
