//! The core's decision on a request's token (and message signature), and
//! what a passing request may then carry upstream: substituted secrets and
//! claim headers. Nothing here decides; a refusal is written as the core
//! made it.

use attestgate::target::BodyHint;
use attestgate::{RequestParts, Verifier};
use http::StatusCode;
use pingora_error::Result;
use pingora_proxy::Session;

use super::{Ctx, Gateway, signing};
use crate::respond;
use crate::routes::Route;

impl Gateway {
    /// Asks the core; `Ok(true)` when the request was answered (refused).
    pub(super) async fn check_token(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Route,
        verifier: &Verifier,
    ) -> Result<bool> {
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let body = if session.is_body_empty() {
            BodyHint::Empty
        } else {
            BodyHint::Present
        };
        let req = session.req_header();
        let mut decision = verifier.decide(RequestParts {
            method: &req.method,
            uri: &req.uri,
            headers: &req.headers,
            client,
            body,
        });
        ctx.signed_body = signing::check(session, &mut decision, ctx.view.as_ref()).await?;
        if super::ratelimit::refused(session, route, &decision, client).await? {
            return Ok(true);
        }
        ctx.outcome = Some(decision.outcome());
        ctx.reason = decision.reason();
        if let Some(refusal) = decision.refusal() {
            respond::refusal(session, refusal).await?;
            return Ok(true);
        }
        if decision.secrets_allowed() {
            if attestgate::secrets::apply::ambiguous(
                &route.substitutions,
                &session.req_header().headers,
            ) {
                return self.refuse(session, StatusCode::BAD_REQUEST).await;
            }
            ctx.secrets_allowed = true;
        }
        if let Some(token) = decision.token() {
            ctx.claims = claim_headers(route, token);
        }
        Ok(false)
    }
}

/// The route's claim headers from the passing token.
fn claim_headers(
    route: &Route,
    token: &attestgate::VerifiedToken,
) -> Vec<(http::HeaderName, http::HeaderValue)> {
    if route.forward_claims.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = route.claim_names.iter().map(String::as_str).collect();
    route
        .forward_claims
        .iter()
        .zip(token.claims_as_headers(&names))
        .filter_map(|(h, v)| Some((h.clone(), v?)))
        .collect()
}
